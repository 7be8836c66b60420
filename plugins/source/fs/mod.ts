/**
 * `fs`: backs up directory trees — files, directories, symlinks, hardlinks, FIFOs, devices, permission
 * bits, owners and times — walking with readDirSync + lstatSync and reading with openSync + readSync.
 *
 * With libc reachable (`--allow-ffi`, see core/platform/libc.ts) the walk lists directories as bytes and
 * stats them with statx: names that are not UTF-8 are recorded exactly (`nameBytes`, shown quoted), times
 * to the nanosecond, and each entry offers its extended attributes (ACLs included) and inode flags, read
 * only when the engine asks (an entry that changed since the parent snapshot). Without libc, names that
 * are not valid UTF-8 cannot be reached through Deno's fs API: each is reported as a warning naming it
 * (the run ends with exit code 3), never dropped silently.
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
  type EntryAttributes,
  type EntryType,
  type ScanContext,
  type SourceEntry,
  type SourcePlugin,
} from "../../../core/contracts.ts";
import { compileGlobs } from "../../../core/globs.ts";
import * as libc from "../../../core/platform/libc.ts";
import { lgetxattrs } from "../../../core/platform/xattr.ts";
import { FS_FL, lgetflags, RESTORABLE_FLAGS } from "../../../core/platform/flags.ts";
import { xattrFilter } from "../../../core/xattr_filter.ts";

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
  /** Nanosecond times (libc only). */
  ns?: { mtime: string; atime: string; ctime: string; btime: string | null };
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
function lstat(path: string | Uint8Array): Stat {
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
      ns: { mtime: st.mtimeNs, atime: st.atimeNs, ctime: st.ctimeNs, btime: st.btimeNs },
    };
  }
  const st = Deno.lstatSync(path as string);
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
  // File-system fidelity (libc only).
  /** Record extended attributes and ACLs (default true). */
  xattrs?: boolean;
  /** Record only the attributes whose names match one of these globs (default: all). */
  xattrInclude?: string[];
  /** Leave out the attributes whose names match one of these globs. */
  xattrExclude?: string[];
  /** Leave out files and directories with the nodump flag (`chattr +d`), as dump(8) does. */
  excludeNodump?: boolean;
  /**
   * Read everything at or below `path` from `at` instead — a file-system snapshot of it (see
   * plugins/fs_snapshot/) — while entries keep their names under `path`. The longest `path` that holds an
   * entry wins, so a snapshot of a nested subvolume can sit inside another's.
   */
  readAt?: { path: string; at: string }[];
}

