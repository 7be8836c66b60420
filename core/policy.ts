/**
 * Retention rules: decides which snapshots a `forget` keeps and which it removes. Pure, no I/O.
 *
 * The keep rules follow restic's `forget` (internal/restic/snapshot_policy.go) rule for rule:
 *
 * - Snapshots are split into groups (`groupBy`, default `host,paths`; paths and tags compare as sorted
 *   sets) and every group is evaluated on its own, newest snapshot first (ties keep input order).
 * - `keepLast/Hourly/Daily/Weekly/Monthly/Yearly: N` walk the group newest → oldest and keep a
 *   snapshot when its bucket (hour, day, ISO week, month, year; every snapshot its own bucket for
 *   `keepLast`) differs from the bucket that rule kept last, until N snapshots were kept by it.
 *   `-1` means unlimited. Buckets only count where snapshots exist. As in restic, if a rule still has
 *   count left when the walk reaches the group's oldest snapshot, that oldest snapshot is kept too.
 * - `keepWithin: "1y5m7d2h"` keeps snapshots strictly newer than the newest snapshot's time minus
 *   the duration (calendar arithmetic in that snapshot's zone, then whole hours). As in restic the
 *   "newest" snapshot ignores snapshots dated at or after `now`.
 * - `keepWithinHourly/Daily/Weekly/Monthly/Yearly` keep the newest snapshot of every bucket inside
 *   that window (no count; no oldest-snapshot extra, as in restic).
 * - `keepTags: ["a", "b,c"]` keeps snapshots that carry tag `a`, or both `b` and `c`.
 * - All rules are OR-ed; each kept snapshot lists every rule that kept it.
 *
 * Calendar buckets are computed in the snapshot's own UTC offset, as restic does with the offset it
 * records: a time given as an ISO 8601 string is bucketed in the offset written in the string. A time
 * given as a `Date` carries no offset, so it is bucketed in the process's local time zone.
 *
 * floe adds two remove rules, `removeOlderThan` (days before `now`) and `removeFromDate` (a date):
 * both act as one extra keep rule, "newer than cut-off", that keeps every snapshot not older than
 * the latest of the cut-offs. Given alone, they remove exactly the snapshots older than the cut-off;
 * given with keep rules, a snapshot is removed only if it is older than the cut-off and no keep rule
 * keeps it.
 *
 * @example
 * ```ts
 * import { applyPolicy } from "./policy.ts";
 * const snapshots = [
 *   { id: "a", time: "2025-01-01T10:00:00Z", host: "h", paths: ["/home"], tags: [] },
 *   { id: "b", time: "2025-01-02T10:00:00Z", host: "h", paths: ["/home"], tags: [] },
 * ];
 * const { groups } = applyPolicy(snapshots, { keepLast: 1 }, new Date());
 * groups[0].keep.map((k) => k.snapshot.id); // ["b"]
 * groups[0].remove.map((r) => r.snapshot.id); // ["a"]
 * ```
 * @module
 */
import { FloeError } from "./errors.ts";

/** A duration of whole calendar years, months and days plus whole hours, as restic's `1y5m7d2h`. */
export interface Duration {
  /** Calendar years. */
  years: number;
  /** Calendar months. */
  months: number;
  /** Calendar days. */
  days: number;
  /** Hours of 60 minutes. */
  hours: number;
}

/** A snapshot field snapshots can be grouped by. */
export type GroupField = "host" | "paths" | "tags";

/** What the policy needs to know about a snapshot. */
export interface PolicySnapshot {
  /** Snapshot id, only carried through. */
  id: string;
  /** When it was taken: a `Date`, or ISO 8601 text with a UTC offset (`Z` or `±hh:mm`). */
  time: Date | string;
  /** Host it was taken on. */
  host: string;
  /** Paths it holds. */
  paths: readonly string[];
  /** Its tags. */
  tags: readonly string[];
}

