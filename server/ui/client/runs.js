// Runs: the filtered list, a run's page (live progress from its event stream, its log, cancel), and the
// progress widget the dashboard reuses.
import { json, request, seg, stream } from "./api.js";
import { badge, bytes, count, duration, errorLine, fill, h, heading, time } from "./dom.js";

export const STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"];
const num = (x) => (typeof x === "number" && Number.isFinite(x) ? x : undefined);

/**
 * A progress bar with files and bytes of the total, rate, ETA and the current file, fed with engine
 * events ({type, files, bytes, filesTotal, bytesTotal, rate, path, message, …}); it shows what the
 * events carry and derives the rate from successive events when they carry none.
 */
export function progressView(label) {
  const bar = h("progress", { max: "1", "aria-label": label });
  const stats = h("span", { class: "p-stats" });
  const file = h("span", { class: "p-file" });
  const el = h("div", { class: "progress" }, bar, h("div", { class: "p-line" }, stats), file);
  let prev = null, rate;
  function update(e) {
    if (!e || typeof e !== "object") return;
    if (e.type === "done") {
      bar.value = 1;
      file.textContent = "";
      // The end: what the run did (its summary), not the last progress event, which may be seconds old.
      const s = e.summary && typeof e.summary === "object" ? e.summary : {};
      const f = num(s.total_files_processed) ?? num(s.files),
        by = num(s.total_bytes_processed) ?? num(s.bytes);
      if (f !== undefined || by !== undefined) {
        const parts = [];
        if (f !== undefined) parts.push(`${count(f)} files`);
        if (by !== undefined) parts.push(bytes(by));
        parts.push("100 %");
        const secs = num(s.total_duration);
        if (secs !== undefined && secs >= 1) parts.push(`in ${duration(secs)}`);
        stats.textContent = parts.join(" · ");
        return;
      }
    }
    const files = num(e.files), b = num(e.bytes), ft = num(e.filesTotal), bt = num(e.bytesTotal);
    if (files === undefined && b === undefined) return;
    const now = performance.now();
    if (num(e.rate) !== undefined) rate = e.rate;
    else if (prev && b !== undefined && prev.b !== undefined && now > prev.t) {
      const r = ((b - prev.b) * 1000) / (now - prev.t);
      rate = rate === undefined ? r : rate * 0.7 + r * 0.3;
    }
    prev = { t: now, b };
    const frac = bt && b !== undefined ? b / bt : ft && files !== undefined ? files / ft : undefined;
    if (e.type !== "done") {
      if (frac !== undefined) bar.value = Math.min(1, Math.max(0, frac));
      else bar.removeAttribute("value"); // indeterminate
    }
    const parts = [];
    if (files !== undefined) parts.push(`${count(files)}${ft !== undefined ? ` / ${count(ft)}` : ""} files`);
    if (b !== undefined) parts.push(`${bytes(b)}${bt !== undefined ? ` / ${bytes(bt)}` : ""}`);
    if (frac !== undefined) parts.push(`${Math.floor(Math.min(1, frac) * 100)} %`);
    if (rate !== undefined && rate > 0) parts.push(`${bytes(rate)}/s`);
    if (e.type !== "done" && rate > 0 && bt !== undefined && b !== undefined) {
      parts.push(`ETA ${duration((bt - b) / rate)}`);
    }
    stats.textContent = parts.join(" · ");
    if (e.type !== "done" && typeof e.path === "string") file.textContent = e.path;
  }
  return { el, update };
}

/** Follows a run's events into a progress view until the run ends; resolves then. */
export function follow(id, view, signal, onEvent) {
  return stream(`/runs/${seg(id)}/events`, {
    signal,
    onEvent: (e, eventId) => {
      view.update(e);
      onEvent?.(e, eventId);
    },
  });
}

function runRow(r) {
  return h(
    "tr",
    null,
    h("td", null, h("a", { href: `#/runs/${seg(r.id)}` }, String(r.id).slice(0, 12))),
    h("td", null, r.job ?? "–"),
    h("td", null, r.kind ?? "–"),
    h("td", null, badge(r.status)),
    h("td", null, time(r.started)),
    h("td", null, time(r.finished)),
    h("td", null, r.snapshot_id ? String(r.snapshot_id).slice(0, 8) : "–"),
  );
}

/** #/runs: the list, filtered by job, status and a limit, kept in the address (so it can be shared). */
export async function runsPage(ctx) {
  const q = ctx.query;
  const jobs = await json("/jobs", { signal: ctx.signal });
  const field = (label, control) => h("label", null, h("span", null, label), control);
  const job = h(
    "select",
    { name: "job" },
    h("option", { value: "" }, "all"),
    jobs.map((j) => h("option", { value: j.name, selected: q.get("job") === j.name }, j.name)),
  );
  const status = h(
    "select",
    { name: "status" },
    h("option", { value: "" }, "all"),
    STATUSES.map((s) => h("option", { value: s, selected: q.get("status") === s }, s)),
  );
  const limit = h("input", {
    name: "limit",
    type: "number",
    min: "1",
    max: "1000",
    value: q.get("limit") ?? "100",
  });
  const form = h(
    "form",
    {
      class: "filters",
      "aria-label": "Filter runs",
      onsubmit: (e) => {
        e.preventDefault();
        const p = new URLSearchParams();
        if (job.value) p.set("job", job.value);
        if (status.value) p.set("status", status.value);
        if (limit.value) p.set("limit", limit.value);
        location.hash = `#/runs?${p}`;
      },
    },
    field("Job", job),
    field("Status", status),
    field("Limit", limit),
    h("button", { type: "submit" }, "Filter"),
  );
  const runs = await json("/runs", {
    signal: ctx.signal,
    query: { job: q.get("job"), status: q.get("status"), limit: q.get("limit") ?? "100" },
  });
  fill(
    ctx.view,
    heading("Runs"),
    form,
    runs.length
      ? h(
        "div",
        { class: "scroll" },
        h(
          "table",
          null,
          h("caption", { class: "sr" }, "Runs, newest first"),
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["Run", "Job", "Kind", "Status", "Started", "Finished", "Snapshot"].map((t) =>
                h("th", { scope: "col" }, t)
              ),
            ),
          ),
          h("tbody", null, runs.map(runRow)),
        ),
      )
      : h("p", null, "No runs match."),
  );
}

