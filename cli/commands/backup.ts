/**
 * `floe backup ARG…`: back up with a source — `fs` (the default: ARGs are paths), a built-in such as
 * `mysql`, `postgres`, `command`, or a plugin by path or package (`--source ./my_source.ts`), which gets
 * the ARGs as `paths` and each `--source-option KEY=VALUE`.
 *
 * `--stdin [--stdin-filename NAME]` backs up standard input as the one file `/NAME` (default `stdin`),
 * as restic does: no paths and no other source beside it.
 *
 * `--hook-before`, `--hook-after`, `--hook-on-failure`, `--hook-finally` run commands around the backup
 * as a job's hooks run (jobs/hooks.ts), their output on stderr; FLOE_JOB is empty.
 *
 * @example
 * ```sh
 * floe backup /etc /home --tag nightly --exclude '*.tmp'
 * floe backup --source ./examples/plugins/sqlite_source.ts /var/lib/app/app.db
 * pg_dump -Fc shop | floe backup --stdin --stdin-filename shop.dump
 * floe backup /srv/app --hook-before 'systemctl stop app' --hook-finally 'systemctl start app'
 * ```
 * @module
 */
import { ExitCode } from "../../jobs/exit_codes.ts";
import type { Context } from "../context.ts";
import { formatBytes } from "../progress.ts";
import {
  capMallocArenas,
  FloeError,
  loadPlugin,
  maskLocation,
  parseDate,
  scanAhead,
  type SourcePlugin,
} from "../../mod.ts";
import { compressionOf } from "./init.ts";
import { type HookedResult, withHooks } from "../../jobs/hooks.ts";
import type { HooksConfig } from "../../config/mod.ts";
import { parseDurationMs } from "../../config/units.ts";
import {
  fsSnapshotter,
  literalGlob,
  type SnapshotLock,
  snapshotLock,
} from "../../plugins/fs_snapshot/mod.ts";
import { absolutePath } from "../../plugins/source/fs/mod.ts";

// When the backup command loads, before the backup's threads allocate: the cap holds only for threads that
// have no arena yet. Binding libc costs ~9.5 ms, which a backup pays anyway (the fs source's statx) and
// other commands should not.
capMallocArenas();

/**
 * `--source-option KEY=VALUE`s as an options object: `true`/`false` become booleans, whole numbers
 * numbers, and a key given several times a list. A kebab-case KEY is handed over in camelCase, as plugin
 * options are named (`password-file=F` is `passwordFile`).
 */
export function sourceOptions(pairs: readonly string[], flag = "--source-option"): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new FloeError(`${flag} takes KEY=VALUE, got '${pair}'`, "usage");
    const key = pair.slice(0, eq).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (key === "__proto__" || key === "constructor" || key === "prototype") {
      throw new FloeError(`${flag}: '${key}' is not an option name`, "usage");
    }
    const raw = pair.slice(eq + 1);
    const value = raw === "true" ? true : raw === "false" ? false : /^-?\d+$/.test(raw) ? Number(raw) : raw;
    out[key] = Object.hasOwn(out, key) ? [out[key], value].flat() : value;
  }
  return out;
}

/** Where `--stdin` puts standard input: `/` and `--stdin-filename`, or restic's default name. */
const stdinPath = (opts: Record<string, unknown>) =>
  "/" + String(opts.stdinFilename ?? "stdin").split("/").filter(Boolean).join("/");

/** Refuses what does not go with `--stdin`, before a hook runs or the repository opens. */
function checkStdin(args: string[], opts: Record<string, unknown>): void {
  if (!opts.stdin) {
    if (opts.stdinFilename !== undefined) throw new FloeError("--stdin-filename goes with --stdin", "usage");
    return;
  }
  if (args.length) {
    throw new FloeError("--stdin backs up standard input alone: give no paths with it", "usage");
  }
  if (String(opts.source ?? "fs") !== "fs" || opts.sourceOption) {
    throw new FloeError("--stdin is a source of its own: no --source or --source-option with it", "usage");
  }
  if (Deno.stdin.isTerminal()) {
    throw new FloeError(
      "--stdin: standard input is a terminal; pipe the data in (CMD | floe backup --stdin)",
      "usage",
    );
  }
}

