/**
 * A `floe serve` for tests: a temporary directory with a repository (`repo/`), its password file, a
 * source tree (`src/`), a config written from a template, and the server on a random loopback port.
 *
 * @example
 * ```ts
 * import { startFixture } from "./server_fixture.ts";
 * // const f = await startFixture((d) => `[repositories.main]\nlocation = "${d}/repo"\n…`);
 * // const res = await f.api("/api/v1/jobs");
 * // await f.close();
 * ```
 * @module
 */
import { Engine } from "../core/engine.ts";
import { parseConfig } from "../config/mod.ts";
import { type RunningServer, startServer } from "../server/serve.ts";
import { SMALL_REPO } from "./helpers.ts";

/** The token tests use. */
export const TOKEN = "test-token-0123456789abcdef";

/** A prepared directory and, once started, its server. */
export interface Fixture {
  /** The temporary directory. */
  dir: string;
  /** The config file. */
  configPath: string;
  /** The server (after {@link Fixture.start}). */
  server: RunningServer;
  /** Fetches a path of the server with the token. */
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  /** Starts (again) a server on the same directory. */
  start(): Promise<RunningServer>;
  /** Waits until a run has ended; returns it. */
  waitRun(id: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Stops the server (if running) and removes the directory. */
  close(): Promise<void>;
}

/** The standard config: one repository and a backup job `home` of `src/`. */
export function standardConfig(d: string, extra = ""): string {
  return `[server]
listen = "127.0.0.1:8470"
restore-roots = ["${d}/restore"]
allow-hooks = true
catch-up = false

[repositories.main]
location = "${d}/repo"
password-file = "${d}/pw"

[jobs.home]
repository = "main"
paths = ["${d}/src"]
tags = ["nightly"]
${extra}`;
}

/** Prepares a directory (repository, source files, config) and starts the server. */
export async function startFixture(
  config: (dir: string) => string = standardConfig,
  options: { start?: boolean } = {},
): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "floe-server-" });
  Deno.env.set("FLOE_CACHE_DIR", `${dir}/cache`);
  await Deno.writeTextFile(`${dir}/pw`, "server-test-password\n");
  await Deno.mkdir(`${dir}/src/sub`, { recursive: true });
  await Deno.mkdir(`${dir}/restore`);
  await Deno.writeTextFile(`${dir}/src/a.txt`, "hello from a\n");
  await Deno.writeTextFile(`${dir}/src/sub/b.txt`, "0123456789".repeat(1000));
  const engine = await Engine.init({
    location: `${dir}/repo`,
    password: "server-test-password",
    ...SMALL_REPO,
  });
  await engine.close();
  const configPath = `${dir}/floe.toml`;
  await Deno.writeTextFile(configPath, config(dir));
  const f: Fixture = {
    dir,
    configPath,
    server: undefined as unknown as RunningServer,
    api: (path, init = {}) => {
      const headers = new Headers(init.headers);
      if (!headers.has("authorization")) headers.set("authorization", `Bearer ${TOKEN}`);
      let body = init.body;
      if (init.json !== undefined) {
        headers.set("content-type", "application/json");
        body = JSON.stringify(init.json);
      }
      return fetch(f.server.url + path, { ...init, headers, body });
    },
    start: async () => {
      const cfg = parseConfig(await Deno.readTextFile(configPath), configPath);
      f.server = await startServer({
        config: cfg,
        configPath,
        token: TOKEN,
        listen: { hostname: "127.0.0.1", port: 0 },
      });
      return f.server;
    },
    waitRun: async (id, timeoutMs = 20_000) => {
      const until = Date.now() + timeoutMs;
      while (true) {
        const r = await (await f.api(`/api/v1/runs/${id}`)).json();
        if (!["queued", "running"].includes(r.status)) return r;
        if (Date.now() > until) throw new Error(`run ${id} still ${r.status}`);
        await new Promise((res) => setTimeout(res, 50));
      }
    },
    close: async () => {
      await f.server?.stop(1_000).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  if (options.start !== false) await f.start();
  return f;
}
