/**
 * `/api/v1/jobs`: the config's jobs with their next and last runs and whether they are overdue
 * (server/overdue.ts); run one now; pause and resume its schedule.
 *
 * A run asked for may carry `hooks` (the keys of `[jobs.NAME.hooks]`) for that run only. Hooks are shell
 * commands run as floe: anyone with the token could run anything, so they are refused (403
 * `hooks-not-allowed`) unless the config says `[server] allow-hooks = true`. No other route takes a
 * command: restores, checks, prunes and forgets are strict objects that name no hook.
 *
 * @example
 * ```ts
 * import jobs from "./jobs.ts";
 * // app.route("/api/v1/jobs", jobs(services));
 * ```
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Services } from "../_services.ts";
import { errors, json, NameSchema, router, RunRefSchema } from "../schemas.ts";
import { overdueSince } from "../overdue.ts";
import { ApiError } from "../_engine.ts";
import { hooksSchema } from "../../config/schema.ts";
import type { HooksConfig } from "../../config/mod.ts";

const JobSchema = z.object({
  name: z.string(),
  kind: z.enum(["backup", "prune", "check"]),
  repository: z.string(),
  schedule: z.string().nullable(),
  paused: z.boolean(),
  next_run: z.string().nullable(),
  overdue: z.boolean().openapi({
    description: "scheduled, not paused, and no run started since its last scheduled time has succeeded " +
      "(or is running) although that time passed more than a grace period ago: min(1 h, half the " +
      "schedule's period); times before the server first saw the job do not count",
  }),
  overdue_since: z.string().nullable().openapi({ description: "the scheduled time the job missed" }),
  last_run: z.object({
    id: z.string(),
    status: z.string(),
    finished: z.string().nullable(),
    snapshot_id: z.string().nullable(),
  }).nullable(),
}).openapi("Job");

const params = z.object({ name: NameSchema.openapi({ param: { name: "name", in: "path" } }) });

const RunRequestSchema = z.strictObject({
  hooks: z.record(z.string(), z.unknown()).optional().openapi({
    description: "hooks for this run: the keys of [jobs.NAME.hooks] (kebab-case); refused (403) unless " +
      "[server] allow-hooks = true",
  }),
}).openapi("RunRequest");

/** The request's hooks, checked: 403 unless `allow-hooks`, 400 when they do not parse. */
function requestHooks(given: unknown, allowHooks: boolean): HooksConfig | undefined {
  if (given === undefined) return undefined;
  if (!allowHooks) {
    throw new ApiError(
      403,
      "hooks-not-allowed",
      "hooks run shell commands as floe; the server takes them only with [server] allow-hooks = true",
    );
  }
  const r = hooksSchema.safeParse(given);
  if (!r.success) {
    const i = r.error.issues[0];
    const where = i.path.length ? "." + i.path.join(".") : "";
    throw new ApiError(400, "invalid-request", `hooks${where}: ${i.message}`);
  }
  return r.data;
}

/** The jobs routes. */
export default function jobs(s: Services) {
  const describe = (name: string, runs = facts()) => {
    const job = s.config.jobs[name];
    const last = runs.last.get(name);
    const paused = s.scheduler.isPaused(name);
    const missed = overdueSince({
      schedule: job.schedule ?? null,
      paused,
      now: new Date(),
      firstSeenMs: runs.seen.get(name),
      lastGoodStartMs: runs.good.get(name),
    });
    return {
      name,
      kind: job.kind,
      repository: job.repository,
      schedule: job.schedule ?? null,
      paused,
      next_run: s.scheduler.nextRun(name)?.toISOString() ?? null,
      overdue: missed !== null,
      overdue_since: missed?.toISOString() ?? null,
      last_run: last
        ? {
          id: last.id,
          status: last.status,
          finished: last.finishedMs ? new Date(last.finishedMs).toISOString() : null,
          snapshot_id: last.snapshotId,
        }
        : null,
    };
  };
  // What the runs database knows of every job, read once per request.
  const facts = () => ({ last: s.db.lastRuns(), good: s.db.lastGoodStarts(), seen: s.db.seen() });
  const known = (name: string) => {
    if (!Object.hasOwn(s.config.jobs, name)) s.scheduler.pause(name); // throws the 404
  };
  const app = router();
  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      summary: "the jobs, their next run and last run",
      responses: { 200: json(z.array(JobSchema), "jobs"), ...errors() },
    }),
    (c) => {
      const runs = facts();
      return c.json(Object.keys(s.config.jobs).map((n) => describe(n, runs)), 200);
    },
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/{name}/runs",
      summary: "run a job now",
      request: { params, body: { content: { "application/json": { schema: RunRequestSchema } } } },
      responses: { 202: json(RunRefSchema, "the run, queued"), ...errors(400, 403, 404, 409) },
    }),
    async (c) => {
      // The body is optional: `POST /jobs/home/runs` with none runs the job as configured.
      const text = await c.req.text();
      let body: unknown = {};
      if (text.trim()) {
        try {
          body = JSON.parse(text);
        } catch {
          throw new ApiError(400, "invalid-request", "the body is not JSON");
        }
      }
      const req = RunRequestSchema.safeParse(body);
      if (!req.success) {
        const i = req.error.issues[0];
        const where = i.path.length ? `${i.path.join(".")}: ` : "";
        throw new ApiError(400, "invalid-request", `${where}${i.message}`);
      }
      const hooks = requestHooks(req.data.hooks, s.config.server.allowHooks);
      const run = s.scheduler.submitJob(c.req.valid("param").name, hooks);
      return c.json({ id: run.id, status: run.status }, 202);
    },
  );
  for (const action of ["pause", "resume"] as const) {
    app.openapi(
      createRoute({
        method: "post",
        path: `/{name}/${action}`,
        summary: `${action} a job's schedule`,
        request: { params },
        responses: { 200: json(JobSchema, "the job"), ...errors(404) },
      }),
      (c) => {
        const { name } = c.req.valid("param");
        known(name);
        s.scheduler[action](name);
        return c.json(describe(name), 200);
      },
    );
  }
  return app;
}
