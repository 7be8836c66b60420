/**
 * `floe backup ARG…`: back up with a source — `fs` (the default: ARGs are paths), a built-in such as
 * `mysql`, `postgres`, `command`, or a plugin by path or package (`--source ./my_source.ts`), which gets
 * the ARGs as `paths` and each `--source-option KEY=VALUE`.
 *
 * @example
 * ```sh
 * floe backup /etc /home --tag nightly --exclude '*.tmp'
 * floe backup --source ./examples/plugins/sqlite_source.ts /var/lib/app/app.db
 * ```
 * @module
 */
import { ExitCode } from "../exit_codes.ts";
import type { Context } from "../context.ts";
import { formatBytes } from "../progress.ts";
import { FloeError, loadPlugin, parseDate, scanAhead, type SourcePlugin } from "../../mod.ts";
import { compressionOf } from "./init.ts";
import { fsSnapshotter, literalGlob } from "../../plugins/fs_snapshot/mod.ts";
import { absolutePath } from "../../plugins/source/fs/mod.ts";

/**
 * `--source-option KEY=VALUE`s as an options object: `true`/`false` become booleans, whole numbers
 * numbers, and a key given several times a list.
 */
export function sourceOptions(pairs: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new FloeError(`--source-option takes KEY=VALUE, got '${pair}'`, "usage");
    const key = pair.slice(0, eq);
    if (key === "__proto__" || key === "constructor" || key === "prototype") {
      throw new FloeError(`--source-option: '${key}' is not an option name`, "usage");
    }
    const raw = pair.slice(eq + 1);
    const value = raw === "true" ? true : raw === "false" ? false : /^-?\d+$/.test(raw) ? Number(raw) : raw;
    out[key] = Object.hasOwn(out, key) ? [out[key], value].flat() : value;
  }
  return out;
}

async function sourceOf(args: string[], opts: Record<string, unknown>): Promise<SourcePlugin> {
  const spec = String(opts.source ?? "fs");
  const given = sourceOptions((opts.sourceOption as string[]) ?? []);
  if (spec !== "fs") return await loadPlugin("source", spec, { ...given, paths: args });
  for (const p of args) {
    try {
      Deno.lstatSync(p);
    } catch {
      throw new FloeError(`${p}: no such file or directory`, "failed");
    }
  }
  return await loadPlugin("source", "fs", {
    ...given,
    paths: args,
    exclude: opts.exclude ?? [],
    excludeFile: opts.excludeFile ?? [],
    excludeIfPresent: opts.excludeIfPresent ?? [],
    oneFileSystem: !!opts.oneFileSystem,
    excludeNodump: !!opts.excludeNodump,
    readAt: opts.readAt,
    xattrs: opts.xattrs !== false,
    xattrInclude: opts.xattrInclude ?? [],
    xattrExclude: opts.xattrExclude ?? [],
  });
}

/**
 * Runs `backup`; with `--fs-snapshot KIND`, from snapshots of the paths (plugins/fs_snapshot/) that are
 * deleted afterwards — also after a failure or SIGINT/SIGTERM; a kill -9 leaves them to the next run.
 */
export default async function backup(
  ctx: Context,
  args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  if (opts.fsSnapshot === undefined) return await backupFrom(ctx, args, opts);
  if (String(opts.source ?? "fs") !== "fs") {
    throw new FloeError("--fs-snapshot works with the fs source only", "usage");
  }
  const snapshotter = await fsSnapshotter(String(opts.fsSnapshot));
  const paths = args.map((p) => absolutePath(p));
  const set = await snapshotter.take(paths, {
    nested: !opts.oneFileSystem,
    warn: (line) => ctx.info(`warning: ${line}`, true),
  });
  try {
    await backupFrom(ctx, paths, {
      ...opts,
      readAt: set.readAt,
      exclude: [...(opts.exclude as string[] ?? []), ...set.hide.map(literalGlob)],
    });
  } finally {
    await set.release().catch((e) => {
      ctx.info(`warning: ${(e as Error).message}`, true);
      ctx.exitCode ||= ExitCode.Failure;
    });
  }
}

async function backupFrom(
  ctx: Context,
  args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  const time = opts.time ? parseDate(String(opts.time)) : undefined;
  const choice = opts.compression ? compressionOf(String(opts.compression)) : undefined;
  const noCompression = choice?.compression === "none";
  const compressionLevel = choice && !noCompression ? choice.level : undefined;
  const source = await sourceOf(args, opts);
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
    const result = await engine.backup(scanning, {
      tags: (opts.tag as string[]) ?? [],
      host: opts.host as string | undefined,
      time,
      parent,
      force: !!opts.force,
      noCompression,
      compressionLevel,
      workers: Deno.env.get("FLOE_WORKERS") ? Number(Deno.env.get("FLOE_WORKERS")) : undefined,
      signal: ctx.signal,
      onEvent: ctx.onEvent,
    });
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
        `processed ${s.total_files_processed} files, ${formatBytes(s.total_bytes_processed)} in ${
          s.total_duration.toFixed(2)
        } s; added ${formatBytes(s.data_added)}`,
      );
      ctx.out(`snapshot ${result.snapshotId.slice(0, 8)} saved`);
    }
    if (result.warnings.length) {
      ctx.info(
        `${result.warnings.length} entr${result.warnings.length === 1 ? "y" : "ies"} could not be read`,
        true,
      );
    }
    if (result.warnings.length) ctx.exitCode = ExitCode.Partial;
  } finally {
    await engine.close();
  }
}
