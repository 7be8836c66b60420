// #/: every job (last run, live progress while it runs, last and next run, overdue mark, 30-day strip)
// and every repository (latest snapshots, last check).
import { json, seg } from "./api.js";
import { badge, bytes, errorLine, fill, h, heading, measurePainted, time } from "./dom.js";
import { follow, progressView } from "./runs.js";

const DAY = 86_400_000;
/** Snapshots shown per repository. */
const LATEST = 5;
const RANK = { failed: 4, cancelled: 3, running: 2, queued: 2, succeeded: 1 };

function dayKey(t) {
  const d = new Date(t);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

/** 30 cells, oldest first; each day shows its worst result. */
export function strip(runs, now = Date.now()) {
  const worst = new Map();
  for (const r of runs) {
    const t = Date.parse(r.started ?? r.finished ?? r.created ?? "");
    if (!Number.isFinite(t) || t < now - 30 * DAY) continue;
    const k = dayKey(t), prev = worst.get(k);
    if (!prev || (RANK[r.status] ?? 0) > (RANK[prev] ?? 0)) worst.set(k, r.status);
  }
  const cells = [], tally = {};
  for (let i = 29; i >= 0; i--) {
    const d = new Date(now - i * DAY);
    const s = worst.get(dayKey(d)) ?? "none";
    tally[s] = (tally[s] ?? 0) + 1;
    const label = `${d.toISOString().slice(0, 10)}: ${s === "none" ? "no run" : s}`;
    cells.push(h("span", { class: `cell s-${s}`, title: label }));
  }
  const summary = Object.entries(tally).map(([s, n]) => `${n} ${s === "none" ? "without a run" : s}`).join(
    ", ",
  );
  return h("span", { class: "strip", role: "img", "aria-label": `Last 30 days: ${summary}` }, cells);
}

function jobCard(job, runs, signal, now) {
  const last = job.last_run ?? null;
  const status = last ? badge(last.status) : h("span", { class: "muted" }, "never run");
  const card = h(
    "article",
    { class: "card job", "aria-labelledby": `job-${job.name}` },
    h(
      "h3",
      { id: `job-${job.name}` },
      h("a", { href: `#/jobs/${seg(job.name)}` }, job.name),
      " ",
      status,
      job.paused ? h("span", { class: "badge s-paused" }, "paused") : null,
      // The server decides (server/overdue.ts): no good run since a scheduled time long enough ago.
      job.overdue
        ? h("span", {
          class: "badge s-overdue",
          title: `No run started since ${new Date(job.overdue_since).toLocaleString()} has succeeded`,
        }, "overdue")
        : null,
    ),
  );
  if (last && (last.status === "running" || last.status === "queued")) {
    const p = progressView(`Progress of ${job.name}`);
    card.append(h("a", { href: `#/runs/${seg(last.id)}`, class: "run-link" }, "Follow this run"), p.el);
    follow(last.id, p, signal, (e) => {
      if (e?.type === "done" || e?.type === "error") {
        fill(status, badge(e.type === "done" ? "succeeded" : "failed"));
      }
    }).catch(() => {});
  }
  card.append(
    h(
      "dl",
      { class: "facts" },
      h("dt", null, "Repository"),
      h("dd", null, job.repository ?? "–"),
      h("dt", null, "Last run"),
      h(
        "dd",
        null,
        last ? h("a", { href: `#/runs/${seg(last.id)}` }, time(last.finished ?? last.started)) : "–",
      ),
      h("dt", null, "Next run"),
      h("dd", null, job.next_run ? time(job.next_run) : job.schedule ? "–" : "on demand"),
    ),
    strip(runs, now),
  );
  return card;
}

function repoCard(repo, latest, lastCheck) {
  const name = repo.name;
  return h(
    "article",
    { class: "card repo", "aria-labelledby": `repo-${name}` },
    h(
      "h3",
      { id: `repo-${name}` },
      h("a", { href: `#/snapshots/${seg(name)}` }, name),
      " ",
      repo.status ? badge(repo.status) : null,
    ),
    h(
      "dl",
      { class: "facts" },
      h("dt", null, "Location"),
      h("dd", null, h("code", null, (repo.locations ?? []).join(" ") || "–")),
      h("dt", null, "Snapshots"),
      h("dd", null, repo.snapshots === null ? "–" : String(repo.snapshots)),
      h("dt", null, "Last check"),
      h(
        "dd",
        null,
        lastCheck ? [badge(lastCheck.status), " ", time(lastCheck.finished ?? lastCheck.started)] : "never",
      ),
    ),
    latest.length
      ? h(
        "div",
        { class: "scroll" },
        h(
          "table",
          null,
          h("caption", null, "Latest snapshots"),
          h(
            "thead",
            null,
            h("tr", null, ["ID", "Time", "Host", "Paths", "Added"].map((t) => h("th", { scope: "col" }, t))),
          ),
          h(
            "tbody",
            null,
            latest.map((s) =>
              h(
                "tr",
                null,
                h(
                  "td",
                  null,
                  h(
                    "a",
                    { href: `#/snapshots/${seg(name)}/${seg(s.id)}` },
                    s.short_id ?? String(s.id).slice(0, 8),
                  ),
                ),
                h("td", null, time(s.time)),
                h("td", null, s.host ?? "–"),
                h("td", { class: "paths" }, (s.paths ?? []).join(" ")),
                h("td", { class: "num" }, bytes(s.summary?.data_added)),
              )
            ),
          ),
        ),
      )
      : h("p", { class: "muted" }, "No snapshots yet."),
  );
}

/** The last check of a repository, from the run history (newest first). */
function lastCheckOf(repo, runs) {
  return runs.find((r) => r.kind === "check" && r.repository === repo.name) ?? null;
}

export async function dashboard(ctx) {
  const { signal } = ctx;
  const jobsBox = h("div", { class: "cards" }), reposBox = h("div", { class: "cards repos" });
  fill(
    ctx.view,
    heading("Dashboard"),
    h("h2", null, "Jobs"),
    jobsBox,
    h("h2", null, "Repositories"),
    reposBox,
  );
  const now = Date.now();
  // Each repository's latest snapshots are asked for as soon as the repositories are known, without
  // waiting for the jobs and runs: the longest chain is two requests. Only the newest few are fetched
  // (the count comes with the repository): the whole list of thousands is the snapshots page's.
  const reposP = json("/repositories", { signal });
  const snapsP = reposP.then((repos) =>
    repos.map((r) =>
      json(`/repositories/${seg(r.name)}/snapshots`, { signal, query: { last: LATEST } }).then(
        (s) => ({ s: s.reverse() }),
        (e) => ({ e }),
      )
    )
  );
  snapsP.catch(() => {}); // its failure is reposP's, reported below
  const [jobs, runs, repos] = await Promise.all([
    json("/jobs", { signal }),
    json("/runs", { signal, query: { limit: 1000 } }),
    reposP,
  ]);
  const byJob = new Map();
  for (const r of runs) (byJob.get(r.job) ?? byJob.set(r.job, []).get(r.job)).push(r);
  fill(
    jobsBox,
    jobs.length
      ? jobs.map((j) => jobCard(j, byJob.get(j.name) ?? [], signal, now))
      : h("p", null, "No jobs configured."),
  );
  fill(reposBox, repos.map((r) => h("div", { class: "card repo", "aria-busy": "true" }, r.name)));
  const snaps = await snapsP;
  await Promise.all(repos.map(async (repo, i) => {
    const got = await snaps[i];
    if (got.e && signal.aborted) throw got.e;
    const card = got.e
      ? h("article", { class: "card repo" }, h("h3", null, repo.name), errorLine(got.e))
      : repoCard(repo, got.s, lastCheckOf(repo, runs));
    reposBox.children[i].replaceWith(card);
  }));
  if (!repos.length) fill(reposBox, h("p", null, "No repositories configured."));
  // User Timing for bench/ui.ts: from navigation start to the frame that shows every card.
  measurePainted("floe:dashboard", 0);
}
