/**
 * Starts `floe serve`: opens the runs database beside the config, the scheduler, the app on Deno.serve
 * (TLS from `[server] tls-cert`/`tls-key`; listening beyond loopback without TLS needs `insecure`), and
 * returns a handle whose `stop` drains runs within a grace period.
 *
 * {@link startServer} puts the HTTP side (app, scheduler, runs database, the engine that answers reads)
 * on a worker and carries the runs out on the calling thread. A backup's own work on its thread (packing,
 * catalog writes through synchronous node:sqlite, tree building, collecting its garbage) then never sits
 * between two requests: measured with 1,000 snapshots, p99 of GET …/snapshots during backups 53–99 ms
 * with everything on one thread, 13–20 ms split. The split is this way round, not runs on workers,
 * because a backup starts workers of its own and a worker started by a worker takes 0.5–1 s to start in
 * Deno 2.9 (16–28 ms from the main thread): every backup on a worker took twice as long.
 * The HTTP side itself is started by `startServerHere` (server/_serve_here.ts) on the worker; this module
 * does not load the app (Hono, the routes, their schemas) into the thread that runs backups.
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
import type { Services } from "./_services.ts";
import { failureOf, type OperationRequest, perform } from "./operation.ts";
import type { FromHttp, ToHttp } from "./_threads.ts";

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
  /** Its parts, when they live on this thread (`startServerHere`). */
  services?: Services;
  /** Stops taking requests and runs; running runs get `graceMs` to finish, then are cancelled. */
  stop(graceMs?: number): Promise<void>;
  /** Settles (with the error) only if the server fails on its own: its HTTP worker died. */
  failure: Promise<Error>;
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

/**
 * Starts the server with its HTTP side on a worker; the runs its scheduler starts are carried out on
 * this thread (see the module's note for why).
 */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { config, log } = options;
  const engine = new EngineAdapter(config);
  const worker = new Worker(new URL("./_http_worker.ts", import.meta.url), { type: "module" });
  const send = (m: ToHttp) => worker.postMessage(m);
  /** The runs carried out here: how to cancel each, and its end. */
  const runs = new Map<number, { controller: AbortController; done: Promise<void> }>();
  const listening = Promise.withResolvers<{ url: string; port: number }>();
  const stopped = Promise.withResolvers<void>();
  const failure = Promise.withResolvers<Error>();

  const carryOut = (run: number, request: OperationRequest) => {
    const controller = new AbortController();
    const done = (async () => {
      try {
        const result = await perform(engine, config, request, {
          signal: controller.signal,
          onEvent: (event) => send({ type: "event", run, event }),
          log: (line) => send({ type: "log", run, line }),
        });
        send({ type: "result", run, result });
      } catch (e) {
        send({ type: "failure", run, failure: failureOf(e) });
      } finally {
        runs.delete(run);
      }
    })();
    runs.set(run, { controller, done });
  };
  worker.onmessage = (e: MessageEvent<FromHttp>) => {
    const m = e.data;
    switch (m.type) {
      case "listening":
        return listening.resolve(m);
      case "start-failed":
        return listening.reject(new FloeError(m.message, m.code as FloeError["code"]));
      case "stopped":
        return stopped.resolve();
      case "server-log":
        return log?.(m.line);
      case "perform":
        return carryOut(m.run, m.request);
      case "cancel":
        return runs.get(m.run)?.controller.abort(new FloeError(m.message, "cancelled"));
    }
  };
  worker.onerror = (e) => {
    e.preventDefault();
    const error = new FloeError(`the server's HTTP worker failed: ${e.message}`);
    // Nobody is left to hear how the runs end: cancel them (nothing partial is kept).
    for (const r of runs.values()) r.controller.abort(error);
    listening.reject(error);
    stopped.resolve();
    failure.resolve(error);
  };
  send({
    type: "start",
    config,
    configPath: options.configPath,
    token: options.token,
    listen: options.listen,
    insecure: options.insecure,
  });
  let addr: { url: string; port: number };
  try {
    addr = await listening.promise;
  } catch (e) {
    worker.terminate();
    throw e;
  }
  let stopping: Promise<void> | undefined;
  return {
    ...addr,
    failure: failure.promise,
    stop: (graceMs = 30_000) =>
      stopping ??= (async () => {
        send({ type: "stop", graceMs });
        await stopped.promise;
        // The scheduler waited for its runs (cancelling what outlived the grace period); a dead HTTP worker
        // did not: its runs, cancelled, end here.
        await Promise.all([...runs.values()].map((r) => r.done));
        worker.terminate();
        await engine.close();
      })(),
  };
}
