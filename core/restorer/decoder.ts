/**
 * Decodes one pack region and writes its blobs into the files that use them: the work of a restore that
 * costs CPU (decrypt, decompress, check the id) and most of its system calls (writes). It runs on Worker
 * threads ({@link ./decoder_worker.ts}) or, for small restores, on the calling thread; both share this
 * code, so they behave the same.
 *
 * Memory stays flat: each file is opened once per decoder (a few are kept open), and every large buffer —
 * the sealed region, each decrypted body, each plaintext — is released as soon as it is written rather
 * than left to the garbage collector.
 *
 * @example
 * ```ts
 * import { RegionDecoder } from "./decoder.ts";
 * // const d = new RegionDecoder(cipher, compression, hasher);
 * // const result = await d.run(job); d.close();
 * ```
 * @module
 */
import type { TransformPlugin } from "../contracts.ts";
import type { BlobHasher } from "../crypto/hash.ts";
import { blobAad } from "../repository/pack.ts";
import * as libc from "../platform/libc.ts";

/** One blob of a region and where it goes. */
export interface BlobJob {
  /** Blob id (hex). */
  id: string;
  /** 1 for a tree blob, 0 for data. */
  tree: 0 | 1;
  /** Whether the sealed body is compressed. */
  compressed: boolean;
  /** Offset of the sealed blob in the region. */
  offset: number;
  /** Sealed length. */
  length: number;
  /** Plaintext length. */
  rawLength: number;
  /** Pairs of (file index, offset in that file). */
  targets: number[];
}

/** A pack region to decode and write. */
export interface RegionJob {
  /** Job number (echoed in the result). */
  job: number;
  /** Pack id, for messages. */
  pack: string;
  /** The sealed bytes of the region. */
  data: Uint8Array;
  /** Its blobs, in pack order. */
  blobs: BlobJob[];
  /** Paths of the files the blobs go to, by file index. */
  paths: [number, string][];
  /** Files that get no more writes after this job: their handles are closed once it is done. */
  closing: number[];
  /** The full size of each `closing` file: one that ends in a hole is extended to it. */
  sizes: number[];
  /**
   * Files that do not exist yet: each is created (never through anything already at its path) when it is
   * first written, so that a small file costs one `open` instead of two.
   */
  create: number[];
  /**
   * Metadata to set through the descriptor of `closing` files whose every write is in this job, before
   * they are closed: (file index, mode, uid, gid) quadruples, uid and gid -1 to leave the owner alone.
   */
  meta: number[];
  /** (atime, mtime) in ns since the epoch for each quadruple of `meta`. */
  times: bigint[];
}

/**
 * The metadata of a restored file that a decoder sets through its open descriptor (`fchown`, `fchmod`,
 * `futimens`) rather than by path afterwards: uid and gid -1 leave the owner as it is.
 */
export interface FileMeta {
  /** Permission bits, setuid/setgid/sticky included. */
  mode: number;
  /** Owner, or -1. */
  uid: number;
  /** Group, or -1. */
  gid: number;
  /** Access time, ns since the epoch. */
  atimeNs: bigint;
  /** Modification time, ns since the epoch. */
  mtimeNs: bigint;
}

/** What became of a {@link RegionJob}. */
export interface RegionResult {
  /** Job number. */
  job: number;
  /** Plaintext bytes written, counted once per target. */
  bytes: number;
  /** Files that could not be written, with the reason; their other targets in this job were skipped. */
  failed: [number, string][];
  /**
   * Blobs that did not decode (damaged or tampered): (index in `blobs` of the job, the integrity error's
   * message). Their targets were not written; the job's other blobs were.
   */
  damaged: [number, string][];
  /** Files of `create` that could not be created, with the reason: nothing of them exists. */
  absent: [number, string][];
  /** Files whose `meta` was set through their descriptor (or tried: see `metaFailed`). */
  metaSet: number[];
  /** Files of `metaSet` whose metadata could not all be set, with the reason. */
  metaFailed: [number, string][];
  /** The region's buffer, handed back for the next read (see {@link RegionDecoder.run}). */
  buffer?: ArrayBuffer;
}

