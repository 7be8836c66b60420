/**
 * `floe catalog rebuild`: rebuild the local catalog from the repository.
 *
 * @example
 * ```sh
 * floe catalog rebuild
 * ```
 * @module
 */
import type { Context } from "../context.ts";

/** Runs `catalog rebuild`. */
export default async function rebuild(ctx: Context): Promise<void> {
  const engine = await ctx.open();
  try {
    const started = performance.now();
    const s = await engine.rebuildCatalog({ signal: ctx.signal, onEvent: ctx.onEvent });
    ctx.out(
      `catalog rebuilt: ${s.snapshots} snapshots, ${s.blobs} blobs in ${s.packs} packs (${
        ((performance.now() - started) / 1000).toFixed(2)
      } s)`,
    );
  } finally {
    await engine.close();
  }
}
