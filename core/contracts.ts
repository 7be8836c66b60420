/**
 * The three plugin contracts of floe: storage, source and transform.
 *
 * This is the only module a plugin needs to import. Every plugin module's default export is a
 * factory `(options) => Plugin`; the plugin object carries `kind`, `name` and `apiVersion`, and the
 * registry ({@link ../core/registry.ts}) refuses one that does not satisfy its contract.
 *
 * @module
 */

/** The contract version this build of floe speaks. A plugin declares the version it was written for. */
export const API_VERSION = 1 as const;

/** What every plugin object carries. */
export interface PluginBase {
  /** Which contract the plugin implements. */
  readonly kind: "storage" | "source" | "transform";
  /** A short name, e.g. `local`, `fs`, `zstd`. */
  readonly name: string;
  /** The contract version the plugin implements; must equal {@link API_VERSION}. */
  readonly apiVersion: number;
}

/** A plugin module's default export: a factory that builds the plugin from its options. */
export type PluginFactory<P extends PluginBase = PluginBase, O = Record<string, unknown>> = (
  options?: O,
) => P | Promise<P>;

// ---------------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------------

/** Why a storage operation failed; wrappers decide from this whether to retry. */
export type StorageErrorCode =
  /** The object does not exist. */
  | "not-found"
  /** The object exists and the storage refused to replace it (only with `put(..., {create: true})`). */
  | "exists"
  /** A passing fault: 5xx, 429/SlowDown, reset, timeout, truncated body. Worth retrying. */
  | "transient"
  /** Credentials refused. Not worth retrying. */
  | "auth"
  /** Anything else that will not go away by retrying. */
  | "permanent";

/**
 * The one error type storage plugins throw.
 *
 * @example
 * ```ts
 * import { StorageError } from "./contracts.ts";
 * throw new StorageError("not-found", "data/ab/abcd: no such object");
 * ```
 */
export class StorageError extends Error {
  /** Why it failed. */
  readonly code: StorageErrorCode;
  /** Build one; `cause` keeps the underlying error for `-v` output. */
  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StorageError";
    this.code = code;
  }
}

/**
 * Whether `e` is a storage error (with `code`, when given). Recognised by `name` and `code`, never by
 * `instanceof`: a plugin written without importing floe throws a plain `Error` named `StorageError`.
 *
 * @example
 * ```ts
 * import { isStorageError, type StoragePlugin } from "./contracts.ts";
 * declare const storage: StoragePlugin;
 * const config = await storage.get("config").catch((e) => {
 *   if (isStorageError(e, "not-found")) return null;
 *   throw e;
 * });
 * ```
 */
export function isStorageError(e: unknown, code?: StorageErrorCode): e is StorageError {
  const err = e as { name?: unknown; code?: unknown } | null;
  return !!err && err.name === "StorageError" && typeof err.code === "string" &&
    (code === undefined || err.code === code);
}

/** What a storage can do; callers adapt to it. */
export interface StorageCapabilities {
  /** The largest object `put` accepts, in bytes. */
  readonly maxObjectSize: number;
  /** `put(name, data, {create: true})` fails with `exists` atomically when the object exists. */
  readonly atomicCreate: boolean;
  /** How many requests to keep in flight for good throughput. */
  readonly concurrency: number;
  /**
   * The storage writes objects through temporary objects (last name segment `.tmp-…`, in the object's
   * directory) that an interrupted write can leave behind, and lists them with
   * `list(prefix, {temporaries: true})`; `check` reports them and `prune` deletes (with `delete`) those
   * older than the stale-lock age. Absent or false: it leaves none (S3, Swift: a PUT is atomic).
   */
  readonly temporaries?: boolean;
}

/** An object's name and size, as `list` and `stat` report them. */
export interface ObjectInfo {
  /** The full object name, e.g. `data/ab/ab12…`. */
  readonly name: string;
  /** Its size in bytes. */
  readonly size: number;
  /** Last modification, ms since the epoch: required of temporary objects (`list` with `temporaries`). */
  readonly mtime?: number;
}

