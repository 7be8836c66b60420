/**
 * The API's zod schemas (the OpenAPI 3.1 document is generated from these same schemas), the router
 * factory every route module uses, and the JSON form of a run.
 *
 * @example
 * ```ts
 * import { router } from "./schemas.ts";
 * const app = router();
 * ```
 * @module
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { RunRecord } from "./runs_db.ts";

/** `{error: {code, message}}`: every error the API answers with. */
export const ErrorSchema = z.object({
  error: z.object({
    code: z.string().openapi({ example: "not-found" }),
    message: z.string().openapi({ example: "no job 'home'" }),
  }),
}).openapi("Error");

/** Error responses for a route's declaration. */
export function errors(...statuses: (400 | 401 | 403 | 404 | 409 | 416 | 502)[]) {
  const out: Record<
    number,
    { description: string; content: { "application/json": { schema: typeof ErrorSchema } } }
  > = {};
  const what: Record<number, string> = {
    400: "invalid request",
    401: "no or wrong bearer token",
    403: "not allowed",
    404: "not found",
    409: "conflict",
    416: "range not satisfiable",
    502: "the repository cannot be opened",
  };
  for (const s of [401, ...statuses]) {
    out[s] = { description: what[s], content: { "application/json": { schema: ErrorSchema } } };
  }
  return out;
}

/** A JSON response declaration. */
export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** The run statuses. */
export const RunStatusSchema = z.enum(["queued", "running", "succeeded", "failed", "cancelled"]);

/** A run. */
export const RunSchema = z.object({
  id: z.string(),
  job: z.string().nullable(),
  kind: z.enum(["backup", "restore", "check", "prune", "forget"]),
  repository: z.string(),
  status: RunStatusSchema,
  created: z.string().openapi({ format: "date-time" }),
  started: z.string().nullable(),
  finished: z.string().nullable(),
  snapshot_id: z.string().nullable(),
  summary: z.record(z.string(), z.unknown()).nullable(),
  error: z.string().nullable(),
  error_code: z.string().nullable(),
}).openapi("Run");

/** `{id, status}` of a run just queued. */
export const RunRefSchema = z.object({ id: z.string(), status: RunStatusSchema }).openapi("RunRef");

const iso = (ms: number | null) => ms === null ? null : new Date(ms).toISOString();

/** A stored run as the API shows it. */
export function runJson(r: RunRecord): z.infer<typeof RunSchema> {
  return {
    id: r.id,
    job: r.job,
    kind: r.kind,
    repository: r.repository,
    status: r.status,
    created: new Date(r.createdMs).toISOString(),
    started: iso(r.startedMs),
    finished: iso(r.finishedMs),
    snapshot_id: r.snapshotId,
    summary: r.summary,
    error: r.error,
    error_code: r.errorCode,
  };
}

/** Names of jobs and repositories, as the config allows them. */
export const NameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);

/** A router whose request validation failures answer 400 with the API's error shape. */
export function router(): OpenAPIHono {
  return new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) {
        const issue = result.error.issues[0];
        const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
        return c.json({
          error: { code: "invalid-request", message: `${where}${issue?.message ?? "invalid"}` },
        }, 400);
      }
      return undefined;
    },
  });
}
