/**
 * What the dump sources (mysql, postgres, command) share: running a tool, streaming its stdout as an
 * entry's content with no temporary file, feeding an entry's content to a tool's stdin on restore, and
 * reporting a tool's failure in one line with its last stderr lines, secrets masked.
 *
 * Secrets never go on a command line (anyone can read `/proc/PID/cmdline`): callers pass them through
 * the child's environment, which only the same user and root can read.
 *
 * **A failed dump fails the backup.** The archiver turns an error of a content reader into a warning and
 * writes the snapshot without that entry, which is right for a file that vanished and wrong for a
 * database dump. So each streamed entry also has a `finished` promise, rejected when the tool failed; the
 * source's `scan()` awaits it after yielding the entry and so throws the tool's error, which makes the
 * archiver abandon the run before it writes a snapshot. The next entry is yielded only once the previous
 * dump has ended, which costs nothing: the archiver reads such content one entry at a time anyway.
 *
 * @example
 * ```ts
 * import { streamed } from "./_child.ts";
 * const s = streamed({ cmd: "sh", args: ["-c", "echo hi"], what: "echo" }, { path: "/hi", mtime: 0 });
 * const reader = await s.entry.open!();
 * const buf = new Uint8Array(16);
 * console.log(await reader.read(buf));
 * await reader.read(buf); // null: the end, the exit status checked
 * await reader.close();
 * await s.finished();
 * ```
 * @module
 */
import type { ContentReader, SourceEntry } from "../../core/contracts.ts";

/** A tool to run. */
export interface ChildSpec {
  /** The executable (a name looked up in PATH, or a path). */
  cmd: string;
  /** Its arguments; never a secret. */
  args: string[];
  /** Variables added to the inherited environment (secrets go here). */
  env?: Record<string, string>;
  /** What it does, for messages: `mariadb-dump of shop`. */
  what: string;
  /** Strings replaced by `***` in every message (passwords). */
  secrets?: readonly string[];
  /**
   * Checks the last bytes of a successful run's output (at most {@link TAIL_BYTES}); returns what is wrong
   * (e.g. a missing completion marker) or null.
   */
  checkEnd?: (tail: string) => string | null;
  /**
   * Rewrites the tool's output before it is stored (e.g. the mysql source's INSERT regrouping); made once
   * per run. {@link checkEnd} still sees the tool's own last bytes.
   */
  transform?: () => StreamTransform;
  /**
   * Run the tool under `stdbuf -o SIZE` (coreutils) when it is installed: a tool that writes through a
   * 4 KiB stdio buffer makes every read here a few KiB (mariadb-dump: 247,000 writes for 1 GB), and each
   * read costs this thread a wake-up, a promise and an allocation; with `1M` the same dump is 970 writes.
   */
  stdoutBuffer?: string;
}

/** A byte-stream rewrite of a tool's output (see {@link ChildSpec.transform}). */
export interface StreamTransform {
  /** Takes the next piece of output; returns what to store in its place (valid until the next call). */
  push(chunk: Uint8Array): Uint8Array;
  /** The output ended; returns the last bytes to store. */
  end(): Uint8Array;
}

/** How many bytes of a stream's end {@link ChildSpec.checkEnd} sees. */
export const TAIL_BYTES = 1024;

const STDERR_KEEP = 16 * 1024;

/**
 * `text` with every secret replaced by `***`.
 *
 * @example
 * ```ts
 * import { mask } from "./_child.ts";
 * mask("password pw refused", ["pw"]); // "password *** refused"
 * ```
 */
export function mask(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s) out = out.replaceAll(s, "***");
  return out;
}

/**
 * The last non-empty lines of a tool's stderr, joined on one line, secrets masked.
 *
 * @example
 * ```ts
 * import { lastLines } from "./_child.ts";
 * lastLines("a\nb\n\nc\n", [], 2); // "b | c"
 * ```
 */
export function lastLines(stderr: string, secrets: readonly string[] = [], n = 3): string {
  const lines = mask(stderr, secrets).split("\n").map((l) => l.trim()).filter(Boolean);
  const text = lines.slice(-n).join(" | ");
  return text.length > 1000 ? "…" + text.slice(-1000) : text;
}

/**
 * The first of `names` found as an executable in PATH, or null.
 *
 * @example
 * ```ts
 * import { findTool } from "./_child.ts";
 * console.log(findTool(["mariadb-dump", "mysqldump"]));
 * ```
 */
export function findTool(names: readonly string[]): string | null {
  const dirs = (Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin").split(":").filter(Boolean);
  for (const name of names) {
    if (name.includes("/")) return name;
    for (const dir of dirs) {
      try {
        const st = Deno.statSync(`${dir}/${name}`);
        if (st.isFile && ((st.mode ?? 0o111) & 0o111)) return `${dir}/${name}`;
      } catch { /* not here */ }
    }
  }
  return null;
}

function spawnError(spec: ChildSpec, e: unknown): Error {
  const why = e instanceof Deno.errors.NotFound ? "not found" : (e as Error).message;
  return new Error(`${spec.what}: cannot run ${spec.cmd}: ${mask(why, spec.secrets)}`);
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream) {
    text += decoder.decode(chunk, { stream: true });
    if (text.length > 2 * STDERR_KEEP) text = text.slice(-STDERR_KEEP);
  }
  return (text + decoder.decode()).slice(-STDERR_KEEP);
}