/** Options common to all storage calls. */
export interface CallOptions {
  /** Aborts the call. */
  readonly signal?: AbortSignal;
}

/** Options of {@link StoragePlugin.list}. */
export interface ListOptions extends CallOptions {
  /**
   * List, instead of the objects, the temporary objects interrupted writes left under the prefix, each
   * with its `mtime` (only where `capabilities.temporaries` holds). Callers accept only names whose last
   * segment starts with `.tmp-`, so a storage that ignores the option cannot make them delete an object.
   */
  readonly temporaries?: boolean;
}

/** Options of {@link StoragePlugin.put}. */
export interface PutOptions extends CallOptions {
  /** Fail with `exists` rather than replace an existing object (where `atomicCreate` holds). */
  readonly create?: boolean;
}

/** Options of {@link StoragePlugin.get}. */
export interface GetOptions extends CallOptions {
  /** Read `length` bytes from `offset` only. */
  readonly range?: { readonly offset: number; readonly length: number };
  /**
   * A buffer the caller lends for the result. A storage may read into it and return a view of it, or
   * ignore it and return memory of its own; it may also detach it (a BYOB stream read transfers its
   * buffer). Either way the returned bytes belong to the caller, who reuses the result's memory, never
   * the lent view after the call. Lets a restore read its pack regions without a fresh allocation each.
   */
  readonly into?: Uint8Array;
}

/**
 * A dumb store of named, immutable objects. It knows nothing of chunks, packs or crypto.
 * Object names are relative, `/`-separated, and made of `[A-Za-z0-9._-]` segments.
 * Writes are atomic: an object is either absent or complete.
 */
export interface StoragePlugin extends PluginBase {
  /** Always `storage`. */
  readonly kind: "storage";
  /** Where it stores, for messages; never contains a secret. */
  readonly location: string;
  /** What it can do. */
  readonly capabilities: StorageCapabilities;
  /** Make the place (directory, bucket, container) when missing. Called by `floe init`. */
  create(options?: CallOptions): Promise<void>;
  /** Store `data` under `name`, atomically. */
  put(name: string, data: Uint8Array, options?: PutOptions): Promise<void>;
  /** Read an object, or a range of it. Throws `not-found` when absent. */
  get(name: string, options?: GetOptions): Promise<Uint8Array>;
  /** An object's size. Throws `not-found` when absent. */
  stat(name: string, options?: CallOptions): Promise<ObjectInfo>;
  /**
   * Every object whose name starts with `prefix` (e.g. `snapshots/`), in no particular order; never a
   * temporary object of a write in progress or interrupted (but see {@link ListOptions.temporaries}).
   */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo>;
  /** Remove an object (or a temporary object `list` reported); removing an absent object is not an error. */
  delete(name: string, options?: CallOptions): Promise<void>;
  /** Release connections. */
  close?(): Promise<void>;
  /**
   * The storages of a storage that keeps the same objects on several (a mirror), in read order: `check`
   * compares them and `mirror sync` copies what some lack. Absent on a single storage.
   */
  readonly members?: readonly StoragePlugin[];
}

// ---------------------------------------------------------------------------------------------
// Transform
// ---------------------------------------------------------------------------------------------

/** Per-call context of a transform. */
export interface TransformContext {
  /** Data bound to the output without being stored in it (ciphers authenticate it). */
  readonly associatedData?: Uint8Array;
  /**
   * A buffer the caller lends for the output. A transform may write its output there and return a view
   * of it (the caller then consumes or copies the result before it lends the buffer again), or ignore it
   * and return memory of its own. Lets hot paths run without a fresh allocation per blob.
   */
  readonly into?: Uint8Array;
  /** The decoded length, when the caller knows it (`decode` only): lets a decoder size its output once. */
  readonly outputLength?: number;
}

/**
 * A per-blob byte transform: compression or encryption. Its `id` is recorded in the repository so a
 * repository always knows how to read itself back.
 */