/** #/runs/ID: the run, live progress while it runs, its log, and cancel. */
export async function runPage(ctx, id) {
  let run = await json(`/runs/${seg(id)}`, { signal: ctx.signal });
  const status = h("span", null, badge(run.status));
  const facts = h("dl", { class: "facts" });
  const progress = progressView(`Progress of run ${id}`);
  const log = h("pre", { class: "log", tabindex: "0", "aria-label": "Run log" });
  const none = h("li", { class: "muted" }, "None so far.");
  const events = h("ol", { class: "events", "aria-label": "Warnings and errors" }, none);
  const err = h("div");
  const cancel = h("button", {
    type: "button",
    class: "danger",
    onclick: async () => {
      cancel.disabled = true;
      try {
        await request(`/runs/${seg(id)}`, { method: "DELETE" });
        await refresh();
      } catch (e) {
        fill(err, errorLine(e));
        cancel.disabled = false;
      }
    },
  }, "Cancel run");
  const live = () => run.status === "running" || run.status === "queued";
  function renderFacts() {
    fill(status, badge(run.status));
    const row = (k, v) => [h("dt", null, k), h("dd", null, v)];
    const s = run.summary && typeof run.summary === "object" ? run.summary : {};
    fill(
      facts,
      row("Job", run.job ? h("a", { href: `#/jobs/${seg(run.job)}` }, run.job) : "–"),
      row("Kind", run.kind ?? "–"),
      row("Started", time(run.started)),
      row("Finished", time(run.finished)),
      run.snapshot_id ? row("Snapshot", String(run.snapshot_id).slice(0, 8)) : null,
      s.total_files_processed !== undefined ? row("Files", count(s.total_files_processed)) : null,
      s.total_bytes_processed !== undefined ? row("Bytes", bytes(s.total_bytes_processed)) : null,
      s.data_added !== undefined ? row("Data added", bytes(s.data_added)) : null,
      run.error ? row("Error", typeof run.error === "string" ? run.error : JSON.stringify(run.error)) : null,
    );
    cancel.hidden = !live();
    progress.el.hidden = !live() && run.status !== "succeeded";
  }
  async function loadLog() {
    try {
      const res = await request(`/runs/${seg(id)}/log`, { signal: ctx.signal });
      const text = await res.text();
      let lines = text;
      if ((res.headers.get("content-type") ?? "").includes("json")) {
        const j = JSON.parse(text);
        const list = Array.isArray(j) ? j : j?.lines ?? j?.log ?? [];
        lines = Array.isArray(list)
          ? list.map((
            l,
          ) => (typeof l === "string"
            ? l
            : [l.time, l.level, l.message ?? JSON.stringify(l)].filter(Boolean).join(" "))
          ).join("\n")
          : String(list);
      }
      log.textContent = lines || "(empty)";
    } catch (e) {
      if (!ctx.signal.aborted) log.textContent = `log unavailable: ${e.message}`;
    }
  }
  async function refresh() {
    run = await json(`/runs/${seg(id)}`, { signal: ctx.signal });
    renderFacts();
    await loadLog();
  }
  renderFacts();
  if (run.status === "succeeded") progress.update({ type: "done" });
  fill(
    ctx.view,
    h("p", { class: "crumbs" }, h("a", { href: "#/runs" }, "Runs"), " / ", String(id).slice(0, 12)),
    heading(`Run ${String(id).slice(0, 12)}`),
    h("p", null, status, " ", cancel),
    err,
    progress.el,
    facts,
    h("h2", null, "Warnings and errors"),
    events,
    h("h2", null, "Log"),
    log,
  );
  loadLog();
  // Follow the stream even for a finished run: it replays what happened (warnings) and then ends.
  (async () => {
    while (!ctx.signal.aborted) {
      await follow(id, progress, ctx.signal, (e) => {
        if (e && (e.type === "warning" || e.type === "error")) {
          none.remove();
          events.append(
            h("li", { class: e.type }, `${e.type}: ${e.path ? `${e.path}: ` : ""}${e.message ?? ""}`),
          );
        }
        if (e && (e.type === "start" || e.type === "done" || e.type === "error") && run.status !== e.type) {
          refresh().catch(() => {});
        }
      }).catch((e) => fill(err, errorLine(e)));
      if (ctx.signal.aborted) return;
      await refresh();
      if (!live()) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  })().catch(() => {});
}