/** Retention policy: keep rules (restic's `--keep-*`), remove rules, grouping and the safety switch. */
export interface RetentionPolicy {
  /** Keep the newest N snapshots (-1: all). */
  keepLast?: number;
  /** Keep the newest snapshot of each of the last N hours that have one (-1: all). */
  keepHourly?: number;
  /** Keep the newest snapshot of each of the last N days that have one (-1: all). */
  keepDaily?: number;
  /** Keep the newest snapshot of each of the last N ISO weeks that have one (-1: all). */
  keepWeekly?: number;
  /** Keep the newest snapshot of each of the last N months that have one (-1: all). */
  keepMonthly?: number;
  /** Keep the newest snapshot of each of the last N years that have one (-1: all). */
  keepYearly?: number;
  /** Keep snapshots newer than the group's newest snapshot minus this duration (`"1y5m7d2h"`). */
  keepWithin?: string | Duration;
  /** Keep the newest snapshot of every hour within this duration of the newest snapshot. */
  keepWithinHourly?: string | Duration;
  /** Keep the newest snapshot of every day within this duration of the newest snapshot. */
  keepWithinDaily?: string | Duration;
  /** Keep the newest snapshot of every ISO week within this duration of the newest snapshot. */
  keepWithinWeekly?: string | Duration;
  /** Keep the newest snapshot of every month within this duration of the newest snapshot. */
  keepWithinMonthly?: string | Duration;
  /** Keep the newest snapshot of every year within this duration of the newest snapshot. */
  keepWithinYearly?: string | Duration;
  /** Keep snapshots having all tags of any one entry; an entry is `tag` or `tag1,tag2,…`. */
  keepTags?: readonly string[];
  /** Remove snapshots older than `now` minus this many days (of 24 h; 0: rule not given). */
  removeOlderThan?: number;
  /** Remove snapshots strictly older than this instant. */
  removeFromDate?: Date;
  /** Fields snapshots are grouped by (array or `"host,paths"`); default `host,paths`; empty: one group. */
  groupBy?: readonly GroupField[] | string;
  /** Allow a group to lose every snapshot (restic's `--unsafe-allow-remove-all`). */
  allowRemoveAll?: boolean;
}

/** Identifies a group: holds exactly the fields grouped by (paths and tags sorted, deduplicated). */
export interface GroupKey {
  /** The host, when grouping by host. */
  host?: string;
  /** The sorted set of paths, when grouping by paths. */
  paths?: string[];
  /** The sorted set of tags, when grouping by tags. */
  tags?: string[];
}

/** One snapshot's fate and why. */
export interface PolicyDecision<S extends PolicySnapshot = PolicySnapshot> {
  /** The snapshot as given. */
  snapshot: S;
  /** For kept ones, every rule that kept it; for removed ones, why. */
  reasons: string[];
}

/** The decisions for one group, each list newest first. */
export interface PolicyGroup<S extends PolicySnapshot = PolicySnapshot> {
  /** What the group's snapshots share. */
  key: GroupKey;
  /** Snapshots kept. */
  keep: PolicyDecision<S>[];
  /** Snapshots to remove. */
  remove: PolicyDecision<S>[];
}

/** Result of {@link applyPolicy}: groups sorted by host, then paths, then tags. */
export interface PolicyResult<S extends PolicySnapshot = PolicySnapshot> {
  /** One entry per group. */
  groups: PolicyGroup<S>[];
}

/** What went wrong in a {@link PolicyError}. */
export type PolicyErrorKind = "empty-policy" | "invalid-policy" | "invalid-snapshot" | "remove-all";

/**
 * A policy that cannot be applied: empty, invalid, a snapshot time that does not parse, or one that
 * would remove every snapshot of a group without `allowRemoveAll` (`kind: "remove-all"`, `groups`
 * naming those groups).
 *
 * @example
 * ```ts
 * import { applyPolicy, PolicyError } from "./policy.ts";
 * try {
 *   applyPolicy([], {}, new Date());
 * } catch (e) {
 *   if (e instanceof PolicyError && e.kind === "empty-policy") console.error(e.message);
 * }
 * ```
 */
export class PolicyError extends FloeError {
  /** What went wrong. */
  readonly kind: PolicyErrorKind;
  /** For `remove-all`: the groups that would lose every snapshot. */
  readonly groups: GroupKey[];
  /** Build one. */
  constructor(message: string, kind: PolicyErrorKind, groups: GroupKey[] = []) {
    super(message, kind === "empty-policy" || kind === "invalid-policy" ? "usage" : "failed");
    this.name = "PolicyError";
    this.kind = kind;
    this.groups = groups;
  }
}

