/**
 * The HTTP side of `floe serve` on one thread: the runs database beside the config, the scheduler, the
 * app on Deno.serve (TLS from `[server] tls-cert`/`tls-key`; listening beyond loopback without TLS needs
 * `insecure`). The HTTP worker (server/_http_worker.ts) starts it and hands it a `perform` that carries
 * runs out on the thread that started the server (server/serve.ts says why).
 *
 * @example
 * ```ts
 * import { startServerHere } from "./_serve_here.ts";
 * // const server = await startServerHere({ config, configPath, token, perform });
 * ```
 * @module
 */
import { FloeError } from "../mod.ts";
import { EngineAdapter, type OperationResult, type RunContext } from "./_engine.ts";
import { createApp } from "./app.ts";
import { RunsDb } from "./runs_db.ts";
import { Scheduler } from "./scheduler.ts";
import type { Services } from "./_services.ts";
import type { OperationRequest } from "./operation.ts";
import { isLoopback, type RunningServer, runsDbPath, type ServeOptions } from "./serve.ts";

/** Starts the HTTP side on this thread; the runs its scheduler starts go to `perform`. */
export async function startServerHere(
  options: ServeOptions & {
    perform: (request: OperationRequest, ctx: RunContext) => Promise<OperationResult>;
  },
): Promise<RunningServer> {
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
  const scheduler = new Scheduler({ config, db, log: options.log, perform: options.perform });
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
    failure: new Promise<Error>(() => {}),
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
