/**
 * The server's Hono app: the route modules under `/api/v1`, `/metrics`, `/healthz`, the OpenAPI 3.1
 * document at `/api/v1/openapi.json` (generated from the routes' zod schemas) and the UI at `/`. The
 * bearer token guards `/api/*` and `/metrics`; request bodies are bounded; no CORS headers are sent.
 *
 * @example
 * ```ts
 * import { createApp } from "./app.ts";
 * // const app = createApp(services, { token });
 * // Deno.serve(app.fetch);
 * ```
 * @module
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { bearerAuth } from "hono/bearer-auth";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { Services } from "./_services.ts";
import { apiErrorOf } from "./_engine.ts";
import { tokensEqual } from "./token.ts";
import jobs from "./routes/jobs.ts";
import runs from "./routes/runs.ts";
import repositories from "./routes/repositories.ts";
import snapshots from "./routes/snapshots.ts";
import metrics from "./routes/metrics.ts";
import health from "./routes/health.ts";
import ui from "./ui/mod.ts";

/** Largest request body accepted (restore and forget requests are small). */
export const MAX_BODY = 1 << 20;

const jsonError = (status: number, code: string, message: string) =>
  new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: { "content-type": "application/json" },
  });

/** Builds the app. */
export function createApp(s: Services, options: { token: string }): OpenAPIHono {
  const app = new OpenAPIHono();
  const unauthorized = (message: string) => ({ message: () => jsonError(401, "unauthorized", message) });
  const auth = bearerAuth({
    verifyToken: (token) => tokensEqual(token, options.token),
    noAuthenticationHeader: unauthorized("this route needs Authorization: Bearer TOKEN"),
    invalidAuthenticationHeader: unauthorized("the Authorization header is not Bearer TOKEN"),
    invalidToken: unauthorized("wrong token"),
  });
  app.use("/api/*", auth);
  app.use("/metrics", auth);
  app.use(
    "/api/*",
    bodyLimit({
      maxSize: MAX_BODY,
      onError: () => jsonError(413, "body-too-large", `request bodies are at most ${MAX_BODY} bytes`),
    }),
  );
  app.route("/api/v1/jobs", jobs(s));
  app.route("/api/v1/runs", runs(s));
  app.route("/api/v1/repositories", repositories(s));
  app.route("/api/v1/repositories", snapshots(s));
  app.route("/metrics", metrics(s));
  app.route("/healthz", health());
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  app.doc31("/api/v1/openapi.json", {
    openapi: "3.1.0",
    info: { title: "floe control API", version: "1" },
    security: [{ bearer: [] }],
  });
  app.notFound((c) =>
    c.json({ error: { code: "not-found", message: `no route ${c.req.method} ${c.req.path}` } }, 404)
  );
  app.onError((e, c) => {
    if (e instanceof HTTPException) return e.getResponse();
    const err = apiErrorOf(e);
    return c.json({ error: { code: err.code, message: err.message } }, err.status as 400);
  });
  app.route("/", ui({ apiBase: "/api/v1" }));
  return app;
}
