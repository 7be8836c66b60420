/**
 * `GET /healthz`: the one route without a token; says the process answers, nothing else.
 *
 * @example
 * ```ts
 * import health from "./health.ts";
 * // app.route("/healthz", health());
 * ```
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { json, router } from "../schemas.ts";

/** The health route. */
export default function health() {
  const app = router();
  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      summary: "liveness (no token needed)",
      security: [],
      responses: { 200: json(z.object({ status: z.literal("ok") }), "the server answers") },
    }),
    (c) => c.json({ status: "ok" as const }, 200),
  );
  return app;
}