/** Blocks of this size that hold only zeros are left as holes. */
export const SPARSE_BLOCK = 64 * 1024;
/** Open files kept per decoder. */
const OPEN_FILES = 32;
/** Buffers at least this large are released at once instead of waiting for the garbage collector. */
const RELEASE_MIN = 4096;

/** True when every byte is zero. */
export function isZero(data: Uint8Array): boolean {
  const n = data.length;
  let i = 0;
  if (data.byteOffset % 4 === 0 && n >= 4) {
    const words = n >>> 2;
    const w = new Int32Array(data.buffer, data.byteOffset, words);
    for (let k = 0; k < words; k++) if (w[k] !== 0) return false;
    i = words * 4;
  }
  for (; i < n; i++) if (data[i] !== 0) return false;
  return true;
}

/** A restored file open for writing. */
export interface OutputFile {
  /** Its libc descriptor, or -1 when it was opened through Deno (metadata is then set by path). */
  readonly fd: number;
  /** Writes all of `data` at `pos`. */
  writeAt(data: Uint8Array, pos: number): void;
  /** Sets the file's size. */
  truncate(size: number): void;
  /** Closes it. */
  close(): void;
}

/** A file opened through libc: one `pwrite` per write, no seek. */
class FdFile implements OutputFile {
  constructor(readonly fd: number) {}
  writeAt(data: Uint8Array, pos: number): void {
    libc.pwriteFd(this.fd, data, pos);
  }
  truncate(size: number): void {
    libc.ftruncateFd(this.fd, size);
  }
  close(): void {
    libc.closeFd(this.fd);
  }
}

/** A file opened through Deno's fs API (where libc cannot be loaded). */
class DenoFile implements OutputFile {
  readonly fd = -1;
  #pos = 0;
  constructor(readonly file: Deno.FsFile) {}
  writeAt(data: Uint8Array, pos: number): void {
    if (pos !== this.#pos) this.file.seekSync(pos, Deno.SeekMode.Start);
    let w = 0;
    while (w < data.length) w += this.file.writeSync(data.subarray(w));
    this.#pos = pos + w;
  }
  truncate(size: number): void {
    this.file.truncateSync(size);
  }
  close(): void {
    this.file.close();
  }
}

/**
 * Whether files are created and written through libc. Deno's fs calls check every path against the
 * permissions, and unless they are --allow-all that resolves the path one component at a time (a failed
 * `readlink` per component): measured 37 readlinks per file, 3.75 million syscalls for a restore of
 * 100,000 files in a tree 12 deep. libc's `open` takes the path as it is.
 */
let viaLibc: boolean | undefined;
function useLibc(): boolean {
  return viaLibc ??= libc.available();
}

/** Creates `path` empty (mode 0600); fails when anything, a symlink included, is there. */
function createNew(path: string): void {
  openOutput(path, true).close();
}

/**
 * Opens an existing file to write into it, or with `create` creates it (mode 0600), failing when anything,
 * a symlink included, is at `path`. Through libc a symlink at `path` is refused either way (nothing but
 * this restore's own files is ever written).
 *
 * @example
 * ```ts
 * import { openOutput } from "./decoder.ts";
 * const out = openOutput("/tmp/out/a");
 * out.writeAt(new Uint8Array([1, 2, 3]), 0);
 * out.close();
 * ```
 */
export function openOutput(path: string, create = false): OutputFile {
  if (useLibc()) return new FdFile(create ? libc.openNew(path, 0o600) : libc.openExisting(path));
  return new DenoFile(
    Deno.openSync(path, create ? { write: true, createNew: true, mode: 0o600 } : { write: true }),
  );
}

/**
 * Writes `data` at `pos` into an open file, skipping all-zero blocks (holes stay holes); returns where the
 * last byte it wrote ends in the file, or -1 when `data` was all zeros.
 */
export function writeSparseAt(file: OutputFile, data: Uint8Array, pos: number): number {
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
    file.writeAt(off === 0 && runEnd === data.length ? data : data.subarray(off, runEnd), pos + off);
    filePos = pos + runEnd;
    off = runEnd;
  }
  return filePos;
}

