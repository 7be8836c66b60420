/**
 * How the CLI shows an operation's events: on a terminal one redrawn line like restic's — elapsed time,
 * files and bytes done of the total, percent, rate, ETA, what the storage has really received when an
 * upload is throttled, the current file; with `--json`, restic-style `status` lines during a backup or a
 * restore; warnings always; `-q` shows nothing but warnings and errors.
 *
 * @example
 * ```ts
 * import { formatBytes } from "./progress.ts";
 * formatBytes(3 * 1024 ** 3); // "3.00 GiB"
 * ```
 * @module
 */
import type { EngineEvent, Progress } from "../mod.ts";

/** Bytes in binary units: `512 B`, `1.5 KiB`, `20.0 MiB`, `3.00 GiB`. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n, i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

/** Seconds as `m:ss` or `h:mm:ss`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? `${h}:` : ""}${mm}:${String(r).padStart(2, "0")}`;
}

/** Where the view writes and what it may show. */
export interface ViewOptions {
  /** Writes to stderr. */
  err: (text: string) => void;
  /** Writes a line to stdout. */
  out: (line: string) => void;
  /** Whether stderr is a terminal (the redrawn line is drawn only there). */
  tty: boolean;
  /** `--json`. */
  json: boolean;
  /** `-q`. */
  quiet: boolean;
  /** `-v`: also the engine's step messages. */
  verbose: boolean;
  /** Terminal width (default 100). */
  columns?: number;
}

/** The text of one progress line (without the redraw codes). */
export function progressLine(p: Progress, elapsedSeconds: number, columns = 100): string {
  const parts = [`[${formatDuration(elapsedSeconds)}]`];
  const fraction = p.bytesTotal ? Math.min(1, p.bytes / p.bytesTotal) : undefined;
  if (fraction !== undefined) parts.push(`${(fraction * 100).toFixed(1)}%`);
  parts.push(`${p.files}${p.filesTotal !== undefined ? ` / ${p.filesTotal}` : ""} files`);
  parts.push(`${formatBytes(p.bytes)}${p.bytesTotal !== undefined ? ` / ${formatBytes(p.bytesTotal)}` : ""}`);
  if (p.bytesUploaded !== undefined) parts.push(`${formatBytes(p.bytesUploaded)} uploaded`);
  if (p.rate) parts.push(`${formatBytes(p.rate)}/s`);
  if (fraction && p.rate && p.bytesTotal) {
    parts.push(`ETA ${formatDuration((p.bytesTotal - p.bytes) / p.rate)}`);
  }
  let line = parts.join("  ");
  if (p.path) {
    const room = columns - line.length - 3;
    if (room > 10) line += `  ${p.path.length > room ? "…" + p.path.slice(-(room - 1)) : p.path}`;
  }
  return line.slice(0, columns - 1);
}

/** Renders the events of the operations a command runs. */
export class ProgressView {
  readonly #o: ViewOptions;
  #started = new Map<string, number>();
  #drawn = false;
  #lastDraw = 0;
  #lastStatus = 0;

  /** Build one. */
  constructor(options: ViewOptions) {
    this.#o = options;
  }

  /** Takes one event. */
  onEvent = (e: EngineEvent): void => {
    const o = this.#o;
    if (e.type === "start") this.#started.set(e.run, e.time);
    else if (e.type === "warning") {
      this.#clear();
      o.err(`warning: ${e.path ? `${e.path}: ` : ""}${e.message}\n`);
    } else if (e.type === "progress") {
      if (e.message !== undefined) {
        if (o.verbose && !o.json) {
          this.#clear();
          o.err(`${e.message}\n`);
        }
        return;
      }
      const elapsed = (e.time - (this.#started.get(e.run) ?? e.time)) / 1000;
      if (o.json) {
        if ((e.op === "backup" || e.op === "restore") && e.time - this.#lastStatus >= 1000) {
          this.#lastStatus = e.time;
          o.out(JSON.stringify({
            message_type: "status",
            seconds_elapsed: Math.round(elapsed),
            percent_done: e.bytesTotal ? Math.min(1, e.bytes / e.bytesTotal) : 0,
            total_files: e.filesTotal,
            files_done: e.files,
            total_bytes: e.bytesTotal,
            bytes_done: e.bytes,
            ...(e.bytesUploaded !== undefined ? { bytes_uploaded: e.bytesUploaded } : {}),
            ...(e.path ? { current_files: [e.path] } : {}),
          }));
        }
        return;
      }
      if (o.quiet || !o.tty || e.time - this.#lastDraw < 100) return;
      this.#lastDraw = e.time;
      o.err(`\r\x1b[K${progressLine(e, elapsed, o.columns)}`);
      this.#drawn = true;
    } else this.#clear(); // done, error
  };

  /** Takes the redrawn line away (before other output, and at the end). */
  #clear(): void {
    if (this.#drawn) this.#o.err("\r\x1b[K");
    this.#drawn = false;
  }
}
