/**
 * btrfs snapshots (`btrfs-progs`, run with explicit arguments): for each path, the subvolume holding it
 * (the highest directory above it on the same device, which must be the subvolume's root) gets a read-only
 * snapshot at `SUBVOLUME/.floe-snapshots/floe-HOST-PID-TIME` (TIME: when the run began, in ms), and the run
 * holds an exclusive lock on `floe-HOST-PID-TIME.lock` beside it while it lives; the kernel drops the lock
 * when the process dies, however it dies. A later run on this host deletes every snapshot there whose lock
 * it can take — what a `kill -9` left. (Deno denies /proc to a process without --allow-all, so the lock,
 * not the PID, tells whether the owner still runs.)
 *
 * With `hold` (`--fs-snapshot-lock`), the lock is taken once everything else is ready and released as
 * soon as the last snapshot exists.
 *
 * Nested subvolumes below a path appear in their parent's snapshot as empty directories, so each gets its
 * own snapshot too (unless `nested` is false: `--one-file-system` does not enter them anyway). Snapshots of
 * several subvolumes are taken one after the other, not atomically together.
 *
 * @example
 * ```ts
 * import { btrfs } from "./btrfs.ts";
 * const set = await btrfs.take(["/srv/data"], { nested: true, warn: console.error });
 * await set.release();
 * ```
 * @module
 */
import { FloeError } from "../../core/errors.ts";
import type { FsSnapshotSet, FsSnapshotter, TakeOptions } from "./mod.ts";

/** Where a subvolume's snapshots are kept, below its root. */
export const SNAPSHOT_DIR = ".floe-snapshots";

/** A btrfs subvolume's root directory holds this inode number. */
const SUBVOLUME_ROOT_INODE = 256;

/** The owner of a snapshot, as its name records it. */
export interface Owner {
  host: string;
  pid: number;
  /** When the run began (ms since the epoch): two runs of one PID make two names. */
  start: string;
}

/**
 * The snapshot name for `owner`: `floe-HOST-PID-START` (the host with anything but `[A-Za-z0-9._]`
 * written `_`).
 *
 * @example
 * ```ts
 * import { snapshotName } from "./btrfs.ts";
 * snapshotName({ host: "db-1", pid: 42, start: "9001" }); // "floe-db_1-42-9001"
 * ```
 */
export function snapshotName(owner: Owner): string {
  return `floe-${hostPart(owner.host)}-${owner.pid}-${owner.start}`;
}

/**
 * The owner a snapshot name records, or `null` for a name floe does not make.
 *
 * @example
 * ```ts
 * import { parseSnapshotName } from "./btrfs.ts";
 * parseSnapshotName("floe-db_1-42-9001"); // { host: "db_1", pid: 42, start: "9001" }
 * ```
 */
export function parseSnapshotName(name: string): Owner | null {
  const m = /^floe-([A-Za-z0-9._]+)-([1-9]\d{0,9})-(\d{1,20})$/.exec(name);
  return m ? { host: m[1], pid: Number(m[2]), start: m[3] } : null;
}

function hostPart(host: string): string {
  return host.replace(/[^A-Za-z0-9._]/g, "_") || "_";
}

/** This run, as a snapshot name records it. */
function self(): Owner {
  return { host: hostPart(Deno.hostname()), pid: Deno.pid, start: String(Date.now()) };
}

/** Whether the run that owns the snapshot `at` has ended: its lock file can be locked (or is gone). */
function ownerGone(at: string): boolean {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(`${at}.lock`, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return true;
    throw e;
  }
  try {
    return file.tryLockSync(true);
  } finally {
    file.close();
  }
}

async function run(args: string[]): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("btrfs", { args, stdin: "null", stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new FloeError(
        "--fs-snapshot btrfs: the btrfs command is missing (install btrfs-progs)",
        "failed",
      );
    }
    throw e;
  }
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim().split("\n").pop()?.replace(/^ERROR: /, "");
    throw new FloeError(`btrfs ${args.slice(0, 2).join(" ")} ${args.at(-1)}: ${why || `exit ${out.code}`}`);
  }
  return new TextDecoder().decode(out.stdout);
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

/** The root of the subvolume holding `path`, and its path from the file system's top level. */
async function subvolumeOf(path: string): Promise<{ root: string; rel: string }> {
  let dir = path;
  let st: Deno.FileInfo;
  try {
    st = Deno.lstatSync(dir);
  } catch {
    throw new FloeError(`${path}: no such file or directory`, "failed");
  }
  if (!st.isDirectory) st = Deno.statSync(dir = parentOf(dir));
  while (dir !== "/") {
    const up = Deno.statSync(parentOf(dir));
    if (up.dev !== st.dev) break;
    dir = parentOf(dir);
    st = up;
  }
  let shown: string;
  try {
    shown = await run(["subvolume", "show", dir]);
  } catch (e) {
    const why = (e as Error).message;
    throw new FloeError(
      /not a btrfs filesystem/i.test(why)
        ? `${path}: not on btrfs (--fs-snapshot btrfs)`
        : `${path}: no btrfs subvolume root above it (${why})`,
      "usage",
    );
  }
  if (st.ino !== SUBVOLUME_ROOT_INODE) {
    throw new FloeError(`${path}: ${dir} is not the root of its btrfs subvolume (a bind mount?)`, "usage");
  }
  const rel = shown.split("\n")[0].trim();
  return { root: dir, rel: rel === "/" ? "" : rel };
}

