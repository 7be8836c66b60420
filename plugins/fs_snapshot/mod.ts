/**
 * File-system snapshots for `floe backup --fs-snapshot KIND PATH…`: a {@link FsSnapshotter} makes a
 * read-only snapshot of what holds each path, the fs source reads from it (its `readAt` option) while the
 * snapshot records the original paths, and {@link FsSnapshotSet.release} deletes it afterwards.
 *
 * Kinds: `btrfs` ({@link ./btrfs.ts}). LVM would be a second module behind the same contract; it is not
 * written, because this project's machines have no device-mapper to test it on.
 *
 * A {@link SnapshotLock} (`--fs-snapshot-lock URL`) is held across the snapshots only — taken once every
 * path is resolved, released right after the last snapshot: `mysql://` and `mariadb://`,
 * `FLUSH TABLES WITH READ LOCK` ({@link ./mysql_lock.ts}).
 *
 * @example
 * ```ts
 * import { fsSnapshotter } from "./mod.ts";
 * const btrfs = await fsSnapshotter("btrfs");
 * const set = await btrfs.take(["/srv/data"], { nested: true, warn: console.error });
 * try {
 *   console.log(set.readAt); // [{ path: "/srv", at: "/srv/.floe-snapshots/floe-host-123-456" }]
 * } finally {
 *   await set.release();
 * }
 * ```
 * @module
 */
import { FloeError } from "../../core/errors.ts";

/** The snapshots made for one run. */
export interface FsSnapshotSet {
  /** Each snapshotted directory and where its snapshot is mounted: the fs source's `readAt`. */
  readonly readAt: { path: string; at: string }[];
  /** Absolute paths the walk leaves out: where the snapshots are kept. */
  readonly hide: string[];
  /** Deletes every snapshot of the set (again: nothing); throws one error naming those it could not. */
  release(): Promise<void>;
}

/** Options of {@link FsSnapshotter.take}. */
export interface TakeOptions {
  /** Snapshot also the nested subvolumes (or volumes) below the paths; false with `--one-file-system`. */
  nested: boolean;
  /** A line for the user (e.g. a snapshot left by a killed run was removed). */
  warn(message: string): void;
  /**
   * Held across the snapshots: called once every path is resolved and the snapshots killed runs left are
   * gone, right before the first snapshot; released right after the last one, also when one failed. A
   * release that throws fails the take and deletes the snapshots (not taken under the lock throughout,
   * they may be inconsistent).
   */
  hold?: () => Promise<{ release(): Promise<void> }>;
}

/** A kind of file-system snapshot. */
export interface FsSnapshotter {
  /** The kind, as `--fs-snapshot` names it. */
  readonly name: string;
  /**
   * Snapshots what holds each absolute path, first deleting the snapshots this host's killed runs left
   * there. A path it cannot snapshot throws a one-line {@link FloeError}, with nothing left behind.
   */
  take(paths: string[], options: TakeOptions): Promise<FsSnapshotSet>;
}

const kinds: Record<string, () => Promise<FsSnapshotter>> = {
  btrfs: async () => (await import("./btrfs.ts")).btrfs,
};

/**
 * The snapshotter of a kind; an unknown kind is a usage error naming those there are.
 *
 * @example
 * ```ts
 * import { fsSnapshotter } from "./mod.ts";
 * (await fsSnapshotter("btrfs")).name; // "btrfs"
 * ```
 */
export async function fsSnapshotter(kind: string): Promise<FsSnapshotter> {
  const load = Object.hasOwn(kinds, kind) ? kinds[kind] : undefined;
  if (!load) {
    throw new FloeError(
      `--fs-snapshot: unknown kind '${kind}' (known: ${Object.keys(kinds).join(", ")})`,
      "usage",
    );
  }
  return await load();
}

/** Options of {@link SnapshotLock.acquire}. */
export interface AcquireOptions {
  /** The absolute paths about to be snapshotted (to check they hold what the lock protects). */
  paths: string[];
  /** Aborts the wait for the lock (SIGINT, SIGTERM): nothing is held then. */
  signal?: AbortSignal;
  /** A warning for the user. */
  warn(message: string): void;
  /** A line of information for the user (how long the lock was held). */
  info(message: string): void;
}

/** A lock held while the snapshots are taken, e.g. a database server's `FLUSH TABLES WITH READ LOCK`. */
export interface SnapshotLock {
  /** Takes the lock; throws a one-line {@link FloeError}, with nothing held, when it is not had in time. */
  acquire(options: AcquireOptions): Promise<HeldLock>;
}

/** A lock that is held. */
export interface HeldLock {
  /** Tags for the snapshot: what the lock recorded (e.g. `mysql-binlog=FILE:POS`). */
  readonly tags: string[];
  /** Releases the lock (again: nothing); throws when it was not held until now. */
  release(): Promise<void>;
}

/** Options of {@link snapshotLock}. */
export interface LockOptions {
  /** A file whose first line is the password. */
  passwordFile?: string;
  /** How long to wait for the lock. */
  timeoutMs?: number;
}

/**
 * The lock named by a URL (`mysql://…`, `mariadb://…`); another scheme is a usage error.
 *
 * @example
 * ```ts
 * import { snapshotLock } from "./mod.ts";
 * const lock = await snapshotLock("mysql://backup@127.0.0.1:3306", { timeoutMs: 30_000 });
 * ```
 */
export async function snapshotLock(url: string, options: LockOptions): Promise<SnapshotLock> {
  if (/^(mysql|mariadb):/i.test(url)) {
    const { mysqlLock } = await import("./mysql_lock.ts");
    return mysqlLock({ url, ...options });
  }
  throw new FloeError(
    `--fs-snapshot-lock: '${url.split(":")[0]}:' is not a server floe can lock (known: mysql://, mariadb://)`,
    "usage",
  );
}

/**
 * `path` as a glob that matches only itself (the fs source's excludes are globs).
 *
 * @example
 * ```ts
 * import { literalGlob } from "./mod.ts";
 * literalGlob("/srv/a[1]"); // "/srv/a\\[1\\]"
 * ```
 */
export function literalGlob(path: string): string {
  return path.replace(/[\\*?[\]{}()!+@|^$]/g, "\\$&");
}
