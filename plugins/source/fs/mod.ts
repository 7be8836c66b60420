/**
 * `fs`: backs up directory trees — files, directories, symlinks, hardlinks, FIFOs, devices, permission
 * bits, owners and times — walking with readDirSync + lstatSync and reading with openSync + readSync.
 *
 * Names that are not valid UTF-8 cannot be reached through Deno's fs API: each is reported as a
 * warning naming it (the run ends with exit code 3), never dropped silently.
 *
 * @example
 * ```ts
 * import fs from "./mod.ts";
 * const source = fs({ paths: ["/etc"], exclude: ["*.tmp"] });
 * for await (const entry of source.scan({ warn: console.warn })) console.log(entry.path);
 * ```
 * @module
 */
import {
  API_VERSION,
  type ContentReader,
  type EntryType,
  type ScanContext,
  type SourceEntry,
  type SourcePlugin,
} from "../../../core/contracts.ts";
import { compileGlobs } from "../../../core/globs.ts";
import * as libc from "../../../core/platform/libc.ts";

/** What the walk needs of `lstat`, in plain numbers (times in ms). */
interface Stat {
  type: EntryType;
  size: number;
  mtime: number;
  atime: number | undefined;
  ctime: number | undefined;
  mode: number;
  uid: number | undefined;
  gid: number | undefined;
  ino: number | undefined;
  dev: number | undefined;
  nlink: number | undefined;
  rdev: number | undefined;
}

function typeOfMode(mode: number): EntryType {
  switch (mode & libc.S_IF.MT) {
    case libc.S_IF.DIR:
      return "dir";
    case libc.S_IF.LNK:
      return "symlink";
    case libc.S_IF.FIFO:
      return "fifo";
    case libc.S_IF.SOCK:
      return "socket";
    case libc.S_IF.CHR:
      return "chardev";
    case libc.S_IF.BLK:
      return "blockdev";
    default:
      return "file";
  }
}

/**
 * One `statx` call when FFI is granted: ctime to the microsecond (Deno's own ctime has whole seconds
 * only, which would miss a same-size rewrite whose mtime was reset within the second of the previous
 * backup) and no second `lstat`. Without FFI, Deno's `lstatSync`.
 */
function lstat(path: string): Stat {
  if (libc.available()) {
    const st = libc.lstatMs(path);
    return {
      type: typeOfMode(st.mode),
      size: st.size,
      mtime: st.mtimeMs,
      atime: st.atimeMs,
      ctime: st.ctimeMs,
      mode: st.mode,
      uid: st.uid,
      gid: st.gid,
      ino: st.ino,
      dev: st.dev,
      nlink: st.nlink,
      rdev: st.rdev,
    };
  }
  const st = Deno.lstatSync(path);
  return {
    type: typeOf(st),
    size: st.size,
    mtime: st.mtime?.getTime() ?? 0,
    atime: st.atime?.getTime() ?? undefined,
    ctime: st.ctime?.getTime() ?? undefined,
    mode: st.mode ?? 0,
    uid: st.uid ?? undefined,
    gid: st.gid ?? undefined,
    ino: st.ino ?? undefined,
    dev: st.dev ?? undefined,
    nlink: st.nlink ?? undefined,
    rdev: st.rdev ?? undefined,
  };
}

/** Options of the fs source. */
export interface Options {
  /** Paths to back up (files or directories); made absolute against the working directory. */
  paths: string[];
  /** Glob patterns of paths to leave out (restic semantics: no `/` matches a name at any depth). */
  exclude?: string[];
  /** Files holding more exclude patterns, one a line (`#` comments). */
  excludeFile?: string[];
  /** Leave out directories that contain a file of this name (e.g. `.nobackup`). */
  excludeIfPresent?: string[];
  /** Do not cross into other file systems. */
  oneFileSystem?: boolean;
}

/** Defaults of the fs source. */
export const defaults: Omit<Options, "paths"> = {
  exclude: [],
  excludeFile: [],
  excludeIfPresent: [],
  oneFileSystem: false,
};

function typeOf(st: Deno.FileInfo): EntryType {
  if (st.isFile) return "file";
  if (st.isDirectory) return "dir";
  if (st.isSymlink) return "symlink";
  if (st.isFifo) return "fifo";
  if (st.isSocket) return "socket";
  if (st.isCharDevice) return "chardev";
  if (st.isBlockDevice) return "blockdev";
  return "file";
}

