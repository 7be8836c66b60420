/**
 * Writes file contents for a restore, planned by pack rather than by file: every blob the restored files
 * need is grouped under its pack, neighbouring blobs are read with one ranged request, each blob is
 * decrypted once and written to every (file, offset) that uses it. On object storage this turns one
 * request per blob into about one per pack region; locally it turns many small reads into few large ones.
 * Files are created (empty) first; all-zero 64 KiB blocks are skipped, so holes stay holes, and a file that
 * ends in a hole is extended to its size once its last region is written.
 *
 * Damage spoils only the files that need it: a blob that fails its checks, a blob missing from the index or
 * a pack region that cannot be read marks the files using it as damaged, and the restore goes on. No file
 * is left under its own name unless every byte of it was written: when the writing ends (or stops), each
 * file not complete is renamed `NAME.floe-partial` (the regions that could be restored, holes elsewhere),
 * or removed when that name is taken or nothing of it was written, and reported through
 * {@link ContentOptions.onIncomplete}.
 *
 * The calling thread plans, reads regions and keeps count; decrypting, decompressing, checking and
 * writing happen on a pool of workers ({@link ./decoder_pool.ts}), one message per region, its bytes
 * transferred. The plan lives in typed arrays and the bytes in flight are bounded, so memory stays small
 * and flat however large the restore.
 *
 * @example
 * ```ts
 * import { ContentWriter } from "./contents.ts";
 * // const w = new ContentWriter(repo, catalog, { onFileDone: (n) => {} });
 * // w.add("/tmp/out/a", node.content); await w.run();
 * ```
 * @module
 */
import type { Catalog } from "../catalog/catalog.ts";
import { isStorageError } from "../contracts.ts";
import { IntegrityError } from "../errors.ts";
import { nextTurn } from "../event_loop.ts";
import { packName, type Repository } from "../repository/repository.ts";
import type { IndexEntry } from "../repository/types.ts";
import {
  type BlobJob,
  createFiles,
  type FileMeta,
  type RegionJob,
  type RegionResult,
  release,
} from "./decoder.ts";
import { DecoderPool, type Decoders, InlineDecoders } from "./decoder_pool.ts";

export { isZero, writeSparseAt } from "./decoder.ts";

/** Options of {@link ContentWriter}. */
export interface ContentOptions {
  /** Aborts. */
  signal?: AbortSignal;
  /** Pack regions read at once (default: the storage's preferred concurrency, at least 4, at most 8). */
  concurrency?: number;
  /**
   * Decoder threads; 0 decodes on the calling thread. Default: one per core (at most 4; none on a single
   * core), started once the files planned hold 16 MiB, so small restores decode on the calling thread.
   */
  workers?: number;
  /** A file could not be created or written, or its content is damaged; the restore goes on. */
  warn?: (path: string, message: string) => void;
  /**
   * File number `n` (as {@link ContentWriter.add} returned it) is complete; once per file that did not fail.
   * `metaSet`: the metadata {@link metadata} gave for it was set (a failure was reported through `warn`).
   */
  onFileDone?: (n: number, metaSet: boolean) => void;
  /**
   * The metadata of file number `n`, to be set through its descriptor by the thread that writes its last
   * byte, before it is closed (no path looked up again); undefined when the caller sets it by path. Asked
   * for files whose every write goes in one pack region.
   */
  metadata?: (n: number) => FileMeta | undefined;
  /**
   * File `path` was not restored exactly (`message`: the first reason); once per such file, when its
   * creation failed or once the writing ended or stopped. `partial` is where the regions that could be
   * restored were kept (`path` + {@link PARTIAL_SUFFIX}); undefined when nothing was kept.
   */
  onIncomplete?: (path: string, partial: string | undefined, message: string) => void;
  /** Bytes written so far (for progress). */
  onBytes?: (bytes: number) => void;
  /**
   * Planned bytes after which writing starts while files are still being added (default 32 MiB; each
   * further segment twice as large). Tests set it small to make every file a segment of its own.
   */
  segmentBytes?: number;
}

/**
 * Appended to the name of a file not restored exactly: what could be restored of it is kept there.
 *
 * @example
 * ```ts
 * import { PARTIAL_SUFFIX } from "./contents.ts";
 * console.log(`big.iso${PARTIAL_SUFFIX}`); // big.iso.floe-partial
 * ```
 */
export const PARTIAL_SUFFIX = ".floe-partial";

