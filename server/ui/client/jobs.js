// Jobs: the list with run now / pause / resume, and a job's page with its settings (read-only) and runs.
import { json, seg } from "./api.js";
import { badge, errorLine, fill, h, heading, time } from "./dom.js";

function actions(job, onDone, status) {
  const call = (label, path) =>
    h("button", {
      type: "button",
      "data-action": label.toLowerCase().replace(/\s+/g, "-"),
      "aria-label": `${label} ${job.name}`,
      onclick: async (e) => {
        e.currentTarget.disabled = true;
        try {
          const r = await json(`/jobs/${seg(job.name)}/${path}`, { method: "POST" });
          if (path === "runs" && r?.id) {
            fill(
              status,
              "Started ",
              h("a", { href: `#/runs/${seg(r.id)}` }, `run ${String(r.id).slice(0, 12)}`),
            );
          } else fill(status, `${label}: done`);
          await onDone();
        } catch (err) {
          fill(status, errorLine(err));
        }
      },
    }, label);
  return h(
    "span",
    { class: "buttons" },
    call("Run now", "runs"),
    job.paused ? call("Resume", "resume") : call("Pause", "pause"),
  );
}

/** #/jobs */
export async function jobsPage(ctx) {
  const status = h("div", { role: "status" });
  const body = h("tbody");
  async function load() {
    const jobs = await json("/jobs", { signal: ctx.signal });
    fill(
      body,
      jobs.map((j) =>
        h(
          "tr",
          null,
          h("th", { scope: "row" }, h("a", { href: `#/jobs/${seg(j.name)}` }, j.name)),
          h("td", null, j.repository ?? "–"),
          h("td", null, h("code", null, j.schedule ?? "on demand")),
          h("td", null, j.paused ? badge("paused") : time(j.next_run)),
          h(
            "td",
            null,
            j.last_run ? h("a", { href: `#/runs/${seg(j.last_run.id)}` }, badge(j.last_run.status)) : "–",
            j.overdue ? [" ", badge("overdue")] : null,
          ),
          h("td", null, actions(j, load, status)),
        )
      ),
    );
  }
  fill(
    ctx.view,
    heading("Jobs"),
    status,
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        null,
        h("caption", { class: "sr" }, "Jobs"),
        h(
          "thead",
          null,
          h(
            "tr",
            null,
            ["Job", "Repository", "Schedule", "Next run", "Last run", "Actions"].map((t) =>
              h("th", { scope: "col" }, t)
            ),
          ),
        ),
        body,
      ),
    ),
  );
  await load();
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

function value(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "string" && ISO.test(v)) return time(v); // shown as every other time on the pages
  if (Array.isArray(v)) {
    return v.every((x) => typeof x !== "object") ? v.join(", ") || "–" : h("code", null, JSON.stringify(v));
  }
  if (typeof v === "object") {
    return h(
      "dl",
      { class: "facts nested" },
      Object.entries(v).flatMap(([k, x]) => [h("dt", null, k), h("dd", null, value(x))]),
    );
  }
  return String(v);
}

/** #/jobs/NAME: its settings as the server reports them, and its recent runs. */
export async function jobPage(ctx, name) {
  const status = h("div", { role: "status" });
  const settings = h("dl", { class: "facts" });
  const runs = h("ul", { class: "runs" });
  const bar = h("p");
  async function load() {
    const [jobs, list] = await Promise.all([
      json("/jobs", { signal: ctx.signal }),
      json("/runs", { signal: ctx.signal, query: { job: name, limit: 20 } }),
    ]);
    const job = jobs.find((j) => j.name === name);
    if (!job) throw new Error(`No job named ${name}`);
    fill(bar, actions(job, load, status));
    fill(
      settings,
      Object.entries(job).filter(([k]) => k !== "last_run").flatMap((
        [k, v],
      ) => [h("dt", null, k), h("dd", null, value(v))]),
    );
    fill(
      runs,
      list.length
        ? list.map((r) =>
          h("li", null, h("a", { href: `#/runs/${seg(r.id)}` }, time(r.started)), " ", badge(r.status))
        )
        : h("li", null, "No runs yet."),
    );
  }
  fill(
    ctx.view,
    h("p", { class: "crumbs" }, h("a", { href: "#/jobs" }, "Jobs"), " / ", name),
    heading(`Job ${name}`),
    bar,
    status,
    h("h2", null, "Settings"),
    h("p", { class: "muted" }, "Read-only: change them in the config file."),
    settings,
    h("h2", null, "Recent runs"),
    runs,
  );
  await load();
}