/** Makes `p` absolute and normalised (no `.`/`..` segments, no trailing slash). */
export function absolutePath(p: string, cwd = Deno.cwd()): string {
  const parts: string[] = [];
  for (const seg of (p.startsWith("/") ? p : `${cwd}/${p}`).split("/")) {
    if (!seg || seg === ".") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  return "/" + parts.join("/");
}

class FileReader implements ContentReader {
  #file: Deno.FsFile;
  constructor(file: Deno.FsFile) {
    this.#file = file;
  }
  read(into: Uint8Array): number | null {
    return this.#file.readSync(into);
  }
  close(): void {
    this.#file.close();
  }
}

function bySegments(a: string, b: string): number {
  const x = a.split("/"), y = b.split("/");
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length;
}

/** Builds the fs source. */
export default function fs(options: Options): SourcePlugin {
  if (!options?.paths?.length) throw new Error("fs source: at least one path is required");
  // Sorted segment by segment, not as strings: "/x/a-b" must follow "/x/a/c" ("a" < "a-b" as names).
  const paths = [...new Set(options.paths.map((p) => absolutePath(p)))].sort(bySegments);
  const patterns = [...(options.exclude ?? [])];
  for (const file of options.excludeFile ?? []) {
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch (e) {
      throw new Error(`cannot read exclude file ${file}: ${(e as Error).message}`);
    }
    for (const line of text.split("\n")) {
      const t = line.trim();
      if (t && !t.startsWith("#")) patterns.push(t);
    }
  }
  const excluded = compileGlobs(patterns);
  const markers = options.excludeIfPresent ?? [];

  function entryOf(path: string, st: Stat): SourceEntry {
    const type = st.type;
    const e: SourceEntry = {
      path,
      type,
      size: type === "file" ? st.size : 0,
      mtime: st.mtime,
      atime: st.atime,
      ctime: st.ctime,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      inode: st.ino,
      device: st.dev,
      links: st.nlink,
      rdev: type === "chardev" || type === "blockdev" ? st.rdev : undefined,
      linkTarget: type === "symlink" ? Deno.readLinkSync(path) : undefined,
      open: type === "file" ? () => new FileReader(Deno.openSync(path, { read: true })) : undefined,
      localPath: type === "file" ? path : undefined,
    };
    return e;
  }

  function* walk(path: string, st: Stat, rootDev: number, ctx: ScanContext): Generator<SourceEntry> {
    ctx.signal?.throwIfAborted();
    let entry: SourceEntry;
    try {
      entry = entryOf(path, st);
    } catch (e) {
      ctx.warn({ path, message: (e as Error).message });
      return;
    }
    if (entry.type !== "dir") {
      yield entry;
      return;
    }
    let names: string[];
    try {
      names = [];
      for (const d of Deno.readDirSync(path)) names.push(d.name);
    } catch (e) {
      ctx.warn({ path, message: `cannot list directory: ${(e as Error).message}` });
      return;
    }
    yield entry;
    if (markers.length && names.some((n) => markers.includes(n))) return;
    names.sort();
    const base = path === "/" ? "" : path;
    for (const name of names) {
      const child = `${base}/${name}`;
      if (excluded(child)) continue;
      let cst: Stat;
      try {
        cst = lstat(child);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound && name.includes("\uFFFD")) {
          ctx.warn({ path: child, message: "name is not valid UTF-8 and cannot be read; skipped" });
        } else if (e instanceof Deno.errors.NotFound) {
          ctx.warn({ path: child, message: "vanished during backup; skipped" });
        } else {
          ctx.warn({ path: child, message: (e as Error).message });
        }
        continue;
      }
      if (options.oneFileSystem && cst.type === "dir" && cst.dev !== rootDev) continue;
      yield* walk(child, cst, rootDev, ctx);
    }
  }

  return {
    kind: "source",
    name: "fs",
    apiVersion: API_VERSION,
    paths,
    *scan(ctx: ScanContext): Generator<SourceEntry> {
      ctx.signal?.throwIfAborted();
      // Parents of the backup paths are recorded (metadata only) so restore can rebuild the tree.
      const done = new Set<string>();
      for (const root of paths) {
        if (paths.some((p) => p !== root && root.startsWith(p + "/"))) continue; // inside another path
        const segs = root.split("/").filter(Boolean);
        let cur = "";
        for (let i = 0; i <= segs.length - 1; i++) {
          const anc = i === 0 ? "/" : cur;
          if (!done.has(anc)) {
            done.add(anc);
            try {
              const st = lstat(anc);
              yield { ...entryOf(anc, st), open: undefined };
            } catch (e) {
              ctx.warn({ path: anc, message: (e as Error).message });
            }
          }
          cur = `${cur}/${segs[i]}`;
        }
        let st: Stat;
        try {
          st = lstat(root);
        } catch (e) {
          ctx.warn({
            path: root,
            message: e instanceof Deno.errors.NotFound ? "does not exist" : (e as Error).message,
          });
          continue;
        }
        yield* walk(root, st, st.dev ?? 0, ctx);
      }
    },
  };
}
