/**
 * `floe forget`: remove snapshots by retention policy (restic's `--keep-*` rules, Freezer's
 * `--remove-older-than` / `--remove-from-date`), or by id.
 *
 * @example
 * ```sh
 * floe forget --keep-daily 7 --keep-weekly 4 --dry-run
 * ```
 * @module
 */
import type { Context } from "../context.ts";
import { applyPolicy, formatGroupKey, PolicyError, type RetentionPolicy } from "../../core/policy.ts";
import { parseDate } from "../../core/dates.ts";
import { ExitCode, FloeError } from "../../core/errors.ts";
import { acquireLock } from "../../core/repository/locks.ts";

function count(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < -1) {
    throw new FloeError(`${name} takes a whole number (or -1 for all)`, ExitCode.Usage);
  }
  return n;
}

/** Runs `forget`. */
export default async function forget(
  ctx: Context,
  args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  const policy: RetentionPolicy = {
    keepLast: count(opts.keepLast, "--keep-last"),
    keepHourly: count(opts.keepHourly, "--keep-hourly"),
    keepDaily: count(opts.keepDaily, "--keep-daily"),
    keepWeekly: count(opts.keepWeekly, "--keep-weekly"),
    keepMonthly: count(opts.keepMonthly, "--keep-monthly"),
    keepYearly: count(opts.keepYearly, "--keep-yearly"),
    keepWithin: opts.keepWithin as string | undefined,
    keepTags: opts.keepTag as string[] | undefined,
    removeOlderThan: opts.removeOlderThan !== undefined ? Number(opts.removeOlderThan) : undefined,
    removeFromDate: opts.removeFromDate ? parseDate(String(opts.removeFromDate)) : undefined,
    groupBy: String(opts.groupBy ?? "host,paths"),
    allowRemoveAll: !!opts.unsafeAllowRemoveAll,
  };
  if (policy.removeOlderThan !== undefined && !(policy.removeOlderThan >= 0)) {
    throw new FloeError("--remove-older-than takes a number of days", ExitCode.Usage);
  }
  const engine = await ctx.open();
  try {
    const candidates = engine.snapshots({
      host: opts.host as string | undefined,
      paths: opts.path as string[] | undefined,
      tags: opts.tag as string[] | undefined,
    });
    let remove: { id: string; reasons: string[] }[] = [];
    const report: unknown[] = [];
    if (args.length) {
      remove = args.map((a) => ({ id: engine.resolveSnapshot(a).id, reasons: ["named"] }));
    } else {
      let result;
      try {
        result = applyPolicy(
          candidates.map((c) => ({
            id: c.id,
            time: c.snapshot.time,
            host: c.snapshot.host,
            paths: c.snapshot.paths,
            tags: c.snapshot.tags,
          })),
          policy,
          new Date(),
        );
      } catch (e) {
        if (e instanceof PolicyError && e.kind === "remove-all") {
          throw new FloeError(
            `${
              e.message.replace(/: allowRemoveAll is not set$/, "")
            }; add --unsafe-allow-remove-all to do it`,
          );
        }
        throw e;
      }
      for (const g of result.groups) {
        if (!ctx.globals.json) {
          ctx.out(`group ${formatGroupKey(g.key)}: keep ${g.keep.length}, remove ${g.remove.length}`);
          for (const k of g.keep) {
            ctx.out(`  keep   ${k.snapshot.id.slice(0, 8)} ${k.snapshot.time}  ${k.reasons.join(", ")}`);
          }
          for (const r of g.remove) {
            ctx.out(`  remove ${r.snapshot.id.slice(0, 8)} ${r.snapshot.time}  ${r.reasons.join(", ")}`);
          }
        }
        report.push({
          group: g.key,
          keep: g.keep.map((k) => ({ id: k.snapshot.id, reasons: k.reasons })),
          remove: g.remove.map((r) => ({ id: r.snapshot.id, reasons: r.reasons })),
        });
        remove.push(...g.remove.map((r) => ({ id: r.snapshot.id, reasons: r.reasons })));
      }
    }
    if (opts.dryRun) {
      if (ctx.globals.json) ctx.json({ dry_run: true, groups: report, remove });
      else ctx.out(`dry run: would remove ${remove.length} snapshot(s)`);
      return;
    }
    if (opts.prune) (await import("./prune.ts")).parseMaxUnused(opts.maxUnused); // usage errors first
    const lock = await acquireLock(engine.repo, { exclusive: false, purpose: "forget" });
    try {
      for (const r of remove) {
        await engine.repo.storage.delete(`snapshots/${r.id}`);
        engine.catalog.removeSnapshot(r.id);
      }
    } finally {
      await lock.release();
    }
    if (ctx.globals.json) ctx.json({ dry_run: false, groups: report, removed: remove.map((r) => r.id) });
    else if (opts.prune) ctx.out(`removed ${remove.length} snapshot(s)`);
    else ctx.out(`removed ${remove.length} snapshot(s); run 'floe prune' to free their space`);
    if (opts.prune) await (await import("./prune.ts")).runPrune(ctx, engine, { maxUnused: opts.maxUnused });
  } finally {
    await engine.close();
  }
}
