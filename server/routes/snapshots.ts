/**
 * `/api/v1/repositories/{name}/snapshots`: list (the objects of `floe snapshots --json`), one, forget one
 * (under the lock), a directory's entries, and a path's content (a file's bytes with Range, a directory
 * as tar).
 *
 * @example
 * ```ts
 * import snapshots from "./snapshots.ts";
 * // app.route("/api/v1/repositories", snapshots(services));
 * ```
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { TypedResponse } from "hono";
import type { Services } from "../_services.ts";
import { ApiError } from "../_engine.ts";
import { snapshotPath } from "../paths.ts";
import { errors, json, NameSchema, router } from "../schemas.ts";

const SnapshotSchema = z.object({
  id: z.string(),
  short_id: z.string(),
  time: z.string(),
  host: z.string(),
  username: z.string(),
  paths: z.array(z.string()),
  tags: z.array(z.string()),
  parent: z.string().nullable(),
  tree: z.string(),
  summary: z.record(z.string(), z.number()).nullable(),
}).openapi("Snapshot");

const EntrySchema = z.object({
  name: z.string(),
  path: z.string(),
  type: z.string(),
  size: z.number(),
  mtime: z.string(),
  mode: z.number(),
  uid: z.number().optional(),
  gid: z.number().optional(),
  link_target: z.string().optional(),
}).openapi("TreeEntry");

const repo = z.object({ name: NameSchema.openapi({ param: { name: "name", in: "path" } }) });
const snap = repo.extend({
  id: z.string().regex(/^(latest|[0-9a-f]{1,64})$/).openapi({ param: { name: "id", in: "path" } }),
});
const pathQuery = z.object({ path: z.string().default("/") });

/** Parses one `bytes=a-b` range of a file of `size` bytes into [start, end). */
function range(header: string | undefined, size: number): [number, number] | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) {
    throw new ApiError(416, "bad-range", "only one range bytes=a-b is supported");
  }
  let start: number, end: number;
  if (m[1] === "") {
    start = Math.max(0, size - Number(m[2]));
    end = size;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size : Math.min(size, Number(m[2]) + 1);
  }
  if (!(start < end) || start >= size) {
    throw new ApiError(416, "bad-range", `range not satisfiable (size ${size})`);
  }
  return [start, end];
}

/** The snapshots routes. */
export default function snapshots(s: Services) {
  const app = router();
  const serialised = new WeakMap<object, string>();
  app.openapi(
    createRoute({
      method: "get",
      path: "/{name}/snapshots",
      summary: "snapshots, oldest first (with last=N, only the N newest)",
      request: {
        params: repo,
        query: z.object({
          last: z.coerce.number().int().min(1).max(10_000).optional().openapi({
            description: "only the N newest snapshots (a dashboard's latest few without the whole list)",
          }),
        }),
      },
      responses: { 200: json(z.array(SnapshotSchema), "snapshots"), ...errors(404, 502) },
    }),
    async (c) => {
      // The adapter hands back the same list while the snapshots stay the same: serialise it once.
      const list = await s.engine.snapshots(c.req.valid("param").name);
      const { last } = c.req.valid("query");
      let body = last === undefined ? serialised.get(list) : JSON.stringify(list.slice(-last));
      if (body === undefined) serialised.set(list, body = JSON.stringify(list));
      // The body is the JSON of the declared schema, already serialised; hence the cast.
      return c.body(body, 200, { "content-type": "application/json" }) as unknown as TypedResponse<
        z.infer<typeof SnapshotSchema>[],
        200,
        "json"
      >;
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/{name}/snapshots/{id}",
      summary: "one snapshot (id, prefix or latest)",
      request: { params: snap },
      responses: { 200: json(SnapshotSchema, "the snapshot"), ...errors(400, 404, 502) },
    }),
    async (c) => {
      const { name, id } = c.req.valid("param");
      return c.json(await s.engine.snapshot(name, id), 200);
    },
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/{name}/snapshots/{id}",
      summary: "forget one snapshot (its data stays until a prune)",
      request: { params: snap },
      responses: {
        200: json(z.object({ forgotten: z.string() }), "forgotten"),
        ...errors(400, 404, 409, 502),
      },
    }),
    async (c) => {
      const { name, id } = c.req.valid("param");
      const r = await s.engine.forgetSnapshot(name, id);
      s.db.setSnapshotCount(name, r.snapshotCount);
      return c.json({ forgotten: r.id }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/{name}/snapshots/{id}/tree",
      summary: "a directory's entries (or a file's own)",
      request: { params: snap, query: pathQuery },
      responses: { 200: json(z.array(EntrySchema), "entries"), ...errors(400, 404, 502) },
    }),
    async (c) => {
      const { name, id } = c.req.valid("param");
      return c.json(await s.engine.tree(name, id, snapshotPath(c.req.valid("query").path)), 200);
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/{name}/snapshots/{id}/content",
      summary: "a file's bytes (Range supported) or a directory as tar",
      request: { params: snap, query: pathQuery },
      responses: {
        200: {
          description: "the bytes",
          content: {
            "application/octet-stream": { schema: z.string() },
            "application/x-tar": { schema: z.string() },
          },
        },
        206: {
          description: "a range of the bytes",
          content: { "application/octet-stream": { schema: z.string() } },
        },
        ...errors(400, 404, 416, 502),
      },
    }),
    async (c) => {
      const { name, id } = c.req.valid("param");
      const content = await s.engine.content(name, id, snapshotPath(c.req.valid("query").path));
      const disposition = `attachment; filename="${content.name.replace(/[^\w.-]/g, "_")}${
        content.type === "dir" ? ".tar" : ""
      }"`;
      if (content.type === "dir") {
        return c.body(content.tar(), 200, {
          "content-type": "application/x-tar",
          "content-disposition": disposition,
        });
      }
      const r = range(c.req.header("range"), content.size);
      const [start, end] = r ?? [0, content.size];
      const headers: Record<string, string> = {
        "content-type": "application/octet-stream",
        "content-disposition": disposition,
        "accept-ranges": "bytes",
        "content-length": String(end - start),
      };
      if (r) headers["content-range"] = `bytes ${start}-${end - 1}/${content.size}`;
      return c.body(content.read(start, end), r ? 206 : 200, headers);
    },
  );
  return app;
}