/**
 * The roots of the subvolumes right below `sub` (not the snapshots floe keeps). `list -o` names them from
 * the file system's top level, as `subvolume show` names `sub`.
 */
async function nestedIn(sub: { root: string; rel: string }): Promise<string[]> {
  const out: string[] = [];
  for (const line of (await run(["subvolume", "list", "-o", sub.root])).split("\n")) {
    const m = / path (.+)$/.exec(line);
    if (!m) continue;
    const p = m[1];
    if (sub.rel && !p.startsWith(sub.rel + "/")) continue;
    const below = sub.rel ? p.slice(sub.rel.length + 1) : p;
    if (below.split("/").includes(SNAPSHOT_DIR)) continue;
    out.push(`${sub.root === "/" ? "" : sub.root}/${below}`);
  }
  return out;
}

function within(path: string, dir: string): boolean {
  return path === dir || dir === "/" || path.startsWith(dir + "/");
}

function removeLock(at: string): void {
  try {
    Deno.removeSync(`${at}.lock`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/**
 * Deletes the snapshots in `dir` that this host's runs no longer running left, and their lock files — also
 * one without its snapshot: a run killed before its snapshot (while it waited for `hold`) leaves only that.
 */
async function removeStale(dir: string, me: Owner, warn: (m: string) => void): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  const snapshots = new Set(entries.filter((e) => e.isDirectory).map((e) => e.name));
  for (const name of snapshots) {
    const owner = parseSnapshotName(name);
    if (!owner || owner.host !== me.host || !ownerGone(`${dir}/${name}`)) continue;
    await run(["subvolume", "delete", `${dir}/${name}`]);
    removeLock(`${dir}/${name}`);
    warn(`removed the btrfs snapshot ${dir}/${name} left by an interrupted run (pid ${owner.pid})`);
  }
  for (const e of entries) {
    if (!e.isFile || !e.name.endsWith(".lock")) continue;
    const name = e.name.slice(0, -".lock".length);
    const owner = parseSnapshotName(name);
    if (!owner || owner.host !== me.host || snapshots.has(name) || !ownerGone(`${dir}/${name}`)) continue;
    removeLock(`${dir}/${name}`);
  }
}

async function take(paths: string[], options: TakeOptions): Promise<FsSnapshotSet> {
  const me = self();
  const subvolumes = new Map<string, { root: string; rel: string }>();
  for (const path of paths) {
    const sub = await subvolumeOf(path);
    subvolumes.set(sub.root, sub);
  }
  if (options.nested) {
    const todo = [...subvolumes.values()];
    for (let sub; (sub = todo.pop());) {
      for (const root of await nestedIn(sub)) {
        if (subvolumes.has(root) || !paths.some((p) => within(root, p))) continue;
        try {
          if (Deno.lstatSync(root).ino !== SUBVOLUME_ROOT_INODE) continue; // not reachable at that path
        } catch {
          continue;
        }
        const nested = await subvolumeOf(root);
        subvolumes.set(root, nested);
        todo.push(nested);
      }
    }
  }
  const made: { path: string; at: string }[] = [];
  const locks = new Map<string, Deno.FsFile>();
  const set: FsSnapshotSet = {
    readAt: made,
    hide: [...subvolumes.keys()].map((root) => `${root === "/" ? "" : root}/${SNAPSHOT_DIR}`),
    async release() {
      const failed: string[] = [];
      for (const m of made.splice(0).reverse()) {
        try {
          await run(["subvolume", "delete", m.at]);
        } catch (e) {
          failed.push((e as Error).message);
        }
      }
      // A snapshot that could not be deleted loses its lock too: the next run deletes it.
      for (const [at, lock] of locks) {
        lock.close();
        removeLock(at);
      }
      locks.clear();
      if (failed.length) throw new FloeError(`could not delete a snapshot: ${failed.join("; ")}`);
    },
  };
  try {
    const todo: { path: string; at: string }[] = [];
    for (const root of subvolumes.keys()) {
      const dir = `${root === "/" ? "" : root}/${SNAPSHOT_DIR}`;
      await removeStale(dir, me, options.warn);
      // 0700: a snapshot holds every file of the subvolume, whatever the modes of the directories above.
      Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const at = `${dir}/${snapshotName(me)}`;
      const lock = Deno.openSync(`${at}.lock`, { write: true, createNew: true, mode: 0o600 });
      locks.set(at, lock);
      lock.lockSync(true);
      todo.push({ path: root, at });
    }
    // Only the snapshots themselves happen under `hold` (a database's lock): nothing slower.
    const held = await options.hold?.();
    let failure: unknown;
    try {
      for (const t of todo) {
        await run(["subvolume", "snapshot", "-r", t.path, t.at]);
        made.push(t);
      }
    } catch (e) {
      failure = e;
    }
    try {
      await held?.release();
    } catch (e) {
      failure ??= e;
    }
    if (failure) throw failure;
  } catch (e) {
    await set.release().catch(() => {});
    throw e;
  }
  return set;
}

/**
 * The btrfs snapshotter (see the module doc).
 *
 * @example
 * ```ts
 * import { btrfs } from "./btrfs.ts";
 * btrfs.name; // "btrfs"
 * ```
 */
export const btrfs: FsSnapshotter = { name: "btrfs", take };