/** States of a file being restored, each later one overriding the earlier ones (but {@link DONE}). */
const WRITING = 0;
/** Some of its content is lost; its other regions are still written (to be kept as a partial copy). */
const DAMAGED = 1;
/** A write failed: it gets no more writes. */
const STOPPED = 2;
/** It could not be created: there is nothing of it to set aside. */
const ABSENT = 3;
/** Every byte of it was written. */
const DONE = 4;

/** Blobs closer than this in a pack are read with one request. */
const MERGE_GAP = 256 * 1024;
/** Largest single ranged read: half a default pack, so object stores see few requests (each has a cost). */
const MAX_RANGE = 8 * 1024 * 1024;
/**
 * Sealed bytes read ahead of the decoders at most: {@link MAX_RANGE} for each request the storage takes at
 * once, between 2 and 4 of them (16–32 MiB). A local disk (2 at once) gains nothing from more: 16 instead
 * of 32 MiB ahead measured 25–30 MiB less peak RSS for a 2.3 GiB restore, in the same time.
 */
function readAhead(storageConcurrency: number): number {
  return Math.min(4, Math.max(2, storageConcurrency)) * MAX_RANGE;
}
/** Restores smaller than this decode on the calling thread. */
const INLINE_MAX = 16 * 1024 * 1024;
/** Files created per message to a worker. */
const CREATE_BATCH = 256;
/** Planned bytes of the first segment (see {@link ContentWriter}); each next one is twice as large. */
const SEGMENT_FIRST = 32 * 1024 * 1024;
/** Planned bytes between two seals at most. */
const SEGMENT_MAX = 1024 * 1024 * 1024;
/**
 * A pack not touched by the last this many planned bytes is sealed even when not all its blobs are
 * planned (a snapshot seldom needs every blob of an older pack).
 */
const COLD = 256 * 1024 * 1024;
/** Longest stretch {@link ContentWriter.pause} lets its caller keep the thread. */
const YIELD_MS = 4;
/** Regions from this size on are read into pooled buffers (see {@link RegionBuffers}). */
const POOL_FROM = 1 << 20;

/**
 * Buffers for pack regions, reused from read to read: a fresh buffer of MiBs costs its zeroing and a page
 * fault per page on first use, for every region. Sizes are powers of two from {@link POOL_FROM} (a region
 * takes the smallest that holds it); smaller regions get fresh memory. At most `maxFree` bytes wait here.
 */
class RegionBuffers {
  readonly #free = new Map<number, ArrayBuffer[]>();
  #freeBytes = 0;
  constructor(readonly maxFree: number) {}

  /** The capacity a region of `length` bytes is read into (itself when not pooled). */
  static capacity(length: number): number {
    return length < POOL_FROM ? length : 2 ** Math.ceil(Math.log2(length));
  }

  /** A buffer to lend for a region of `length` bytes, or undefined when such regions are not pooled. */
  take(length: number): Uint8Array | undefined {
    if (length < POOL_FROM) return undefined;
    const size = RegionBuffers.capacity(length);
    const b = this.#free.get(size)?.pop();
    if (b) this.#freeBytes -= size;
    return new Uint8Array(b ?? new ArrayBuffer(size));
  }

  /** Takes back a region's buffer when it is of a pooled size and there is room; else frees it now. */
  give(b: ArrayBuffer | undefined): void {
    if (!b || b.detached) return;
    const size = b.byteLength;
    if (size >= POOL_FROM && (size & (size - 1)) === 0 && this.#freeBytes + size <= this.maxFree) {
      let list = this.#free.get(size);
      if (!list) this.#free.set(size, list = []);
      list.push(b);
      this.#freeBytes += size;
    } else release(new Uint8Array(b));
  }
}

/**
 * The blobs a restore needs, each once, in typed arrays: where each one is, and the (file, offset)
 * pairs it goes to.
 */
class Plan {
  readonly ids: string[] = [];
  readonly byId = new Map<string, number>();
  readonly packs: string[] = [];
  readonly #packNo = new Map<string, number>();
  pack = new Int32Array(1024);
  offset = new Float64Array(1024);
  length = new Float64Array(1024);
  rawLength = new Float64Array(1024);
  /** Bit 0: compressed; bit 1: tree blob. */
  flags = new Uint8Array(1024);
  /** The first target of each blob (-1: none yet); further ones in `more`. */
  file = new Int32Array(1024);
  fileOffset = new Float64Array(1024);
  readonly more = new Map<number, number[]>();
  /** 1 for a blob whose region is handed to the readers (see {@link ContentWriter}). */
  sealed = new Uint8Array(1024);
  /** Per pack: its distinct blobs planned so far. */
  readonly packPlanned: number[] = [];
  /** Per pack: the planned-bytes clock when a target last fell in it. */
  readonly packTouched: number[] = [];

