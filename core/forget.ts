/**
 * Which snapshots `forget` removes: the ones named, or those a retention policy does not keep (restic's
 * `--keep-*` rules, Freezer's remove rules), per group. Deciding is separate from deleting, so a dry run
 * and the real run decide alike; {@link Engine.forget} deletes under a lock.
 *
 * @example
 * ```ts
 * import type { Engine } from "./engine.ts";
 * declare const engine: Engine;
 * const r = await engine.forget({ policy: { keepDaily: 7 }, dryRun: true });
 * console.log(r.remove.map((x) => x.id));
 * ```
 * @module
 */
import type { Engine, SnapshotFilter } from "./engine.ts";
import { applyPolicy, type GroupKey, PolicyError, type RetentionPolicy } from "./policy.ts";
import { FloeError } from "./errors.ts";
import type { PruneResult, PruneSettings } from "./prune.ts";

/** Options of {@link Engine.forget}. */
export interface ForgetOptions {
  /** Remove these snapshots (ids, prefixes or `latest`); no policy then. */
  ids?: string[];
  /** The retention policy (when no ids are given). */
  policy?: RetentionPolicy;
  /** Only these snapshots are considered. */
  filter?: SnapshotFilter;
  /** Decide and report only. */
  dryRun?: boolean;
  /** Prune afterwards. */
  prune?: boolean;
  /** Options of that prune. */
  pruneOptions?: Omit<PruneSettings, "signal">;
}

/** A snapshot kept or removed, and why. */
export interface ForgetDecision {
  /** The snapshot id. */
  id: string;
  /** When it was taken. */
  time: string;
  /** The rules that keep it, or why it goes. */
  reasons: string[];
}

/** What {@link Engine.forget} decided and did. */
export interface ForgetResult {
  /** Per group: its key, what is kept and what is removed. */
  groups: { key: GroupKey; keep: ForgetDecision[]; remove: ForgetDecision[] }[];
  /** Every snapshot removed (or that would be, in a dry run). */
  remove: ForgetDecision[];
  /** Whether nothing was removed on purpose. */
  dryRun: boolean;
  /** The prune's result, when one ran. */
  pruned?: PruneResult;
}

/** Decides what {@link Engine.forget} removes (see the module doc). */
export function decideForget(
  engine: Engine,
  options: ForgetOptions,
): Omit<ForgetResult, "dryRun" | "pruned"> {
  if (options.ids?.length) {
    const remove = [
      ...new Map(options.ids.map((i) => engine.resolveSnapshot(i)).map((s) => [s.id, s])).values(),
    ]
      .map((s) => ({ id: s.id, time: s.snapshot.time, reasons: ["named"] }));
    return { groups: [], remove };
  }
  if (!options.policy) throw new FloeError("forget needs snapshot ids or a policy (--keep-…)", "usage");
  const candidates = engine.snapshots(options.filter);
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
      options.policy,
      new Date(),
    );
  } catch (e) {
    if (e instanceof PolicyError && e.kind === "remove-all") {
      throw new FloeError(
        `${e.message.replace(/: allowRemoveAll is not set$/, "")}; allow it explicitly to do it`,
        "usage",
        { cause: e },
      );
    }
    throw e;
  }
  const groups = result.groups.map((g) => ({
    key: g.key,
    keep: g.keep.map((k) => ({ id: k.snapshot.id, time: String(k.snapshot.time), reasons: k.reasons })),
    remove: g.remove.map((r) => ({ id: r.snapshot.id, time: String(r.snapshot.time), reasons: r.reasons })),
  }));
  return { groups, remove: groups.flatMap((g) => g.remove) };
}
