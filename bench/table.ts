/**
 * Plain-text tables (Markdown pipe syntax, padded so they also read well in a terminal) and the
 * number formats the benchmark uses.
 *
 * @module
 */

/** Column alignment. */
export type Align = "left" | "right";

/** Display width of a string (code points; the marks used here are all one column wide). */
function width(s: string): number {
  return [...s].length;
}

/**
 * Render a table. The first column is left-aligned, the others right-aligned unless `align` says otherwise.
 *
 * @example
 * ```ts
 * import { renderTable } from "./table.ts";
 * console.log(renderTable(["step", "wall s"], [["init", "0.12"], ["backup", "31.40"]]));
 * ```
 */
export function renderTable(headers: string[], rows: string[][], align?: Align[]): string {
  const cols = headers.length;
  const al = align ?? headers.map((_, i) => (i === 0 ? "left" : "right"));
  const w = headers.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? "")), 3));
  const pad = (s: string, i: number) => {
    const fill = " ".repeat(Math.max(0, w[i] - width(s)));
    return al[i] === "left" ? s + fill : fill + s;
  };
  const line = (cells: string[]) =>
    `| ${Array.from({ length: cols }, (_, i) => pad(cells[i] ?? "", i)).join(" | ")} |`;
  const rule = `|${
    w.map((n, i) => (al[i] === "left" ? ":" + "-".repeat(n + 1) : "-".repeat(n + 1) + ":")).join("|")
  }|`;
  return [line(headers), rule, ...rows.map(line)].join("\n");
}

/**
 * Seconds with two decimals, or `error` / `—`.
 *
 * @example
 * ```ts
 * import { fmtSeconds } from "./table.ts";
 * fmtSeconds(1.234); // "1.23"
 * ```
 */
export function fmtSeconds(s: number | undefined): string {
  if (s === undefined) return "—";
  return Number.isFinite(s) ? s.toFixed(2) : "error";
}

/**
 * A byte count as MiB (one decimal), or `error` / `—`.
 *
 * @example
 * ```ts
 * import { fmtMiB } from "./table.ts";
 * fmtMiB(3 * 1024 * 1024); // "3.0"
 * ```
 */
export function fmtMiB(bytes: number | undefined): string {
  if (bytes === undefined) return "—";
  return Number.isFinite(bytes) ? (bytes / 1048576).toFixed(1) : "error";
}

/**
 * The ratio a/b with two decimals, `—` when either side is missing or failed.
 *
 * @example
 * ```ts
 * import { ratio } from "./table.ts";
 * ratio(1, 2); // 0.5
 * ```
 */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0) {
    return undefined;
  }
  return a / b;
}

/**
 * Format a ratio, optionally against a target (`0.52 ✓` / `0.81 ✗`).
 *
 * @example
 * ```ts
 * import { fmtRatio } from "./table.ts";
 * fmtRatio(0.52, 0.6); // "0.52 ✓"
 * ```
 */
export function fmtRatio(r: number | undefined, target?: number): string {
  if (r === undefined) return "—";
  const s = r.toFixed(2);
  // Judge the printed (rounded) value, so that "1.00" never shows ✗ against a target of 1.0.
  return target === undefined ? s : `${s} ${Number(s) <= target ? "✓" : "✗"}`;
}

/**
 * A count with thousands separators.
 *
 * @example
 * ```ts
 * import { fmtCount } from "./table.ts";
 * fmtCount(30000); // "30,000"
 * ```
 */
export function fmtCount(n: number): string {
  return n.toLocaleString("en-US");
}