  get size(): number {
    return this.ids.length;
  }

  /** Adds a blob (once); returns its number. */
  add(id: string, e: IndexEntry): number {
    const b = this.ids.length;
    if (b === this.pack.length) this.#grow();
    this.ids.push(id);
    this.byId.set(id, b);
    let p = this.#packNo.get(e.pack);
    if (p === undefined) {
      this.#packNo.set(e.pack, p = this.packs.length);
      this.packs.push(e.pack);
      this.packPlanned.push(0);
      this.packTouched.push(0);
    }
    this.packPlanned[p]++;
    this.pack[b] = p;
    this.offset[b] = e.offset;
    this.length[b] = e.length;
    this.rawLength[b] = e.rawLength;
    this.flags[b] = (e.compressed ? 1 : 0) | (e.type === "tree" ? 2 : 0);
    this.file[b] = -1;
    this.sealed[b] = 0;
    return b;
  }

  /** Plans blob `b` anew (a copy that gets its own targets, and that `byId` finds from now on). */
  again(b: number): number {
    const c = this.ids.length;
    if (c === this.pack.length) this.#grow();
    const id = this.ids[b];
    this.ids.push(id);
    this.byId.set(id, c);
    this.pack[c] = this.pack[b];
    this.offset[c] = this.offset[b];
    this.length[c] = this.length[b];
    this.rawLength[c] = this.rawLength[b];
    this.flags[c] = this.flags[b];
    this.file[c] = -1;
    this.sealed[c] = 0;
    return c;
  }

  /** Blob `b` goes to `file` at `offset`. */
  target(b: number, file: number, offset: number): void {
    if (this.file[b] < 0) {
      this.file[b] = file;
      this.fileOffset[b] = offset;
      return;
    }
    const m = this.more.get(b);
    if (m) m.push(file, offset);
    else this.more.set(b, [file, offset]);
  }

  /** Calls `fn(file, offset)` for every target of blob `b`. */
  forTargets(b: number, fn: (file: number, offset: number) => void): void {
    if (this.file[b] < 0) return;
    fn(this.file[b], this.fileOffset[b]);
    const m = this.more.get(b);
    if (m) { for (let k = 0; k < m.length; k += 2) fn(m[k], m[k + 1]); }
  }

  #grow(): void {
    const n = this.pack.length * 2;
    const grow = <T extends Int32Array | Float64Array | Uint8Array>(a: T, out: T): T => {
      out.set(a);
      return out;
    };
    this.pack = grow(this.pack, new Int32Array(n));
    this.offset = grow(this.offset, new Float64Array(n));
    this.length = grow(this.length, new Float64Array(n));
    this.rawLength = grow(this.rawLength, new Float64Array(n));
    this.flags = grow(this.flags, new Uint8Array(n));
    this.file = grow(this.file, new Int32Array(n));
    this.fileOffset = grow(this.fileOffset, new Float64Array(n));
    this.sealed = grow(this.sealed, new Uint8Array(n));
  }
}

/**
 * A region of a pack to read: blobs `order[first .. first + count)`, bytes `[start, start + length)`, of
 * segment `segment`.
 */
interface Task {
  pack: string;
  first: number;
  count: number;
  start: number;
  length: number;
  segment: number;
}

/**
 * A part of the plan handed to the readers while the walk goes on: the blobs sealed together (their regions
 * carry the segment's number) and files `[firstFile, endFile)`, the ones added since the segment before.
 * `ready` settles once every file added so far exists: no region of the segment is read before.
 */
interface Segment {
  firstFile: number;
  endFile: number;
  ready: Promise<void>;
}

/**
 * Creates files and writes their contents: {@link add} each file as the restore meets it, then
 * {@link run} once. Call {@link terminate} if the restore fails before `run` settles.
 *
 * Writing starts while files are still being added: the plan is sealed in segments (the first once
 * {@link ContentOptions.segmentBytes} are planned, each next after twice as many, up to 1 GiB), and a
 * sealed segment's regions are read and written while the walk plans on. Measured on a 30k-file restore:
 * content used to start only after the walk and every file's creation, 1.9–2.85 s into an 8 s restore. A
 * seal takes only the blobs of packs the walk is done with (see {@link #seal}): backups pack files read
 * side by side, so a pack's blobs are spread over the walk, and sealing by walk position alone read
 * packs in more pieces (measured: 391 ranged reads instead of 253 for that restore). A blob needed again
 * after it was sealed is read again (it is planned anew), so a sealed segment never changes.
 *
 * Files are created (empty) as they are added: on the calling thread at first, and in
 * batches on a worker once they run.
 */