/**
 * Parses restic's duration syntax: numbers each followed by a unit `y`, `m` (months), `d` or `h`, in
 * any order, each unit at most once, e.g. `1y5m7d2h`, `10d`, `36h`. Throws a `PolicyError` otherwise.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./policy.ts";
 * parseDuration("1y5m7d2h"); // { years: 1, months: 5, days: 7, hours: 2 }
 * parseDuration("10d"); // { years: 0, months: 0, days: 10, hours: 0 }
 * ```
 */
export function parseDuration(text: string): Duration {
  const s = text.trim();
  const fail = (why: string) =>
    new PolicyError(`invalid duration ${JSON.stringify(text)}: ${why}`, "invalid-policy");
  if (s === "") throw fail("it is empty (expected e.g. 1y5m7d2h)");
  const d: Duration = { years: 0, months: 0, days: 0, hours: 0 };
  const fields: Record<string, keyof Duration> = { y: "years", m: "months", d: "days", h: "hours" };
  const seen = new Set<string>();
  const re = /(\d*)(\D?)/y;
  let at = 0;
  while (at < s.length) {
    re.lastIndex = at;
    const [, digits, unit] = re.exec(s)!;
    if (digits === "") {
      throw fail(
        unit === "-"
          ? "negative values are not allowed"
          : `expected a number at ${JSON.stringify(s.slice(at))}`,
      );
    }
    if (unit === "") throw fail(`no unit after ${digits} (use y, m, d or h)`);
    const field = fields[unit];
    if (!field) throw fail(`unknown unit ${JSON.stringify(unit)} after ${digits} (use y, m, d or h)`);
    if (seen.has(unit)) throw fail(`unit ${JSON.stringify(unit)} given twice`);
    const n = Number(digits);
    if (!Number.isSafeInteger(n)) throw fail(`${digits} is too large`);
    seen.add(unit);
    d[field] = n;
    at += digits.length + 1;
  }
  return d;
}

/**
 * Formats a duration as restic does, zero units left out: `{years: 1, days: 7}` → `1y7d`; all zero → `""`.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./policy.ts";
 * formatDuration({ years: 0, months: 0, days: 10, hours: 0 }); // "10d"
 * ```
 */
export function formatDuration(d: Duration): string {
  return (d.years ? `${d.years}y` : "") + (d.months ? `${d.months}m` : "") + (d.days ? `${d.days}d` : "") +
    (d.hours ? `${d.hours}h` : "");
}

/**
 * Describes a group key for messages: `host "h", paths [/a, /b], tags [x]`; an empty key (no grouping)
 * is `all snapshots`.
 *
 * @example
 * ```ts
 * import { formatGroupKey } from "./policy.ts";
 * formatGroupKey({ host: "h", paths: ["/a", "/b"] }); // 'host "h", paths [/a, /b]'
 * ```
 */
export function formatGroupKey(key: GroupKey): string {
  const parts: string[] = [];
  if (key.host !== undefined) parts.push(`host ${JSON.stringify(key.host)}`);
  if (key.paths !== undefined) parts.push(`paths [${key.paths.join(", ")}]`);
  if (key.tags !== undefined) parts.push(`tags [${key.tags.join(", ")}]`);
  return parts.length ? parts.join(", ") : "all snapshots";
}

/**
 * Applies `policy` to `snapshots`: groups them, evaluates every group (see the module documentation
 * for the rules) and returns what to keep and what to remove, with reasons. `now` is the reference for
 * `removeOlderThan` and for ignoring snapshots dated in the future when finding the newest snapshot.
 *
 * Reasons for keeping: `last snapshot`, `hourly snapshot`, `daily snapshot`, `weekly snapshot`,
 * `monthly snapshot`, `yearly snapshot`, `within 2d`, `daily within 2d` (and hourly/weekly/…),
 * `tag prod` / `tag prod,db`, `newer than cut-off`. Reasons for removing: `older than 30 days`,
 * `older than <ISO date>`, or `matched no keep rule`.
 *
 * Throws a `PolicyError` if the policy is empty (no rule at all: nothing would be decided) or invalid,
 * if a snapshot time does not parse, or if some group would lose every snapshot and
 * `allowRemoveAll` is not set.
 *
 * @example
 * ```ts
 * import { applyPolicy } from "./policy.ts";
 * const snapshots = [
 *   { id: "a", time: "2025-03-01T08:00:00+01:00", host: "h", paths: ["/srv"], tags: [] },
 *   { id: "b", time: "2025-03-01T20:00:00+01:00", host: "h", paths: ["/srv"], tags: ["prod"] },
 *   { id: "c", time: "2025-03-02T08:00:00+01:00", host: "h", paths: ["/srv"], tags: [] },
 * ];
 * const result = applyPolicy(snapshots, { keepDaily: 1, keepTags: ["prod"] }, new Date("2025-03-03T00:00:00Z"));
 * // keeps c ("daily snapshot") and b ("tag prod"); removes a ("matched no keep rule").
 * ```
 */
