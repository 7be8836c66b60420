/**
 * An example third-party source plugin: SQLite databases, each backed up as a consistent copy made with
 * `VACUUM INTO` while other processes keep writing (copying the file itself could catch a write half
 * done). Each database appears as `/sqlite/<file name>`. It imports nothing from floe.
 *
 * @example
 * ```ts
 * import sqlite from "./sqlite_source.ts";
 * const source = sqlite({ paths: ["/var/lib/app/app.db"] });
 * for await (const e of source.scan({ warn: console.warn })) console.log(e.path);
 * ```
 * @module
 */
import { DatabaseSync } from "node:sqlite";

/** Options of the SQLite source (the CLI passes its positional arguments as `paths`). */
export interface Options {
  /** The database files. */
  paths: string[];
  /** Where `restore()` writes the databases back (a directory). */
  restoreTo?: string;
}

/** Nothing to default: the databases must be named. */
export const defaults: Partial<Options> = {};

interface Reader {
  read(into: Uint8Array): number | null;
  close(): void;
}

/** What restore() is handed: a reader that may answer asynchronously. */
interface AsyncReader {
  read(into: Uint8Array): number | null | Promise<number | null>;
  close(): void | Promise<void>;
}

/** A consistent copy of `db` in a private temporary file, removed when the reader closes. */
function snapshotReader(db: string): Reader {
  const dir = Deno.makeTempDirSync({ prefix: "floe-sqlite-" });
  const copy = `${dir}/copy.db`;
  const conn = new DatabaseSync(db, { readOnly: true });
  try {
    conn.prepare("VACUUM INTO ?").run(copy);
  } finally {
    conn.close();
  }
  const file = Deno.openSync(copy, { read: true });
  return {
    read: (into) => file.readSync(into),
    close: () => {
      file.close();
      Deno.removeSync(dir, { recursive: true });
    },
  };
}

function mtimeOf(path: string): number {
  let t = Deno.statSync(path).mtime?.getTime() ?? 0;
  try {
    t = Math.max(t, Deno.statSync(`${path}-wal`).mtime?.getTime() ?? 0);
  } catch { /* no write-ahead log */ }
  return t;
}

/** Builds the source. */
export default function sqlite(options: Options) {
  if (!options?.paths?.length) throw new Error("sqlite source: name at least one database file");
  const dbs = [...new Set(options.paths)].map((p) => {
    if (!p.startsWith("/")) throw new Error(`sqlite source: ${p} is not an absolute path`);
    const name = p.slice(p.lastIndexOf("/") + 1);
    if (!name || name === "." || name === "..") throw new Error(`sqlite source: ${p} names no file`);
    return { path: p, name };
  }).sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  for (let i = 1; i < dbs.length; i++) {
    if (dbs[i].name === dbs[i - 1].name) throw new Error(`sqlite source: two databases named ${dbs[i].name}`);
  }
  return {
    kind: "source" as const,
    name: "sqlite",
    apiVersion: 1,
    paths: ["/sqlite"],
    async *scan(ctx: { signal?: AbortSignal; warn(w: { path: string; message: string }): void }) {
      ctx.signal?.throwIfAborted();
      const entries = [];
      for (const db of dbs) {
        try {
          entries.push({ db, mtime: mtimeOf(db.path) });
        } catch (e) {
          ctx.warn({ path: `/sqlite/${db.name}`, message: (e as Error).message });
        }
      }
      const newest = Math.max(0, ...entries.map((e) => e.mtime));
      yield { path: "/sqlite", type: "dir" as const, size: 0, mtime: newest, mode: 0o700 };
      for (const { db, mtime } of entries) {
        ctx.signal?.throwIfAborted();
        yield {
          path: `/sqlite/${db.name}`,
          type: "file" as const,
          size: 0, // known only once the copy is made
          mtime,
          mode: 0o600,
          open: () => snapshotReader(db.path),
        };
      }
    },
    /** Writes each database back, as a file in `restoreTo`. */
    async restore(
      entries: AsyncIterable<{ path: string; type: string; open?(): AsyncReader }>,
    ): Promise<void> {
      if (!options.restoreTo) throw new Error("sqlite source: restore needs restoreTo");
      const buf = new Uint8Array(1 << 20);
      for await (const e of entries) {
        if (e.type !== "file" || !e.open) continue;
        const name = e.path.slice(e.path.lastIndexOf("/") + 1);
        const out = await Deno.open(`${options.restoreTo}/${name}`, {
          write: true,
          createNew: true,
          mode: 0o600,
        });
        const reader = e.open();
        try {
          while (true) {
            const n = await reader.read(buf);
            if (n === null) break;
            await out.write(buf.subarray(0, n));
          }
        } finally {
          await reader.close();
          out.close();
        }
      }
    },
  };
}