export class ContentWriter {
  readonly #repo: Repository;
  readonly #catalog: Catalog;
  readonly #options: ContentOptions;
  readonly #plan = new Plan();
  readonly #dests: string[] = [];
  /** Each file's full size, by number. */
  readonly #sizes: number[] = [];
  /** Blob writes still missing per file. */
  readonly #remaining: number[] = [];
  /** Blob writes not yet handed to a decoder per file (0: its last region is out, it can be closed). */
  readonly #undispatched: number[] = [];
  /** Each file's state: {@link WRITING}, {@link DAMAGED}, {@link STOPPED}, {@link ABSENT} or {@link DONE}. */
  readonly #state: number[] = [];
  /** 1 for a file that the decoder writing its one blob creates (see {@link add}). */
  readonly #deferred: number[] = [];
  /** Files whose metadata a decoder set, not yet done. */
  readonly #metaSet = new Set<number>();
  /** Why each file that is not restored exactly is not (the first reason). */
  readonly #why = new Map<number, string>();
  /** Set once the files not complete were set aside (see {@link #setAside}). */
  #setAsideDone = false;
  readonly #blobs: number[] = [];
  #planned = 0;
  #decoders: Decoders | null = null;
  /** Whether the workers have loaded: creations wait for that, so a pool that fails leaves nothing half-done. */
  #ready = false;
  /** Files to create on the workers: (number, size) pairs, and paths. */
  #batch: number[] = [];
  #batchPaths: string[] = [];
  readonly #creating: Promise<void>[] = [];
  #error: unknown = undefined;
  /** Index entries looked up ahead by {@link prefetch}, not yet planned. */
  readonly #known = new Map<string, IndexEntry>();
  /** Sealed segments and their regions, in reading order. */
  readonly #segments: Segment[] = [];
  readonly #tasks: Task[] = [];
  /** Blob numbers in reading order (segment after segment, each sorted by pack and offset). */
  readonly #order: number[] = [];
  /** Planned blobs not yet sealed, in plan order. */
  #open: number[] = [];
  /** Data blobs in each pack (by plan pack number), per the index: looked up as packs are first sealed. */
  readonly #packBlobs = new Map<number, number>();
  /** Files below this number belong to a sealed segment. */
  #sealedFiles = 0;
  /** Planned bytes between seals; the planned-bytes clock at the last one. */
  #sealAt: number;
  #sealClock = 0;
  /** Set once {@link run} sealed the last segment. */
  #closed = false;
  /** The readers, once the first segment is sealed; they settle when everything is written. */
  #writing: Promise<number> | null = null;
  /** Readers waiting for a segment to be sealed. */
  #idle: (() => void)[] = [];
  #lastYield = 0;

  /** Starts an empty plan. */
  constructor(repo: Repository, catalog: Catalog, options: ContentOptions = {}) {
    this.#repo = repo;
    this.#catalog = catalog;
    this.#options = options;
    this.#sealAt = Math.max(1, options.segmentBytes ?? SEGMENT_FIRST);
  }

