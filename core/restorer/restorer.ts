/**
 * The restore pipeline: walk a snapshot's trees, create directories, files (with holes where content
 * is all zeros), symlinks, hardlinks, FIFOs and devices, then set metadata — directories last, deepest
 * first, so their mtimes survive. Names are validated, and no path is ever followed through a symlink,
 * so a hostile snapshot cannot write outside the target.
 *
 * Entries are put back as the fs source recorded them with libc: a name that is not UTF-8 (`nameBytes`) is
 * created under a temporary name and renamed to its bytes once its content, and everything beneath it, is
 * written; times to the nanosecond; extended attributes and ACLs after the owner and mode; inode flags
 * (immutable, append-only, …) last of all. An attribute or flag the target refuses is a warning (exit 3).
 *
 * Damage and failures are per entry: a damaged or missing blob, an unreadable pack or tree, a name the file
 * system refuses (too long) is a warning for the entries concerned, the restore goes on, and
 * {@link RestoreResult.incomplete} lists them. A file is left under its own name only when every byte of it
 * was restored; what could be restored of a damaged one is kept as `NAME.floe-partial` (see
 * {@link ./contents.ts}). An existing file at NAME was removed before the restore wrote NAME, so it never
 * passes for the restored one.
 *
 * @example
 * ```ts
 * import { restore } from "./restorer.ts";
 * // await restore({ repo, catalog, snapshot, target: "/tmp/out" });
 * ```
 * @module
 */
import type { Catalog, CatalogSnapshot } from "../catalog/catalog.ts";
import { FloeError } from "../errors.ts";
import type { StepEvent } from "../events.ts";
import type { Repository } from "../repository/repository.ts";
import type { Node } from "../repository/types.ts";
import { TreeLoader } from "../trees.ts";
import { compileGlobs } from "../globs.ts";
import { platform } from "../platform/mod.ts";
import * as libc from "../platform/libc.ts";
import { lsetxattr } from "../platform/xattr.ts";
import { lsetflags } from "../platform/flags.ts";
import { decodeBase64 } from "../encoding.ts";
import { xattrFilter } from "../xattr_filter.ts";
import { NewerFormatError } from "../repository/tree_format.ts";
import { ContentWriter } from "./contents.ts";

/** What to do with files already in the target. */
export type OverwriteMode = "always" | "if-changed" | "never";

/** What a caller chooses for a restore (the engine adds the repository, catalog and snapshot). */
export interface RestoreSettings {
  /** Restore only this subtree (its content lands directly in `target`). */
  subpath?: string;
  /** Target directory. */
  target: string;
  /** Restore only paths matching these globs (and what is beneath them). */
  include?: string[];
  /** Leave out paths matching these globs. */
  exclude?: string[];
  /** Existing files: `always` replace (default), `if-changed` replace when size or mtime differ, `never`. */
  overwrite?: OverwriteMode;
  /** Pack regions read at once (default: the storage's preferred concurrency, at least 4, at most 8). */
  concurrency?: number;
  /**
   * Threads that decrypt, decompress, check and write; 0 does that work on the calling thread. Default:
   * one per core (at most 4) for restores of 16 MiB or more.
   */
  workers?: number;
  /** Aborts. */
  signal?: AbortSignal;
  /** Do not restore extended attributes (ACLs included). */
  noXattrs?: boolean;
  /** Restore only the extended attributes whose names match one of these globs. */
  xattrInclude?: string[];
  /** Do not restore the extended attributes whose names match one of these globs. */
  xattrExclude?: string[];
}

/** Options of {@link restore}. */
export interface RestoreOptions extends RestoreSettings {
  /** The open repository. */
  repo: Repository;
  /** Its catalog. */
  catalog: Catalog;
  /** The snapshot to restore. */
  snapshot: CatalogSnapshot;
  /** Progress and warnings. */
  onEvent?: (e: StepEvent) => void;
}

/** The metadata of version-2 nodes a restore applies besides mode, owner and ms mtime. */
type Fine = Pick<Node, "atimeNs" | "mtimeNs" | "xattrs">;

/** Where an entry is created now, where it ends up (bytes when a name is not UTF-8), and that place as shown. */
interface Place {
  dest: string;
  final: string | Uint8Array;
  shown: string;
}

