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
import { FloeError, formatGroupKey, parseDate, type RetentionPolicy } from "../../mod.ts";
import { parseMaxUnused, printPrune } from "./prune.ts";

function count(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < -1) {
    throw new FloeError(`${name} takes a whole number (or -1 for all)`, "usage");
  }
  return n;
}

/** Reads the `--keep-*` and `--remove-*` options into a policy. */
export function policyOf(opts: Record<string, unknown>): RetentionPolicy {
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
    throw new FloeError("--remove-older-than takes a number of days", "usage");
  }
  return policy;
}

/** Runs `forget`. */
export default async function forget(
  ctx: Context,
  args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  const policy = args.length ? undefined : policyOf(opts);
  const maxUnused = opts.prune ? parseMaxUnused(opts.maxUnused) : undefined; // usage errors first
  const engine = await ctx.open();
  try {
    let r;
    try {
      r = await engine.forget({
        ids: args.length ? args : undefined,
        policy,
        filter: {
          host: opts.host as string | undefined,
          paths: opts.path as string[] | undefined,
          tags: opts.tag as string[] | undefined,
        },
        dryRun: !!opts.dryRun,
        prune: !!opts.prune,
        pruneOptions: { maxUnused },
        signal: ctx.signal,
        onEvent: ctx.onEvent,
      });
    } catch (e) {
      if (e instanceof FloeError && e.message.endsWith("; allow it explicitly to do it")) {
        throw new FloeError(
          e.message.replace(/allow it explicitly to do it$/, "add --unsafe-allow-remove-all to do it"),
          e.code,
        );
      }
      throw e;
    }
    const report = r.groups.map((g) => ({
      group: g.key,
      keep: g.keep.map((k) => ({ id: k.id, reasons: k.reasons })),
      remove: g.remove.map((x) => ({ id: x.id, reasons: x.reasons })),
    }));
    if (!ctx.globals.json) {
      for (const g of r.groups) {
        ctx.out(`group ${formatGroupKey(g.key)}: keep ${g.keep.length}, remove ${g.remove.length}`);
        for (const k of g.keep) ctx.out(`  keep   ${k.id.slice(0, 8)} ${k.time}  ${k.reasons.join(", ")}`);
        for (const x of g.remove) ctx.out(`  remove ${x.id.slice(0, 8)} ${x.time}  ${x.reasons.join(", ")}`);
      }
    }
    const remove = r.remove.map((x) => ({ id: x.id, reasons: x.reasons }));
    if (r.dryRun) {
      if (ctx.globals.json) ctx.json({ dry_run: true, groups: report, remove });
      else ctx.out(`dry run: would remove ${remove.length} snapshot(s)`);
      return;
    }
    if (ctx.globals.json) ctx.json({ dry_run: false, groups: report, removed: remove.map((x) => x.id) });
    else if (opts.prune) ctx.out(`removed ${remove.length} snapshot(s)`);
    else ctx.out(`removed ${remove.length} snapshot(s); run 'floe prune' to free their space`);
    if (r.pruned) printPrune(ctx, r.pruned);
  } finally {
    await engine.close();
  }
}
