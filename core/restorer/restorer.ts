/**
 * The restore pipeline: walk a snapshot's trees, create directories, files (with holes where content
 * is all zeros), symlinks, hardlinks, FIFOs and devices, then set metadata — directories last, deepest
 * first, so their mtimes survive. Names are validated, and no path is ever followed through a symlink,
 * so a hostile snapshot cannot write outside the target.
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
import { ContentWriter } from "./contents.ts";

/** What to do with files already in the target. */
export type OverwriteMode = "always" | "if-changed" | "never";

/** Options of {@link restore}. */
export interface RestoreOptions {
  /** The open repository. */
  repo: Repository;
  /** Its catalog. */
  catalog: Catalog;
  /** The snapshot to restore. */
  snapshot: CatalogSnapshot;
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
  /** Progress and warnings. */
  onEvent?: (e: StepEvent) => void;
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
  const dirMeta: [string, Node][] = [];
  const links = new Map<string, string>();
  const pendingLinks: [string, string][] = [];
  const target = options.target.replace(/\/+$/, "") || "/";

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
  function ensureDir(dest: string, node: Node | null, parentFresh: boolean): "fresh" | "exists" | false {
    try {
      const st = parentFresh ? null : lstatOrNull(dest);
      if (st?.isDirectory) {
        if (node) dirMeta.push([dest, node]);
        return "exists";
      }
      if (st) {
        if (overwrite === "never") {
          result.skipped++;
          return false;
        }
        Deno.removeSync(dest, { recursive: true });
      }
      Deno.mkdirSync(dest, { mode: 0o700 });
    } catch (e) {
      // A name too long for the file system, say: what is beneath is not restored, the rest is.
      incomplete(dest, `directory not restored: ${(e as Error).message}`, false);
      return false;
    }
    result.dirs++;
    if (node) dirMeta.push([dest, node]);
    return "fresh";
  }

  function setMeta(dest: string, node: Node) {
    applyMeta(dest, node.type === "symlink", node.mode, node.mtime, node.uid, node.gid);
  }

  function applyMeta(
    dest: string,
    symlink: boolean,
    mode: number,
    mtime: number,
    uid?: number,
    gid?: number,
  ) {
    try {
      if (asRoot && uid !== undefined && gid !== undefined) {
        if (symlink) platform.lchown(dest, uid, gid);
        else Deno.chownSync(dest, uid, gid);
      }
      if (symlink) {
        platform.setSymlinkTimes(dest, mtime);
      } else {
        Deno.chmodSync(dest, mode & 0o7777);
        const t = new Date(mtime);
        Deno.utimeSync(dest, t, t);
      }
    } catch (e) {
      warn(dest, `cannot set metadata: ${(e as Error).message}`);
    }
  }

  // Files are created as the walk meets them; their contents are written, planned by pack, while the walk
  // goes on (see ContentWriter).
  // What their metadata needs is kept compactly (file number n at [4n, 4n + 4)), not their nodes.
  const fileDests: string[] = [];
  const fileMeta: number[] = [];
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
    onFileDone: (n) => {
      result.files++;
      const m = 4 * n;
      applyMeta(
        fileDests[n],
        false,
        fileMeta[m],
        fileMeta[m + 1],
        fileMeta[m + 2] < 0 ? undefined : fileMeta[m + 2],
        fileMeta[m + 3] < 0 ? undefined : fileMeta[m + 3],
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
  function queueFile(dest: string, node: Node) {
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
  }

  function restoreOther(dest: string, node: Node) {
    switch (node.type) {
      case "symlink":
        Deno.symlinkSync(node.linkTarget ?? "", dest);
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
  ) {
    signal?.throwIfAborted();
    await writer.pause(); // the regions already planned are written meanwhile
    let tree;
    try {
      tree = await trees.load(node.subtree!, signal);
    } catch (e) {
      if (signal?.aborted) throw e;
      // A damaged or missing tree: its entries are lost, the rest of the snapshot is not.
      incomplete(dest, `directory content not restored: ${(e as Error).message}`, false);
      return;
    }
    const ids: string[] = [];
    for (const child of tree.nodes) if (child.type === "file" && child.content) ids.push(...child.content);
    writer.prefetch(ids);
    for (const child of tree.nodes) {
      const sp = snapPath === "/" ? `/${child.name}` : `${snapPath}/${child.name}`;
      const dp = `${dest}/${child.name}`;
      if (excluded(sp)) continue;
      const want = wanted || !includes.length || included(sp);
      if (child.type === "dir") {
        if (!child.subtree) continue;
        let made = false;
        let state: "fresh" | "exists" | false = false;
        const ensureChild = () => {
          if (!made) {
            made = true;
            state = ensure() && ensureDir(dp, child, fresh());
          }
          return state !== false;
        };
        if (want && !ensureChild()) continue;
        await walk(child, sp, dp, want, ensureChild, () => state === "fresh");
        continue;
      }
      if (!want || !ensure()) continue;
      restoreEntry(dp, child, fresh());
    }
  }

  /** Restores a file or another non-directory entry at `dest` (its directory is `fresh`: just made). */
  function restoreEntry(dest: string, node: Node, fresh: boolean) {
    try {
      if (!fresh && !prepare(dest, node)) return;
    } catch (e) {
      incomplete(dest, `not restored: ${(e as Error).message}`, false);
      return;
    }
    if (node.type === "file") {
      queueFile(dest, node);
      return;
    }
    try {
      restoreOther(dest, node);
    } catch (e) {
      incomplete(dest, `not restored: ${(e as Error).message}`, false);
    }
  }

  try {
    if (start.type === "dir") {
      const base = options.subpath && options.subpath !== "/" ? options.subpath.replace(/\/+$/, "") : "/";
      await walk(start, base, target, false, () => true, () => targetFresh);
    } else {
      restoreEntry(`${target}/${start.name}`, start, targetFresh);
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

  // Directory metadata last, deepest first.
  for (let i = dirMeta.length - 1; i >= 0; i--) setMeta(dirMeta[i][0], dirMeta[i][1]);
  emit({ type: "done", phase: "restore" });
  return result;
}
