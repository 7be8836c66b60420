/**
 * `floe repair index` (rebuild the index from pack headers) and `floe repair snapshots [--forget]`
 * (write repaired copies of snapshots that reference lost data).
 *
 * @example
 * ```sh
 * floe repair index
 * floe repair snapshots --read-data --forget
 * ```
 * @module
 */
import type { Context } from "../context.ts";

/** Runs `repair index`. */
export async function index(ctx: Context, _args: string[], opts: Record<string, unknown>): Promise<void> {
  const engine = await ctx.open();
  try {
    const r = await engine.repairIndex({ dryRun: !!opts.dryRun, signal: ctx.signal, onEvent: ctx.onEvent });
    if (ctx.globals.json) {
      ctx.json({ dry_run: !!opts.dryRun, ...r });
      return;
    }
    for (const u of r.unreadable) ctx.out(`unreadable pack ${u.pack}: ${u.message} (left out)`);
    for (const m of r.missing) ctx.out(`missing pack ${m} (dropped from the index)`);
    for (const a of r.added) ctx.out(`pack ${a} was not indexed (added)`);
    ctx.out(
      `${
        opts.dryRun ? "dry run: would index" : "indexed"
      } ${r.blobs} blobs in ${r.packsIndexed} of ${r.packs} packs` +
        (opts.dryRun ? "" : `; wrote ${r.written.length} index file(s), removed ${r.removed.length}`),
    );
    if (r.unreadable.length || r.missing.length) {
      ctx.info("run 'floe repair snapshots' to drop files whose data was lost", true);
    }
  } finally {
    await engine.close();
  }
}

/** Runs `repair snapshots`. */
export async function snapshots(ctx: Context, args: string[], opts: Record<string, unknown>): Promise<void> {
  const engine = await ctx.open();
  try {
    const ids = args.length ? args.map((a) => engine.resolveSnapshot(a).id) : undefined;
    const r = await engine.repairSnapshots({
      signal: ctx.signal,
      onEvent: ctx.onEvent,
      snapshots: ids,
      readData: !!opts.readData,
      forget: !!opts.forget,
      dryRun: !!opts.dryRun,
    });
    if (ctx.globals.json) {
      ctx.json({ dry_run: !!opts.dryRun, ...r });
      return;
    }
    const damaged = r.snapshots.filter((s) => s.status !== "ok");
    for (const s of damaged) {
      const what = s.status === "unrepairable"
        ? "its root tree is lost: nothing to keep"
        : `${s.removedTotal} path(s) removed or emptied`;
      ctx.out(
        `snapshot ${s.id.slice(0, 8)}: ${what}${s.newId ? `; repaired as ${s.newId.slice(0, 8)}` : ""}${
          s.forgotten ? "; original removed" : ""
        }`,
      );
      for (const p of s.removed) ctx.out(`  ${p}`);
      if (s.removedTotal > s.removed.length) ctx.out(`  … and ${s.removedTotal - s.removed.length} more`);
    }
    ctx.out(
      damaged.length
        ? `${
          opts.dryRun ? "dry run: would repair" : "repaired"
        } ${damaged.length} of ${r.snapshots.length} snapshot(s)`
        : `all ${r.snapshots.length} snapshot(s) are intact`,
    );
    if (damaged.length && !opts.forget && !opts.dryRun) {
      ctx.info("the damaged originals are kept; 'floe repair snapshots --forget' removes them", true);
    }
  } finally {
    await engine.close();
  }
}
