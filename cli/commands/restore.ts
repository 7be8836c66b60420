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
import { type OverwriteMode, parseDate } from "../../mod.ts";
import { FloeError } from "../../mod.ts";
import { ExitCode } from "../exit_codes.ts";

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
        } (${snap.snapshot.time}) to ${opts.target}: ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB in ${
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
