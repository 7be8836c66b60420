/**
 * `stats`: how big the snapshots are and what they cost in the repository.
 *
 * - restore size: the bytes of every file in every snapshot, as a restore would write them (a file in
 *   three snapshots counts three times);
 * - files by contents: distinct file contents (a file is its content blob list) and their size;
 * - raw data: the distinct blobs the snapshots reference — their plaintext size (deduplicated size) and
 *   their stored size (compressed and sealed);
 * - repository: every blob of the index and the packs in storage.
 *
 * Each distinct tree is read once; per-tree totals are memoized.
 *
 * @example
 * ```ts
 * import { stats } from "./stats.ts";
 * // const s = await stats(engine, engine.snapshots());
 * ```
 * @module
 */
import type { CatalogSnapshot } from "./catalog/catalog.ts";
import { type Engine, internals } from "./engine.ts";

/** Which figures {@link stats} computes. */
export type StatsMode = "all" | "restore-size" | "files-by-contents" | "raw";

/** The figures. */
export interface Stats {
  /** Snapshots counted. */
  snapshots: number;
  /** Restore size: files and bytes over all snapshots. */
  restoreSize?: { files: number; bytes: number };
  /** Distinct file contents. */
  filesByContents?: { files: number; bytes: number };
  /** Distinct blobs referenced. */
  raw?: {
    blobs: number;
    dataBlobs: number;
    treeBlobs: number;
    /** Plaintext bytes of those blobs (deduplicated size). */
    rawBytes: number;
    /** Stored bytes of those blobs (after compression and sealing). */
    storedBytes: number;
    /** Referenced blobs missing from the index. */
    missing: number;
  };
  /** The whole repository. */
  repository?: { blobs: number; packs: number; rawBytes: number; storedBytes: number; packBytes: number };
  /** rawBytes / storedBytes of the referenced blobs. */
  compressionRatio?: number;
  /** 1 − stored / restore size: what deduplication and compression save. */
  spaceSaving?: number;
}

/** Computes the figures for `snapshots`. */
export async function stats(
  engine: Engine,
  snapshots: CatalogSnapshot[],
  mode: StatsMode = "all",
  options: { signal?: AbortSignal } = {},
): Promise<Stats> {
  const { catalog } = internals(engine);
  const want = (m: StatsMode) => mode === "all" || mode === m;
  const out: Stats = { snapshots: snapshots.length };
  const totals = new Map<string, { files: number; bytes: number }>();
  const blobs = new Set<string>();
  const contents = new Map<string, number>();
  const needBlobs = want("raw");
  const needContents = want("files-by-contents");

  const visit = async (id: string): Promise<{ files: number; bytes: number }> => {
    const known = totals.get(id);
    if (known) return known;
    options.signal?.throwIfAborted();
    const t = { files: 0, bytes: 0 };
    if (needBlobs) blobs.add(id);
    const tree = await internals(engine).trees.load(id, options.signal);
    for (const n of tree.nodes) {
      if (n.type === "file") {
        t.files++;
        t.bytes += n.size ?? 0;
        if (needBlobs) { for (const c of n.content ?? []) blobs.add(c); }
        if (needContents) contents.set((n.content ?? []).join(""), n.size ?? 0);
      } else if (n.type === "dir" && n.subtree) {
        const sub = await visit(n.subtree);
        t.files += sub.files;
        t.bytes += sub.bytes;
      }
    }
    totals.set(id, t);
    return t;
  };
  const restore = { files: 0, bytes: 0 };
  for (const s of snapshots) {
    const t = await visit(s.snapshot.tree);
    restore.files += t.files;
    restore.bytes += t.bytes;
  }
  if (want("restore-size")) out.restoreSize = restore;
  if (needContents) {
    let bytes = 0;
    for (const size of contents.values()) bytes += size;
    out.filesByContents = { files: contents.size, bytes };
  }
  if (needBlobs) {
    const raw = { blobs: blobs.size, dataBlobs: 0, treeBlobs: 0, rawBytes: 0, storedBytes: 0, missing: 0 };
    for (const id of blobs) {
      const e = catalog.lookupBlob(id);
      if (!e) {
        raw.missing++;
        continue;
      }
      if (e.type === "tree") raw.treeBlobs++;
      else raw.dataBlobs++;
      raw.rawBytes += e.rawLength;
      raw.storedBytes += e.length;
    }
    out.raw = raw;
    if (raw.storedBytes) out.compressionRatio = raw.rawBytes / raw.storedBytes;
    if (restore.bytes) out.spaceSaving = 1 - raw.storedBytes / restore.bytes;
  }
  if (mode === "all") {
    const s = catalog.indexStats();
    let packBytes = 0;
    for await (const o of internals(engine).repo.storage.list("data/")) packBytes += o.size;
    out.repository = { ...s, packBytes };
  }
  return out;
}
