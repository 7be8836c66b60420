/**
 * Starts `floe serve`: opens the runs database beside the config, the scheduler, the app on Deno.serve
 * (TLS from `[server] tls-cert`/`tls-key`; listening beyond loopback without TLS needs `insecure`), and
 * returns a handle whose `stop` drains runs within a grace period.
 *
 * @example
 * ```ts
 * import { startServer } from "./serve.ts";
 * // const server = await startServer({ config, configPath: "/etc/floe/floe.toml", token });
 * // await server.stop(30_000);
 * ```
 * @module
 */
import { FloeError } from "../mod.ts";
import type { Config, ListenAddress } from "../config/mod.ts";
import { EngineAdapter } from "./_engine.ts";
import { createApp } from "./app.ts";
import { RunsDb } from "./runs_db.ts";
import { Scheduler } from "./scheduler.ts";
import type { Services } from "./_services.ts";

/** Options of {@link startServer}. */
export interface ServeOptions {
  /** The config. */
  config: Config;
  /** The config file's path (the runs database lives beside it). */
  configPath: string;
  /** The bearer token. */
  token: string;
  /** Overrides `[server] listen` (port 0: any free port). */
  listen?: ListenAddress;
  /** Allows plain HTTP beyond loopback. */
  insecure?: boolean;
  /** Server log lines. */
  log?: (line: string) => void;
}

/** A running server. */
export interface RunningServer {
  /** Its base URL. */
  url: string;
  /** The port it listens on. */
  port: number;
  /** Its parts (tests look inside). */
  services: Services;
  /** Stops taking requests and runs; running runs get `graceMs` to finish, then are cancelled. */
  stop(graceMs?: number): Promise<void>;
}

/** Whether a host name is a loopback address. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Where the runs database of a config file lives. */
export function runsDbPath(configPath: string): string {
  const slash = configPath.lastIndexOf("/");
  return `${slash > 0 ? configPath.slice(0, slash) : "."}/floe-server.db`;
}

/** Starts the server. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { config } = options;
  const listen = options.listen ?? config.server.listen;
  const tls = config.server.tlsCert && config.server.tlsKey;
  if (!tls && !isLoopback(listen.hostname) && !options.insecure) {
    throw new FloeError(
      `listening on ${listen.hostname} needs TLS ([server] tls-cert and tls-key) or --insecure`,
      "usage",
    );
  }
  const db = RunsDb.open(runsDbPath(options.configPath));
  const engine = new EngineAdapter(config);
  const scheduler = new Scheduler({ config, engine, db, log: options.log });
  const services: Services = { config, engine, scheduler, db };
  const app = createApp(services, { token: options.token });
  const ready = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: listen.hostname,
    port: listen.port,
    ...(tls
      ? {
        cert: await Deno.readTextFile(config.server.tlsCert!),
        key: await Deno.readTextFile(config.server.tlsKey!),
      }
      : {}),
    onListen: (addr) => ready.resolve(addr as Deno.NetAddr),
    onError: (e) => {
      options.log?.(`request failed: ${(e as Error)?.message}`);
      return new Response(JSON.stringify({ error: { code: "internal", message: "internal error" } }), {
        status: 500,
      });
    },
  }, app.fetch);
  const addr = await ready.promise;
  scheduler.start();
  let stopping: Promise<void> | undefined;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    url: `${tls ? "https" : "http"}://${host}:${addr.port}`,
    port: addr.port,
    services,
    stop: (graceMs = 30_000) =>
      stopping ??= (async () => {
        const shutdown = server.shutdown(); // stops accepting; open streams end with their runs
        await scheduler.stop(graceMs);
        await Promise.race([shutdown, new Promise((r) => setTimeout(r, 2_000))]);
        await engine.close();
        db.close();
      })(),
  };
}
