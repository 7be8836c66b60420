/**
 * Date parsing and formatting: ISO 8601 with or without a zone (no zone = local time, as Freezer's
 * `YYYY-MM-DDThh:mm:ss`), and local times with their offset.
 *
 * @example
 * ```ts
 * import { parseDate, formatTime } from "./dates.ts";
 * parseDate("2014-05-23T23:23:23"); // local time
 * formatTime(new Date(0)); // e.g. "1970-01-01T00:00:00.000+00:00"
 * ```
 * @module
 */
import { FloeError } from "./errors.ts";

const RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Parses a date. A date without a time means the end of that day when `endOfDay` is set (inclusive
 * upper bounds such as `--as-of 2024-05-01`), else its start.
 */
export function parseDate(text: string, options: { endOfDay?: boolean } = {}): Date {
  const m = RE.exec(text.trim());
  if (!m) {
    throw new FloeError(
      `invalid date '${text}': use ISO 8601, e.g. 2024-05-23, 2024-05-23T23:23:23 or 2024-05-23T23:23:23+02:00`,
      "usage",
    );
  }
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const dateOnly = h === undefined;
  const ms = frac ? Math.floor(Number(`0.${frac}`) * 1000) : 0;
  const parts = dateOnly && options.endOfDay
    ? [+y, +mo - 1, +d, 23, 59, 59, 999]
    : [+y, +mo - 1, +d, +(h ?? 0), +(mi ?? 0), +(s ?? 0), ms];
  if (+mo < 1 || +mo > 12 || +d < 1 || +d > 31 || parts[3] > 23 || parts[4] > 59 || parts[5] > 60) {
    throw new FloeError(`invalid date '${text}': a field is out of range`, "usage");
  }
  let date: Date;
  if (zone) {
    const utc = Date.UTC(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6]);
    let offset = 0;
    if (zone.toUpperCase() !== "Z") {
      const z = zone.replace(":", "");
      offset = (z[0] === "-" ? -1 : 1) * (Number(z.slice(1, 3)) * 60 + Number(z.slice(3, 5)));
    }
    date = new Date(utc - offset * 60_000);
  } else {
    date = new Date(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6]);
  }
  if (date.getTime() !== date.getTime() || (!zone && date.getDate() !== +d)) {
    throw new FloeError(`invalid date '${text}'`, "usage");
  }
  return date;
}

/** Formats a time as local ISO 8601 with its offset, e.g. `2024-05-23T23:23:23.000+02:00`. */
export function formatTime(date: Date): string {
  const pad = (n: number, w = 2) => String(Math.abs(n)).padStart(w, "0");
  const off = -date.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${
    pad(date.getMinutes())
  }:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}${sign}${pad(Math.trunc(off / 60))}:${
    pad(off % 60)
  }`;
}