export interface TransformPlugin extends PluginBase {
  /** Always `transform`. */
  readonly kind: "transform";
  /** Stable identifier recorded in the repository, e.g. `zstd`, `aes-256-gcm`. */
  readonly id: string;
  /** `compression` transforms may be skipped per blob when they do not help; `cipher` never. */
  readonly role: "compression" | "cipher";
  /**
   * Encode one blob. The caller may reuse `data`'s memory as soon as `encode` returns (before a returned
   * promise settles): read it synchronously, or copy it first.
   */
  encode(data: Uint8Array, context?: TransformContext): Uint8Array | Promise<Uint8Array>;
  /** Decode one blob; ciphers throw when the data was altered. */
  decode(data: Uint8Array, context?: TransformContext): Uint8Array | Promise<Uint8Array>;
}

// ---------------------------------------------------------------------------------------------
// Source
// ---------------------------------------------------------------------------------------------

/** Kinds of entries a source yields. */
export type EntryType = "file" | "dir" | "symlink" | "fifo" | "socket" | "chardev" | "blockdev";

/** Reads an entry's content. `read` fills `into` from its start and returns the count, or null at end. */
export interface ContentReader {
  /** Fill `into`; return how many bytes were written, or `null` at the end. */
  read(into: Uint8Array): number | null | Promise<number | null>;
  /** Release the handle. */
  close(): void | Promise<void>;
}

/**
 * One entry of a source, yielded in pre-order: a directory before what it contains, the contents of
 * one directory sorted by name, each directory's subtree complete before its next sibling.
 */
export interface SourceEntry {
  /** `/`-separated absolute path, e.g. `/home/ann/notes.txt`; for non-file sources a virtual path. */
  readonly path: string;
  /** Entry kind. */
  readonly type: EntryType;
  /** Content size in bytes (files). */
  readonly size: number;
  /** Modification time, milliseconds since the epoch. */
  readonly mtime: number;
  /** Access time, milliseconds since the epoch. */
  readonly atime?: number;
  /** Status change time, milliseconds since the epoch. */
  readonly ctime?: number;
  /** Permission bits including setuid/setgid/sticky (`mode & 0o7777`). */
  readonly mode: number;
  /** Owner. */
  readonly uid?: number;
  /** Group. */
  readonly gid?: number;
  /** Inode number, for change detection and hardlinks. */
  readonly inode?: number;
  /** Device number, for hardlinks and `--one-file-system`. */
  readonly device?: number;
  /** Link count; above 1 on a file means it may be hardlinked. */
  readonly links?: number;
  /** Device number of a char/block device. */
  readonly rdev?: number;
  /** Target of a symlink. */
  readonly linkTarget?: string;
  /**
   * What the source knows about the entry beyond the fields above, as short text pairs recorded in the
   * snapshot and handed back to {@link SourcePlugin.restore}: an object's content headers and user
   * metadata, a table's row count. Keys are lower-case names (`content-type`, `x-meta-owner`); keep it
   * small (a few hundred bytes). For a file whose metadata is only known once its content is read (a
   * GET's headers), the source may fill it in during {@link open}: the engine reads `meta` after the
   * content; when the engine reuses the parent's content (see {@link changeToken}) it keeps the parent's
   * `meta`.
   */
  readonly meta?: Readonly<Record<string, string>>;
  /**
   * A version stamp of the content (an ETag, a version id, a log position) for sources whose entries
   * have no inode and ctime. When it equals the token recorded in the parent snapshot and the size and
   * mtime are the same, the engine reuses the parent's content without calling {@link open}. A source
   * that sets it may see `open()` called ahead of the read, for several entries at once (so that it can
   * fetch them concurrently); their readers are read one at a time, in order.
   */
  readonly changeToken?: string;
  /**
   * Opens the content (files only). Called as a method of the entry, `entry.open()`, or of a copy made by
   * spread: a source may keep what it needs on the entry itself (the fs source does, under a symbol) rather
   * than in a closure per entry.
   */
  open?(): ContentReader | Promise<ContentReader>;
  /**
   * The content's path on this machine's filesystem, when the engine may read it directly (on a worker
   * thread, in parallel) instead of through {@link open}. Only for plain local files.
   */
  readonly localPath?: string;
  // File-system fidelity: what a source that reaches the OS directly (the fs source with libc) adds.
  /**
   * The name's raw bytes, when it is not shown as it is (not UTF-8, a control character, a leading `"`):
   * the last segment of `path` is then its quoted form (`quoteName` of core/platform/names.ts).
   */
  readonly nameBytes?: Uint8Array;
  /** The symlink target's raw bytes, when `linkTarget` is its quoted form. */
  readonly targetBytes?: Uint8Array;
  /** Modification time, ns since the epoch, as a decimal string. */
  readonly mtimeNs?: string;
  /** Access time, ns since the epoch, as a decimal string. */
  readonly atimeNs?: string;
  /** Status change time, ns since the epoch, as a decimal string: what change detection compares. */
  readonly ctimeNs?: string;
  /** Birth time, ns since the epoch, as a decimal string, where the file system reports it. */
  readonly btimeNs?: string;
  /**
   * Reads the entry's extended attributes (ACLs included) and inode flags. The engine calls it only for an
   * entry that changed since the parent snapshot (their values are copied from it otherwise), since it
   * costs system calls; warnings go to `warn`. Called as a method of the entry, as {@link open}.
   *
   * For an entry read through {@link localPath} the engine may pass `read`: every extended attribute and the
   * inode flags of the file as a file worker read them on the open file. The source then keeps what it would
   * have read (its filters apply) instead of reading them again. Without `read`, it reads them itself.
   */
  attributes?(warn: (message: string) => void, read?: EntryAttributes): EntryAttributes;
}