  /**
   * Looks up in one query where the blobs of files about to be {@link add}ed are stored (one query per
   * directory instead of one per blob).
   */
  prefetch(ids: readonly string[]): void {
    const plan = this.#plan;
    const wanted = ids.filter((id) => !plan.byId.has(id) && !this.#known.has(id));
    for (const [id, e] of this.#catalog.lookupBlobs(wanted)) this.#known.set(id, e);
  }

  /**
   * Creates `dest` (it must not exist) at the size of `content` and plans its blobs; returns the file's
   * number, or -1 when it could not be created (reported through `warn` and `onIncomplete`). A creation
   * handed to a worker may also fail later: it is reported then, and that file is never done. A blob not in
   * the index damages the file (the blobs before it are still written). Throws the writing's error once
   * writing failed.
   */
  add(dest: string, content: readonly string[] | undefined): number {
    if (this.#error !== undefined) throw this.#error;
    const plan = this.#plan;
    const blobs = this.#blobs;
    blobs.length = 0;
    let size = 0;
    let missing: string | undefined;
    for (const id of content ?? []) {
      let b = plan.byId.get(id);
      if (b !== undefined && plan.sealed[b]) this.#open.push(b = plan.again(b));
      else if (b === undefined) {
        const entry = this.#known.get(id) ?? this.#catalog.lookupBlob(id);
        this.#known.delete(id);
        if (!entry) {
          // The blobs after it cannot be placed (where they go depends on its length).
          missing = `blob ${id.slice(0, 12)} is not in the index`;
          break;
        }
        this.#open.push(b = plan.add(id, entry));
      }
      plan.packTouched[plan.pack[b]] = this.#planned + size;
      blobs.push(b, size);
      size += plan.rawLength[b];
    }
    const n = this.#dests.length;
    // A file of one blob is created by the decoder that writes that blob, with its first write: one open
    // instead of two, on a worker. (A file of several blobs may be written by several decoders at once, so it
    // exists before any of them writes.)
    const deferred = blobs.length === 2 && !missing;
    if (deferred) {
      // created with its blob
    } else if (this.#decoders instanceof DecoderPool) {
      this.#batch.push(n, size);
      this.#batchPaths.push(dest);
      if (this.#ready && this.#batchPaths.length >= CREATE_BATCH) this.#flush();
    } else {
      const [failed] = createFiles([n, size], [dest]);
      if (failed) {
        this.#options.warn?.(dest, failed[1]);
        this.#options.onIncomplete?.(dest, undefined, failed[1]);
        return -1;
      }
    }
    this.#dests.push(dest);
    this.#sizes.push(size);
    this.#remaining.push(blobs.length / 2);
    this.#undispatched.push(blobs.length / 2);
    this.#state.push(WRITING);
    this.#deferred.push(deferred ? 1 : 0);
    if (missing) this.#fail(n, missing, DAMAGED);
    for (let k = 0; k < blobs.length; k += 2) plan.target(blobs[k], n, blobs[k + 1]);
    this.#planned += size;
    // Workers start once the restore is big enough (or at once when asked for); they load while the walk
    // goes on.
    if (!this.#decoders && size && (this.#options.workers !== undefined || this.#planned >= INLINE_MAX)) {
      this.#start();
    }
    if (this.#planned - this.#sealClock >= this.#sealAt) {
      this.#seal(false);
      this.#sealClock = this.#planned;
      this.#sealAt = Math.min(2 * this.#sealAt, SEGMENT_MAX);
    }
    return n;
  }

  /**
   * Lets the writing go on: resolves at once, or after a turn of the event loop when the caller has kept
   * the thread for a while. A restore walking its trees calls it between directories, so the regions
   * already sealed are read, handed out and accounted for meanwhile.
   */
  async pause(): Promise<void> {
    if (!this.#writing) return;
    const now = performance.now();
    if (now - this.#lastYield < YIELD_MS) return;
    await nextTurn();
    this.#lastYield = performance.now();
  }

  #start(): void {
    const cores = navigator.hardwareConcurrency || 1;
    const workers = this.#options.workers ?? (cores > 1 ? Math.min(4, cores) : 0);
    if (workers <= 0) {
      this.#decoders = new InlineDecoders(this.#repo);
      return;
    }
    const pool = this.#decoders = new DecoderPool(this.#repo, workers);
    pool.ready.then(
      () => {
        if (this.#decoders !== pool) return;
        this.#ready = true;
        this.#flush();
      },
      () => {
        // Workers that cannot load the transforms (a plugin that only works here): work here instead.
        if (this.#decoders !== pool) return;
        pool.terminate();
        this.#decoders = new InlineDecoders(this.#repo);
        const failed = createFiles(this.#batch, this.#batchPaths);
        for (const [n, message] of failed) this.#fail(n, message, ABSENT);
        this.#batch = [];
        this.#batchPaths = [];
      },
    );
  }

  /**
   * File `n` is not restored exactly: `state` says how far (a later state overrides an earlier one); the
   * first reason is reported, once.
   */
  #fail(n: number, message: string, state: typeof DAMAGED | typeof STOPPED | typeof ABSENT): void {
    const was = this.#state[n];
    if (was === DONE || was >= state) return;
    this.#state[n] = state;
    if (was !== WRITING) return;
    this.#why.set(n, message);
    this.#options.warn?.(this.#dests[n], message);
  }

  /**
   * Once the writing ended or stopped: every file not complete leaves its own name (see
   * {@link setAside}) and is reported. Files still being written by a stopped worker are written through
   * their open handles, to the renamed file; none is opened by its name again.
   */
  #setAside(): void {
    if (this.#setAsideDone) return;
    this.#setAsideDone = true;
    const state = this.#state;
    for (let n = 0; n < state.length; n++) {
      if (state[n] === DONE) continue;
      const was = state[n];
      state[n] = ABSENT; // never done from now on
      const path = this.#dests[n];
      let message = this.#why.get(n) ?? "the restore stopped before it was written";
      let partial: string | undefined;
      if (was !== ABSENT) {
        try {
          partial = setAside(path);
        } catch (e) {
          message += `; it could not be removed either (${(e as Error).message}): it is INCOMPLETE`;
        }
      }
      this.#options.onIncomplete?.(path, partial, message);
    }
  }

  /** Hands the files waiting to be created to a worker. */
  #flush(): void {
    if (!this.#batchPaths.length || !(this.#decoders instanceof DecoderPool)) return;
    const done = this.#decoders.create(this.#batch, this.#batchPaths).then(
      (failed) => {
        for (const [n, message] of failed) this.#fail(n, message, ABSENT);
      },
      (e) => {
        this.#error ??= e;
      },
    );
    this.#creating.push(done);
    this.#batch = [];
    this.#batchPaths = [];
  }

  /** Settles once every file added so far exists (or failed to be created); rejects with a pool's error. */
  async #created(): Promise<void> {
    // The pool's own handlers (attached first) have run once this wait is over.
    if (this.#decoders instanceof DecoderPool && !this.#ready) await this.#decoders.ready.catch(() => {});
    this.#flush();
    await Promise.all(this.#creating);
    if (this.#error !== undefined) throw this.#error;
  }

  /** Every byte of the file was written: its metadata can be set. */
  #done(n: number): void {
    if (this.#state[n] !== WRITING) return;
    this.#state[n] = DONE;
    this.#options.onFileDone?.(n, this.#metaSet.delete(n));
  }

  /**
   * Seals a segment: the open blobs whose packs are done with, sorted by pack and offset, become regions
   * for the readers. A pack is done with once every data blob the index places in it is planned, or once
   * the walk has planned {@link COLD} bytes without touching it; the rest wait for a later seal, so a
   * pack is seldom read in more pieces than one plan would read it in. `last` seals everything.
   */
  #seal(last: boolean): void {
    const plan = this.#plan;
    let take = this.#open;
    if (!last) {
      const unknown = new Set<number>();
      for (const b of take) if (!this.#packBlobs.has(plan.pack[b])) unknown.add(plan.pack[b]);
      if (unknown.size) {
        const counts = this.#catalog.packDataBlobs([...unknown].map((p) => plan.packs[p]));
        for (const p of unknown) this.#packBlobs.set(p, counts.get(plan.packs[p]) ?? 0);
      }
      const clock = this.#planned;
      const keep: number[] = [];
      take = [];
      for (const b of this.#open) {
        const p = plan.pack[b];
        const done = plan.packPlanned[p] >= this.#packBlobs.get(p)! || clock - plan.packTouched[p] >= COLD;
        (done ? take : keep).push(b);
      }
      this.#open = keep;
      if (!take.length) return;
    } else this.#open = [];
    for (const b of take) plan.sealed[b] = 1;
    const segment: Segment = {
      firstFile: this.#sealedFiles,
      endFile: this.#dests.length,
      ready: this.#created(),
    };
    const s = this.#segments.push(segment) - 1;
    this.#sealedFiles = this.#dests.length;
    // Files without content are done once they exist.
    segment.ready = segment.ready.then(() => {
      for (let n = segment.firstFile; n < segment.endFile; n++) if (!this.#remaining[n]) this.#done(n);
    });
    segment.ready.catch(() => {});

    // Sort the blobs by pack and offset; group neighbours into regions of at most MAX_RANGE.
    const order = this.#order;
    const sorted = Int32Array.from(take);
    // Packs in the order the walk first met them (numbers, not id strings, are compared).
    sorted.sort((x, y) => plan.pack[x] - plan.pack[y] || plan.offset[x] - plan.offset[y]);
    const base = order.length;
    for (const b of sorted) order.push(b);
    for (let i = base; i < order.length;) {
      const first = order[i];
      const start = plan.offset[first];
      let end = start + plan.length[first];
      let k = i + 1;
      for (; k < order.length; k++) {
        const b = order[k];
        if (plan.pack[b] !== plan.pack[first]) break;
        const blobEnd = plan.offset[b] + plan.length[b];
        if (plan.offset[b] - end > MERGE_GAP || blobEnd - start > MAX_RANGE) break;
        end = Math.max(end, blobEnd);
      }
      this.#tasks.push({
        pack: plan.packs[plan.pack[first]],
        first: i,
        count: k - i,
        start,
        length: end - start,
        segment: s,
      });
      i = k;
    }
    this.#writing ??= this.#write();
    this.#writing.catch(() => {});
    this.#wake();
  }

  #wake(): void {
    const idle = this.#idle;
    this.#idle = [];
    for (const wake of idle) wake();
  }

  /**
   * Stops the workers (after a failure); nothing more is created or written, and the files not complete
   * leave their names (see {@link ContentOptions.onIncomplete}).
   */
  terminate(): void {
    const decoders = this.#decoders;
    this.#decoders = null;
    this.#error ??= new Error("restore stopped");
    this.#closed = true;
    this.#wake();
    decoders?.terminate();
    this.#setAside();
  }

  /**
   * Writes every planned file (what is left of them once the walk is done); returns the bytes written.
   * Files without content are done once they exist.
   */
  async run(): Promise<number> {
    this.#closed = true;
    this.#seal(true);
    this.#wake();
    return await this.#writing!;
  }

  /** The readers: read the sealed regions, a few at once and a bounded number of bytes ahead. */
  async #write(): Promise<number> {
    const options = this.#options;
    const { signal } = options;
    const plan = this.#plan;
    const dests = this.#dests;
    const remaining = this.#remaining;
    const undispatched = this.#undispatched;
    const state = this.#state;
    const tasks = this.#tasks;
    const order = this.#order;
    let bytes = 0;
    /** Every file a blob of `job` goes to is damaged. */
    const damage = (blob: BlobJob, message: string) => {
      for (let k = 0; k < blob.targets.length; k += 2) this.#fail(blob.targets[k], message, DAMAGED);
    };

    let jobs = 0;
    /** The job for a region: its blobs with their live targets; null when no target is live. */
    const build = (t: Task): RegionJob | null => {
      const blobs: BlobJob[] = [];
      const paths = new Map<number, string>();
      const closing: number[] = [];
      const sizes: number[] = [];
      const create: number[] = [];
      /** Writes in this job per file. */
      const writes = new Map<number, number>();
      for (let i = t.first; i < t.first + t.count; i++) {
        const b = order[i];
        const targets: number[] = [];
        plan.forTargets(b, (n, offset) => {
          if (--undispatched[n] === 0) {
            closing.push(n);
            sizes.push(this.#sizes[n]);
          }
          if (state[n] === STOPPED || state[n] === ABSENT) return;
          targets.push(n, offset);
          writes.set(n, (writes.get(n) ?? 0) + 1);
          if (!paths.has(n)) {
            paths.set(n, dests[n]);
            if (this.#deferred[n]) create.push(n);
          }
        });
        if (!targets.length) continue;
        blobs.push({
          id: plan.ids[b],
          tree: plan.flags[b] & 2 ? 1 : 0,
          compressed: (plan.flags[b] & 1) === 1,
          offset: plan.offset[b] - t.start,
          length: plan.length[b],
          rawLength: plan.rawLength[b],
          targets,
        });
      }
      if (!blobs.length) return null;
      // The metadata of a file goes with the job that writes all of it (none of its writes is elsewhere).
      const meta: number[] = [];
      const times: bigint[] = [];
      if (options.metadata) {
        for (const n of closing) {
          if (state[n] !== WRITING || writes.get(n) !== remaining[n]) continue;
          const m = options.metadata(n);
          if (!m) continue;
          meta.push(n, m.mode, m.uid, m.gid);
          times.push(m.atimeNs, m.mtimeNs);
        }
      }
      return {
        job: jobs++,
        pack: t.pack,
        data: new Uint8Array(0),
        blobs,
        paths: [...paths],
        closing,
        sizes,
        create,
        meta,
        times,
      };
    };
    const finish = (job: RegionJob, r: RegionResult) => {
      for (const [n, message] of r.absent) this.#fail(n, message, ABSENT);
      for (const [n, message] of r.failed) this.#fail(n, message, STOPPED);
      for (const n of r.metaSet) this.#metaSet.add(n);
      for (const [n, message] of r.metaFailed) options.warn?.(dests[n], `cannot set metadata: ${message}`);
      for (const [i, message] of r.damaged) damage(job.blobs[i], message);
      signal?.throwIfAborted();
      for (const b of job.blobs) {
        for (let k = 0; k < b.targets.length; k += 2) {
          const n = b.targets[k];
          if (--remaining[n] === 0) this.#done(n);
        }
      }
      bytes += r.bytes;
      options.onBytes?.(bytes);
    };

    let inFlight = 0;
    let waiting: (() => void)[] = [];
    const landed = (n: number) => {
      inFlight -= n;
      const w = waiting;
      waiting = [];
      for (const wake of w) wake();
    };
    const running = new Set<Promise<void>>();
    const concurrency = Math.max(
      1,
      options.concurrency ?? Math.min(8, Math.max(4, this.#repo.storage.capabilities.concurrency)),
    );
    // Sealed bytes read but not yet written, at most (one region always goes, however large), counted at
    // the capacity of the buffers they are read into.
    const ahead = readAhead(this.#repo.storage.capabilities.concurrency);
    const maxInFlight = Math.max(MAX_RANGE, ahead);
    const buffers = new RegionBuffers(ahead);
    let next = 0;
    const reader = async () => {
      while (this.#error === undefined) {
        if (next >= tasks.length) {
          if (this.#closed) break;
          await new Promise<void>((wake) => this.#idle.push(wake));
          continue;
        }
        const t = tasks[next++];
        try {
          await this.#segments[t.segment].ready;
          signal?.throwIfAborted();
          if (this.#error !== undefined) break; // terminated meanwhile
          const job = build(t);
          if (!job) continue;
          // Decoders exist once a file with content was added; a restore without content needs none.
          const decoders = this.#decoders ??= new InlineDecoders(this.#repo);
          const cost = RegionBuffers.capacity(t.length);
          while (inFlight > 0 && inFlight + cost > maxInFlight) {
            await new Promise<void>((wake) => waiting.push(wake));
          }
          if (this.#error !== undefined) break;
          inFlight += cost;
          try {
            job.data = await readRegion(this.#repo, t, signal, buffers.take(t.length));
          } catch (e) {
            landed(cost);
            if (signal?.aborted) throw e;
            // A pack that cannot be read spoils only the files that need this region of it.
            for (const b of job.blobs) damage(b, (e as Error).message);
            continue;
          }
          const run: Promise<void> = decoders.run(job)
            .then((r) => {
              buffers.give(r.buffer);
              finish(job, r);
            })
            .catch((e) => {
              this.#error ??= e;
              this.#wake();
            })
            .finally(() => {
              running.delete(run);
              landed(cost);
            });
          running.add(run);
        } catch (e) {
          this.#error ??= e;
          this.#wake();
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: concurrency }, reader));
      while (running.size) await Promise.all(running);
      // Every segment's files exist (and the empty ones are done) before the restore is.
      await Promise.all(this.#segments.map((s) => s.ready));
    } catch (e) {
      this.#error ??= e;
    }
    const decoders = this.#decoders;
    if (this.#error !== undefined) {
      decoders?.terminate();
      this.#setAside();
      throw this.#error;
    }
    try {
      if (decoders) await decoders.close();
    } finally {
      this.#setAside();
    }
    return bytes;
  }
}

/**
 * Takes a file not restored exactly away from its name: renamed `path` + {@link PARTIAL_SUFFIX} when
 * something of it was written and that name is free (an existing file there is never replaced: it may
 * be one this restore wrote), else removed. Returns the partial copy's path, if one is kept. A path that
 * is no regular file is not this restore's and is left alone.
 */
function setAside(path: string): string | undefined {
  let st: Deno.FileInfo;
  try {
    st = Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  if (!st.isFile) return undefined;
  if (st.size > 0) {
    const partial = path + PARTIAL_SUFFIX;
    let free = false;
    try {
      Deno.lstatSync(partial);
    } catch (e) {
      free = e instanceof Deno.errors.NotFound;
    }
    if (free) {
      try {
        Deno.renameSync(path, partial);
        return partial;
      } catch { /* e.g. the longer name does not fit: removed below */ }
    }
  }
  Deno.removeSync(path);
  return undefined;
}

/** Reads one region of a pack, into `into` when the storage takes it. */
async function readRegion(
  repo: Repository,
  t: Task,
  signal?: AbortSignal,
  into?: Uint8Array,
): Promise<Uint8Array> {
  let data: Uint8Array;
  try {
    data = await repo.storage.get(packName(t.pack), {
      range: { offset: t.start, length: t.length },
      signal,
      ...(into ? { into } : {}),
    });
  } catch (e) {
    if (isStorageError(e, "not-found")) {
      throw new IntegrityError(`pack ${t.pack.slice(0, 12)} is missing`);
    }
    throw e;
  }
  if (data.length !== t.length) {
    release(data);
    throw new IntegrityError(`pack ${t.pack.slice(0, 12)} is truncated`);
  }
  return data;
}
