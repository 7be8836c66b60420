/**
 * Tests for config/schedule.ts. Cron times are built with local-time `Date` constructors, since
 * cron expressions are evaluated in the process's local time zone.
 *
 * @module
 */
import { assertEquals, assertThrows } from "../tests/assert.ts";
import { describeSchedule, nextRun, parseSchedule, previousRun } from "./schedule.ts";

Deno.test("5-field cron: minute first, local time", () => {
  assertEquals(nextRun("0 3 * * *", new Date(2025, 0, 1, 2, 59)), new Date(2025, 0, 1, 3, 0));
  // Strictly after: a run at 03:00 is followed by the next day's.
  assertEquals(nextRun("0 3 * * *", new Date(2025, 0, 1, 3, 0)), new Date(2025, 0, 2, 3, 0));
  assertEquals(nextRun("*/15 * * * *", new Date(2025, 0, 1, 10, 7, 30)), new Date(2025, 0, 1, 10, 15));
  // 2025-01-01 is a Wednesday: the next Monday is the 6th.
  assertEquals(nextRun("30 2 * * 1", new Date(2025, 0, 1)), new Date(2025, 0, 6, 2, 30));
  // Day of month and day of week are OR-ed, as in Vixie cron: the 15th or a Monday.
  assertEquals(nextRun("0 0 15 * 1", new Date(2025, 0, 7)), new Date(2025, 0, 13));
  assertEquals(nextRun("0 0 30 2 *", new Date(2025, 0, 1)), null);
});

Deno.test("6-field cron: seconds first", () => {
  assertEquals(nextRun("*/10 * * * * *", new Date(2025, 0, 1, 0, 0, 5)), new Date(2025, 0, 1, 0, 0, 10));
  assertEquals(nextRun("30 0 3 * * *", new Date(2025, 0, 1, 3, 0, 0)), new Date(2025, 0, 1, 3, 0, 30));
});

Deno.test("every intervals are anchored at the Unix epoch, or at a given anchor", () => {
  assertEquals(nextRun("every 6h", new Date("2025-01-01T07:00:00Z")), new Date("2025-01-01T12:00:00Z"));
  assertEquals(nextRun("every 6h", new Date("2025-01-01T12:00:00Z")), new Date("2025-01-01T18:00:00Z"));
  assertEquals(nextRun("every 1d", new Date("2025-01-01T23:59:59Z")), new Date("2025-01-02T00:00:00Z"));
  // The epoch was a Thursday; 2025-01-02 is one.
  assertEquals(nextRun("every 1w", new Date("2025-01-01T00:00:00Z")), new Date("2025-01-02T00:00:00Z"));
  const anchor = new Date("2025-01-01T00:10:00Z");
  assertEquals(
    nextRun("every 30m", new Date("2025-01-01T01:00:00Z"), { anchor }),
    new Date("2025-01-01T01:10:00Z"),
  );
  assertEquals(
    nextRun("every 30m", new Date("2024-12-31T23:00:00Z"), { anchor }),
    new Date("2024-12-31T23:10:00Z"),
  );
});

Deno.test("parseSchedule refuses what is not 5 or 6 fields or every <n><unit>", () => {
  assertEquals(parseSchedule(" every 7d "), { kind: "every", intervalMs: 7 * 86_400_000 });
  assertEquals(parseSchedule("0 3 * * *"), { kind: "cron", expression: "0 3 * * *" });
  for (
    const bad of [
      "0 3 * *",
      "0 0 0 3 * * *",
      "@daily",
      "0 ? * * *",
      "61 * * * *",
      "every",
      "every 3y",
      "daily",
    ]
  ) {
    assertThrows(() => parseSchedule(bad), "is not a cron expression (5 or 6 fields) or");
  }
});

Deno.test("describeSchedule", () => {
  assertEquals(describeSchedule("every 90m"), "every 90 minutes (counted from 1970-01-01T00:00:00.000Z)");
  assertEquals(describeSchedule("every 1d"), "every day (counted from 1970-01-01T00:00:00.000Z)");
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  assertEquals(describeSchedule("0 3 * * *"), `cron "0 3 * * *" (local time, ${zone})`);
});

Deno.test("previousRun: the last firing at or before a time, cron and every", () => {
  assertEquals(previousRun("0 3 * * *", new Date(2025, 0, 2, 1, 0)), new Date(2025, 0, 1, 3, 0));
  assertEquals(previousRun("0 3 * * *", new Date(2025, 0, 2, 3, 0)), new Date(2025, 0, 2, 3, 0));
  assertEquals(previousRun("30 2 * * 1", new Date(2025, 0, 9)), new Date(2025, 0, 6, 2, 30));
  assertEquals(previousRun("every 6h", new Date("2025-01-01T07:00:00Z")), new Date("2025-01-01T06:00:00Z"));
  assertEquals(previousRun("every 6h", new Date("2025-01-01T06:00:00Z")), new Date("2025-01-01T06:00:00Z"));
  const t = new Date(2025, 4, 5, 6, 7, 8);
  const next = nextRun("*/10 * * * *", t)!;
  assertEquals(previousRun("*/10 * * * *", new Date(next.getTime() - 1)), new Date(2025, 4, 5, 6, 0));
});
