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
import { FloeError } from "../../mod.ts";
import type { Context } from "../context.ts";
import { configFromOption } from "../config_file.ts";
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
      "usage",
    );
  }
  const engine = new EngineAdapter(config);
  try {
    const result = await runJob(engine, config, name, {
      signal: ctx.signal, // SIGINT and SIGTERM cancel it (cli/main.ts)
      onEvent: ctx.onEvent,
      log: (line) => ctx.info(line),
    });
    if (ctx.globals.json) {
      ctx.json({ job: name, snapshot_id: result.snapshotId ?? null, summary: result.summary });
    } else if (result.snapshotId && config.jobs[name].kind === "backup") {
      ctx.out(`snapshot ${result.snapshotId.slice(0, 8)} saved`);
    }
    ctx.exitCode = result.exitCode;
  } finally {
    await engine.close();
  }
}
