/**
 * Where every line of the CLI goes: stdout and stderr, each text passed through {@link redact}, and a
 * closed reader (`floe snapshots | head -1`) ends the output quietly instead of failing the command.
 *
 * After the reader of a stream has gone (EPIPE), later writes to that stream are dropped: the command
 * still finishes what it does (a `forget` still removes, a `check` still reports its result in the
 * exit code), and floe exits with the code the command would have had otherwise. Only output that
 * cannot go anywhere else stops early: `dump` ends when its reader does (see `isBrokenPipe`).
 *
 * @example
 * ```ts
 * import { writeErr, writeOut } from "./output.ts";
 * writeOut("snapshot 1a2b3c4d saved\n");
 * writeErr("floe: no repository\n");
 * ```
 * @module
 */
import { redact } from "./redact.ts";

const closed = new WeakSet<object>();

/**
 * Whether `e` says the reader of a pipe has gone (EPIPE).
 *
 * @example
 * ```ts
 * import { isBrokenPipe } from "./output.ts";
 * isBrokenPipe(new Deno.errors.BrokenPipe()); // true
 * ```
 */
export function isBrokenPipe(e: unknown): boolean {
  return e instanceof Deno.errors.BrokenPipe || (e as { code?: string })?.code === "EPIPE";
}

function write(f: typeof Deno.stdout | typeof Deno.stderr, text: string): void {
  if (closed.has(f)) return;
  const bytes = new TextEncoder().encode(redact(text));
  let off = 0;
  try {
    while (off < bytes.length) off += f.writeSync(bytes.subarray(off));
  } catch (e) {
    if (!isBrokenPipe(e)) throw e;
    closed.add(f);
  }
}

/**
 * Writes text to stdout, redacted; nothing once stdout's reader has gone.
 *
 * @example
 * ```ts
 * import { writeOut } from "./output.ts";
 * writeOut(JSON.stringify({ ok: true }) + "\n");
 * ```
 */
export function writeOut(text: string): void {
  write(Deno.stdout, text);
}

/**
 * Writes text to stderr, redacted; nothing once stderr's reader has gone.
 *
 * @example
 * ```ts
 * import { writeErr } from "./output.ts";
 * writeErr("warning: /etc/shadow: permission denied\n");
 * ```
 */
export function writeErr(text: string): void {
  write(Deno.stderr, text);
}
