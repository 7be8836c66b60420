/**
 * `floe serve [--config F] [--listen HOST:PORT] [--insecure]`: the HTTP control API, the scheduler and
 * the UI in one process (HTTP on a worker, runs on the main thread: server/serve.ts). SIGTERM or SIGINT
 * stops taking requests, lets running runs finish within the grace period, cancels the rest (no partial
 * snapshot) and exits 0; a failure of the HTTP worker cancels the runs and exits with its error.
 *
 * @example
 * ```sh
 * floe serve --config /etc/floe/floe.toml
 * ```
 * @module
 */
import { FloeError } from "../../mod.ts";
import type { Context } from "../context.ts";
import { configFromOption } from "../config_file.ts";
import { parseDurationMs, parseListen } from "../../config/mod.ts";
import { serverToken } from "../../server/token.ts";
import { startServer } from "../../server/serve.ts";

function usage<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new FloeError(`${what}: ${(e as Error).message}`, "usage");
  }
}

/** Runs `serve`. */
export default async function serve(
  ctx: Context,
  _args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  const listen = opts.listen ? usage("--listen", () => parseListen(String(opts.listen))) : undefined;
  const graceMs = usage("--grace", () => parseDurationMs(String(opts.grace ?? "30s")));
  const { config, path } = await configFromOption(opts);
  const token = serverToken();
  const server = await startServer({
    config,
    configPath: path,
    token: token.token,
    listen,
    insecure: !!opts.insecure,
    log: (line) => ctx.info(line, true),
  });
  ctx.info(`floe serve: listening on ${server.url} (config ${path})`, true);
  ctx.info(
    token.path
      ? `token: in ${token.path}${token.generated ? " (generated now, mode 0600)" : ""}`
      : "token: from FLOE_SERVER_TOKEN",
    true,
  );
  const stop = Promise.withResolvers<string>();
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
  const handlers = signals.map((sig) => [sig, () => stop.resolve(sig)] as const);
  for (const [sig, h] of handlers) Deno.addSignalListener(sig, h);
  const sig = await Promise.race([stop.promise, server.failure]).finally(() => {
    for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  });
  if (sig instanceof Error) {
    await server.stop(0);
    throw sig;
  }
  ctx.info(`floe serve: ${sig}: stopping (running runs get ${graceMs / 1000} s)`, true);
  await server.stop(graceMs);
  ctx.info("floe serve: stopped", true);
}
