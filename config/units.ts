/**
 * The value syntaxes of the config file that are not plain TOML: durations in milliseconds
 * (`4h`, `1h30m`, `90s`, `7d`, `2w`), the `every <n><unit>` interval of a schedule and `HOST:PORT`.
 * Rates (`10M`, K = 1024) are read with the same parser as the CLI's `--limit-upload`.
 *
 * Each parser throws a plain `Error` whose message completes a sentence about the value, e.g.
 * `"4x" is not a duration (…)`; the schema turns it into a one-line config error.
 *
 * @example
 * ```ts
 * import { parseDurationMs, parseListen } from "./units.ts";
 * parseDurationMs("1h30m"); // 5400000
 * parseListen("127.0.0.1:8470"); // { hostname: "127.0.0.1", port: 8470 }
 * ```
 * @module
 */

const UNIT_MS: Record<string, number> = {
  w: 7 * 86_400_000,
  d: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1000,
};
const UNIT_ORDER = "wdhms";

/**
 * Reads a duration: whole numbers each followed by a unit `w` (7 days), `d`, `h`, `m` (minutes) or
 * `s`, largest unit first, each unit at most once (`4h`, `1h30m`, `90s`, `1d12h`). The result must be
 * positive. Note that `m` means minutes here; keep `within` uses restic's syntax, where it means months.
 *
 * @example
 * ```ts
 * import { parseDurationMs } from "./units.ts";
 * parseDurationMs("90s"); // 90000
 * parseDurationMs("7d"); // 604800000
 * ```
 */
export function parseDurationMs(text: string): number {
  const fail = () =>
    new Error(
      `${JSON.stringify(text)} is not a duration (whole numbers with units w, d, h, m, s, largest first, ` +
        `e.g. "4h", "1h30m", "90s")`,
    );
  if (typeof text !== "string" || !/^(\d+[wdhms])+$/.test(text)) throw fail();
  let ms = 0;
  let last = -1;
  for (const [, digits, unit] of text.matchAll(/(\d+)([wdhms])/g)) {
    const at = UNIT_ORDER.indexOf(unit);
    if (at <= last) throw fail();
    last = at;
    ms += Number(digits) * UNIT_MS[unit];
  }
  if (!Number.isSafeInteger(ms)) throw new Error(`${JSON.stringify(text)} is too long a duration`);
  if (ms === 0) throw new Error(`${JSON.stringify(text)} is zero; a duration must be positive`);
  return ms;
}

/** The `every <n><unit>` form of a schedule, as milliseconds. */
const EVERY = /^every\s+(\d+)\s*([wdhms])$/;

/**
 * Reads `every <n><unit>` (`every 6h`, `every 7d`, `every 30m`; units w, d, h, m, s) into
 * milliseconds, or returns `null` when the text is not of that form.
 *
 * @example
 * ```ts
 * import { parseEvery } from "./units.ts";
 * parseEvery("every 6h"); // 21600000
 * parseEvery("0 3 * * *"); // null
 * ```
 */
export function parseEvery(text: string): number | null {
  const m = EVERY.exec(text.trim());
  if (!m) return null;
  const ms = Number(m[1]) * UNIT_MS[m[2]];
  if (!Number.isSafeInteger(ms) || ms < 1000) return null;
  return ms;
}

/** A parsed `listen` address. */
export interface ListenAddress {
  /** Host name or IP address (an IPv6 address without its brackets). */
  hostname: string;
  /** TCP port, 1–65535. */
  port: number;
}

/**
 * Reads `HOST:PORT`: a host name, an IPv4 address or a bracketed IPv6 address (`[::1]:8470`), and a
 * port 1–65535.
 *
 * @example
 * ```ts
 * import { parseListen } from "./units.ts";
 * parseListen("[::1]:8470"); // { hostname: "::1", port: 8470 }
 * ```
 */
export function parseListen(text: string): ListenAddress {
  const fail = (why: string) => new Error(`${JSON.stringify(text)} is not HOST:PORT (${why})`);
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  if (!m) throw fail("e.g. 127.0.0.1:8470 or [::1]:8470");
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw fail("the port must be 1–65535");
  const hostname = m[1] ?? m[2];
  if (m[1] !== undefined && !m[1].includes(":")) throw fail("brackets hold an IPv6 address");
  if (m[2] !== undefined && (m[2].startsWith("-") || m[2].startsWith(".") || m[2].endsWith("-"))) {
    throw fail("not a host name");
  }
  return { hostname, port };
}
