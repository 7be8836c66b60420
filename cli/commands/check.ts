/**
 * `floe check [--read-data | --read-data-subset n/t|x%]`: verify the repository.
 *
 * @example
 * ```sh
 * floe check --read-data-subset 10%
 * ```
 * @module
 */
import { STALE_MS } from "../../mod.ts";
import { ExitCode } from "../../jobs/exit_codes.ts";
import type { Context } from "../context.ts";
import { formatBytes } from "../progress.ts";
import { type CheckOptions, MAX_FILES_PER_PROBLEM } from "../../mod.ts";
import { FloeError } from "../../mod.ts";

/** Parses `n/t` or `x%`. */
export function parseSubset(text: string): CheckOptions["subset"] {
  let m = /^(\d+)\/(\d+)$/.exec(text);
  if (m && +m[1] >= 1 && +m[1] <= +m[2]) return { part: +m[1], of: +m[2] };
  m = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (m && +m[1] > 0 && +m[1] <= 100) return { percent: +m[1] };
  throw new FloeError(
    `--read-data-subset takes n/t (1 ≤ n ≤ t) or x% (0 < x ≤ 100), got '${text}'`,
    "usage",
  );
}

/** Runs `check`. */
export default async function check(
  ctx: Context,
  _args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  const subset = opts.readDataSubset ? parseSubset(String(opts.readDataSubset)) : undefined;
  const engine = await ctx.open();
  try {
    const started = performance.now();
    const report = await engine.check({
      readData: !!opts.readData || !!subset,
      subset,
      signal: ctx.signal,
      onEvent: ctx.onEvent,
    });
    const secs = (performance.now() - started) / 1000;
    if (ctx.globals.json) {
      ctx.json({ ...report, duration: secs });
    } else {
      for (const p of report.problems) {
        const affected = p.snapshots?.length
          ? ` (affects snapshot${p.snapshots.length > 1 ? "s" : ""} ${
            p.snapshots.map((s) => s.slice(0, 8)).join(", ")
          })`
          : "";
        const id = p.kind === "mirror" ? p.id : p.id.slice(0, 16); // mirror: the object name, in full
        ctx.out(`error: ${p.kind} ${id}: ${p.message}${affected}`);
        for (const f of p.files ?? []) ctx.out(`  ${f.snapshot.slice(0, 8)} ${f.path}`);
        if ((p.filesTotal ?? 0) > (p.files?.length ?? 0)) {
          ctx.out(`  … and ${p.filesTotal! - p.files!.length} more file(s)`);
        }
      }
      const { stale, fresh } = report.temporaries;
      if (stale.length || fresh.length) {
        const all = [...stale, ...fresh];
        ctx.info(
          `warning: ${all.length} temporary file(s) of interrupted writes (${
            formatBytes(all.reduce((a, t) => a + t.size, 0))
          }); ${stale.length} older than ${STALE_MS / 60_000} minutes, which 'floe prune' removes`,
          true,
        );
        for (const t of all.slice(0, MAX_FILES_PER_PROBLEM)) ctx.info(`  ${t.name}`, true);
        if (all.length > MAX_FILES_PER_PROBLEM) {
          ctx.info(`  … and ${all.length - MAX_FILES_PER_PROBLEM} more`, true);
        }
      }
      ctx.info(
        `checked ${report.snapshots} snapshots, ${report.packs} packs${
          report.packsRead
            ? `, read ${report.packsRead} packs (${formatBytes(report.bytesRead)}, ${
              formatBytes(Math.round(report.bytesRead / Math.max(secs, 1e-3)))
            }/s)`
            : ""
        } in ${secs.toFixed(2)} s: ${
          report.problems.length ? `${report.problems.length} problem(s)` : "no errors"
        }`,
        true,
      );
    }
    if (report.problems.length) ctx.exitCode = ExitCode.Failure;
  } finally {
    await engine.close();
  }
}