export function applyPolicy<S extends PolicySnapshot>(
  snapshots: readonly S[],
  policy: RetentionPolicy,
  now: Date,
): PolicyResult<S> {
  const p = normalizePolicy(policy, now);
  const groups = new Map<string, { key: GroupKey; entries: Entry<S>[] }>();
  for (const snapshot of snapshots) {
    const entry = toEntry(snapshot);
    const key = groupKeyOf(snapshot, p.groupBy);
    const id = JSON.stringify([key.host, key.paths, key.tags]);
    let group = groups.get(id);
    if (!group) groups.set(id, group = { key, entries: [] });
    group.entries.push(entry);
  }

  const result: PolicyGroup<S>[] = [];
  for (const { key, entries } of [...groups.values()].sort((a, b) => compareKeys(a.key, b.key))) {
    result.push({ key, ...evaluateGroup(entries, p, now.getTime()) });
  }

  if (!p.allowRemoveAll) {
    const doomed = result.filter((g) => g.keep.length === 0 && g.remove.length > 0);
    if (doomed.length > 0) {
      const names = doomed.map((g) => `(${formatGroupKey(g.key)}; ${g.remove.length} snapshots)`).join(", ");
      throw new PolicyError(
        `refusing to remove every snapshot of ${doomed.length === 1 ? "group" : "groups"} ${names}: ` +
          "allowRemoveAll is not set",
        "remove-all",
        doomed.map((g) => g.key),
      );
    }
  }
  return { groups: result };
}

// ---------------------------------------------------------------------------------------------------
// Policy normalization

interface CountRule {
  count: number;
  bucket: (w: Wall, nr: number) => number;
  reason: string;
}

interface WithinRule {
  within: Duration;
  bucket: (w: Wall, nr: number) => number;
  reason: string;
}

interface Cutoff {
  ms: number;
  reason: string;
}

interface Normalized {
  counts: CountRule[];
  within: Duration | null;
  withinRules: WithinRule[];
  tagLists: string[][];
  cutoffs: Cutoff[];
  groupBy: GroupField[];
  allowRemoveAll: boolean;
}

const GROUP_FIELDS: readonly GroupField[] = ["host", "paths", "tags"];
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

function invalid(message: string): PolicyError {
  return new PolicyError(message, "invalid-policy");
}

function normalizeCount(name: string, n: number | undefined): number {
  if (n === undefined) return 0;
  if (!Number.isInteger(n) || n < -1) {
    throw invalid(`${name} must be a whole number of at least 0, or -1 for unlimited (got ${n})`);
  }
  return n;
}

function normalizeDuration(name: string, d: string | Duration | undefined): Duration | null {
  if (d === undefined) return null;
  let out: Duration;
  if (typeof d === "string") {
    try {
      out = parseDuration(d);
    } catch (e) {
      throw invalid(`${name}: ${(e as Error).message}`);
    }
  } else {
    for (const f of ["years", "months", "days", "hours"] as const) {
      if (!Number.isSafeInteger(d[f]) || d[f] < 0) {
        throw invalid(`${name}: ${f} must be a whole number of at least 0 (got ${d[f]})`);
      }
    }
    out = { years: d.years, months: d.months, days: d.days, hours: d.hours };
  }
  return out.years || out.months || out.days || out.hours ? out : null; // zero: rule not given
}

function normalizeGroupBy(g: RetentionPolicy["groupBy"]): GroupField[] {
  if (g === undefined) return ["host", "paths"];
  const names = typeof g === "string" ? g.split(",").map((s) => s.trim()).filter((s) => s !== "") : [...g];
  for (const name of names) {
    if (!GROUP_FIELDS.includes(name as GroupField)) {
      throw invalid(`groupBy: unknown field ${JSON.stringify(name)} (use host, paths, tags)`);
    }
  }
  return GROUP_FIELDS.filter((f) => names.includes(f));
}

