/**
 * The web UI of `floe serve`, mounted at `/` by the server app. Placeholder until the UI lands: a page
 * that says so, holding no data.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import ui from "./mod.ts";
 * const app = new Hono();
 * app.route("/", ui());
 * ```
 * @module
 */
import { Hono } from "hono";

/** Options of the UI. */
export interface Options {
  /** The path the API is mounted at. */
  apiBase?: string;
}

/** The UI's routes: `GET /` and its assets. */
export default function ui(_options: Options = {}): Hono {
  const app = new Hono();
  app.get("/", (c) => c.html("<!doctype html><title>floe</title><p>floe</p>"));
  return app;
}
