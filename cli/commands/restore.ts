/**
 * `floe restore SNAPSHOT[:PATH] --target DIR`: restore a snapshot, or the state as of a date. Entries that
 * could not be restored exactly (damage, names the file system refuses) are listed at the end, and the
 * exit code is 3.
 *
 * @example
 * ```sh
 * floe restore latest --target /tmp/out --as-of 2024-05-23T23:23:23
 * ```
 * @module
 */
import type { Context } from "../context.ts";
import { formatBytes } from "../progress.ts";
import {
  type CatalogSnapshot,
  type Engine,
  FloeError,
  loadPlugin,
  maskLocation,
  type OverwriteMode,
  parseDate,
  resolveSpecifier,
} from "../../mod.ts";
import { sourceOptions } from "./backup.ts";
import { ExitCode } from "../../jobs/exit_codes.ts";

/**
 * `--target SCHEME:…` (`s3:…`, `swift:…`, `mysql://…`, `postgresql://…`): the snapshot goes back into its
 * source's own kind of place, through that source plugin's `restore()`, when the source claims the scheme
 * (`export const targetSchemes`). A local path holding a colon is written `./a:b`.
 */
async function restoreIntoSource(
  ctx: Context,
  engine: Engine,
  snap: CatalogSnapshot,
  path: string,
  target: string,
  scheme: string,
  opts: Record<string, unknown>,
): Promise<void> {
  const name = snap.snapshot.source;
  const schemes = await targetSchemesOf(name);
  if (!schemes.includes(scheme)) {
    throw new FloeError(
      `--target ${scheme}:… restores into a ${scheme} place, but snapshot ${
        snap.id.slice(0, 8)
      } comes from the ` +
        `${name} source${
          schemes.length ? `, which restores into ${schemes.map((s) => `${s}:`).join(", ")}` : ""
        } ` +
        `(a local directory holding a colon is written ./${target})`,
      "usage",
    );
  }
  const source = await loadPlugin("source", name, {
    ...sourceOptions((opts.targetOption as string[]) ?? []),
    target,
    overwrite: opts.overwrite,
    from: path,
  });
  const started = performance.now();
  const r = await engine.restoreInto(source, {
    snapshot: snap,
    path,
    include: opts.include as string[] | undefined,
    exclude: opts.exclude as string[] | undefined,
    signal: ctx.signal,
    onEvent: ctx.onEvent,
  });
  const secs = (performance.now() - started) / 1000;
  if (ctx.globals.json) {
    ctx.json({
      message_type: "summary",
      snapshot_id: snap.id,
      target: maskLocation(target),
      errors: r.warnings.length,
      total_duration: secs,
    });
  } else {ctx.info(
      `restored snapshot ${snap.id.slice(0, 8)} into ${maskLocation(target)} in ${secs.toFixed(2)} s`,
    );}
  if (r.warnings.length) ctx.exitCode = ExitCode.Partial;
}

/** The target schemes a source module claims (none for a source that restores only to directories). */
async function targetSchemesOf(name: string): Promise<string[]> {
  try {
    const mod = await import(resolveSpecifier("source", name));
    return Array.isArray(mod.targetSchemes) ? mod.targetSchemes.map(String) : [];
  } catch {
    return [];
  }
}

/** Runs `restore`. */
export default async function restore(
  ctx: Context,
  args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  const spec = args[0];
  const colon = spec.indexOf(":");
  const id = colon >= 0 ? spec.slice(0, colon) : spec;
  const subpath = colon >= 0 ? spec.slice(colon + 1) || "/" : undefined;
  const overwrite = String(opts.overwrite ?? "always");
  if (!["always", "if-changed", "never"].includes(overwrite)) {
    throw new FloeError(
      `--overwrite must be always, if-changed or never (got '${overwrite}')`,
      "usage",
    );
  }
  const asOf = opts.asOf ? parseDate(String(opts.asOf), { endOfDay: true }) : undefined;
  if (asOf && id !== "latest") {
    throw new FloeError("--as-of picks the snapshot itself: use 'latest' with it", "usage");
  }
  const engine = await ctx.open();
  try {
    const snap = engine.resolveSnapshot(id, {
      asOf,
      host: opts.host as string | undefined,
      paths: opts.path as string[] | undefined,
      tags: opts.tag as string[] | undefined,
    });
    const target = String(opts.target);
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(target)?.[1]?.toLowerCase();
    if (scheme) {
      await restoreIntoSource(ctx, engine, snap, subpath ?? "/", target, scheme, opts);
      return;
    }
    const started = performance.now();
    const r = await engine.restore({
      snapshot: snap,
      subpath,
      target: String(opts.target),
      include: opts.include as string[] | undefined,
      exclude: opts.exclude as string[] | undefined,
      overwrite: overwrite as OverwriteMode,
      noXattrs: opts.xattrs === false,
      xattrInclude: opts.xattrInclude as string[] | undefined,
      xattrExclude: opts.xattrExclude as string[] | undefined,
      workers: Deno.env.get("FLOE_WORKERS") ? Number(Deno.env.get("FLOE_WORKERS")) : undefined,
      signal: ctx.signal,
      onEvent: ctx.onEvent,
    });
    const secs = (performance.now() - started) / 1000;
    if (ctx.globals.json) {
      ctx.json({
        message_type: "summary",
        snapshot_id: snap.id,
        files_restored: r.files,
        dirs_restored: r.dirs,
        others_restored: r.others,
        bytes_restored: r.bytes,
        files_skipped: r.skipped,
        errors: r.warnings.length,
        total_duration: secs,
        incomplete: r.incomplete,
      });
    } else {
      ctx.info(
        `restored snapshot ${
          snap.id.slice(0, 8)
        } (${snap.snapshot.time}) to ${opts.target}: ${r.files} files, ${formatBytes(r.bytes)} in ${
          secs.toFixed(2)
        } s${r.skipped ? `, ${r.skipped} left as they were` : ""}`,
      );
    }
    if (r.incomplete.length) {
      // Always shown (also with -q): these entries are missing, or only under a .floe-partial name.
      ctx.info(
        `${r.incomplete.length} entries could not be restored exactly (none is under its own name):`,
        true,
      );
      for (const e of r.incomplete) {
        ctx.info(
          `  ${e.path}${e.partial ? ` (what could be restored: ${e.partial})` : ""}: ${e.message}`,
          true,
        );
      }
    }
    if (r.warnings.length) ctx.exitCode = ExitCode.Partial;
  } finally {
    await engine.close();
  }
}
