/**
 * `floe mirror sync`: with `--repo` given several times, copies every repository object some storages
 * lack from one that has it (e.g. after adding an empty storage to a mirror, or after one was
 * unreachable). Runs under the repository's exclusive lock.
 *
 * @example
 * ```sh
 * floe --repo /srv/backup --repo sftp://nas//srv/backup mirror sync
 * ```
 * @module
 */
import type { Context } from "../context.ts";
import { formatBytes } from "../progress.ts";
import { ExitCode } from "../../jobs/exit_codes.ts";
import { FloeError } from "../../mod.ts";

/** Runs `mirror sync`. */
export async function sync(ctx: Context, _args: string[], _opts: Record<string, unknown>): Promise<void> {
  if (ctx.locations().locations.length < 2) {
    throw new FloeError(
      "'mirror sync' needs several repository locations: give --repo twice or more",
      "usage",
    );
  }
  const engine = await ctx.open();
  try {
    const result = await engine.mirrorSync({
      signal: ctx.signal,
      onEvent: ctx.onEvent,
      onCopy: (name, to, bytes) => {
        if (ctx.globals.verbose) ctx.info(`copied ${name} (${bytes} bytes) to ${to}`);
      },
    });
    if (ctx.globals.json) ctx.json(result);
    else {
      for (const u of result.unresolved) ctx.out(`error: mirror ${u.name}: ${u.message}`);
      ctx.info(
        `copied ${result.copied} object(s), ${formatBytes(result.bytes)}${
          result.unresolved.length ? `; ${result.unresolved.length} left as they were` : ""
        }`,
        true,
      );
    }
    if (result.unresolved.length) ctx.exitCode = ExitCode.Failure;
  } finally {
    await engine.close();
  }
}