/** Defaults of the fs source. */
export const defaults: Omit<Options, "paths"> = {
  exclude: [],
  excludeFile: [],
  excludeIfPresent: [],
  oneFileSystem: false,
  xattrs: true,
  xattrInclude: [],
  xattrExclude: [],
  excludeNodump: false,
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

/** Content read through libc: for a file whose path Deno cannot name. */
class FdReader implements ContentReader {
  #fd: number;
  constructor(fd: number) {
    this.#fd = fd;
  }
  read(into: Uint8Array): number | null {
    const n = libc.readFd(this.#fd, into);
    return n === 0 ? null : n;
  }
  close(): void {
    libc.closeFd(this.#fd);
  }
}

const textEncoder = new TextEncoder();

/**
 * Where an entry's content and attributes are read: its path as the OS knows it (a string), or its bytes
 * when a segment is not plain text. Kept on the entry under a symbol, so that {@link openEntry} and the
 * attributes reader are one function each for every entry (the walk makes one entry per file and the
 * scan-ahead holds tens of thousands: two closures each, with their contexts, were ~240 of their ~730 bytes
 * of heap). A copy made by spread or rest keeps it; the methods must be called on the entry, or on such a
 * copy.
 */
const WHERE = Symbol("fs entry: where");
/** The inode flags already read by the walk (`--exclude-nodump`), or absent. */
const FLAGS = Symbol("fs entry: flags");

/** An entry of this source: the contract's fields and the two above. */
interface FsEntry extends SourceEntry {
  readonly [WHERE]: string | Uint8Array;
  readonly [FLAGS]?: number | null;
}

function whereOf(e: FsEntry): string | Uint8Array {
  const at = e?.[WHERE];
  if (at === undefined) {
    throw new TypeError("an fs entry's open() and attributes() are called on the entry (or a copy of it)");
  }
  return at;
}

/** An fs entry's `open`: through Deno by its path, or through libc by its bytes (not following a link). */
function openEntry(this: FsEntry): ContentReader {
  const at = whereOf(this);
  return typeof at === "string"
    ? new FileReader(Deno.openSync(at, { read: true }))
    : new FdReader(libc.openRead(at, { noFollow: true }));
}

/** A raw name as the walk shows it, and its bytes when that form is quoted (not plain UTF-8). */
function nameOf(raw: Uint8Array): { name: string; bytes?: Uint8Array } {
  const name = libc.quoteName(raw);
  return name.charCodeAt(0) === 0x22 ? { name, bytes: raw } : { name };
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

  const mapped = (options.readAt ?? []).map(({ path, at }) => {
    if (typeof path !== "string" || typeof at !== "string" || !path.startsWith("/") || !at.startsWith("/")) {
      throw new Error("fs source: readAt takes absolute { path, at } pairs");
    }
    return { path: absolutePath(path), at: absolutePath(at) };
  }).sort((a, b) => b.path.length - a.path.length);
  /** Where the entry shown as `path` is read: its place in a snapshot when one holds it. */
  const real = (path: string): string => {
    for (const m of mapped) {
      if (path === m.path) return m.at;
      if (path.startsWith(m.path === "/" ? "/" : m.path + "/")) {
        return m.at + path.slice(m.path === "/" ? 0 : m.path.length);
      }
    }
    return path;
  };

  const fine = libc.available();
  const keepXattr = options.xattrs === false ? null : xattrFilter(options.xattrInclude, options.xattrExclude);
  const nodump = !!options.excludeNodump && fine;

  /**
   * An fs entry's `attributes`: extended attributes as filtered, and restorable flags; from `read` (what a file
   * worker read on the open file) when given, else read by path.
   */
  function readAttributes(
    this: FsEntry,
    warn: (message: string) => void,
    read?: EntryAttributes,
  ): EntryAttributes {
    const at = whereOf(this), type = this.type;
    const out: { xattrs?: (readonly [Uint8Array, Uint8Array])[]; flags?: number } = {};
    if (keepXattr) {
      let all = read?.xattrs ?? [];
      if (!read) {
        try {
          all = lgetxattrs(at);
        } catch (e) {
          if (!(e instanceof Deno.errors.NotSupported)) {
            warn(`cannot read extended attributes: ${(e as Error).message}`);
          }
        }
      }
      const list = all.filter(([n]) => keepXattr(n));
      if (list.length) out.xattrs = list;
    }
    if (type === "file" || type === "dir") {
      let flags = this[FLAGS];
      if (flags === undefined && read) flags = read.flags;
      else if (flags === undefined) {
        try {
          flags = lgetflags(at);
        } catch (e) {
          warn(`cannot read inode flags: ${(e as Error).message}`);
        }
      }
      const kept = (flags ?? 0) & RESTORABLE_FLAGS;
      if (kept) out.flags = kept;
    }
    return out;
  }

  /**
   * The entry at `path` (as shown: non-plain names quoted); `at` is its byte path when `path` is not one
   * the OS knows, `nameBytes` its name's bytes when its name is quoted.
   */
  function entryOf(
    path: string,
    st: Stat,
    at: Uint8Array | null = null,
    nameBytes?: Uint8Array,
    knownFlags?: number | null,
  ): SourceEntry {
    const type = st.type;
    const where = at ?? real(path);
    let linkTarget: string | undefined;
    let targetBytes: Uint8Array | undefined;
    if (type === "symlink") {
      if (fine) {
        const t = nameOf(libc.readlinkBytes(where));
        linkTarget = t.name;
        targetBytes = t.bytes;
      } else linkTarget = Deno.readLinkSync(where as string);
    }
    const localPath = type === "file" && !at ? where as string : undefined;
    const rdev = type === "chardev" || type === "blockdev" ? st.rdev : undefined;
    const size = type === "file" ? st.size : 0;
    // One object literal per entry, of one shape whether or not the fine fields are known (no copy of a
    // first one): the walk makes one per entry and the scan-ahead keeps them all until the backup takes them.
    const ns = st.ns;
    const entry: FsEntry = {
      path,
      type,
      size,
      mtime: st.mtime,
      atime: st.atime,
      ctime: st.ctime,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      inode: st.ino,
      device: st.dev,
      links: st.nlink,
      rdev,
      linkTarget,
      open: type === "file" ? openEntry : undefined,
      localPath,
      nameBytes,
      targetBytes,
      mtimeNs: ns?.mtime,
      atimeNs: ns?.atime,
      ctimeNs: ns?.ctime,
      btimeNs: ns?.btime ?? undefined,
      attributes: ns ? readAttributes : undefined,
      [WHERE]: where,
    };
    if (knownFlags !== undefined) (entry as { [FLAGS]?: number | null })[FLAGS] = knownFlags;
    return entry;
  }

  /** A directory's entries: raw names through libc (shown quoted when not plain), else Deno's names. */
  function list(path: string, at: Uint8Array | null): { name: string; bytes?: Uint8Array }[] {
    if (fine) return libc.readDirNames(at ?? real(path));
    const names: { name: string }[] = [];
    for (const d of Deno.readDirSync(real(path))) names.push({ name: d.name });
    return names;
  }

  function* walk(
    path: string,
    st: Stat,
    rootDev: number,
    ctx: ScanContext,
    at: Uint8Array | null = null,
    nameBytes?: Uint8Array,
    knownFlags?: number | null,
  ): Generator<SourceEntry> {
    ctx.signal?.throwIfAborted();
    let entry: SourceEntry;
    try {
      entry = entryOf(path, st, at, nameBytes, knownFlags);
    } catch (e) {
      ctx.warn({ path, message: (e as Error).message });
      return;
    }
    if (entry.type !== "dir") {
      yield entry;
      return;
    }
    let names: { name: string; bytes?: Uint8Array }[];
    try {
      names = list(path, at);
    } catch (e) {
      ctx.warn({ path, message: `cannot list directory: ${(e as Error).message}` });
      return;
    }
    yield entry;
    if (markers.length && names.some((n) => markers.includes(n.name))) return;
    names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const base = path === "/" ? "" : path;
    for (const { name, bytes } of names) {
      const child = `${base}/${name}`;
      if (excluded(child)) continue;
      // Only a path with a quoted segment needs bytes; the rest Deno and libc reach by their text.
      const childAt = bytes || at
        ? libc.joinBytes(at ?? real(path), bytes ?? textEncoder.encode(name))
        : null;
      let cst: Stat;
      try {
        cst = lstat(childAt ?? real(child));
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
      let flags: number | null | undefined;
      if (nodump && (cst.type === "file" || cst.type === "dir")) {
        try {
          flags = lgetflags(childAt ?? real(child));
        } catch {
          flags = undefined; // read again, and warned about, with the attributes
        }
        if (flags !== undefined && flags !== null && flags & FS_FL.NODUMP) continue;
      }
      yield* walk(child, cst, rootDev, ctx, childAt, bytes, flags);
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
              const st = lstat(real(anc));
              yield { ...entryOf(anc, st), open: undefined };
            } catch (e) {
              ctx.warn({ path: anc, message: (e as Error).message });
            }
          }
          cur = `${cur}/${segs[i]}`;
        }
        let st: Stat;
        try {
          st = lstat(real(root));
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
