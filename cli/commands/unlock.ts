/**
 * `floe unlock [--remove-all]`: remove stale locks left by crashed processes.
 *
 * @example
 * ```sh
 * floe unlock
 * ```
 * @module
 */
import type { Context } from "../context.ts";

/** Runs `unlock`. */
export default async function unlock(
  ctx: Context,
  _args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  const engine = await ctx.open();
  try {
    const n = await engine.unlock(!!opts.removeAll);
    ctx.out(`removed ${n} lock${n === 1 ? "" : "s"}`);
  } finally {
    await engine.close();
  }
}
