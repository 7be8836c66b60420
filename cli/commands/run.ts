/**
 * `floe run JOB [--config F]`: runs one job of the config in the foreground, without a server (hooks,
 * retries, timeout and keep rules as the server runs it). Exit codes as `backup`: 3 when the snapshot
 * was made with unreadable entries.
 *
 * @example
 * ```sh
 * floe run home --config /etc/floe/floe.toml
 * ```
 * @module
 */
import type { Context } from "../context.ts";
import { configFromOption } from "../config_file.ts";
import { ExitCode, FloeError } from "../../core/errors.ts";
import { EngineAdapter } from "../../server/_engine.ts";
import { runJob } from "../../server/runner.ts";

/** Runs `run`. */
export default async function run(
  ctx: Context,
  args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  const { config } = await configFromOption(opts);
  const name = args[0];
  if (!Object.hasOwn(config.jobs, name)) {
    const known = Object.keys(config.jobs);
    throw new FloeError(
      `no job '${name}' in the config (${known.length ? `jobs: ${known.join(", ")}` : "it has none"})`,
      ExitCode.Usage,
    );
  }
  const engine = new EngineAdapter(config);
  const ac = new AbortController();
  const onSignal = () => ac.abort(new FloeError("interrupted; nothing was recorded", ExitCode.Failure));
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const result = await runJob(engine, config, name, {
      signal: ac.signal,
      onEvent: (e) => {
        if (e.type === "warning") ctx.info(`warning: ${e.path}: ${e.message}`, true);
        else if (e.type === "info" && ctx.globals.verbose) ctx.info(e.message);
      },
      log: (line) => ctx.info(line),
    });
    if (ctx.globals.json) {
      ctx.json({ job: name, snapshot_id: result.snapshotId ?? null, summary: result.summary });
    } else if (result.snapshotId && config.jobs[name].kind === "backup") {
      ctx.out(`snapshot ${result.snapshotId.slice(0, 8)} saved`);
    }
    ctx.exitCode = result.exitCode;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await engine.close();
  }
}
