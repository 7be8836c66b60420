/**
 * Tests for core/policy.ts. Every expected keep-set below was derived by hand from restic's documented
 * `forget` semantics (walk newest → oldest, keep on a new bucket until N buckets are used, plus the
 * group's oldest snapshot while a count is left), with the reasoning in the comments.
 *
 * @example
 * ```sh
 * deno test -A core/policy_test.ts
 * ```
 * @module
 */
import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import {
  applyPolicy,
  formatDuration,
  formatGroupKey,
  parseDuration,
  type PolicyDecision,
  PolicyError,
  type PolicySnapshot,
  type RetentionPolicy,
} from "./policy.ts";

const NOW = new Date("2026-01-10T12:00:00Z");

function snap(
  id: string,
  time: string | Date,
  tags: string[] = [],
  host = "alpha",
  paths = ["/home"],
): PolicySnapshot {
  return { id, time, host, paths, tags };
}

/**
 * 30 snapshots of host "alpha", paths ["/home"], from 2023-11 to 2026-01, irregular: two on some days,
 * months and whole seasons without any. Ids are the snapshot's own local time `yymmdd-hhmm` (plus its
 * offset when not UTC). Listed here newest first with the buckets each falls in, computed by hand
 * (2026-01-01 is a Thursday, so ISO week 2026-W01 is Mon 2025-12-29 … Sun 2026-01-04):
 *
 * | #  | id              | instant (UTC)       | own-offset day | ISO week | tags                |
 * | -- | --------------- | ------------------- | -------------- | -------- | ------------------- |
 * |  1 | 260108-2200     | 2026-01-08 22:00    | 2026-01-08 Thu | 2026-W02 |                     |
 * |  2 | 260108-0900     | 2026-01-08 09:00    | 2026-01-08 Thu | 2026-W02 |                     |
 * |  3 | 260107-2359     | 2026-01-07 23:59    | 2026-01-07 Wed | 2026-W02 |                     |
 * |  4 | 260105-0100     | 2026-01-05 01:00    | 2026-01-05 Mon | 2026-W02 |                     |
 * |  5 | 260103-1200     | 2026-01-03 12:00    | 2026-01-03 Sat | 2026-W01 |                     |
 * |  6 | 260101-0030+02  | 2025-12-31 22:30    | 2026-01-01 Thu | 2026-W01 |                     |
 * |  7 | 251229-0800     | 2025-12-29 08:00    | 2025-12-29 Mon | 2026-W01 |                     |
 * |  8 | 251228-2000     | 2025-12-28 20:00    | 2025-12-28 Sun | 2025-W52 |                     |
 * |  9 | 251228-1000     | 2025-12-28 10:00    | 2025-12-28 Sun | 2025-W52 |                     |
 * | 10 | 251220-1000     | 2025-12-20 10:00    | 2025-12-20 Sat | 2025-W51 | manual              |
 * | 11 | 251202-1000     | 2025-12-02 10:00    | 2025-12-02     |          |                     |
 * | 12 | 251115-1000     | 2025-11-15 10:00    | 2025-11-15     |          |                     |
 * | 13 | 251001-1000     | 2025-10-01 10:00    | 2025-10-01     |          | db                  |
 * | 14 | 250817-1000     | 2025-08-17 10:00    | 2025-08-17     |          |                     |
 * | 15 | 250803-1000     | 2025-08-03 10:00    | 2025-08-03     |          |                     |
 * | 16 | 250610-1000     | 2025-06-10 10:00    | 2025-06-10     |          | prod, db            |
 * | 17 | 250301-0030+02  | 2025-02-28 22:30    | 2025-03-01     |          |                     |
 * | 18 | 250210-1000     | 2025-02-10 10:00    | 2025-02-10     |          |                     |
 * | 19 | 250101-0900     | 2025-01-01 09:00    | 2025-01-01     |          |                     |
 * | 20 | 241231-1800     | 2024-12-31 18:00    | 2024-12-31     |          |                     |
 * | 21 | 241230-0700     | 2024-12-30 07:00    | 2024-12-30     |          |                     |
 * | 22 | 241111-1000     | 2024-11-11 10:00    | 2024-11-11     |          | prod                |
 * | 23 | 240909-1000     | 2024-09-09 10:00    | 2024-09-09     |          |                     |
 * | 24 | 240601-1000     | 2024-06-01 10:00    | 2024-06-01     |          |                     |
 * | 25 | 240601-0800     | 2024-06-01 08:00    | 2024-06-01     |          |                     |
 * | 26 | 240315-1000     | 2024-03-15 10:00    | 2024-03-15     |          |                     |
 * | 27 | 240120-1000     | 2024-01-20 10:00    | 2024-01-20     |          |                     |
 * | 28 | 231231-2300-05  | 2024-01-01 04:00    | 2023-12-31     |          |                     |
 * | 29 | 231224-1000     | 2023-12-24 10:00    | 2023-12-24     |          | weekly, prod, db    |
 * | 30 | 231105-1000     | 2023-11-05 10:00    | 2023-11-05     |          |                     |
 *
 * #6, #17 and #28 sit in a different day/month/year in their own offset than in UTC, so the calendar
 * cases below would come out differently if the policy bucketed in UTC.
 */