function normalizePolicy(policy: RetentionPolicy, now: Date): Normalized {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw invalid("now is not a valid date");
  const counts: CountRule[] = [
    {
      count: normalizeCount("keepLast", policy.keepLast),
      bucket: (_w: Wall, nr: number) => nr,
      reason: "last snapshot",
    },
    { count: normalizeCount("keepHourly", policy.keepHourly), bucket: hourBucket, reason: "hourly snapshot" },
    { count: normalizeCount("keepDaily", policy.keepDaily), bucket: dayBucket, reason: "daily snapshot" },
    { count: normalizeCount("keepWeekly", policy.keepWeekly), bucket: weekBucket, reason: "weekly snapshot" },
    {
      count: normalizeCount("keepMonthly", policy.keepMonthly),
      bucket: monthBucket,
      reason: "monthly snapshot",
    },
    { count: normalizeCount("keepYearly", policy.keepYearly), bucket: yearBucket, reason: "yearly snapshot" },
  ].filter((r) => r.count !== 0);

  const withinRules: WithinRule[] = [];
  const withinSpecs = [
    ["keepWithinHourly", policy.keepWithinHourly, hourBucket, "hourly within"],
    ["keepWithinDaily", policy.keepWithinDaily, dayBucket, "daily within"],
    ["keepWithinWeekly", policy.keepWithinWeekly, weekBucket, "weekly within"],
    ["keepWithinMonthly", policy.keepWithinMonthly, monthBucket, "monthly within"],
    ["keepWithinYearly", policy.keepWithinYearly, yearBucket, "yearly within"],
  ] as const;
  for (const [name, value, bucket, reason] of withinSpecs) {
    const within = normalizeDuration(name, value);
    if (within) withinRules.push({ within, bucket, reason });
  }

  const tagLists: string[][] = [];
  for (const entry of policy.keepTags ?? []) {
    if (typeof entry !== "string") throw invalid(`keepTags entries must be strings (got ${typeof entry})`);
    const list = entry.split(",").map((t) => t.trim());
    if (list.some((t) => t === "")) throw invalid(`keepTags: empty tag in ${JSON.stringify(entry)}`);
    tagLists.push(list);
  }

  const cutoffs: Cutoff[] = [];
  const days = policy.removeOlderThan;
  if (days !== undefined) {
    if (typeof days !== "number" || !Number.isFinite(days) || days < 0) {
      throw invalid(`removeOlderThan must be a number of days of at least 0 (got ${days})`);
    }
    if (days > 0) cutoffs.push({ ms: now.getTime() - days * DAY_MS, reason: `older than ${days} days` });
  }
  const from = policy.removeFromDate;
  if (from !== undefined) {
    if (!(from instanceof Date) || Number.isNaN(from.getTime())) {
      throw invalid("removeFromDate is not a valid date");
    }
    cutoffs.push({ ms: from.getTime(), reason: `older than ${from.toISOString()}` });
  }

  const within = normalizeDuration("keepWithin", policy.keepWithin);
  if (
    counts.length === 0 && within === null && withinRules.length === 0 && tagLists.length === 0 &&
    cutoffs.length === 0
  ) {
    throw new PolicyError(
      "no policy was given: set at least one keep rule (keepLast, keepDaily, keepWithin, keepTags, …) " +
        "or remove rule (removeOlderThan, removeFromDate); no snapshots will be removed",
      "empty-policy",
    );
  }
  return {
    counts,
    within,
    withinRules,
    tagLists,
    cutoffs,
    groupBy: normalizeGroupBy(policy.groupBy),
    allowRemoveAll: policy.allowRemoveAll === true,
  };
}

// ---------------------------------------------------------------------------------------------------
// Evaluation

interface Entry<S> {
  snapshot: S;
  /** Milliseconds since the epoch. */
  ms: number;
  /** Nanoseconds below the millisecond (0–999 999), so sub-millisecond order is kept. */
  ns: number;
  zone: Zone;
  wall: Wall;
  tags: Set<string>;
}

