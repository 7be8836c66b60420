/**
 * Job schedules: a cron expression of 5 fields (minute first) or 6 fields (seconds first), or an
 * interval `every <n><unit>` (units w, d, h, m, s).
 *
 * - Cron expressions are evaluated in the process's local time zone (the `TZ` environment variable),
 *   as cron does, by croner; day-of-month and day-of-week are OR-ed as in Vixie cron. Across a DST
 *   change croner runs a fixed-time job once (at the first valid time after a gap).
 * - Intervals are anchored at the Unix epoch (1970-01-01T00:00:00Z) unless an anchor is given: an
 *   `every N` job runs at epoch + k·N, so its times do not drift, survive restarts and need no
 *   stored state. `every 1d` runs at 00:00 UTC, `every 6h` at 00:00, 06:00, 12:00, 18:00 UTC;
 *   `every 1w` runs on Thursdays 00:00 UTC (the epoch was a Thursday). Pass `anchor` (e.g. the job's
 *   first run) to shift the grid.
 *
 * @example
 * ```ts
 * import { nextRun } from "./schedule.ts";
 * nextRun("every 6h", new Date("2025-01-01T07:00:00Z")); // 2025-01-01T12:00:00Z
 * nextRun("0 3 * * *", new Date(2025, 0, 1, 4, 0)); // 2025-01-02 03:00 local time
 * ```
 * @module
 */
import { Cron } from "croner";
import { parseEvery } from "./units.ts";

/** A parsed schedule. */
export type Schedule =
  | {
    /** A cron expression. */
    kind: "cron";
    /** The expression as written, 5 or 6 fields. */
    expression: string;
  }
  | {
    /** A fixed interval. */
    kind: "every";
    /** Its length in milliseconds (at least one second). */
    intervalMs: number;
  };

const HELP = `is not a cron expression (5 or 6 fields) or "every <n><unit>"`;

function cron(expression: string): Cron {
  // `paused` and no callback: croner only computes times, it starts no timer.
  return new Cron(expression, { mode: "5-or-6-parts", paused: true });
}

/**
 * Reads a schedule, or throws an `Error` whose message is one line:
 * `"0 3 * *" is not a cron expression (5 or 6 fields) or "every <n><unit>"`.
 *
 * @example
 * ```ts
 * import { parseSchedule } from "./schedule.ts";
 * parseSchedule("every 7d"); // { kind: "every", intervalMs: 604800000 }
 * parseSchedule("0 0 3 * * *"); // { kind: "cron", expression: "0 0 3 * * *" }
 * ```
 */
export function parseSchedule(text: string): Schedule {
  const s = text.trim();
  if (s.startsWith("every")) {
    const ms = parseEvery(s);
    if (ms === null) {
      throw new Error(`${JSON.stringify(text)} ${HELP}; e.g. "every 6h" (units w, d, h, m, s)`);
    }
    return { kind: "every", intervalMs: ms };
  }
  const fields = s.split(/\s+/);
  // croner replaces `?` with the time the pattern is read, which would make a schedule depend on
  // when the server started; nicknames (@daily) and 7 fields are not documented forms.
  if ((fields.length !== 5 && fields.length !== 6) || s.includes("?") || s.startsWith("@")) {
    throw new Error(`${JSON.stringify(text)} ${HELP}`);
  }
  try {
    cron(s);
  } catch (e) {
    const why = (e as Error).message.replace(/^CronPattern: /, "").split("\n")[0];
    throw new Error(`${JSON.stringify(text)} ${HELP}: ${why}`);
  }
  return { kind: "cron", expression: s };
}

/** Options of {@link nextRun}. */
export interface NextRunOptions {
  /** Where `every` intervals are counted from; default the Unix epoch. */
  anchor?: Date;
}

/**
 * The first time strictly after `after` that the schedule fires, or `null` if it never does again
 * (a cron expression naming a date that does not come, e.g. `0 0 30 2 *`).
 *
 * @example
 * ```ts
 * import { nextRun } from "./schedule.ts";
 * nextRun("every 30m", new Date("2025-01-01T00:10:00Z")); // 2025-01-01T00:30:00Z
 * nextRun("*\/10 * * * * *", new Date(2025, 0, 1, 0, 0, 5)); // 00:00:10 local time
 * ```
 */
export function nextRun(schedule: string | Schedule, after: Date, options: NextRunOptions = {}): Date | null {
  const s = typeof schedule === "string" ? parseSchedule(schedule) : schedule;
  if (s.kind === "every") {
    const anchor = options.anchor?.getTime() ?? 0;
    const k = Math.floor((after.getTime() - anchor) / s.intervalMs) + 1;
    return new Date(anchor + k * s.intervalMs);
  }
  return cron(s.expression).nextRun(after);
}

/**
 * The last time at or before `atOrBefore` that the schedule fired, or `null` if it never did (within
 * croner's search range).
 *
 * @example
 * ```ts
 * import { previousRun } from "./schedule.ts";
 * previousRun("every 30m", new Date("2025-01-01T00:10:00Z")); // 2025-01-01T00:00:00Z
 * previousRun("0 3 * * *", new Date(2025, 0, 2, 1, 0)); // 2025-01-01 03:00 local time
 * ```
 */
export function previousRun(
  schedule: string | Schedule,
  atOrBefore: Date,
  options: NextRunOptions = {},
): Date | null {
  const s = typeof schedule === "string" ? parseSchedule(schedule) : schedule;
  if (s.kind === "every") {
    const anchor = options.anchor?.getTime() ?? 0;
    return new Date(anchor + Math.floor((atOrBefore.getTime() - anchor) / s.intervalMs) * s.intervalMs);
  }
  // croner's previous runs are strictly before the reference: 1 ms later takes in a run right at it.
  return cron(s.expression).previousRuns(1, new Date(atOrBefore.getTime() + 1))[0] ?? null;
}

const UNIT_NAMES: [number, string][] = [
  [7 * 86_400_000, "week"],
  [86_400_000, "day"],
  [3_600_000, "hour"],
  [60_000, "minute"],
  [1000, "second"],
  [1, "millisecond"],
];

/**
 * A short human description: `every 6 hours (counted from 1970-01-01T00:00:00Z)` or
 * `cron "0 3 * * *" (local time, Europe/Paris)`.
 *
 * @example
 * ```ts
 * import { describeSchedule } from "./schedule.ts";
 * describeSchedule("every 90m"); // "every 90 minutes (counted from 1970-01-01T00:00:00.000Z)"
 * ```
 */
export function describeSchedule(schedule: string | Schedule, options: NextRunOptions = {}): string {
  const s = typeof schedule === "string" ? parseSchedule(schedule) : schedule;
  if (s.kind === "cron") {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    return `cron ${JSON.stringify(s.expression)} (local time, ${zone})`;
  }
  const [unit, name] = UNIT_NAMES.find(([u]) => s.intervalMs % u === 0)!;
  const n = s.intervalMs / unit;
  const from = (options.anchor ?? new Date(0)).toISOString();
  return `every ${n === 1 ? "" : `${n} `}${name}${n === 1 ? "" : "s"} (counted from ${from})`;
}
