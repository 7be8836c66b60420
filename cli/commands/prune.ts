/**
 * `floe prune [--max-unused 5%] [--dry-run]`: delete packs no snapshot needs, repack mostly-unused ones.
 * Safe while backups run: packs other writers may still use are marked and deleted by a later prune.
 *
 * @example
 * ```sh
 * floe prune --max-unused 10% --dry-run
 * ```
 * @module
 */
import type { Context } from "../context.ts";
import { formatBytes } from "../progress.ts";
import { FloeError, type PruneResult } from "../../mod.ts";

/** Parses `5%`, `5` (percent) or `unlimited` into a fraction. */
export function parseMaxUnused(text: unknown): number {
  if (text === undefined) return 0.05;
  const s = String(text).trim();
  if (s === "unlimited") return 1;
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(s);
  if (!m || +m[1] > 100) {
    throw new FloeError(`--max-unused takes a percentage 0–100% or 'unlimited', got '${s}'`, "usage");
  }
  return +m[1] / 100;
}

const mb = (n: number) => `${formatBytes(n)}`;

/** Prints a prune's result. */
export function printPrune(ctx: Context, r: PruneResult): void {
  if (ctx.globals.json) {
    ctx.json({
      dry_run: r.dryRun,
      snapshots: r.snapshots,
      packs_before: r.packsBefore,
      size_before: r.sizeBefore,
      size_after: r.sizeAfter,
      unused: r.unused,
      repacked: r.repacked,
      repacked_into: r.repackedInto,
      deleted: r.deleted,
      orphans: r.orphans,
      deleted_from_markers: r.deletedFromMarkers,
      marked: r.marked,
      resurrected: r.resurrected,
      markers: r.markers,
      other_locks: r.otherLocks,
      temporaries: r.temporaries,
      unused_bytes_after: r.unusedBytesAfter,
      duration: r.duration,
    });
    return;
  }
  const would = r.dryRun ? "would " : "";
  ctx.out(`${r.snapshots} snapshots, ${r.packsBefore} packs, repository ${mb(r.sizeBefore)}`);
  ctx.out(`unused packs:   ${r.unused.packs} (${mb(r.unused.bytes)})`);
  ctx.out(
    `${would}repack:   ${r.repacked.packs} pack(s) (${
      mb(r.repacked.bytes)
    }), ${r.repacked.blobs} blobs kept` +
      (r.dryRun ? "" : ` in ${r.repackedInto.packs} new pack(s) (${mb(r.repackedInto.bytes)})`),
  );
  if (r.orphans.packs) ctx.out(`unindexed packs: ${r.orphans.packs} (${mb(r.orphans.bytes)})`);
  if (r.deletedFromMarkers.packs) {
    ctx.out(`from earlier prunes: ${r.deletedFromMarkers.packs} pack(s) (${mb(r.deletedFromMarkers.bytes)})`);
  }
  if (r.resurrected.packs) ctx.out(`packs needed again (indexed again): ${r.resurrected.packs}`);
  if (r.temporaries.removed || r.temporaries.kept) {
    ctx.out(
      `temporary files of interrupted writes: ${would}remove ${r.temporaries.removed} (${
        mb(r.temporaries.bytes)
      })` + (r.temporaries.kept ? `, ${r.temporaries.kept} younger kept (a backup may be writing them)` : ""),
    );
  }
  ctx.out(`${would}delete: ${r.deleted.packs} pack(s) (${mb(r.deleted.bytes)})`);
  if (r.marked.packs) {
    ctx.out(
      `marked for a later prune: ${r.marked.packs} pack(s) (${mb(r.marked.bytes)}) — other writers ` +
        `were active (${r.otherLocks.length} lock(s)); run 'floe prune' again once they are done`,
    );
  } else if (r.markers.pending) {
    ctx.out(`${r.markers.pending} marker(s) wait for other writers to finish`);
  }
  ctx.out(
    `repository ${mb(r.sizeBefore)} → ${r.dryRun ? "about " : ""}${mb(r.sizeAfter)} ` +
      `(${mb(r.sizeBefore - r.sizeAfter)} freed) in ${r.duration.toFixed(2)} s`,
  );
}

/** Runs `prune`. */
export default async function prune(
  ctx: Context,
  _args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  parseMaxUnused(opts.maxUnused); // usage errors before opening
  const engine = await ctx.open();
  try {
    const r = await engine.prune({
      maxUnused: parseMaxUnused(opts.maxUnused),
      dryRun: !!opts.dryRun,
      signal: ctx.signal,
      onEvent: ctx.onEvent,
    });
    printPrune(ctx, r);
  } finally {
    await engine.close();
  }
}
