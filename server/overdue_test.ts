/**
 * Tests for server/overdue.ts, at fixed times (cron in local time, as config/schedule.ts evaluates it).
 *
 * @module
 */
import { assertEquals } from "../tests/assert.ts";
import { overdueSince } from "./overdue.ts";

const at = (d: number, h: number, m = 0) => new Date(2025, 0, d, h, m);
const nightly = { schedule: "0 3 * * *", paused: false, firstSeenMs: at(1, 0).getTime() };

Deno.test("overdue: the last scheduled time passed the grace period without a good run since", () => {
  // Last night's 03:00 run never started (the server was down): overdue from 04:00 on.
  const since = { ...nightly, lastGoodStartMs: at(1, 3, 0).getTime() };
  assertEquals(overdueSince({ ...since, now: at(2, 3, 59) }), null);
  assertEquals(overdueSince({ ...since, now: at(2, 4, 1) }), at(2, 3));
  // It started at 03:00 and succeeded (or is still running): not overdue.
  assertEquals(overdueSince({ ...nightly, lastGoodStartMs: at(2, 3, 0).getTime(), now: at(2, 9) }), null);
  // Its last good run started before 03:00 (it ran by hand at 02:00; 03:00's then failed): overdue.
  assertEquals(overdueSince({ ...nightly, lastGoodStartMs: at(2, 2, 0).getTime(), now: at(2, 9) }), at(2, 3));
  // Never ran at all since the server saw it.
  assertEquals(overdueSince({ ...nightly, now: at(2, 9) }), at(2, 3));
});

Deno.test("overdue: not for paused, unscheduled or newly added jobs", () => {
  assertEquals(overdueSince({ ...nightly, paused: true, now: at(2, 9) }), null);
  assertEquals(overdueSince({ ...nightly, schedule: null, now: at(2, 9) }), null);
  // Added at 08:00: 03:00 that day was before the server knew the job.
  assertEquals(overdueSince({ ...nightly, firstSeenMs: at(2, 8).getTime(), now: at(2, 9) }), null);
});

Deno.test("overdue: the grace period is half the period for frequent schedules", () => {
  const often = { schedule: "*/10 * * * *", paused: false, lastGoodStartMs: at(2, 8, 50).getTime() };
  assertEquals(overdueSince({ ...often, now: at(2, 9, 4) }), null);
  assertEquals(overdueSince({ ...often, now: at(2, 9, 6) }), at(2, 9, 0));
  assertEquals(
    overdueSince({ schedule: "every 2h", paused: false, now: new Date("2025-01-02T10:50:00Z") }),
    null,
  );
  assertEquals(
    overdueSince({ schedule: "every 2h", paused: false, now: new Date("2025-01-02T11:30:00Z") }),
    new Date("2025-01-02T10:00:00Z"),
  );
});
