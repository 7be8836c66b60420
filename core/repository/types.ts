/**
 * The data model stored in a repository: blobs, tree nodes, snapshots, index entries.
 *
 * @example
 * ```ts
 * import type { Snapshot } from "./types.ts";
 * const s: Partial<Snapshot> = { host: "web1", paths: ["/srv"] };
 * ```
 * @module
 */
import type { EntryType } from "../contracts.ts";

/** Blob kinds: file content, or a directory listing. */
export type BlobType = "data" | "tree";

/** Where a blob lives. */
export interface IndexEntry {
  /** Keyed blob id (HMAC-SHA-256 of the plaintext), hex. */
  id: string;
  /** Blob kind. */
  type: BlobType;
  /** Pack id (SHA-256 of the pack object), hex. */
  pack: string;
  /** Byte offset of the sealed blob in its pack. */
  offset: number;
  /** Sealed length in bytes. */
  length: number;
  /** Plaintext length in bytes. */
  rawLength: number;
  /** Whether the plaintext was compressed before sealing. */
  compressed: boolean;
}

/** One entry of a directory listing (a tree blob). */
export interface Node {
  /** File name; never empty, `.`, `..`, nor containing `/` or NUL. */
  name: string;
  /** Entry kind. */
  type: EntryType;
  /** Permission bits including setuid/setgid/sticky. */
  mode: number;
  /** Modification time, ms since the epoch. */
  mtime: number;
  /** Status change time, ms since the epoch (change detection only). */
  ctime?: number;
  /** Owner. */
  uid?: number;
  /** Group. */
  gid?: number;
  /** Content size (files). */
  size?: number;
  /** Inode (change detection, hardlinks). */
  inode?: number;
  /** Device (hardlinks). */
  device?: number;
  /** Link count (hardlinks). */
  links?: number;
  /** Device number of char/block devices. */
  rdev?: number;
  /** Symlink target. */
  linkTarget?: string;
  /** The source's version stamp of the content (change detection), see `SourceEntry.changeToken`. */
  changeToken?: string;
  /** The source's metadata of the entry (content headers, user metadata…), see `SourceEntry.meta`. */
  meta?: Record<string, string>;
  /** Content blob ids in order (files). */
  content?: string[];
  /** Tree blob id (directories). */
  subtree?: string;
  // File-system fidelity (docs/repository_format.md, "Node fields for fidelity"): written by the fs source
  // when libc is reachable; a tree holding any of them has `version` 2.
  /**
   * The name's raw bytes (base64), when it is not shown as it is: not UTF-8, a control character, or a
   * leading `"`. `name` then holds the quoted form (`quoteName`), which is reversible and unique.
   */
  nameBytes?: string;
  /** The symlink target's raw bytes (base64), when `linkTarget` is its quoted form. */
  targetBytes?: string;
  /** Modification time, ns since the epoch, as a decimal string (may be negative). */
  mtimeNs?: string;
  /** Access time, ns since the epoch, as a decimal string. */
  atimeNs?: string;
  /** Status change time, ns since the epoch, as a decimal string (change detection only). */
  ctimeNs?: string;
  /** Birth time, ns since the epoch, as a decimal string, where the file system reports it (not restored). */
  btimeNs?: string;
  /** Extended attributes (ACLs are `system.posix_acl_*`), `[name, value]` in base64, sorted by name bytes. */
  xattrs?: [string, string][];
  /** Inode flags (`FS_IOC_GETFLAGS`, e.g. immutable 0x10, append-only 0x20, nodump 0x40), when not 0. */
  flags?: number;
}

/** The newest tree format version this build reads; see {@link Tree.version}. */
export const TREE_VERSION = 2;

/** A directory listing: nodes sorted by name. */
export interface Tree {
  /**
   * Format version: absent (1) when no node has a field of {@link TREE_VERSION} 2 (`nameBytes`,
   * `targetBytes`, `*Ns`, `xattrs`, `flags`); 2 when one has. A reader refuses a version above its own.
   */
  version?: number;
  /** Entries, sorted by name (code unit order). */
  nodes: Node[];
}

/** Statistics of the backup run that made a snapshot (restic's field names). */
export interface BackupSummary {
  /** Files not in the parent snapshot. */
  files_new: number;
  /** Files changed since the parent. */
  files_changed: number;
  /** Files unchanged since the parent. */
  files_unmodified: number;
  /** Directories not in the parent. */
  dirs_new: number;
  /** Directories changed since the parent. */
  dirs_changed: number;
  /** Directories unchanged since the parent. */
  dirs_unmodified: number;
  /** Blobs stored by this run. */
  data_blobs: number;
  /** Tree blobs stored by this run. */
  tree_blobs: number;
  /** Bytes added to the repository (after compression and encryption). */
  data_added: number;
  /** Bytes added before compression. */
  data_added_raw: number;
  /** Files looked at. */
  total_files_processed: number;
  /** Bytes of all files looked at. */
  total_bytes_processed: number;
  /** Seconds the backup took. */
  total_duration: number;
  /** Entries that could not be read. */
  errors: number;
}

/** A snapshot: the root of one backup. */
export interface Snapshot {
  /** Format version of this object. */
  version: 1;
  /** When the backup was taken, ISO 8601 with offset. */
  time: string;
  /** Machine name. */
  host: string;
  /** User who ran it. */
  username: string;
  /** Paths given to the source. */
  paths: string[];
  /** Tags. */
  tags: string[];
  /** Root tree id. */
  tree: string;
  /** Parent snapshot id, when one was used for change detection. */
  parent?: string;
  /** For a snapshot written by `repair snapshots`: the id of the damaged snapshot it replaces. */
  original?: string;
  /** Source plugin that produced it. */
  source: string;
  /** Run statistics. */
  summary?: BackupSummary;
  /** floe version. */
  program_version: string;
}

/** Contents of an index file. */
export interface IndexFile {
  /** Format version. */
  version: 1;
  /** Index files this one replaces (written by prune / repair). */
  supersedes?: string[];
  /** Packs and their blobs. */
  packs: { id: string; size: number; blobs: Omit<IndexEntry, "pack">[] }[];
}
