/**
 * `command`: backs up the output of commands — several in one snapshot, each at its own path — and,
 * for `floe backup --stdin --stdin-filename NAME`, what arrives on standard input. Output is streamed
 * into the repository with no temporary file.
 *
 * Each command runs with `sh -c COMMAND` so that it may be a pipeline or use redirections
 * (`pg_dump shop | gzip`), as a user writes it in a crontab. In a pipeline only the last command's
 * status counts (`sh` is dash on Debian, without `pipefail`): write `bash -o pipefail -c '…'` when the
 * earlier commands' failures matter. The command inherits floe's environment; its stderr is kept (the
 * last lines name a failure) and its stdin is empty.
 *
 * A command that exits with a non-zero status (or is killed) fails the backup with its last stderr
 * lines: no snapshot is written.
 *
 * From the CLI and a config file, `command=CMD` and `path=/dumps/NAME` name one command; given several
 * times (`--source-option command=A --source-option path=/a --source-option command=B …`), the commands
 * and paths are paired in order.
 *
 * Paths are absolute, `/`-separated (a relative one is taken from `/`), with no `.` or `..` segment;
 * the directories above them are recorded as well. Entries are files of mode 0600.
 *
 * @example
 * ```ts
 * import command from "./mod.ts";
 * const source = command({
 *   commands: [
 *     { command: "pg_dumpall", path: "/dumps/postgres.sql" },
 *     { command: "crontab -l", path: "/dumps/crontab" },
 *   ],
 * });
 * console.log(source.paths); // ["/dumps/crontab", "/dumps/postgres.sql"]
 * ```
 * @module
 */
import {
  API_VERSION,
  type ContentReader,
  type ScanContext,
  type SourceEntry,
  type SourcePlugin,
} from "../../../core/contracts.ts";
import { streamed } from "../_child.ts";

/** One command and where its output goes in the snapshot. */
export interface Command {
  /** Run with `sh -c`. */
  command: string;
  /** The file's path in the snapshot, e.g. `/dumps/shop.sql`. */
  path: string;
}

/** Options of the command source. */
export interface Options {
  /** Commands to run, one after another. */
  commands?: Command[];
  /**
   * The CLI's and a config's form: one command, or several (`--source-option command=CMD`, repeated),
   * each paired in order with a {@link path}.
   */
  command?: string | string[];
  /** The output paths of {@link command}, one per command. */
  path?: string | string[];
  /** Also back up standard input, at this path (`floe backup --stdin --stdin-filename NAME`). */
  stdin?: { path: string };
  /** The CLI's positional arguments: refused (each output is named by a path option). */
  paths?: string[];
}

/** `commands` with the pairs of `command` and `path` after them. */
function commandsOf(options: Options): Command[] {
  const list = (v: unknown): unknown[] => v === undefined ? [] : Array.isArray(v) ? v : [v];
  const commands = list(options?.command), paths = list(options?.path);
  if (commands.length !== paths.length) {
    throw new Error(
      `command source: ${commands.length} command(s) but ${paths.length} path(s); give each command its path`,
    );
  }
  if (options?.paths?.length) {
    throw new Error(
      "command source: takes no arguments; name each output with path=… (--source-option path=/dumps/NAME)",
    );
  }
  return [
    ...(options?.commands ?? []),
    ...commands.map((command, i) => ({ command, path: paths[i] }) as Command),
  ];
}

/** `p` made absolute from `/`, checked: no empty name, `.` or `..`. */
function normalize(p: string): string {
  if (typeof p !== "string" || !p.trim()) throw new Error("command source: a path is required");
  const segs = p.split("/").filter(Boolean);
  if (!segs.length || segs.some((s) => s === "." || s === ".." || s.includes("\0"))) {
    throw new Error(`command source: '${p}' is not a valid path (no '.', '..' or NUL)`);
  }
  return "/" + segs.join("/");
}

/**
 * Standard input read into the caller's buffers. A cancelled backup stops waiting at once: a writer
 * that neither writes nor closes the pipe does not hold the backup up.
 */
class StdinReader implements ContentReader {
  #signal?: AbortSignal;
  constructor(signal?: AbortSignal) {
    this.#signal = signal;
  }
  async read(into: Uint8Array): Promise<number | null> {
    const signal = this.#signal;
    signal?.throwIfAborted();
    let onAbort = () => {};
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal!.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    try {
      const n = await Promise.race([Deno.stdin.read(into), aborted]);
      return n === 0 ? null : n;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }
  close(): void {}
}

type Item = { path: string; command: string | null };

/** Builds the command source. */
export default function command(options: Options): SourcePlugin {
  const items: Item[] = [];
  for (const c of commandsOf(options)) {
    if (!c || typeof c.command !== "string" || !c.command.trim()) {
      throw new Error("command source: each entry needs a command");
    }
    items.push({ path: normalize(c.path), command: c.command });
  }
  if (options?.stdin) items.push({ path: normalize(options.stdin.path), command: null });
  if (!items.length) throw new Error("command source: give at least one command, or stdin");
  const paths = items.map((i) => i.path).sort();
  for (let i = 0; i < paths.length; i++) {
    if (paths[i] === paths[i + 1]) throw new Error(`command source: two outputs at ${paths[i]}`);
    const inside = paths.find((p) => p.startsWith(paths[i] + "/"));
    if (inside) throw new Error(`command source: ${inside} would be inside the file ${paths[i]}`);
  }

  /** Pre-order, each directory's names sorted: directories and files from the paths. */
  function order(): (Item | { dir: string })[] {
    const dirs = new Set<string>();
    for (const { path } of items) {
      const segs = path.split("/").filter(Boolean);
      for (let i = 1; i < segs.length; i++) dirs.add("/" + segs.slice(0, i).join("/"));
    }
    const all: (Item | { dir: string })[] = [...[...dirs].map((dir) => ({ dir })), ...items];
    const key = (x: Item | { dir: string }) => ("dir" in x ? x.dir : x.path).split("/").filter(Boolean);
    return all.sort((a, b) => {
      const ka = key(a), kb = key(b);
      for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
        if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1;
      }
      return ka.length - kb.length;
    });
  }

  return {
    kind: "source",
    name: "command",
    apiVersion: API_VERSION,
    paths,
    async *scan(ctx: ScanContext): AsyncGenerator<SourceEntry> {
      const now = Date.now();
      for (const x of order()) {
        ctx.signal?.throwIfAborted();
        if ("dir" in x) {
          yield { path: x.dir, type: "dir", size: 0, mtime: now, mode: 0o700 };
          continue;
        }
        if (x.command === null) {
          yield {
            path: x.path,
            type: "file",
            size: 0,
            mtime: Date.now(),
            mode: 0o600,
            open: () => new StdinReader(ctx.signal),
          };
          continue;
        }
        const run = streamed(
          { cmd: "sh", args: ["-c", x.command], what: `command '${x.command}' (${x.path})` },
          { path: x.path, mtime: Date.now() },
        );
        yield run.entry;
        await run.finished(ctx.signal);
      }
    },
  };
}
