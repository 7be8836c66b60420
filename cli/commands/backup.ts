/**
 * `floe backup PATH…`: back up with the fs source.
 *
 * @example
 * ```sh
 * floe backup /etc /home --tag nightly --exclude '*.tmp'
 * ```
 * @module
 */
import type { Context } from "../context.ts";
import { loadPlugin } from "../../core/registry.ts";
import { parseDate } from "../../core/dates.ts";
import { ExitCode, FloeError } from "../../core/errors.ts";
import { compressionOf } from "./init.ts";
import { scanAhead } from "../../core/scan_ahead.ts";

/** Runs `backup`. */
export default async function backup(
  ctx: Context,
  args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  const time = opts.time ? parseDate(String(opts.time)) : undefined;
  const choice = opts.compression ? compressionOf(String(opts.compression)) : undefined;
  const noCompression = choice?.compression === "none";
  const compressionLevel = choice && !noCompression ? choice.level : undefined;
  for (const p of args) {
    try {
      Deno.lstatSync(p);
    } catch {
      throw new FloeError(`${p}: no such file or directory`, ExitCode.Failure);
    }
  }
  const source = await loadPlugin("source", "fs", {
    paths: args,
    exclude: opts.exclude ?? [],
    excludeFile: opts.excludeFile ?? [],
    excludeIfPresent: opts.excludeIfPresent ?? [],
    oneFileSystem: !!opts.oneFileSystem,
    excludeNodump: !!opts.excludeNodump,
    xattrs: opts.xattrs !== false,
    xattrInclude: opts.xattrInclude ?? [],
    xattrExclude: opts.xattrExclude ?? [],
  });
  // The walk starts while the repository opens (its key derivation leaves this thread idle).
  const scanning = scanAhead(source);
  let engine;
  try {
    engine = await ctx.openOrCreateDefault();
  } catch (e) {
    scanning.stop();
    throw e;
  }
  try {
    const parent = opts.parent ? engine.resolveSnapshot(String(opts.parent)).id : undefined;
    const ac = new AbortController();
    const onSignal = () => ac.abort(new FloeError("interrupted; nothing was recorded", ExitCode.Failure));
    Deno.addSignalListener("SIGINT", onSignal);
    let result;
    try {
      result = await engine.backup(scanning, {
        tags: (opts.tag as string[]) ?? [],
        host: opts.host as string | undefined,
        time,
        parent,
        force: !!opts.force,
        noCompression,
        compressionLevel,
        workers: Deno.env.get("FLOE_WORKERS") ? Number(Deno.env.get("FLOE_WORKERS")) : undefined,
        signal: ac.signal,
      });
    } finally {
      Deno.removeSignalListener("SIGINT", onSignal);
    }
    const s = result.snapshot.summary!;
    if (ctx.globals.json) {
      ctx.json({
        message_type: "summary",
        snapshot_id: result.snapshotId,
        files_new: s.files_new,
        files_changed: s.files_changed,
        files_unmodified: s.files_unmodified,
        dirs_new: s.dirs_new,
        dirs_changed: s.dirs_changed,
        dirs_unmodified: s.dirs_unmodified,
        data_blobs: s.data_blobs,
        tree_blobs: s.tree_blobs,
        data_added: s.data_added,
        data_added_raw: s.data_added_raw,
        total_files_processed: s.total_files_processed,
        total_bytes_processed: s.total_bytes_processed,
        total_duration: s.total_duration,
        errors: s.errors,
      });
    } else {
      ctx.info(
        `files: ${s.files_new} new, ${s.files_changed} changed, ${s.files_unmodified} unmodified; ` +
          `dirs: ${s.dirs_new} new, ${s.dirs_changed} changed, ${s.dirs_unmodified} unmodified`,
      );
      ctx.info(
        `processed ${s.total_files_processed} files, ${(s.total_bytes_processed / 1e6).toFixed(1)} MB in ${
          s.total_duration.toFixed(2)
        } s; added ${(s.data_added / 1e6).toFixed(1)} MB`,
      );
      ctx.out(`snapshot ${result.snapshotId.slice(0, 8)} saved`);
    }
    if (result.warnings.length) {
      ctx.info(
        `${result.warnings.length} entr${result.warnings.length === 1 ? "y" : "ies"} could not be read`,
        true,
      );
    }
    ctx.exitCode = result.exitCode;
  } finally {
    await engine.close();
  }
}