/** What {@link restore} did. */
export interface RestoreResult {
  /** Files written. */
  files: number;
  /** Directories created or updated. */
  dirs: number;
  /** Other entries (symlinks, FIFOs, devices). */
  others: number;
  /** Bytes written. */
  bytes: number;
  /** Entries left alone because of `--overwrite`. */
  skipped: number;
  /** Everything that went wrong, metadata that could not be set included. */
  warnings: { path: string; message: string }[];
  /**
   * Entries not restored exactly, in the order met: none of them is under its own name (a directory is
   * missing or incomplete). `partial`: where the regions of a damaged file that could be restored were kept.
   */
  incomplete: IncompleteEntry[];
}

/** An entry of a snapshot that a restore could not restore exactly. */
export interface IncompleteEntry {
  /** Where it should have been restored. */
  path: string;
  /** Why not (the first reason). */
  message: string;
  /** `path` + `.floe-partial`, when what could be restored of a file was kept there. */
  partial?: string;
}

const textEncoder = new TextEncoder();

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** Restores a snapshot (or part of it) into a directory. */
export async function restore(options: RestoreOptions): Promise<RestoreResult> {
  const { repo, catalog, snapshot, signal } = options;
  const emit = options.onEvent ?? (() => {});
  const overwrite = options.overwrite ?? "always";
  const trees = new TreeLoader(repo, catalog, { onEvent: emit });
  const excluded = compileGlobs(options.exclude ?? []);
  const includes = options.include ?? [];
  const included = compileGlobs(includes);
  const asRoot = Deno.uid() === 0;
  const result: RestoreResult = {
    files: 0,
    dirs: 0,
    others: 0,
    bytes: 0,
    skipped: 0,
    warnings: [],
    incomplete: [],
  };
  /** Paths of the files in `incomplete`: hardlinks to them are not made. */
  const lost = new Set<string>();
  const dirMeta: [string | Uint8Array, Node, string][] = [];
  const links = new Map<string, string>();
  const pendingLinks: [string, string][] = [];
  const target = options.target.replace(/\/+$/, "") || "/";
  const fineIO = libc.available();
  const keepXattr = options.noXattrs ? null : xattrFilter(options.xattrInclude, options.xattrExclude);
  /** Entries created under a temporary name, `[temporary path, path with the real name]`, in walk order. */
  const renames: [string, Uint8Array][] = [];
  /** Inode flags, set last of all (an immutable entry can be neither renamed nor given times). */
  const flagged: [string | Uint8Array, string, number][] = [];
  let temporaries = 0;

  const warn = (path: string, message: string) => {
    result.warnings.push({ path, message });
    emit({ type: "warning", path, message });
  };
  /** `path` is not restored (warned already when `warned`). */
  const incomplete = (path: string, message: string, warned: boolean, partial?: string) => {
    if (!warned) warn(path, message);
    result.incomplete.push(partial ? { path, message, partial } : { path, message });
  };

  const start = await trees.find(snapshot.snapshot.tree, options.subpath ?? "/");
  if (!start) throw new FloeError(`path ${options.subpath} is not in snapshot ${snapshot.id.slice(0, 8)}`);
  // A directory this restore created is empty: what goes into it needs no look first.
  const targetFresh = lstatOrNull(target) === null;
  Deno.mkdirSync(target, { recursive: true });

  /**
   * Makes sure `dest` is a real directory (not a symlink): `fresh` when this call created it, `exists`
   * when it was there, false when it must be left alone. `parentFresh`: its parent was just created.
   */
  function ensureDir(
    dest: string,
    node: Node | null,
    parentFresh: boolean,
    place?: Place,
  ): "fresh" | "exists" | false {
    const meta = () => {
      if (!node) return;
      dirMeta.push([place?.final ?? dest, node, place?.shown ?? dest]);
      if (node.flags) flagged.push([place?.final ?? dest, place?.shown ?? dest, node.flags]);
    };
    try {
      const st = parentFresh ? null : lstatOrNull(dest);
      if (st?.isDirectory) {
        meta();
        return "exists";
      }
      if (st) {
        if (overwrite === "never") {
          result.skipped++;
          return false;
        }
        Deno.removeSync(dest, { recursive: true });
      }
      // libc takes the path as it is (Deno's mkdir resolves each of its components first).
      if (fineIO) libc.mkdirBytes(dest, 0o700);
      else Deno.mkdirSync(dest, { mode: 0o700 });
    } catch (e) {
      // A name too long for the file system, say: what is beneath is not restored, the rest is.
      incomplete(dest, `directory not restored: ${(e as Error).message}`, false);
      return false;
    }
    result.dirs++;
    meta();
    return "fresh";
  }

  function setMeta(dest: string | Uint8Array, node: Node, shown = dest as string) {
    applyMeta(dest, node.type === "symlink", node.mode, node.mtime, node.uid, node.gid, node, shown);
  }

  /**
   * Owner, mode, extended attributes (after the mode: an ACL and the group bits are one thing), then times.
   * A byte path (a name that is not UTF-8) only arises with libc.
   */
  function applyMeta(
    dest: string | Uint8Array,
    symlink: boolean,
    mode: number,
    mtime: number,
    uid?: number,
    gid?: number,
    fine?: Fine,
    shown = dest as string,
  ) {
    try {
      if (asRoot && uid !== undefined && gid !== undefined) {
        if (fineIO) libc.lchown(dest, uid, gid);
        else if (symlink) platform.lchown(dest as string, uid, gid);
        else Deno.chownSync(dest as string, uid, gid);
      }
      if (!symlink) {
        if (fineIO) libc.chmodBytes(dest, mode & 0o7777);
        else Deno.chmodSync(dest as string, mode & 0o7777);
      }
      if (fine?.xattrs) setXattrs(dest, fine.xattrs, shown);
      if (fineIO) {
        const [a, m] = timesNs(mtime, fine);
        libc.setTimes(dest, a, m, { noFollow: true });
      } else if (symlink) {
        platform.setSymlinkTimes(dest as string, mtime);
      } else {
        const t = new Date(mtime);
        Deno.utimeSync(dest as string, t, t);
      }
    } catch (e) {
      warn(shown, `cannot set metadata: ${(e as Error).message}`);
    }
  }

  /** Access and modification times in ns: the node's own when it has them, else its ms mtime for both. */
  function timesNs(mtime: number, fine?: Fine): [bigint, bigint] {
    const m = fine?.mtimeNs !== undefined ? BigInt(fine.mtimeNs) : BigInt(Math.round(mtime)) * 1_000_000n;
    return [fine?.atimeNs !== undefined ? BigInt(fine.atimeNs) : m, m];
  }

  /** Each attribute on its own: one the target refuses (not supported, not permitted, no room) is a warning. */
  function setXattrs(dest: string | Uint8Array, xattrs: [string, string][], shown: string) {
    if (!keepXattr) return;
    if (!fineIO) {
      warn(shown, `extended attributes not restored: ${libc.unavailableReason()}`);
      return;
    }
    for (const [k, v] of xattrs) {
      const name = decodeBase64(k);
      if (!keepXattr(name)) continue;
      try {
        lsetxattr(dest, name, decodeBase64(v));
      } catch (e) {
        warn(shown, `cannot restore extended attribute ${libc.quoteName(name)}: ${(e as Error).message}`);
      }
    }
  }

  // Files are created as the walk meets them; their contents are written, planned by pack, while the walk
  // goes on (see ContentWriter).
  // What their metadata needs is kept compactly (file number n at [4n, 4n + 4)), not their nodes.
  const fileDests: string[] = [];
  const fileMeta: number[] = [];
  /** Version-2 metadata of file number n, when it has any. */
  const fileFine: (Fine | undefined)[] = [];
  let lastProgress = 0;
  const writer = new ContentWriter(repo, catalog, {
    signal,
    concurrency: options.concurrency,
    workers: options.workers,
    warn,
    onIncomplete: (path, partial, message) => {
      lost.add(path);
      incomplete(path, message, true, partial);
    },
    // Owner, mode and times of a file are set through its descriptor by the thread that writes it, before it
    // closes it: not by path afterwards on this thread (3 path lookups per file). Not for a file with extended
    // attributes, which go between the mode and the times.
    metadata: (n) => {
      if (!fineIO || fileFine[n]?.xattrs) return undefined;
      const m = 4 * n;
      const owned = asRoot && fileMeta[m + 2] >= 0 && fileMeta[m + 3] >= 0;
      const [atimeNs, mtimeNs] = timesNs(fileMeta[m + 1], fileFine[n]);
      return {
        mode: fileMeta[m] & 0o7777,
        uid: owned ? fileMeta[m + 2] : -1,
        gid: owned ? fileMeta[m + 3] : -1,
        atimeNs,
        mtimeNs,
      };
    },
    onFileDone: (n, metaSet) => {
      result.files++;
      if (metaSet) return;
      const m = 4 * n;
      applyMeta(
        fileDests[n],
        false,
        fileMeta[m],
        fileMeta[m + 1],
        fileMeta[m + 2] < 0 ? undefined : fileMeta[m + 2],
        fileMeta[m + 3] < 0 ? undefined : fileMeta[m + 3],
        fileFine[n],
      );
    },
    onBytes: (bytes) => {
      result.bytes = bytes;
      const now = performance.now();
      if (now - lastProgress > 250) {
        lastProgress = now;
        emit({ type: "progress", phase: "restore", files: result.files, bytes });
      }
    },
  });

  /** Clears the way for a non-directory entry; false when an existing one must be kept. */
  function prepare(dest: string, node: Node): boolean {
    const st = lstatOrNull(dest);
    if (!st) return true;
    if (overwrite === "never") {
      result.skipped++;
      return false;
    }
    if (
      overwrite === "if-changed" && node.type === "file" && st.isFile && st.size === node.size &&
      st.mtime?.getTime() === node.mtime
    ) {
      result.skipped++;
      return false;
    }
    Deno.removeSync(dest, { recursive: st.isDirectory });
    return true;
  }

  /** Creates a file: the first of a hardlink group is written, the others linked to it afterwards. */
  function queueFile(dest: string, node: Node, place?: Place) {
    if (node.flags) flagged.push([place?.final ?? dest, place?.shown ?? dest, node.flags]);
    const key = (node.links ?? 1) > 1 && node.inode !== undefined ? `${node.device}:${node.inode}` : "";
    const first = key ? links.get(key) : undefined;
    if (first) {
      pendingLinks.push([first, dest]);
      return;
    }
    if (key) links.set(key, dest);
    const n = writer.add(dest, node.content);
    if (n < 0) return;
    fileDests[n] = dest;
    const m = 4 * n;
    fileMeta[m] = node.mode;
    fileMeta[m + 1] = node.mtime;
    fileMeta[m + 2] = node.uid ?? -1;
    fileMeta[m + 3] = node.gid ?? -1;
    if (node.mtimeNs !== undefined || node.atimeNs !== undefined || node.xattrs) {
      fileFine[n] = { mtimeNs: node.mtimeNs, atimeNs: node.atimeNs, xattrs: node.xattrs };
    }
  }

  function restoreOther(dest: string, node: Node) {
    switch (node.type) {
      case "symlink":
        if (node.targetBytes !== undefined && fineIO) libc.symlinkBytes(decodeBase64(node.targetBytes), dest);
        else {
          if (node.targetBytes !== undefined) {
            warn(
              dest,
              `symlink target is not UTF-8; written in its quoted form: ${libc.unavailableReason()}`,
            );
          }
          Deno.symlinkSync(node.linkTarget ?? "", dest);
        }
        break;
      case "fifo":
        platform.mkfifo(dest, 0o600);
        break;
      case "chardev":
      case "blockdev":
        if (!asRoot) {
          incomplete(dest, `${node.type} not restored: needs root`, false);
          return;
        }
        platform.mknod(dest, node.type, node.mode, node.rdev ?? 0);
        break;
      case "socket":
        return; // sockets belong to running programs; nothing to restore
      default:
        incomplete(dest, `unknown entry type ${node.type}`, false);
        return;
    }
    result.others++;
    setMeta(dest, node);
  }

  /**
   * Restores the children of directory `node` into `dest`. `ensure` creates `dest` (and its parents) on
   * first need, so directories outside `--include` appear only when something beneath them is restored;
   * `fresh` tells, once `ensure` succeeded, whether `dest` was just created (so it is empty).
   */
  async function walk(
    node: Node,
    snapPath: string,
    dest: string,
    wanted: boolean,
    ensure: () => boolean,
    fresh: () => boolean,
    at: Place | null = null,
  ) {
    signal?.throwIfAborted();
    await writer.pause(); // the regions already planned are written meanwhile
    let tree;
    try {
      tree = await trees.load(node.subtree!, signal);
    } catch (e) {
      if (signal?.aborted || e instanceof NewerFormatError) throw e;
      // A damaged or missing tree: its entries are lost, the rest of the snapshot is not.
      incomplete(dest, `directory content not restored: ${(e as Error).message}`, false);
      return;
    }
    const ids: string[] = [];
    for (const child of tree.nodes) if (child.type === "file" && child.content) ids.push(...child.content);
    writer.prefetch(ids);
    for (const child of tree.nodes) {
      const sp = snapPath === "/" ? `/${child.name}` : `${snapPath}/${child.name}`;
      if (excluded(sp)) continue;
      let dp = `${dest}/${child.name}`;
      // A name that is not UTF-8 (or not plain) is made under a temporary name, renamed to its bytes at the end.
      let place: Place | null = at
        ? {
          dest: dp,
          final: libc.joinBytes(at.final, textEncoder.encode(child.name)),
          shown: `${at.shown}/${child.name}`,
        }
        : null;
      // Renamed while its parent still has its own temporary name (deeper entries are renamed first).
      let renameTo: Uint8Array | null = null;
      if (child.nameBytes !== undefined) {
        const shown = `${at?.shown ?? dest}/${child.name}`;
        if (fineIO) {
          const bytes = decodeBase64(child.nameBytes);
          dp = `${dest}/.floe-restoring-${Deno.pid}-${temporaries++}`;
          renameTo = libc.joinBytes(dest, bytes);
          place = { dest: dp, final: libc.joinBytes(at?.final ?? dest, bytes), shown };
        } else {
          warn(shown, `name is not UTF-8; restored in its quoted form: ${libc.unavailableReason()}`);
        }
      }
      const want = wanted || !includes.length || included(sp);
      if (child.type === "dir") {
        if (!child.subtree) continue;
        let made = false;
        let state: "fresh" | "exists" | false = false;
        const ensureChild = () => {
          if (!made) {
            made = true;
            state = ensure() && ensureDir(dp, child, fresh(), place ?? undefined);
            if (state && renameTo) renames.push([dp, renameTo]);
          }
          return state !== false;
        };
        if (want && !ensureChild()) continue;
        await walk(child, sp, dp, want, ensureChild, () => state === "fresh", place);
        continue;
      }
      if (!want || !ensure()) continue;
      if (restoreEntry(dp, child, fresh(), place ?? undefined) && renameTo) renames.push([dp, renameTo]);
    }
  }

  /**
   * Restores a file or another non-directory entry at `dest` (its directory is `fresh`: just made); whether
   * something was created there.
   */
  function restoreEntry(dest: string, node: Node, fresh: boolean, place?: Place): boolean {
    try {
      if (!fresh && !prepare(dest, node)) return false;
    } catch (e) {
      incomplete(dest, `not restored: ${(e as Error).message}`, false);
      return false;
    }
    if (node.type === "file") {
      queueFile(dest, node, place);
      return true;
    }
    try {
      restoreOther(dest, node);
      return true;
    } catch (e) {
      incomplete(dest, `not restored: ${(e as Error).message}`, false);
      return false;
    }
  }

  try {
    if (start.type === "dir") {
      const base = options.subpath && options.subpath !== "/" ? options.subpath.replace(/\/+$/, "") : "/";
      await walk(start, base, target, false, () => true, () => targetFresh);
    } else {
      const dest = `${target}/${start.name}`;
      if (restoreEntry(dest, start, targetFresh) && start.nameBytes !== undefined && fineIO) {
        renames.push([dest, libc.joinBytes(target, decodeBase64(start.nameBytes))]);
      }
    }
    // The rest of the file contents, planned by pack: one ranged read per pack region, each blob
    // decrypted once.
    await writer.run();
  } catch (e) {
    writer.terminate();
    throw e;
  }
  for (const [first, dest] of pendingLinks) {
    if (lost.has(first)) {
      incomplete(dest, `not restored: its content (hardlinked to ${first}) could not be restored`, false);
      continue;
    }
    try {
      Deno.linkSync(first, dest);
      result.files++;
    } catch (e) {
      incomplete(dest, `cannot create hardlink: ${(e as Error).message}`, false);
    }
  }

  // Real names last but one, deepest first (an entry is renamed before the directory holding it), so that
  // directory times and flags are set after.
  for (let i = renames.length - 1; i >= 0; i--) {
    const [from, to] = renames[i];
    try {
      libc.renameBytes(from, to);
    } catch (e) {
      incomplete(
        from,
        `cannot give it its name ${libc.quoteName(to.subarray(to.lastIndexOf(0x2f) + 1))}: ${
          (e as Error).message
        }`,
        false,
      );
    }
  }
  // Directory metadata last, deepest first.
  for (let i = dirMeta.length - 1; i >= 0; i--) setMeta(dirMeta[i][0], dirMeta[i][1], dirMeta[i][2]);
  // Inode flags after everything else: an immutable or append-only entry cannot be changed any more.
  for (const [path, shown, flags] of flagged) {
    try {
      lsetflags(path, flags);
    } catch (e) {
      warn(shown, `cannot set inode flags ${flags.toString(16)}: ${(e as Error).message}`);
    }
  }
  emit({ type: "done", phase: "restore" });
  return result;
}