const NEWEST_FIRST = [
  "260108-2200",
  "260108-0900",
  "260107-2359",
  "260105-0100",
  "260103-1200",
  "260101-0030+02",
  "251229-0800",
  "251228-2000",
  "251228-1000",
  "251220-1000",
  "251202-1000",
  "251115-1000",
  "251001-1000",
  "250817-1000",
  "250803-1000",
  "250610-1000",
  "250301-0030+02",
  "250210-1000",
  "250101-0900",
  "241231-1800",
  "241230-0700",
  "241111-1000",
  "240909-1000",
  "240601-1000",
  "240601-0800",
  "240315-1000",
  "240120-1000",
  "231231-2300-05",
  "231224-1000",
  "231105-1000",
];

/** The same 30 snapshots, in a scrambled input order (the policy must sort them itself). */
const FIXTURE: PolicySnapshot[] = [
  snap("250817-1000", "2025-08-17T10:00:00Z"),
  snap("231224-1000", "2023-12-24T10:00:00Z", ["weekly", "prod", "db"]),
  snap("260105-0100", "2026-01-05T01:00:00Z"),
  snap("241230-0700", "2024-12-30T07:00:00Z"),
  snap("260108-0900", "2026-01-08T09:00:00Z"),
  snap("250301-0030+02", "2025-03-01T00:30:00+02:00"),
  snap("240601-0800", "2024-06-01T08:00:00Z"),
  snap("251228-1000", "2025-12-28T10:00:00Z"),
  snap("231105-1000", "2023-11-05T10:00:00Z"),
  snap("260101-0030+02", "2026-01-01T00:30:00+02:00"),
  snap("251115-1000", "2025-11-15T10:00:00Z"),
  snap("240120-1000", "2024-01-20T10:00:00Z"),
  snap("250610-1000", "2025-06-10T10:00:00.123456789Z", ["prod", "db"]),
  snap("260108-2200", "2026-01-08T22:00:00Z"),
  snap("241111-1000", "2024-11-11T10:00:00Z", ["prod"]),
  snap("251220-1000", "2025-12-20T10:00:00Z", ["manual"]),
  snap("240315-1000", "2024-03-15T10:00:00Z"),
  snap("250101-0900", "2025-01-01T09:00:00Z"),
  snap("251229-0800", "2025-12-29T08:00:00Z"),
  snap("231231-2300-05", "2023-12-31T23:00:00-05:00"),
  snap("250803-1000", "2025-08-03T10:00:00Z"),
  snap("260107-2359", "2026-01-07T23:59:00Z"),
  snap("240909-1000", "2024-09-09T10:00:00Z"),
  snap("251001-1000", "2025-10-01T10:00:00Z", ["db"]),
  snap("241231-1800", "2024-12-31T18:00:00Z"),
  snap("250210-1000", "2025-02-10T10:00:00Z"),
  snap("260103-1200", "2026-01-03T12:00:00Z"),
  snap("251202-1000", "2025-12-02T10:00:00Z"),
  snap("240601-1000", "2024-06-01T10:00:00Z"),
  snap("251228-2000", "2025-12-28T20:00:00Z"),
];

