/**
 * The web UI of `floe serve`, mounted at `/` by the server app.
 *
 * Shape: `GET /` answers a server-rendered Hono JSX shell (navigation, an empty main area, the login
 * form) and `GET /ui/NAME` answers the small vanilla ES modules and the one stylesheet under
 * `server/ui/client/`, read once when the sub-app is built. The shell holds no data at all: every job,
 * run, repository and snapshot is fetched by the client with the bearer token kept in sessionStorage,
 * so an anonymous visitor learns nothing. Why this shape and not a bundled SPA: it works offline and
 * from a clean clone with nothing fetched and no build step (no CDN, no bundler, no node_modules), the
 * files served are the files in the repository (what you read is what runs), and the client stays a
 * few hundred lines of plain modules that any browser loads natively. `deno compile` needs
 * `--include server/ui/client` (the `compile` task passes it).
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import ui from "./mod.ts";
 * const app = new Hono();
 * app.route("/", ui({ apiBase: "/api/v1" }));
 * ```
 * @module
 */
import { Hono } from "hono";
import { shell } from "./_shell.tsx";

/** Options of the UI. */
export interface Options {
  /** The absolute path the API is mounted at, given to the client (default `/api/v1`). */
  apiBase?: string;
  /** The page title (default `floe`). */
  title?: string;
}

/** The defaults of {@link Options}. */
export const defaults: Required<Options> = { apiBase: "/api/v1", title: "floe" };

/** The client files served under `/ui/`, with their media types: a fixed list, so no request chooses a path. */
const ASSETS: Record<string, string> = {
  "app.js": "text/javascript; charset=utf-8",
  "api.js": "text/javascript; charset=utf-8",
  "dom.js": "text/javascript; charset=utf-8",
  "dashboard.js": "text/javascript; charset=utf-8",
  "runs.js": "text/javascript; charset=utf-8",
  "snapshots.js": "text/javascript; charset=utf-8",
  "jobs.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
  "icon.svg": "image/svg+xml",
};

/** Same-origin only: no inline script, no third party, nothing framed. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

function validApiBase(base: string): string {
  if (!/^\/[A-Za-z0-9._~\/-]*$/.test(base) || base.includes("//")) {
    throw new TypeError(`ui: apiBase must be an absolute path like /api/v1, got ${JSON.stringify(base)}`);
  }
  return base.replace(/\/+$/, "");
}

/**
 * The UI's routes: `GET /` (the shell) and `GET /ui/NAME` (its client modules, stylesheet and icon).
 *
 * @example
 * ```ts
 * import ui from "./mod.ts";
 * const res = await ui().request("/");
 * console.log(res.headers.get("content-type")); // text/html; charset=UTF-8
 * ```
 */
export default function ui(options: Options = {}): Hono {
  const apiBase = validApiBase(options.apiBase ?? defaults.apiBase);
  const title = options.title ?? defaults.title;
  const files = new Map<string, { body: string; type: string; etag: string }>();
  for (const [name, type] of Object.entries(ASSETS)) {
    const body = Deno.readTextFileSync(new URL(`./client/${name}`, import.meta.url));
    files.set(name, { body, type, etag: `"${body.length.toString(36)}-${fnv1a(body)}"` });
  }
  const page = shell({ apiBase, title });
  const app = new Hono();
  app.get("/", (c) => {
    c.header("content-security-policy", CSP);
    c.header("cache-control", "no-store");
    c.header("referrer-policy", "no-referrer");
    c.header("x-content-type-options", "nosniff");
    return c.html(page);
  });
  app.get("/ui/:name", (c) => {
    const file = files.get(c.req.param("name"));
    if (!file) return c.text("not found", 404);
    c.header("content-type", file.type);
    c.header("cache-control", "no-cache");
    c.header("etag", file.etag);
    c.header("x-content-type-options", "nosniff");
    if (c.req.header("if-none-match") === file.etag) return c.body(null, 304);
    return c.body(file.body);
  });
  return app;
}

/** A short content hash for ETags (not security relevant). */
function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36);
}
