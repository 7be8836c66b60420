/**
 * `/api/v1/repositories`: the configured repositories (locations masked), diff and stats, and the
 * operations that become runs: restore (targets only under `[server] restore-roots`), check, prune,
 * forget.
 *
 * @example
 * ```ts
 * import repositories from "./repositories.ts";
 * // app.route("/api/v1/repositories", repositories(services));
 * ```
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Services } from "../_services.ts";
import { restoreTarget, snapshotPath } from "../paths.ts";
import { errors, json, NameSchema, router, RunRefSchema } from "../schemas.ts";
import { keepSchema } from "../../config/schema.ts";
import type { KeepConfig } from "../../config/mod.ts";
import { ApiError } from "../_engine.ts";

const params = z.object({ name: NameSchema.openapi({ param: { name: "name", in: "path" } }) });
const SnapshotSpec = z.string().regex(/^(latest|[0-9a-f]{1,64})$/, {
  error: "is not a snapshot id, a prefix of one, or latest",
});
const Globs = z.array(z.string().min(1).max(4096)).max(1000);

const RepositorySchema = z.object({
  name: z.string(),
  locations: z.array(z.string()),
  status: z.enum(["ok", "error"]),
  snapshots: z.number().nullable(),
  error: z.string().nullable(),
}).openapi("Repository");

const RestoreSchema = z.strictObject({
  snapshot: SnapshotSpec,
  path: z.string().default("/"),
  target: z.string(),
  include: Globs.optional(),
  exclude: Globs.optional(),
  overwrite: z.enum(["always", "if-changed", "never"]).default("always"),
}).openapi("RestoreRequest");

const CheckSchema = z.strictObject({
  read_data: z.boolean().default(false),
  read_data_subset: z.string().regex(/^(\d+\/\d+|\d+(\.\d+)?%)$/).optional(),
}).openapi("CheckRequest");

const PruneSchema = z.strictObject({
  max_unused: z.number().min(0).max(100).default(5).openapi({ description: "percent" }),
}).openapi("PruneRequest");

const ForgetSchema = z.strictObject({
  snapshots: z.array(SnapshotSpec).max(10_000).optional(),
  keep: z.record(z.string(), z.unknown()).optional().openapi({
    description: "the keep rules of [jobs.NAME.keep] (kebab-case keys)",
  }),
}).openapi("ForgetRequest");

function subsetOf(text: string | undefined) {
  if (!text) return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(text);
  return m ? { part: +m[1], of: +m[2] } : { percent: parseFloat(text) };
}

/** The repositories routes. */
export default function repositories(s: Services) {
  const app = router();
  const body = <T extends z.ZodType>(schema: T) => ({
    body: { content: { "application/json": { schema } }, required: true },
  });
  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      summary: "the configured repositories",
      responses: { 200: json(z.array(RepositorySchema), "repositories"), ...errors() },
    }),
    async (c) => {
      const out = [];
      for (const r of s.engine.repositories()) {
        const st = await s.engine.status(r.name);
        out.push({ ...r, status: st.status, snapshots: st.snapshots ?? null, error: st.error ?? null });
      }
      return c.json(out, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/{name}/diff",
      summary: "what changed between two snapshots",
      request: { params, query: z.object({ from: SnapshotSpec, to: SnapshotSpec }) },
      responses: {
        200: json(z.record(z.string(), z.unknown()), "changes and counts"),
        ...errors(400, 404, 502),
      },
    }),
    async (c) => {
      const { from, to } = c.req.valid("query");
      return c.json(await s.engine.diff(c.req.valid("param").name, from, to), 200);
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/{name}/stats",
      summary: "sizes, deduplication and compression (floe stats --json)",
      request: { params },
      responses: { 200: json(z.record(z.string(), z.unknown()), "figures"), ...errors(404, 502) },
    }),
    async (c) => c.json(await s.engine.stats(c.req.valid("param").name), 200),
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/{name}/restore",
      summary: "restore a snapshot into a directory under a restore root",
      request: { params, ...body(RestoreSchema) },
      responses: { 202: json(RunRefSchema, "the run, queued"), ...errors(400, 403, 404) },
    }),
    (c) => {
      const { name } = c.req.valid("param");
      const req = c.req.valid("json");
      const target = restoreTarget(req.target, s.config.server.restoreRoots);
      const path = snapshotPath(req.path);
      const run = s.scheduler.submit({ op: "restore", repository: name, restore: { ...req, path, target } });
      return c.json({ id: run.id, status: run.status }, 202);
    },
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/{name}/check",
      summary: "check the repository",
      request: { params, body: { content: { "application/json": { schema: CheckSchema } } } },
      responses: { 202: json(RunRefSchema, "the run, queued"), ...errors(400, 404) },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const req = CheckSchema.parse(await c.req.json().catch(() => ({})));
      const run = s.scheduler.submit({
        op: "check",
        repository: name,
        check: { readData: req.read_data, readDataSubset: subsetOf(req.read_data_subset) },
      });
      return c.json({ id: run.id, status: run.status }, 202);
    },
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/{name}/prune",
      summary: "delete data no snapshot needs",
      request: { params, body: { content: { "application/json": { schema: PruneSchema } } } },
      responses: { 202: json(RunRefSchema, "the run, queued"), ...errors(400, 404) },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const req = PruneSchema.parse(await c.req.json().catch(() => ({})));
      const run = s.scheduler.submit({
        op: "prune",
        repository: name,
        prune: { maxUnused: req.max_unused / 100 },
      });
      return c.json({ id: run.id, status: run.status }, 202);
    },
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/{name}/forget",
      summary: "forget snapshots by id or by keep rules (restic's semantics)",
      request: { params, ...body(ForgetSchema) },
      responses: { 202: json(RunRefSchema, "the run, queued"), ...errors(400, 404) },
    }),
    (c) => {
      const { name } = c.req.valid("param");
      const req = c.req.valid("json");
      let keep: KeepConfig | undefined;
      if (req.keep !== undefined) {
        const r = keepSchema.safeParse(req.keep);
        if (!r.success) {
          const i = r.error.issues[0];
          const where = i.path.length ? "." + i.path.join(".") : "";
          throw new ApiError(400, "invalid-request", `keep${where}: ${i.message}`);
        }
        keep = r.data;
      }
      if (!req.snapshots?.length && !keep) {
        throw new ApiError(400, "invalid-request", "give snapshots or keep");
      }
      const run = s.scheduler.submit({
        op: "forget",
        repository: name,
        forget: { snapshots: req.snapshots, keep },
      });
      return c.json({ id: run.id, status: run.status }, 202);
    },
  );
  return app;
}