/**
 * Runs a tool to its end and returns its stdout as text; throws one line with its stderr when it fails.
 *
 * @example
 * ```ts
 * import { runText } from "./_child.ts";
 * console.log(await runText({ cmd: "uname", args: ["-r"], what: "uname" }));
 * ```
 */
export async function runText(spec: ChildSpec, stdin?: string): Promise<string> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(spec.cmd, {
      args: spec.args,
      env: spec.env,
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    throw spawnError(spec, e);
  }
  const out = collectBytes(child.stdout);
  const err = collect(child.stderr);
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin)).catch(() => {});
    await w.close().catch(() => {});
  }
  const [status, stdout, stderr] = await Promise.all([child.status, out, err]);
  if (!status.success) {
    throw new Error(`${spec.what} failed (exit ${status.code}): ${lastLines(stderr, spec.secrets)}`);
  }
  return new TextDecoder().decode(stdout);
}

async function collectBytes(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of stream) {
    parts.push(chunk);
    n += chunk.length;
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Reads a child's stdout into the caller's buffers; at the end, checks its exit status and output. */
class ChildReader implements ContentReader {
  readonly #spec: ChildSpec;
  readonly #child: Deno.ChildProcess;
  readonly #stdout: ReadableStreamDefaultReader<Uint8Array>;
  readonly #stderr: Promise<string>;
  readonly #settle: (error?: Error) => void;
  #pending: Uint8Array | null = null;
  #tail = new Uint8Array(0);
  #ended = false;
  #transform: StreamTransform | null;

  constructor(spec: ChildSpec, child: Deno.ChildProcess, settle: (error?: Error) => void) {
    this.#spec = spec;
    this.#transform = spec.transform?.() ?? null;
    this.#child = child;
    this.#stdout = child.stdout.getReader();
    this.#stderr = collect(child.stderr);
    this.#settle = settle;
  }

  async read(into: Uint8Array): Promise<number | null> {
    while (!this.#pending?.length) {
      if (this.#ended) return null;
      const r = await this.#stdout.read();
      if (r.done) {
        const last = this.#transform?.end();
        this.#transform = null;
        if (last?.length) {
          this.#pending = last;
          break;
        }
        await this.#finish();
        return null;
      }
      this.#keepTail(r.value);
      this.#pending = this.#transform ? this.#transform.push(r.value) : r.value;
    }
    const chunk = this.#pending!;
    const n = Math.min(chunk.length, into.length);
    into.set(chunk.subarray(0, n));
    this.#pending = n < chunk.length ? chunk.subarray(n) : null;
    return n;
  }

  #keepTail(chunk: Uint8Array): void {
    if (chunk.length >= TAIL_BYTES) {
      this.#tail = chunk.slice(-TAIL_BYTES);
      return;
    }
    const joined = new Uint8Array(this.#tail.length + chunk.length);
    joined.set(this.#tail);
    joined.set(chunk, this.#tail.length);
    this.#tail = joined.slice(-TAIL_BYTES);
  }

  async #finish(): Promise<void> {
    this.#ended = true;
    const [status, stderr] = await Promise.all([this.#child.status, this.#stderr]);
    const spec = this.#spec;
    let error: Error | undefined;
    if (!status.success) {
      const how = status.signal ? `killed by ${status.signal}` : `exit ${status.code}`;
      error = new Error(`${spec.what} failed (${how}): ${lastLines(stderr, spec.secrets) || "(no message)"}`);
    } else {
      const problem = spec.checkEnd?.(new TextDecoder().decode(this.#tail));
      if (problem) {
        const said = lastLines(stderr, spec.secrets);
        error = new Error(`${spec.what}: ${problem}${said ? `: ${said}` : ""}`);
      }
    }
    this.#settle(error);
    if (error) throw error;
  }

  async close(): Promise<void> {
    if (this.#ended) return;
    // Closed before the end: the archiver gave up on this entry for a reason of its own, which it
    // reports; the tool is stopped and its outcome no longer matters.
    this.#ended = true;
    await this.#stdout.cancel().catch(() => {});
    try {
      this.#child.kill("SIGTERM");
    } catch { /* already gone */ }
    await this.#child.status;
    await this.#stderr.catch(() => "");
    this.#settle();
  }
}

/** An entry streamed from a tool, and how its scan learns whether the tool succeeded. */
export interface Streamed {
  /** The file entry; `open()` starts the tool. */
  entry: SourceEntry;
  /**
   * Resolves once the content was read to its end and the tool succeeded (or the reader was closed
   * early); rejects with the tool's error. Aborted by `signal`.
   */
  finished(signal?: AbortSignal): Promise<void>;
}

/** The time, mode and owner of a streamed entry. */
export interface StreamedMeta {
  /** Virtual path, e.g. `/mysql/shop.sql`. */
  path: string;
  /** Modification time (ms): when the dump was taken. */
  mtime: number;
  /** Permission bits; dumps hold data, so 0600 by default. */
  mode?: number;
}

/**
 * A file entry whose content is `spec`'s stdout, read as the archiver asks for it (no temporary file).
 * Its size is 0 in the entry — unknown before the tool has run — and the archiver records the size read.
 *
 * @example
 * ```ts
 * import { streamed } from "./_child.ts";
 * const s = streamed({ cmd: "date", args: [], what: "date" }, { path: "/date", mtime: Date.now() });
 * console.log(s.entry.path);
 * ```
 */
export function streamed(spec: ChildSpec, meta: StreamedMeta): Streamed {
  let settle!: (error?: Error) => void;
  const outcome = new Promise<void>((resolve, reject) => {
    let done = false;
    settle = (error) => {
      if (done) return;
      done = true;
      if (error) reject(error);
      else resolve();
    };
  });
  outcome.catch(() => {}); // awaited by the scan; never an unhandled rejection when it is not
  const entry: SourceEntry = {
    path: meta.path,
    type: "file",
    size: 0,
    mtime: meta.mtime,
    mode: meta.mode ?? 0o600,
    open(): ContentReader {
      let child: Deno.ChildProcess;
      const stdbuf = spec.stdoutBuffer ? findTool(["stdbuf"]) : null;
      try {
        child = new Deno.Command(stdbuf ?? spec.cmd, {
          args: stdbuf ? [`-o${spec.stdoutBuffer}`, spec.cmd, ...spec.args] : spec.args,
          env: spec.env,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
      } catch (e) {
        const error = spawnError(spec, e);
        settle(error);
        throw error;
      }
      return new ChildReader(spec, child, settle);
    },
  };
  return {
    entry,
    finished(signal?: AbortSignal): Promise<void> {
      if (!signal) return outcome;
      signal.throwIfAborted();
      return new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
        outcome.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
      });
    },
  };
}

/**
 * Runs `spec` with `content` on its stdin (a restore); throws one line with its stderr when it fails.
 *
 * @example
 * ```ts
 * import { feed } from "./_child.ts";
 * const bytes = [new TextEncoder().encode("hello\n")];
 * await feed({ cmd: "cat", args: [], what: "cat" }, {
 *   read: (into) => bytes.length ? (into.set(bytes[0]), bytes.shift()!.length) : null,
 *   close: () => {},
 * });
 * ```
 */
export async function feed(spec: ChildSpec, content: ContentReader): Promise<void> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(spec.cmd, {
      args: spec.args,
      env: spec.env,
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    throw spawnError(spec, e);
  }
  const stderr = collect(child.stderr);
  const writer = child.stdin.getWriter();
  let writeError: unknown;
  try {
    const buf = new Uint8Array(1 << 20);
    for (;;) {
      const r = content.read(buf);
      const n = typeof r === "number" || r === null ? r : await r;
      if (!n) break;
      // A copy: the writer may hold the bytes after the promise settles, and `buf` is read into again.
      await writer.write(buf.slice(0, n));
    }
    await writer.close();
  } catch (e) {
    writeError = e; // the tool stopped reading: it failed, and its status and stderr say why
    await writer.abort().catch(() => {});
  } finally {
    await content.close();
  }
  const [status, err] = await Promise.all([child.status, stderr]);
  if (!status.success) {
    throw new Error(
      `${spec.what} failed (exit ${status.code}): ${lastLines(err, spec.secrets) || "(no message)"}`,
    );
  }
  if (writeError) {
    throw new Error(
      `${spec.what}: ${mask((writeError as Error).message ?? String(writeError), spec.secrets)}`,
    );
  }
}

/**
 * A file entry whose content is `bytes` (small metadata such as `_meta.json`).
 *
 * @example
 * ```ts
 * import { bytesEntry } from "./_child.ts";
 * const e = bytesEntry("/x/_meta.json", new TextEncoder().encode("{}"), Date.now());
 * console.log(e.size); // 2
 * ```
 */
export function bytesEntry(path: string, bytes: Uint8Array, mtime: number): SourceEntry {
  return {
    path,
    type: "file",
    size: bytes.length,
    mtime,
    mode: 0o600,
    open(): ContentReader {
      let at = 0;
      return {
        read(into: Uint8Array): number | null {
          if (at >= bytes.length) return null;
          const n = Math.min(into.length, bytes.length - at);
          into.set(bytes.subarray(at, at + n));
          at += n;
          return n;
        },
        close() {},
      };
    },
  };
}
