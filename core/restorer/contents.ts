/**
 * Writes file contents for a restore, planned by pack rather than by file: every blob the restored files
 * need is grouped under its pack, neighbouring blobs are read with one ranged request, each blob is
 * decrypted once and written to every (file, offset) that uses it. On object storage this turns one
 * request per blob into about one per pack region; locally it turns many small reads into few large ones.
 * Files are created at their full size first, and all-zero 64 KiB blocks are skipped, so holes stay holes.
 *
 * @example
 * ```ts
 * import { restoreContents } from "./contents.ts";
 * // await restoreContents(repo, catalog, [{ dest: "/tmp/out/a", node }], { onFileDone: (i) => {} });
 * ```
 * @module
 */
import type { Catalog } from "../catalog/catalog.ts";
import { StorageError } from "../contracts.ts";
import { IntegrityError } from "../errors.ts";
import { packName, type Repository } from "../repository/repository.ts";
import type { IndexEntry, Node } from "../repository/types.ts";

/** One regular file to write. */
export interface FileJob {
  /** Target path. */
  dest: string;
  /** Its node (content ids and size). */
  node: Node;
}

/** Options of {@link restoreContents}. */
export interface ContentOptions {
  /** Aborts. */
  signal?: AbortSignal;
  /** Pack regions read at once (default: the storage's preferred concurrency, at most 8). */
  concurrency?: number;
  /** A file could not be written; its job is abandoned, the restore goes on. */
  warn?: (path: string, message: string) => void;
  /** A file's content is complete (called once per job that did not fail). */
  onFileDone?: (job: number) => void;
  /** Bytes written so far (for progress). */
  onBytes?: (bytes: number) => void;
}

/** Blocks of this size that hold only zeros are left as holes. */
const SPARSE_BLOCK = 64 * 1024;
/** Blobs closer than this in a pack are read with one request. */
const MERGE_GAP = 256 * 1024;
/** Largest single ranged read. */
const MAX_RANGE = 4 * 1024 * 1024;

/** True when every byte is zero. */
export function isZero(data: Uint8Array): boolean {
  const n = data.length;
  const words = n >>> 3;
  if (data.byteOffset % 8 === 0 && words) {
    const w = new BigUint64Array(data.buffer, data.byteOffset, words);
    for (let i = 0; i < words; i++) if (w[i] !== 0n) return false;
  } else {
    for (let i = 0; i < words * 8; i++) if (data[i] !== 0) return false;
  }
  for (let i = words * 8; i < n; i++) if (data[i] !== 0) return false;
  return true;
}

/** Writes `data` at `pos` into an open file, skipping all-zero blocks (the file is already full-size). */
export function writeSparseAt(file: Deno.FsFile, data: Uint8Array, pos: number): void {
  let filePos = -1;
  for (let off = 0; off < data.length;) {
    const end = Math.min(off + SPARSE_BLOCK, data.length);
    if (isZero(data.subarray(off, end))) {
      off = end;
      continue;
    }
    let runEnd = end;
    while (runEnd < data.length) {
      const next = Math.min(runEnd + SPARSE_BLOCK, data.length);
      if (isZero(data.subarray(runEnd, next))) break;
      runEnd = next;
    }
    if (filePos !== pos + off) file.seekSync(pos + off, Deno.SeekMode.Start);
    const run = data.subarray(off, runEnd);
    let w = 0;
    while (w < run.length) w += file.writeSync(run.subarray(w));
    filePos = pos + runEnd;
    off = runEnd;
  }
}

interface Planned {
  entry: IndexEntry;
  targets: { job: number; offset: number }[];
}

