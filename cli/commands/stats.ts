/**
 * `floe stats [SNAPSHOT…] [--mode restore-size|files-by-contents|raw]`: sizes, deduplication and
 * compression figures, for all snapshots or the ones named.
 *
 * @example
 * ```sh
 * floe stats
 * floe stats latest --mode raw --json
 * ```
 * @module
 */
import type { Context } from "../context.ts";
import type { StatsMode } from "../../mod.ts";
import { FloeError } from "../../mod.ts";

const MODES = ["all", "restore-size", "files-by-contents", "raw", "raw-data"];

function size(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) n /= 1024, i++;
  return `${n.toFixed(i ? 2 : 0)} ${units[i]}`;
}

/** Runs `stats`. */
export default async function stats(
  ctx: Context,
  args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  const mode = String(opts.mode ?? "all");
  if (!MODES.includes(mode)) {
    throw new FloeError(`--mode takes ${MODES.join("|")}, got '${mode}'`, "usage");
  }
  const engine = await ctx.open();
  try {
    const snaps = args.length
      ? [...new Map(args.map((a) => engine.resolveSnapshot(a)).map((s) => [s.id, s])).values()]
      : engine.snapshots({
        host: opts.host as string | undefined,
        paths: opts.path as string[] | undefined,
        tags: opts.tag as string[] | undefined,
      });
    const s = await engine.stats(snaps, {
      mode: (mode === "raw-data" ? "raw" : mode) as StatsMode,
      signal: ctx.signal,
    });
    if (ctx.globals.json) {
      ctx.json({
        snapshots_count: s.snapshots,
        ...(s.restoreSize ? { total_file_count: s.restoreSize.files, total_size: s.restoreSize.bytes } : {}),
        ...(s.filesByContents
          ? { unique_file_count: s.filesByContents.files, unique_files_size: s.filesByContents.bytes }
          : {}),
        ...(s.raw
          ? {
            total_blob_count: s.raw.blobs,
            data_blob_count: s.raw.dataBlobs,
            tree_blob_count: s.raw.treeBlobs,
            total_uncompressed_size: s.raw.rawBytes,
            total_stored_size: s.raw.storedBytes,
            missing_blob_count: s.raw.missing,
          }
          : {}),
        ...(s.compressionRatio !== undefined ? { compression_ratio: s.compressionRatio } : {}),
        ...(s.spaceSaving !== undefined ? { space_saving: s.spaceSaving } : {}),
        ...(s.repository
          ? {
            repository: {
              blob_count: s.repository.blobs,
              pack_count: s.repository.packs,
              raw_size: s.repository.rawBytes,
              stored_size: s.repository.storedBytes,
              pack_size: s.repository.packBytes,
            },
          }
          : {}),
      });
      return;
    }
    ctx.out(`snapshots:                 ${s.snapshots}`);
    if (s.restoreSize) {
      ctx.out(`restore size:              ${size(s.restoreSize.bytes)} in ${s.restoreSize.files} files`);
    }
    if (s.filesByContents) {
      ctx.out(
        `distinct file contents:    ${size(s.filesByContents.bytes)} in ${s.filesByContents.files} files`,
      );
    }
    if (s.raw) {
      ctx.out(
        `deduplicated size:         ${
          size(s.raw.rawBytes)
        } in ${s.raw.blobs} blobs (${s.raw.dataBlobs} data, ${s.raw.treeBlobs} tree)`,
      );
      ctx.out(`stored size:               ${size(s.raw.storedBytes)}`);
      if (s.raw.missing) ctx.out(`blobs missing from index:  ${s.raw.missing} (run 'floe check')`);
    }
    if (s.compressionRatio !== undefined) {
      ctx.out(`compression ratio:         ${s.compressionRatio.toFixed(2)}x`);
    }
    if (s.spaceSaving !== undefined) {
      ctx.out(`space saving:              ${(s.spaceSaving * 100).toFixed(1)} %`);
    }
    if (s.repository) {
      const r = s.repository;
      ctx.out(
        `repository:                ${r.blobs} blobs in ${r.packs} packs, ${size(r.packBytes)} in storage`,
      );
    }
  } finally {
    await engine.close();
  }
}