async function sourceOf(args: string[], opts: Record<string, unknown>): Promise<SourcePlugin> {
  if (opts.stdin) return await loadPlugin("source", "command", { stdin: { path: stdinPath(opts) } });
  const spec = String(opts.source ?? "fs");
  const given = sourceOptions((opts.sourceOption as string[]) ?? []);
  if (spec !== "fs") return await loadPlugin("source", spec, { ...given, paths: args });
  if (!args.length) {
    throw new FloeError("give the paths to back up (or --stdin, or --source with its arguments)", "usage");
  }
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

/** The `--hook-*` options as a job's hooks, or undefined when none is given. */
function hooksOf(opts: Record<string, unknown>): HooksConfig | undefined {
  const hooks: HooksConfig = {
    before: opts.hookBefore as string | undefined,
    after: opts.hookAfter as string | undefined,
    onFailure: opts.hookOnFailure as string | undefined,
    finally: opts.hookFinally as string | undefined,
  };
  const given = Object.values(hooks).some((v) => v !== undefined);
  if (opts.hookTimeout !== undefined) {
    if (!given) throw new FloeError("--hook-timeout goes with a --hook-… option", "usage");
    try {
      hooks.hookTimeout = parseDurationMs(String(opts.hookTimeout));
    } catch (e) {
      throw new FloeError(`--hook-timeout: ${(e as Error).message}`, "usage");
    }
  }
  return given ? hooks : undefined;
}

/** Runs `backup`, between the hooks given by `--hook-*`. */
export default async function backup(
  ctx: Context,
  args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  checkStdin(args, opts);
  const hooks = hooksOf(opts);
  const lock = await lockOf(opts);
  const facts = {
    job: "",
    repository: ctx.locations().locations.map(maskLocation).join(" , "),
    paths: opts.stdin ? [stdinPath(opts)] : args.map(maskLocation),
  };
  // Hook output goes to stderr also under -q: it is the user's command speaking, not floe.
  const log = (line: string) => ctx.info(line, true);
  await withHooks(hooks, facts, { signal: ctx.signal, log }, () => backupOnce(ctx, args, opts, lock));
}

/** `--fs-snapshot-lock URL` with its `--fs-snapshot-lock-option`s and timeout, or undefined. */
async function lockOf(opts: Record<string, unknown>): Promise<SnapshotLock | undefined> {
  if (opts.fsSnapshotLock === undefined) {
    for (const o of ["fsSnapshotLockOption", "fsSnapshotLockTimeout"]) {
      if (opts[o] !== undefined) {
        const flag = o.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
        throw new FloeError(`--${flag} goes with --fs-snapshot-lock`, "usage");
      }
    }
    return undefined;
  }
  if (opts.fsSnapshot === undefined) {
    throw new FloeError(
      "--fs-snapshot-lock goes with --fs-snapshot (it is held across the snapshots)",
      "usage",
    );
  }
  const given = sourceOptions((opts.fsSnapshotLockOption as string[]) ?? [], "--fs-snapshot-lock-option");
  for (const key of Object.keys(given)) {
    if (key !== "passwordFile") {
      throw new FloeError(`--fs-snapshot-lock-option: unknown key '${key}' (known: password-file)`, "usage");
    }
  }
  let timeoutMs: number | undefined;
  if (opts.fsSnapshotLockTimeout !== undefined) {
    try {
      timeoutMs = parseDurationMs(String(opts.fsSnapshotLockTimeout));
    } catch (e) {
      throw new FloeError(`--fs-snapshot-lock-timeout: ${(e as Error).message}`, "usage");
    }
  }
  return await snapshotLock(String(opts.fsSnapshotLock), {
    passwordFile: given.passwordFile === undefined ? undefined : String(given.passwordFile),
    timeoutMs,
  });
}

/**
 * Runs the backup; with `--fs-snapshot KIND`, from snapshots of the paths (plugins/fs_snapshot/) that are
 * deleted afterwards — also after a failure or SIGINT/SIGTERM; a kill -9 leaves them to the next run. With
 * `--fs-snapshot-lock URL`, the server's lock is held across the snapshots only, and what it recorded
 * (the binary log position) tags the snapshot.
 */
async function backupOnce(
  ctx: Context,
  args: string[],
  opts: Record<string, unknown>,
  lock: SnapshotLock | undefined,
): Promise<HookedResult> {
  if (opts.fsSnapshot === undefined) return await backupFrom(ctx, args, opts);
  if (String(opts.source ?? "fs") !== "fs") {
    throw new FloeError("--fs-snapshot works with the fs source only", "usage");
  }
  const snapshotter = await fsSnapshotter(String(opts.fsSnapshot));
  const paths = args.map((p) => absolutePath(p));
  const warn = (line: string) => ctx.info(`warning: ${line}`, true);
  const tags: string[] = [];
  const set = await snapshotter.take(paths, {
    nested: !opts.oneFileSystem,
    warn,
    hold: lock && (async () => {
      const held = await lock.acquire({ paths, signal: ctx.signal, warn, info: (line) => ctx.info(line) });
      tags.push(...held.tags);
      return held;
    }),
  });
  try {
    return await backupFrom(ctx, paths, {
      ...opts,
      tag: [...(opts.tag as string[] ?? []), ...tags],
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
): Promise<HookedResult> {
  const time = opts.time ? parseDate(String(opts.time)) : undefined;
  const choice = opts.compression ? compressionOf(String(opts.compression)) : undefined;
  const noCompression = choice?.compression === "none";
  const compressionLevel = choice && !noCompression ? choice.level : undefined;
  const source = await sourceOf(args, opts);
  // The walk starts while the repository opens (its key derivation leaves this thread idle).
  const scanning = scanAhead(source);
  let engine;
  try {
    // Without --parent or --force the parent is found in the catalog: its trees are read during the KDF.
    const readAheadFor = opts.parent || opts.force ? undefined : {
      host: (opts.host as string | undefined) ?? Deno.hostname(),
      paths: source.paths,
      after: scanning.walked,
    };
    engine = await ctx.openOrCreateDefault({ readAheadFor });
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
    if (opts.stdin && s.total_bytes_processed === 0) {
      ctx.info(`warning: standard input was empty: ${stdinPath(opts)} is an empty file`, true);
    }
    return { snapshotId: result.snapshotId, exitCode: ctx.exitCode };
  } finally {
    await engine.close();
  }
}