/** Creates the files and writes their contents; returns the bytes written. */
export async function restoreContents(
  repo: Repository,
  catalog: Catalog,
  files: FileJob[],
  options: ContentOptions = {},
): Promise<number> {
  const { signal } = options;
  const warn = options.warn ?? (() => {});
  const remaining = new Int32Array(files.length);
  const failed = new Uint8Array(files.length);
  const byPack = new Map<string, Map<string, Planned>>();
  let bytes = 0;

  const done = (job: number) => {
    if (!failed[job]) options.onFileDone?.(job);
  };
  const fail = (job: number, message: string) => {
    if (failed[job]) return;
    failed[job] = 1;
    warn(files[job].dest, message);
  };

  // 1. Create every file at its final size and plan which blob goes where.
  files.forEach((job, j) => {
    let offset = 0;
    const plan: [IndexEntry, number][] = [];
    for (const id of job.node.content ?? []) {
      const entry = catalog.lookupBlob(id);
      if (!entry) throw new IntegrityError(`blob ${id.slice(0, 12)} of ${job.dest} is not in the index`);
      plan.push([entry, offset]);
      offset += entry.rawLength;
    }
    try {
      const f = Deno.openSync(job.dest, { write: true, createNew: true, mode: 0o600 });
      try {
        if (offset) f.truncateSync(offset);
      } finally {
        f.close();
      }
    } catch (e) {
      fail(j, (e as Error).message);
      return;
    }
    for (const [entry, off] of plan) {
      let pack = byPack.get(entry.pack);
      if (!pack) byPack.set(entry.pack, pack = new Map());
      let p = pack.get(entry.id);
      if (!p) pack.set(entry.id, p = { entry, targets: [] });
      p.targets.push({ job: j, offset: off });
      remaining[j]++;
    }
    if (!remaining[j]) done(j);
  });

  // 2. Read pack regions, decrypt each blob once, write it wherever it belongs.
  async function readRange(pack: string, group: Planned[]): Promise<void> {
    const start = group[0].entry.offset;
    const last = group[group.length - 1].entry;
    const length = last.offset + last.length - start;
    let data: Uint8Array;
    try {
      data = await repo.storage.get(packName(pack), { range: { offset: start, length }, signal });
    } catch (e) {
      if (e instanceof StorageError && e.code === "not-found") {
        throw new IntegrityError(`pack ${pack.slice(0, 12)} is missing`);
      }
      throw e;
    }
    if (data.length !== length) throw new IntegrityError(`pack ${pack.slice(0, 12)} is truncated`);
    // Decrypt the whole region at once (WebCrypto runs off the main thread), then write in order.
    const plains = group.map((p) => {
      const rel = p.entry.offset - start;
      return repo.decodeBlob(p.entry, data.subarray(rel, rel + p.entry.length));
    });
    plains.forEach((p) => p.catch(() => {}));
    for (let k = 0; k < group.length; k++) {
      const p = group[k];
      signal?.throwIfAborted();
      const plain = await plains[k];
      for (const t of p.targets) {
        if (failed[t.job]) continue;
        try {
          const f = Deno.openSync(files[t.job].dest, { write: true });
          try {
            writeSparseAt(f, plain, t.offset);
          } finally {
            f.close();
          }
          bytes += plain.length;
        } catch (e) {
          fail(t.job, (e as Error).message);
          continue;
        }
        if (--remaining[t.job] === 0) done(t.job);
      }
      options.onBytes?.(bytes);
    }
  }

  const tasks: [string, Planned[]][] = [];
  for (const pack of [...byPack.keys()].sort()) {
    const blobs = [...byPack.get(pack)!.values()].sort((a, b) => a.entry.offset - b.entry.offset);
    let group: Planned[] = [];
    for (const b of blobs) {
      if (group.length) {
        const first = group[0].entry;
        const prev = group[group.length - 1].entry;
        const gap = b.entry.offset - (prev.offset + prev.length);
        if (gap > MERGE_GAP || b.entry.offset + b.entry.length - first.offset > MAX_RANGE) {
          tasks.push([pack, group]);
          group = [];
        }
      }
      group.push(b);
    }
    if (group.length) tasks.push([pack, group]);
  }
  const concurrency = Math.max(
    1,
    options.concurrency ?? Math.min(8, Math.max(4, repo.storage.capabilities.concurrency)),
  );
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, async () => {
    while (next < tasks.length) {
      const [pack, group] = tasks[next++];
      await readRange(pack, group);
    }
  }));
  return bytes;
}