/** What {@link SourceEntry.attributes} reads. */
export interface EntryAttributes {
  /** Extended attributes, `[name, value]` as raw bytes. */
  readonly xattrs?: readonly (readonly [Uint8Array, Uint8Array])[];
  /** Inode flags (`FS_IOC_GETFLAGS`). */
  readonly flags?: number;
}

/** Something the source could not read; the run goes on and ends with exit code 3. */
export interface SourceWarning {
  /** The path concerned. */
  readonly path: string;
  /** What went wrong. */
  readonly message: string;
}

/** Per-run context handed to a source. */
export interface ScanContext {
  /** Aborts the scan, and the reading of the content of its entries (which may go on after the scan ended). */
  readonly signal?: AbortSignal;
  /** Report an entry that could not be read; it is left out of the snapshot. */
  warn(warning: SourceWarning): void;
}

/** Entries handed to {@link SourcePlugin.restore}, with their content. */
export interface RestoreEntry extends Omit<SourceEntry, "open"> {
  /** Opens the backed-up content (files only). */
  open?(): ContentReader;
}

/** What the archiver may assume of a source's pace (see {@link SourcePlugin.capabilities}). */
export interface SourceCapabilities {
  /**
   * Content is read over a network (a bucket, a remote server), at a pace the main thread keeps up with:
   * the archiver compresses and seals on the main thread instead of on encoder workers, and fills one pack
   * buffer, uploads it, then fills it again. A bucket backup peaked about 60 MiB lower (the workers'
   * isolates and two pack buffers) at the same speed. Absent or false: the pace of local disks, for which
   * it adds encoder workers and overlaps uploads as they fall behind.
   */
  readonly remote?: boolean;
}

/**
 * Where data comes from: a directory tree, a bucket, a database dump. `scan()` yields entries;
 * `restore()` (optional) writes them back somewhere other than a plain directory.
 */
export interface SourcePlugin extends PluginBase {
  /** Always `source`. */
  readonly kind: "source";
  /** The paths recorded in the snapshot (e.g. the directories given to `floe backup`). */
  readonly paths: readonly string[];
  /** Hints on the source's pace; absent means a local source. */
  readonly capabilities?: SourceCapabilities;
  /** Yield every entry, in pre-order (see {@link SourceEntry}). */
  scan(context: ScanContext): AsyncIterable<SourceEntry> | Iterable<SourceEntry>;
  /** Write entries back into the source's own kind of place (a database, a bucket). */
  restore?(entries: AsyncIterable<RestoreEntry>, context: ScanContext): Promise<void>;
}

/** Any plugin. */
export type Plugin = StoragePlugin | SourcePlugin | TransformPlugin;