/**
 * Frees the memory behind `data` now, when `data` is the only view of a plain ArrayBuffer: a transform's
 * output or a storage read, which belong to the caller (`Repository.loadBlob` hands them out to be kept).
 * Detaching drops the backing store at once; left to the garbage collector, such buffers pile up by the
 * hundred megabytes (measured: peak RSS 430 MB instead of 300 MB for a 2.3 GiB restore). Views into a
 * larger buffer (pooled or shared) are left alone.
 */
export function release(data: Uint8Array): void {
  const b = data.buffer;
  if (
    b instanceof ArrayBuffer && !b.detached && b.byteLength >= RELEASE_MIN && data.byteOffset === 0 &&
    data.byteLength === b.byteLength
  ) {
    try {
      b.transfer(0);
    } catch { /* not transferable (e.g. WebAssembly memory): leave it to the collector */ }
  }
}

/**
 * Creates files (they must not exist, and no symlink is followed), empty: `files` holds (file index,
 * size) pairs, `paths` their paths. Each reaches its size with its writes, or, when its end is a hole,
 * when its last region is done (see `RegionJob.sizes`). Returns the ones that could not be created, with why.
 */
export function createFiles(files: number[], paths: string[]): [number, string][] {
  const failed: [number, string][] = [];
  for (let k = 0; k < files.length; k += 2) {
    try {
      createNew(paths[k / 2]);
    } catch (e) {
      failed.push([files[k], (e as Error).message]);
    }
  }
  return failed;
}

/** Least size of a pooled buffer: any data blob of the default chunker (at most 2 MiB) fits. */
const SCRATCH_SIZE = (2 << 20) + 64;
/** Free buffers kept per decoder (a blob being opened needs two: opened and decompressed). */
const SCRATCH_KEEP = 4;

/** What {@link RegionDecoder.run} keeps about the job it runs. */
interface Run {
  job: RegionJob;
  paths: Map<number, string>;
  /** Files still to be created (see {@link RegionJob.create}). */
  create: Set<number>;
  /** Position in `job.closing` of each closing file not finished yet. */
  closing: Map<number, number>;
  /** Where each file's quadruple starts in `job.meta`. */
  meta: Map<number, number>;
  /** Closing files that lost a blob in this job: they get no metadata. */
  spoiled: Set<number>;
  result: RegionResult;
}

/** Decodes regions and writes their blobs; one per thread. */
export class RegionDecoder {
  readonly #cipher: TransformPlugin;
  readonly #compression: TransformPlugin | null;
  readonly #hasher: BlobHasher;
  /** Open files by index, least recently used first. */
  readonly #open = new Map<number, OutputFile>();
  readonly #failed = new Set<number>();
  /** Where this thread's writes to each open file end, at most. */
  readonly #ends = new Map<number, number>();
  /** Free decompression buffers. */
  readonly #scratch: Uint8Array[] = [];
  /** The buffers behind `#scratch` (lent out or not). */
  readonly #mine = new WeakSet<ArrayBufferLike>();

  /** Builds a decoder for a repository's transforms and blob id key. */
  constructor(cipher: TransformPlugin, compression: TransformPlugin | null, hasher: BlobHasher) {
    this.#cipher = cipher;
    this.#compression = compression;
    this.#hasher = hasher;
  }