function ids(decisions: PolicyDecision[]): string[] {
  return decisions.map((d) => d.snapshot.id);
}

function reasonsOf(decisions: PolicyDecision[]): Record<string, string[]> {
  return Object.fromEntries(decisions.map((d) => [d.snapshot.id, d.reasons]));
}

/** Positions (1-based, as in the table above) to ids. */
function at(...positions: number[]): string[] {
  return positions.map((n) => NEWEST_FIRST[n - 1]);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

interface KeepCase {
  name: string;
  policy: RetentionPolicy;
  /** Kept snapshots, newest first. Everything else must be in `remove`, newest first. */
  keep: string[];
  /** Reasons expected for some kept snapshots (exactly, in order). */
  reasons?: Record<string, string[]>;
  /** Reasons expected for some removed snapshots. */
  removeReasons?: Record<string, string[]>;
}

const KEEP_CASES: KeepCase[] = [
  {
    // The three newest instants: #1, #2, #3. The count is used up before the oldest snapshot.
    name: "keepLast 3",
    policy: { keepLast: 3 },
    keep: at(1, 2, 3),
    reasons: { "260108-2200": ["last snapshot"], "260107-2359": ["last snapshot"] },
    removeReasons: { "260105-0100": ["matched no keep rule"] },
  },
  {
    // Days newest → oldest: 01-08 (#1; #2 same day), 01-07 (#3), 01-05 (#4), 01-03 (#5),
    // 01-01 in its own +02:00 offset (#6), 12-29 (#7), 12-28 (#8; #9 same day) → 7 days used.
    name: "keepDaily 7",
    policy: { keepDaily: 7 },
    keep: at(1, 3, 4, 5, 6, 7, 8),
  },
  {
    // ISO weeks: 2026-W02 (#1; #2–#4 same), 2026-W01 (#5; #6 and #7 — Mon 2025-12-29 — are the same
    // week across the year boundary), 2025-W52 (#8; #9 same), 2025-W51 (#10) → 4 weeks used.
    name: "keepWeekly 4 (ISO weeks across the year boundary)",
    policy: { keepWeekly: 4 },
    keep: at(1, 5, 8, 10),
  },
  {
    // Months in own offset: 2026-01 (#1; #2–#6 same, #6 is Jan 1 at +02:00), 2025-12 (#7; #8–#11
    // same), 2025-11 (#12), 2025-10 (#13), 2025-08 (#14; #15 same), 2025-06 (#16) → 6 used.
    // (Bucketed in UTC, #6 would be December and kept instead of #7.)
    name: "keepMonthly 6 (own-offset months)",
    policy: { keepMonthly: 6 },
    keep: at(1, 7, 12, 13, 14, 16),
  },
  {
    // Years: 2026 (#1; #2–#6 same, #6 is 2026 in its own offset), 2025 (#7 … #19), 2024 (#20) → 3 used.
    name: "keepYearly 3",
    policy: { keepYearly: 3 },
    keep: at(1, 7, 20),
  },
  {
    // Years: 2026 (#1), 2025 (#7), 2024 (#20 … #27), 2023 (#28: 2023-12-31 23:00 at -05:00, although
    // 2024-01-01 in UTC) → 4 used, 1 left when the walk reaches the oldest snapshot #30 (2023, same
    // bucket as #28): restic keeps the oldest snapshot while the count is not used up.
    name: "keepYearly 5 (count left: the oldest snapshot is kept too)",
    policy: { keepYearly: 5 },
    keep: at(1, 7, 20, 28, 30),
    reasons: { "231105-1000": ["yearly snapshot"], "231231-2300-05": ["yearly snapshot"] },
  },
  {
    // Hours: 2026-01-08 22h (#1), 2026-01-08 09h (#2) → 2 used.
    name: "keepHourly 2",
    policy: { keepHourly: 2 },
    keep: at(1, 2),
  },
  {
    // daily 7  → #1 #3 #4 #5 #6 #7 #8 (as above)
    // weekly 4 → #1 #5 #8 #10 (as above)
    // monthly 12 → 2026-01 #1, 2025-12 #7, 2025-11 #12, 2025-10 #13, 2025-08 #14, 2025-06 #16,
    //   2025-03 #17 (Mar 1 at +02:00), 2025-02 #18, 2025-01 #19, 2024-12 #20 (#21 same), 2024-11 #22,
    //   2024-09 #23 → 12 used.
    // Union, newest first; reasons in restic's order (last, hourly, daily, weekly, monthly, yearly).
    name: "combo keepDaily 7 + keepWeekly 4 + keepMonthly 12",
    policy: { keepDaily: 7, keepWeekly: 4, keepMonthly: 12 },
    keep: at(1, 3, 4, 5, 6, 7, 8, 10, 12, 13, 14, 16, 17, 18, 19, 20, 22, 23),
    reasons: {
      "260108-2200": ["daily snapshot", "weekly snapshot", "monthly snapshot"],
      "260107-2359": ["daily snapshot"],
      "260103-1200": ["daily snapshot", "weekly snapshot"],
      "251229-0800": ["daily snapshot", "monthly snapshot"],
      "251228-2000": ["daily snapshot", "weekly snapshot"],
      "251220-1000": ["weekly snapshot"],
      "250301-0030+02": ["monthly snapshot"],
      "240909-1000": ["monthly snapshot"],
    },
  },
  {
    // Relative to the newest snapshot #1 (2026-01-08 22:00Z), not to now: from 2025-12-29 22:00Z
    // (exclusive). #6 (2025-12-31 22:30Z) is in, #7 (2025-12-29 08:00Z) is out.
    name: "keepWithin 10d",
    policy: { keepWithin: "10d" },
    keep: at(...range(1, 6)),
    reasons: { "260108-2200": ["within 10d"], "260101-0030+02": ["within 10d"] },
  },
  {
    // 10d14h back from #1 is 2025-12-29 08:00Z, exactly #7: "within" is strictly after, so #7 is out.
    name: "keepWithin 10d14h (boundary excluded)",
    policy: { keepWithin: "10d14h" },
    keep: at(...range(1, 6)),
  },
  {
    // One hour more reaches 2025-12-29 07:00Z: #7 is in.
    name: "keepWithin 10d15h",
    policy: { keepWithin: "10d15h" },
    keep: at(...range(1, 7)),
  },
  {
    // From 2026-01-07 22:00Z: #1, #2, #3 (23:59). Relative to now (01-10 12:00) it would be nothing.
    name: "keepWithin 1d is relative to the newest snapshot",
    policy: { keepWithin: "1d" },
    keep: at(1, 2, 3),
  },
  {
    // Window as for keepWithin 10d (#1–#6); newest per day inside it: 01-08 #1, 01-07 #3, 01-05 #4,
    // 01-03 #5, 01-01 #6. No extra oldest snapshot for the within-* rules (restic).
    name: "keepWithinDaily 10d",
    policy: { keepWithinDaily: "10d" },
    keep: at(1, 3, 4, 5, 6),
    reasons: { "260108-2200": ["daily within 10d"] },
  },
  {
    // Both tags needed: #16 (prod, db) and #29 (weekly, prod, db); #13 (db) and #22 (prod) lack one.
    name: "keepTags prod,db (all tags of an entry)",
    policy: { keepTags: ["prod,db"] },
    keep: at(16, 29),
    reasons: { "250610-1000": ["tag prod,db"] },
  },
  {
    // Either entry: #13 (db), #16 (prod and db → both reasons), #22 (prod), #29 (both).
    name: "keepTags prod | db (any entry)",
    policy: { keepTags: ["prod", "db"] },
    keep: at(13, 16, 22, 29),
    reasons: {
      "251001-1000": ["tag db"],
      "250610-1000": ["tag prod", "tag db"],
      "241111-1000": ["tag prod"],
      "231224-1000": ["tag prod", "tag db"],
    },
  },
  {
    // Every snapshot is its own bucket and the count never runs out.
    name: "keepLast -1 keeps everything",
    policy: { keepLast: -1 },
    keep: NEWEST_FIRST,
  },
  {
    // Cut-off now − 30 days = 2025-12-11 12:00Z: #1–#10 (#10 is 12-20) are newer, #11 (12-02) is older.
    name: "removeOlderThan 30",
    policy: { removeOlderThan: 30 },
    keep: at(...range(1, 10)),
    reasons: { "260108-2200": ["newer than cut-off"], "251220-1000": ["newer than cut-off"] },
    removeReasons: { "251202-1000": ["older than 30 days"], "231105-1000": ["older than 30 days"] },
  },
  {
    // Newer than cut-off: #1–#10; monthly 6: #1 #7 #12 #13 #14 #16 (as above). Removed: older than
    // the cut-off and not monthly: #11, #15, #17–#30.
    name: "removeOlderThan 30 + keepMonthly 6",
    policy: { removeOlderThan: 30, keepMonthly: 6 },
    keep: at(...range(1, 10), 12, 13, 14, 16),
    reasons: {
      "260108-2200": ["monthly snapshot", "newer than cut-off"],
      "251229-0800": ["monthly snapshot", "newer than cut-off"],
      "251115-1000": ["monthly snapshot"],
    },
    removeReasons: { "251202-1000": ["older than 30 days"] },
  },
  {
    // Strictly older than 2025-01-01 09:00Z is removed: #19 is exactly at the cut-off and stays.
    name: "removeFromDate",
    policy: { removeFromDate: new Date("2025-01-01T09:00:00Z") },
    keep: at(...range(1, 19)),
    removeReasons: { "241231-1800": ["older than 2025-01-01T09:00:00.000Z"] },
  },
  {
    // Both remove rules: the later cut-off (now − 30 d = 2025-12-11 12:00Z) decides what is kept;
    // the removed list every cut-off they are older than.
    name: "removeOlderThan + removeFromDate",
    policy: { removeOlderThan: 30, removeFromDate: new Date("2025-01-01T09:00:00Z") },
    keep: at(...range(1, 10)),
    removeReasons: {
      "250101-0900": ["older than 30 days"],
      "241231-1800": ["older than 30 days", "older than 2025-01-01T09:00:00.000Z"],
    },
  },
];

for (const c of KEEP_CASES) {
  Deno.test(`policy: ${c.name}`, () => {
    const { groups } = applyPolicy(FIXTURE, c.policy, NOW);
    assertEquals(groups.length, 1);
    assertEquals(groups[0].key, { host: "alpha", paths: ["/home"] });
    assertEquals(ids(groups[0].keep), c.keep);
    assertEquals(ids(groups[0].remove), NEWEST_FIRST.filter((id) => !c.keep.includes(id)));
    for (const d of groups[0].keep) assert(d.reasons.length > 0, `${d.snapshot.id} kept without a reason`);
    for (const d of groups[0].remove) {
      assert(d.reasons.length > 0, `${d.snapshot.id} removed without a reason`);
    }
    const kept = reasonsOf(groups[0].keep);
    for (const [id, reasons] of Object.entries(c.reasons ?? {})) assertEquals(kept[id], reasons, id);
    const removed = reasonsOf(groups[0].remove);
    for (const [id, reasons] of Object.entries(c.removeReasons ?? {})) assertEquals(removed[id], reasons, id);
  });
}

Deno.test("policy: keepLast -1 gives every snapshot the reason 'last snapshot'", () => {
  const { groups } = applyPolicy(FIXTURE, { keepLast: -1 }, NOW);
  for (const d of groups[0].keep) assertEquals(d.reasons, ["last snapshot"]);
});

// ----- grouping --------------------------------------------------------------------------------------

/**
 * g1 … g6, one day apart, g6 newest. g1, g2 and g6 have the same path set {/x, /y} (written in other
 * orders, g6 with a duplicate); g3 and g5 carry tag t1, the others no tag.
 */
const MIXED: PolicySnapshot[] = [
  snap("g1", "2025-01-01T10:00:00Z", [], "a", ["/x", "/y"]),
  snap("g2", "2025-01-02T10:00:00Z", [], "a", ["/y", "/x"]),
  snap("g3", "2025-01-03T10:00:00Z", ["t1"], "a", ["/z"]),
  snap("g4", "2025-01-04T10:00:00Z", [], "b", ["/x", "/y"]),
  snap("g5", "2025-01-05T10:00:00Z", ["t1"], "b", ["/z"]),
  snap("g6", "2025-01-06T10:00:00Z", [], "a", ["/y", "/x", "/y"]),
];

const GROUP_CASES: {
  name: string;
  groupBy?: RetentionPolicy["groupBy"];
  expected: { key: object; keep: string[]; remove: string[] }[];
}[] = [
  {
    // Default host,paths: (a,{/x,/y}) = g6 g2 g1 → keep g6; (a,{/z}) = g3; (b,{/x,/y}) = g4; (b,{/z}) = g5.
    name: "default (host,paths)",
    expected: [
      { key: { host: "a", paths: ["/x", "/y"] }, keep: ["g6"], remove: ["g2", "g1"] },
      { key: { host: "a", paths: ["/z"] }, keep: ["g3"], remove: [] },
      { key: { host: "b", paths: ["/x", "/y"] }, keep: ["g4"], remove: [] },
      { key: { host: "b", paths: ["/z"] }, keep: ["g5"], remove: [] },
    ],
  },
  {
    name: "host",
    groupBy: ["host"],
    expected: [
      { key: { host: "a" }, keep: ["g6"], remove: ["g3", "g2", "g1"] },
      { key: { host: "b" }, keep: ["g5"], remove: ["g4"] },
    ],
  },
  {
    name: "tags",
    groupBy: "tags",
    expected: [
      { key: { tags: [] }, keep: ["g6"], remove: ["g4", "g2", "g1"] },
      { key: { tags: ["t1"] }, keep: ["g5"], remove: ["g3"] },
    ],
  },
  {
    name: "host,tags as a string",
    groupBy: "host, tags",
    expected: [
      { key: { host: "a", tags: [] }, keep: ["g6"], remove: ["g2", "g1"] },
      { key: { host: "a", tags: ["t1"] }, keep: ["g3"], remove: [] },
      { key: { host: "b", tags: [] }, keep: ["g4"], remove: [] },
      { key: { host: "b", tags: ["t1"] }, keep: ["g5"], remove: [] },
    ],
  },
  {
    name: "no grouping",
    groupBy: [],
    expected: [{ key: {}, keep: ["g6"], remove: ["g5", "g4", "g3", "g2", "g1"] }],
  },
];

for (const c of GROUP_CASES) {
  Deno.test(`policy: groupBy ${c.name}, keepLast 1 per group`, () => {
    const { groups } = applyPolicy(MIXED, { keepLast: 1, groupBy: c.groupBy }, NOW);
    assertEquals(
      groups.map((g) => ({ key: g.key, keep: ids(g.keep), remove: ids(g.remove) })),
      c.expected,
    );
  });
}

// ----- edge cases of time ----------------------------------------------------------------------------

Deno.test("policy: keepWithin ignores snapshots dated in the future when finding the newest", () => {
  // Newest before now (2026-01-10 12:00Z) is b (01-09); 3d back is 01-06 00:00Z: a (future), b, c in,
  // d out. Had a been taken as the newest, only a would be within 3d.
  const list = [
    snap("a", "2026-02-01T00:00:00Z"),
    snap("b", "2026-01-09T00:00:00Z"),
    snap("c", "2026-01-07T00:00:00Z"),
    snap("d", "2026-01-01T00:00:00Z"),
  ];
  const { groups } = applyPolicy(list, { keepWithin: "3d" }, NOW);
  assertEquals(ids(groups[0].keep), ["a", "b", "c"]);
  assertEquals(ids(groups[0].remove), ["d"]);
});

Deno.test("policy: keepWithin months roll over like Go's AddDate", () => {
  // 2025-03-31 12:00Z minus one month is "2025-02-31", which rolls over to 2025-03-03 12:00Z.
  const list = [
    snap("x1", "2025-03-31T12:00:00Z"),
    snap("x2", "2025-03-03T12:00:01Z"),
    snap("x3", "2025-03-03T12:00:00Z"),
    snap("x4", "2025-03-01T00:00:00Z"),
  ];
  const { groups } = applyPolicy(list, { keepWithin: "1m" }, NOW);
  assertEquals(ids(groups[0].keep), ["x1", "x2"]);
});

Deno.test("policy: sub-millisecond order and stable ties", () => {
  const list = [
    snap("n1", "2025-01-01T00:00:00.000000001Z"),
    snap("n2", "2025-01-01T00:00:00.000000002Z"),
    snap("t1", "2024-01-01T00:00:00Z"),
    snap("t2", "2024-01-01T01:00:00+01:00"), // same instant as t1, later in the input
  ];
  const { groups } = applyPolicy(list, { keepLast: 3 }, NOW);
  assertEquals(ids(groups[0].keep), ["n2", "n1", "t1"]);
  assertEquals(ids(groups[0].remove), ["t2"]);
});

Deno.test("policy: Date times are accepted (bucketed in the process's local zone)", () => {
  const list = [
    snap("d1", new Date("2025-01-01T10:00:00Z")),
    snap("d2", new Date("2025-01-03T10:00:00Z")),
    snap("d3", new Date("2025-01-05T10:00:00Z")),
  ];
  const { groups } = applyPolicy(list, { keepLast: 2 }, NOW);
  assertEquals(ids(groups[0].keep), ["d3", "d2"]);
  // Two days apart at 10:00Z fall on different local days in every zone (offsets are within ±14 h).
  assertEquals(ids(applyPolicy(list, { keepDaily: 3 }, NOW).groups[0].keep), ["d3", "d2", "d1"]);
});

// ----- safety and errors -----------------------------------------------------------------------------

Deno.test("policy: removing every snapshot of a group is refused unless allowRemoveAll", () => {
  const policy = { removeFromDate: new Date("2027-01-01T00:00:00Z") };
  const e = assertThrows(() => applyPolicy(FIXTURE, policy, NOW), 'host "alpha", paths [/home]');
  assert(e instanceof PolicyError);
  assertEquals(e.kind, "remove-all");
  assertEquals(e.groups, [{ host: "alpha", paths: ["/home"] }]);

  const { groups } = applyPolicy(FIXTURE, { ...policy, allowRemoveAll: true }, NOW);
  assertEquals(groups[0].keep, []);
  assertEquals(ids(groups[0].remove), NEWEST_FIRST);

  // A tag nobody has keeps nothing either.
  assertThrows(() => applyPolicy(FIXTURE, { keepTags: ["nope"] }, NOW), "refusing to remove every snapshot");
});

Deno.test("policy: only the groups that would be emptied are named", () => {
  // Host a has a snapshot with tag t1 (g3), host b too (g5): nothing refused. With tag "x" none is kept.
  applyPolicy(MIXED, { keepTags: ["t1"], groupBy: "host" }, NOW);
  const e = assertThrows(() => applyPolicy(MIXED, { keepTags: ["t1"] }, NOW)) as PolicyError;
  assertEquals(e.groups, [{ host: "a", paths: ["/x", "/y"] }, { host: "b", paths: ["/x", "/y"] }]);
});

Deno.test("policy: an empty policy is refused", () => {
  const empties: RetentionPolicy[] = [
    {},
    { keepLast: 0, keepDaily: 0, keepWithin: "0d", keepTags: [] },
    { groupBy: "host", allowRemoveAll: true },
    { removeOlderThan: 0 },
  ];
  for (const policy of empties) {
    const e = assertThrows(() => applyPolicy(FIXTURE, policy, NOW), "no policy was given");
    assert(e instanceof PolicyError && e.kind === "empty-policy");
  }
  assertThrows(() => applyPolicy([], {}, NOW), "no policy was given");
});

Deno.test("policy: invalid policies and snapshots are reported", () => {
  const cases: [RetentionPolicy, string][] = [
    [{ keepDaily: -2 }, "keepDaily must be"],
    [{ keepDaily: 1.5 }, "keepDaily must be"],
    [{ keepWithin: "5w" }, 'unknown unit "w"'],
    [{ keepWithinDaily: { years: 0, months: -1, days: 0, hours: 0 } }, "keepWithinDaily: months"],
    [{ keepLast: 1, groupBy: "hostname" }, 'unknown field "hostname"'],
    [{ keepTags: ["a,,b"] }, "empty tag"],
    [{ removeOlderThan: -1 }, "removeOlderThan must be"],
    [{ removeFromDate: new Date("nonsense") }, "removeFromDate is not a valid date"],
  ];
  for (const [policy, message] of cases) {
    const e = assertThrows(() => applyPolicy(FIXTURE, policy, NOW), message);
    assert(e instanceof PolicyError && e.kind === "invalid-policy", message);
  }
  for (
    const time of ["2025-01-01T10:00:00", "2025-02-30T10:00:00Z", "2025-01-01T10:00:00+25:00", "yesterday"]
  ) {
    const e = assertThrows(
      () => applyPolicy([snap("bad", time)], { keepLast: 1 }, NOW),
      "snapshot bad: invalid time",
    );
    assert(e instanceof PolicyError && e.kind === "invalid-snapshot", time);
  }
});

// ----- durations and formatting ----------------------------------------------------------------------

Deno.test("parseDuration", () => {
  const ok: [string, [number, number, number, number]][] = [
    ["1y5m7d2h", [1, 5, 7, 2]],
    ["10d", [0, 0, 10, 0]],
    ["36h", [0, 0, 0, 36]],
    ["2h1y", [1, 0, 0, 2]],
    [" 3m ", [0, 3, 0, 0]],
    ["0d", [0, 0, 0, 0]],
  ];
  for (const [text, [years, months, days, hours]] of ok) {
    assertEquals(parseDuration(text), { years, months, days, hours }, text);
  }
  const bad: [string, string][] = [
    ["", "empty"],
    ["5", "no unit after 5"],
    ["5w", 'unknown unit "w"'],
    ["d", "expected a number"],
    ["-1d", "negative"],
    ["1d1d", "given twice"],
    ["1.5d", 'unknown unit "."'],
  ];
  for (const [text, message] of bad) {
    const e = assertThrows(() => parseDuration(text), message);
    assert(e instanceof PolicyError, text);
  }
});

Deno.test("formatDuration and formatGroupKey", () => {
  assertEquals(formatDuration(parseDuration("2h1y")), "1y2h");
  assertEquals(formatDuration(parseDuration("1y5m7d2h")), "1y5m7d2h");
  assertEquals(formatGroupKey({ host: "h", paths: ["/a", "/b"] }), 'host "h", paths [/a, /b]');
  assertEquals(formatGroupKey({ tags: ["x"] }), "tags [x]");
  assertEquals(formatGroupKey({}), "all snapshots");
});