function sortedSet(values: readonly string[]): string[] {
  return [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function groupKeyOf(s: PolicySnapshot, by: readonly GroupField[]): GroupKey {
  const key: GroupKey = {};
  if (by.includes("host")) key.host = s.host;
  if (by.includes("paths")) key.paths = sortedSet(s.paths);
  if (by.includes("tags")) key.tags = sortedSet(s.tags);
  return key;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareLists(a: readonly string[] = [], b: readonly string[] = []): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compareStrings(a[i], b[i]);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

function compareKeys(a: GroupKey, b: GroupKey): number {
  return compareStrings(a.host ?? "", b.host ?? "") || compareLists(a.paths, b.paths) ||
    compareLists(a.tags, b.tags);
}

/** True if instant `a` is strictly after `b`. */
function after(a: { ms: number; ns: number }, b: { ms: number; ns: number }): boolean {
  return a.ms > b.ms || (a.ms === b.ms && a.ns > b.ns);
}

function evaluateGroup<S extends PolicySnapshot>(
  unsorted: Entry<S>[],
  p: Normalized,
  nowMs: number,
): { keep: PolicyDecision<S>[]; remove: PolicyDecision<S>[] } {
  // Newest first; Array.prototype.sort is stable, so equal times keep input order (restic: sort.Stable).
  const list = [...unsorted].sort((a, b) => b.ms - a.ms || b.ns - a.ns);

  // restic's findLatestTimestamp: the newest snapshot not dated in the future. If every snapshot is in
  // the future restic falls back to the zero time, which puts every snapshot within any duration.
  let latest: Entry<S> | null = null;
  for (const e of list) {
    if (e.ms < nowMs && (latest === null || after(e, latest))) latest = e;
  }
  const since = (d: Duration) =>
    latest === null ? { ms: -Infinity, ns: 0 } : { ms: subtractDuration(latest, d), ns: latest.ns };
  const withinFrom = p.within ? since(p.within) : null;
  const withinRules = p.withinRules.map((r) => ({
    ...r,
    from: since(r.within),
    last: null as number | null,
  }));
  const counts = p.counts.map((r) => ({ ...r, last: null as number | null }));
  const cutoff = p.cutoffs.length ? Math.max(...p.cutoffs.map((c) => c.ms)) : null;
  const withinText = p.within ? formatDuration(p.within) : "";

  const keep: PolicyDecision<S>[] = [];
  const remove: PolicyDecision<S>[] = [];
  list.forEach((cur, nr) => {
    const reasons: string[] = [];
    for (const tags of p.tagLists) {
      if (tags.every((t) => cur.tags.has(t))) reasons.push(`tag ${tags.join(",")}`);
    }
    if (withinFrom && after(cur, withinFrom)) reasons.push(`within ${withinText}`);
    for (const b of counts) {
      if (b.count === 0) continue; // used up (-1 never is)
      const val = b.bucket(cur.wall, nr);
      // restic also keeps the group's oldest snapshot while the rule has count left.
      if (val !== b.last || nr === list.length - 1) {
        b.last = val;
        if (b.count > 0) b.count--;
        reasons.push(b.reason);
      }
    }
    for (const b of withinRules) {
      if (!after(cur, b.from)) continue;
      const val = b.bucket(cur.wall, nr);
      if (val !== b.last) {
        b.last = val;
        reasons.push(`${b.reason} ${formatDuration(b.within)}`);
      }
    }
    if (cutoff !== null && cur.ms >= cutoff) reasons.push("newer than cut-off");

    if (reasons.length > 0) {
      keep.push({ snapshot: cur.snapshot, reasons });
    } else if (p.cutoffs.length > 0) {
      remove.push({
        snapshot: cur.snapshot,
        reasons: p.cutoffs.filter((c) => cur.ms < c.ms).map((c) => c.reason),
      });
    } else {
      remove.push({ snapshot: cur.snapshot, reasons: ["matched no keep rule"] });
    }
  });
  return { keep, remove };
}

// ---------------------------------------------------------------------------------------------------
// Time: parsing, wall-clock fields in a zone, calendar arithmetic, buckets

/** A fixed UTC offset in minutes (from ISO text), or the process's local zone (for `Date` values). */
type Zone = number | "local";

interface Wall {
  year: number;
  /** 1–12. */
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)$/;

function utcMs(w: Wall): number {
  const d = new Date(0);
  d.setUTCFullYear(w.year, w.month - 1, w.day);
  d.setUTCHours(w.hour, w.minute, w.second, w.millisecond);
  return d.getTime();
}

function wallOf(ms: number, zone: Zone): Wall {
  if (zone === "local") {
    const d = new Date(ms);
    return {
      year: d.getFullYear(),
      month: d.getMonth() + 1,
      day: d.getDate(),
      hour: d.getHours(),
      minute: d.getMinutes(),
      second: d.getSeconds(),
      millisecond: d.getMilliseconds(),
    };
  }
  const d = new Date(ms + zone * 60_000);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    millisecond: d.getUTCMilliseconds(),
  };
}

/** The instant of wall time `w` in `zone`; out-of-range fields roll over as in Go's time.Date. */
function msOfWall(w: Wall, zone: Zone): number {
  if (zone === "local") {
    const d = new Date(0);
    d.setFullYear(w.year, w.month - 1, w.day);
    d.setHours(w.hour, w.minute, w.second, w.millisecond);
    return d.getTime();
  }
  return utcMs(w) - zone * 60_000;
}

/** restic's `t.AddDate(-y, -m, -d).Add(-h hours)`, evaluated in the snapshot's zone. */
function subtractDuration(e: { wall: Wall; zone: Zone }, d: Duration): number {
  const w = e.wall;
  const shifted = { ...w, year: w.year - d.years, month: w.month - d.months, day: w.day - d.days };
  return msOfWall(shifted, e.zone) - d.hours * HOUR_MS;
}

function badTime(s: PolicySnapshot, why: string): PolicyError {
  return new PolicyError(
    `snapshot ${s.id}: invalid time ${JSON.stringify(String(s.time))}: ${why}`,
    "invalid-snapshot",
  );
}

function toEntry<S extends PolicySnapshot>(snapshot: S): Entry<S> {
  const tags = new Set(snapshot.tags);
  const t = snapshot.time;
  if (t instanceof Date) {
    const ms = t.getTime();
    if (Number.isNaN(ms)) throw badTime(snapshot, "not a valid date");
    return { snapshot, ms, ns: 0, zone: "local", wall: wallOf(ms, "local"), tags };
  }
  if (typeof t !== "string") throw badTime(snapshot, "expected a Date or ISO 8601 text");
  const m = ISO_TIME.exec(t.trim());
  if (!m) throw badTime(snapshot, "expected ISO 8601 with a UTC offset, e.g. 2025-01-31T22:00:00+01:00");
  const [, y, mo, d, h, mi, sec = "0", frac = "", z, sign, oh, om = "0"] = m;
  const digits = (frac + "000000000").slice(0, 9);
  const wall: Wall = {
    year: Number(y),
    month: Number(mo),
    day: Number(d),
    hour: Number(h),
    minute: Number(mi),
    second: Number(sec),
    millisecond: Number(digits.slice(0, 3)),
  };
  const check = wallOf(utcMs(wall), 0);
  if (
    wall.month < 1 || wall.hour > 23 || wall.minute > 59 || wall.second > 59 || check.month !== wall.month ||
    check.day !== wall.day
  ) {
    throw badTime(snapshot, "date or time out of range");
  }
  let zone = 0;
  if (!z) {
    if (Number(oh) > 23 || Number(om) > 59) throw badTime(snapshot, "UTC offset out of range");
    zone = (sign === "-" ? -1 : 1) * (Number(oh) * 60 + Number(om));
  }
  const ms = utcMs(wall) - zone * 60_000;
  return { snapshot, ms, ns: Number(digits.slice(3)), zone, wall, tags };
}

function hourBucket(w: Wall): number {
  return w.year * 1_000_000 + w.month * 10_000 + w.day * 100 + w.hour;
}

function dayBucket(w: Wall): number {
  return w.year * 10_000 + w.month * 100 + w.day;
}

/** ISO 8601 week-numbering year and week, as `year * 100 + week`. */
function weekBucket(w: Wall): number {
  const date = utcMs({ ...w, hour: 0, minute: 0, second: 0, millisecond: 0 });
  const weekday = (new Date(date).getUTCDay() + 6) % 7 + 1; // Monday 1 … Sunday 7
  const thursday = new Date(date + (4 - weekday) * DAY_MS); // its week's Thursday decides the year
  const year = thursday.getUTCFullYear();
  const jan1 = utcMs({ year, month: 1, day: 1, hour: 0, minute: 0, second: 0, millisecond: 0 });
  const week = Math.floor((thursday.getTime() - jan1) / DAY_MS / 7) + 1;
  return year * 100 + week;
}

function monthBucket(w: Wall): number {
  return w.year * 100 + w.month;
}

function yearBucket(w: Wall): number {
  return w.year;
}
