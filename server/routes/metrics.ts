/**
 * `GET /metrics`: Prometheus text, all from the run history and the scheduler (a scrape never reads a
 * repository: listing a cloud bucket on every scrape costs money).
 *
 * @example
 * ```ts
 * import metrics from "./metrics.ts";
 * // app.route("/metrics", metrics(services));
 * ```
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Services } from "../_services.ts";
import { errors, router } from "../schemas.ts";

const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

/** Renders the metrics text. */
export function metricsText(s: Services): string {
  const lines: string[] = [];
  const family = (name: string, type: "gauge" | "counter", help: string, samples: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) lines.push(`${name}${labels} ${Number.isFinite(v) ? v : "NaN"}`);
  };
  const jobs = Object.keys(s.config.jobs);
  const job = (n: string) => `{job="${esc(n)}"}`;
  const last = s.db.lastRuns();
  const lastOk = s.db.lastRuns({ status: "succeeded" });
  const sec = (ms: number | null | undefined) => ms ? ms / 1000 : 0;
  family(
    "floe_job_last_success_timestamp_seconds",
    "gauge",
    "end of the job's last successful run (0: never)",
    jobs.map((n) => [job(n), sec(lastOk.get(n)?.finishedMs)]),
  );
  family(
    "floe_job_last_run_timestamp_seconds",
    "gauge",
    "end of the job's last run (0: never)",
    jobs.map((n) => [job(n), sec(last.get(n)?.finishedMs)]),
  );
  family(
    "floe_job_next_run_timestamp_seconds",
    "gauge",
    "the job's next scheduled run (0: none)",
    jobs.map((n) => [job(n), sec(s.scheduler.nextRun(n)?.getTime())]),
  );
  family(
    "floe_job_runs_total",
    "counter",
    "runs of the job by status (within the kept history)",
    s.db.counts().filter((r) => Object.hasOwn(s.config.jobs, r.job)).map((r) => [
      `{job="${esc(r.job)}",status="${r.status}"}`,
      r.n,
    ]),
  );
  const lastWith = (n: string) => last.get(n);
  family(
    "floe_job_last_duration_seconds",
    "gauge",
    "duration of the job's last run",
    jobs.flatMap((n): [string, number][] => {
      const r = lastWith(n);
      return r?.startedMs && r.finishedMs ? [[job(n), (r.finishedMs - r.startedMs) / 1000]] : [];
    }),
  );
  const figure = (key: string) =>
    jobs.flatMap((n): [string, number][] => {
      const v = lastWith(n)?.summary?.[key];
      return typeof v === "number" ? [[job(n), v]] : [];
    });
  family(
    "floe_job_last_bytes_processed",
    "gauge",
    "bytes read by the job's last run",
    figure("total_bytes_processed"),
  );
  family(
    "floe_job_last_bytes_added",
    "gauge",
    "bytes the job's last run added to the repository",
    figure("data_added"),
  );
  family(
    "floe_job_last_files",
    "gauge",
    "files the job's last run looked at",
    figure("total_files_processed"),
  );
  const repos = Object.keys(s.config.repositories);
  const counts = s.db.snapshotCounts();
  family(
    "floe_repository_snapshots",
    "gauge",
    "snapshots in the repository after the server's last run on it",
    repos.filter((r) => counts.has(r)).map((r) => [`{repository="${esc(r)}"}`, counts.get(r)!]),
  );
  family(
    "floe_repository_last_check_success",
    "gauge",
    "1 when the last check of the repository passed, 0 when it failed",
    repos.flatMap((r): [string, number][] => {
      const c = s.db.lastOf(r, "check");
      return c ? [[`{repository="${esc(r)}"}`, c.status === "succeeded" ? 1 : 0]] : [];
    }),
  );
  family("floe_queue_depth", "gauge", "runs waiting for a writer slot", [["", s.scheduler.queueDepth()]]);
  return lines.join("\n") + "\n";
}

/** The metrics route. */
export default function metrics(s: Services) {
  const app = router();
  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      summary: "Prometheus metrics from the run history",
      responses: {
        200: {
          description: "Prometheus text format 0.0.4",
          content: { "text/plain": { schema: z.string() } },
        },
        ...errors(),
      },
    }),
    (c) => c.text(metricsText(s), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }),
  );
  return app;
}
