/**
 * `/api/v1/runs`: run history, one run, cancelling, its events as Server-Sent Events (what happened so
 * far, then live, from `Last-Event-ID` on; the stream ends with the run) and its log.
 *
 * @example
 * ```ts
 * import runs from "./runs.ts";
 * // app.route("/api/v1/runs", runs(services));
 * ```
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import type { Services } from "../_services.ts";
import { ApiError } from "../_engine.ts";
import type { RunEvent } from "../scheduler.ts";
import { errors, json, NameSchema, router, runJson, RunSchema, RunStatusSchema } from "../schemas.ts";

const params = z.object({
  id: z.string().regex(/^[0-9a-f]{16}$/).openapi({ param: { name: "id", in: "path" } }),
});

/** Whether an event is a plain progress report (no message: messages go to every client). */
const isProgress = (e: RunEvent) => e.data.type === "progress" && e.data.message === undefined;

/** The runs routes. */
export default function runs(s: Services) {
  const get = (id: string) => {
    const r = s.db.get(id);
    if (!r) throw new ApiError(404, "not-found", `no run '${id}'`);
    return r;
  };
  const app = router();
  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      summary: "runs, newest first",
      request: {
        query: z.object({
          job: NameSchema.optional(),
          status: RunStatusSchema.optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
      },
      responses: { 200: json(z.array(RunSchema), "runs"), ...errors(400) },
    }),
    (c) => c.json(s.db.list(c.req.valid("query")).map(runJson), 200),
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      summary: "one run",
      request: { params },
      responses: { 200: json(RunSchema, "the run"), ...errors(404) },
    }),
    (c) => c.json(runJson(get(c.req.valid("param").id)), 200),
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/{id}",
      summary: "cancel a queued or running run",
      request: { params },
      responses: { 202: json(RunSchema, "cancellation under way"), ...errors(404, 409) },
    }),
    (c) => c.json(runJson(s.scheduler.cancel(c.req.valid("param").id)), 202),
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/events",
      summary: "the run's events (text/event-stream): stored ones after Last-Event-ID, then live",
      request: {
        params,
        headers: z.object({ "last-event-id": z.string().regex(/^\d{1,12}$/).optional() }),
      },
      responses: {
        200: {
          description: "events `{run, op, type: start|progress|warning|info|done|error, time, …}`",
          content: { "text/event-stream": { schema: z.string() } },
        },
        ...errors(400, 404),
      },
    }),
    (c) => {
      const { id } = c.req.valid("param");
      get(id);
      const after = Number(c.req.valid("header")["last-event-id"] ?? 0);
      return streamSSE(c, async (stream) => {
        const pending: RunEvent[] = [];
        let wake: (() => void) | undefined;
        const unsubscribe = s.scheduler.subscribe(id, (e) => {
          pending.push(e);
          wake?.();
        });
        const aborted = new Promise<void>((r) => stream.onAbort(() => r()));
        let sent = after;
        let ended = false;
        const send = async (e: RunEvent) => {
          if (e.seq <= sent) return;
          await stream.writeSSE({
            id: String(e.seq),
            event: String(e.data.type),
            data: e.json ?? JSON.stringify(e.data),
          });
          sent = e.seq;
          if (e.data.type === "done" || e.data.type === "error") ended = true;
        };
        try {
          for (const e of s.db.events(id, after)) await send(e);
          if (!unsubscribe) return;
          while (!ended && !stream.aborted) {
            while (pending.length && !ended) {
              const e = pending.shift()!;
              // A client that fell behind gets the newest progress only: a later one says all an older
              // one did. Warnings, messages and the end are sent every one, in order.
              if (isProgress(e) && pending.some(isProgress)) continue;
              await send(e);
            }
            if (ended) break;
            await Promise.race([new Promise<void>((r) => wake = r), aborted]);
            wake = undefined;
          }
        } finally {
          unsubscribe?.();
        }
      });
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/log",
      summary: "the run's log (text/plain, one line per entry, each with its time)",
      request: { params },
      responses: {
        200: { description: "the log", content: { "text/plain": { schema: z.string() } } },
        ...errors(404),
      },
    }),
    (c) => {
      const { id } = c.req.valid("param");
      get(id);
      const text = s.db.logLines(id).map((l) => `${new Date(l.timeMs).toISOString()} ${l.line}\n`).join("");
      return c.text(text, 200);
    },
  );
  return app;
}