  /**
   * Opens a sealed blob and checks its id, as `Repository.decodeBlob` does (same checks, same messages);
   * returns the plaintext or the integrity error's message.
   */
  async #decode(pack: string, b: BlobJob, sealed: Uint8Array): Promise<Uint8Array | string> {
    let body: Uint8Array;
    const opened = this.#takeScratch(sealed.length);
    try {
      const aad = blobAad(b.tree ? "tree" : "data", b.id);
      body = await this.#cipher.decode(sealed, { associatedData: aad, into: opened });
    } catch {
      this.#giveScratch(opened);
      return `blob ${b.id.slice(0, 12)} in pack ${pack.slice(0, 12)} failed authentication (damaged pack)`;
    }
    if (body.buffer !== opened.buffer) this.#giveScratch(opened);
    let plain: Uint8Array;
    try {
      if (b.compressed) {
        const into = this.#takeScratch(b.rawLength + 1);
        plain = await this.#compression!.decode(body, { into, outputLength: b.rawLength });
        if (plain.buffer !== into.buffer) this.#giveScratch(into);
      } else plain = body;
    } catch {
      this.#done(body);
      return `blob ${b.id.slice(0, 12)} does not decompress`;
    }
    if (plain !== body) this.#done(body);
    if (plain.length !== b.rawLength || this.#hasher.id(plain) !== b.id) {
      this.#done(plain);
      return `blob ${b.id.slice(0, 12)} in pack ${pack.slice(0, 12)} has wrong content`;
    }
    return plain;
  }

  /** A buffer of at least `size` bytes to decompress into (pooled: several regions may run at once). */
  #takeScratch(size: number): Uint8Array {
    const i = this.#scratch.findIndex((s) => s.length >= size);
    if (i >= 0) return this.#scratch.splice(i, 1)[0];
    const buf = new Uint8Array(Math.max(size, SCRATCH_SIZE));
    this.#mine.add(buf.buffer);
    return buf;
  }

  #giveScratch(buf: Uint8Array): void {
    if (this.#scratch.length < SCRATCH_KEEP) this.#scratch.push(buf);
  }

  /** Done with a plaintext: a pooled buffer goes back to the pool, anything else is released. */
  #done(plain: Uint8Array): void {
    if (this.#mine.has(plain.buffer)) this.#giveScratch(new Uint8Array(plain.buffer));
    else release(plain);
  }

  /** File `index`, opened (or created, when it is in `create`: then taken out of it) unless it is open. */
  #file(index: number, paths: Map<number, string>, create: Set<number>): OutputFile {
    let f = this.#open.get(index);
    if (f) {
      this.#open.delete(index); // most recently used goes last
    } else {
      if (this.#open.size >= OPEN_FILES) this.#close(this.#open.keys().next().value!);
      const path = paths.get(index);
      if (path === undefined) throw new Error(`no path for file ${index}`);
      f = openOutput(path, create.has(index));
      create.delete(index);
    }
    this.#open.set(index, f);
    return f;
  }

  #close(index: number): void {
    const f = this.#open.get(index);
    if (!f) return;
    this.#open.delete(index);
    try {
      f.close();
    } catch { /* already closed */ }
  }

  /**
   * Decodes a region and writes every blob wherever it belongs. `job.data` is left as it is: the caller
   * reuses (or releases) the region's buffer. A `closing` file is finished (extended to its size, given its
   * metadata, closed) as soon as its last write of the job is done, while it is still open.
   */
  async run(job: RegionJob): Promise<RegionResult> {
    const run: Run = {
      job,
      paths: new Map(job.paths),
      create: new Set(job.create),
      closing: new Map(),
      meta: new Map(),
      spoiled: new Set(),
      result: { job: job.job, bytes: 0, failed: [], damaged: [], absent: [], metaSet: [], metaFailed: [] },
    };
    const { closing, result } = run;
    job.closing.forEach((index, i) => closing.set(index, i));
    for (let k = 0; k < job.meta.length; k += 4) run.meta.set(job.meta[k], k);
    /** Writes of this job still to come for each closing file. */
    const left = new Map<number, number>();
    for (const b of job.blobs) {
      for (let k = 0; k < b.targets.length; k += 2) {
        const index = b.targets[k];
        if (closing.has(index)) left.set(index, (left.get(index) ?? 0) + 1);
      }
    }
    const wrote = (index: number) => {
      const n = left.get(index);
      if (n === undefined) return;
      if (n > 1) left.set(index, n - 1);
      else {
        left.delete(index);
        this.#finish(index, run);
      }
    };
    try {
      for (let i = 0; i < job.blobs.length; i++) {
        const b = job.blobs[i];
        const t = b.targets;
        const plain = await this.#decode(job.pack, b, job.data.subarray(b.offset, b.offset + b.length));
        if (typeof plain === "string") {
          // One damaged blob spoils only the files that use it: the region's other blobs are good.
          result.damaged.push([i, plain]);
          for (let k = 0; k < t.length; k += 2) {
            run.spoiled.add(t[k]);
            wrote(t[k]);
          }
          continue;
        }
        for (let k = 0; k < t.length; k += 2) {
          const index = t[k];
          if (!this.#failed.has(index)) {
            try {
              const end = writeSparseAt(this.#file(index, run.paths, run.create), plain, t[k + 1]);
              if (end > (this.#ends.get(index) ?? -1)) this.#ends.set(index, end);
              result.bytes += plain.length;
            } catch (e) {
              this.#fault(index, e, run);
            }
          }
          wrote(index);
        }
        this.#done(plain);
      }
    } finally {
      for (const index of [...closing.keys()]) this.#finish(index, run);
    }
    return result;
  }

  /** Writing file `index` failed (or creating it, when it is still in `create`): it gets no more writes. */
  #fault(index: number, e: unknown, run: Run): void {
    this.#failed.add(index);
    this.#close(index);
    (run.create.has(index) ? run.result.absent : run.result.failed).push([index, (e as Error).message]);
  }

  /**
   * Finishes closing file `index`: a file whose end this thread did not write (a trailing hole, or written
   * elsewhere) is extended to its size (one that is already that long is left as it is), its metadata is
   * set through its descriptor when the job carries it and nothing of the file was lost, and it is closed.
   */
  #finish(index: number, run: Run): void {
    const i = run.closing.get(index);
    if (i === undefined) return;
    run.closing.delete(index);
    if (!this.#failed.has(index)) {
      try {
        const size = run.job.sizes[i];
        if ((this.#ends.get(index) ?? -1) < size) this.#file(index, run.paths, run.create).truncate(size);
        const q = run.meta.get(index);
        if (q !== undefined && !run.spoiled.has(index)) this.#setMeta(index, q, run);
      } catch (e) {
        this.#fault(index, e, run);
      }
    }
    this.#ends.delete(index);
    this.#close(index);
    this.#failed.delete(index);
  }

  /**
   * Sets owner, mode (after the owner: a chown clears setuid and setgid) and times of file `index` through
   * its descriptor (`job.meta` from `q` on), when it is open through libc.
   */
  #setMeta(index: number, q: number, run: Run): void {
    const fd = this.#file(index, run.paths, run.create).fd;
    if (fd < 0) return;
    const { meta, times } = run.job;
    run.result.metaSet.push(index);
    try {
      if (meta[q + 2] >= 0 && meta[q + 3] >= 0) libc.fchownFd(fd, meta[q + 2], meta[q + 3]);
      libc.fchmodFd(fd, meta[q + 1]);
      libc.futimensFd(fd, times[q / 2], times[q / 2 + 1]);
    } catch (e) {
      run.result.metaFailed.push([index, (e as Error).message]);
    }
  }

  /** Closes every file still open. */
  close(): void {
    for (const index of [...this.#open.keys()]) this.#close(index);
    this.#failed.clear();
    this.#ends.clear();
  }
}
