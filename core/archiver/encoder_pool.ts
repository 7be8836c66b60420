/**
 * Compression and sealing on Worker threads: the main thread reads, chunks, hashes and deduplicates;
 * workers compress and seal. Plaintext is copied once into a recycled buffer and transferred (not
 * copied) to a worker, which transfers it back with the sealed bytes.
 *
 * @example
 * ```ts
 * import { EncoderPool } from "./encoder_pool.ts";
 * // const pool = new EncoderPool(repo); const blob = await pool.encode("data", id, bytes); pool.close();
 * ```
 * @module
 */
import type { EncodedBlob, Repository } from "../repository/repository.ts";
import type { InitMessage, JobMessage, ResultMessage } from "./encoder_worker.ts";
import { keepMallocLean } from "../platform/libc.ts";

/**
 * Input buffers kept for reuse: as many as a caller keeps encodes in flight (the archiver's window is 16),
 * so that a steady stream of blobs allocates none; a buffer dropped and allocated again per blob was
 * garbage of a megabyte per blob until the next collection.
 */
const KEEP_FREE = 32;
/** Input buffers are allocated in multiples of this size. */
const ROUND = 128 * 1024;

interface Pending {
  resolve: (b: EncodedBlob) => void;
  reject: (e: Error) => void;
  type: "data" | "tree";
  id: string;
  length: number;
  worker: number;
}

/**
 * A worker is added to the pool only once every started one has this many jobs queued: it cannot keep up.
 * Each worker costs about 30 MiB (its isolate, the compressor's state, its allocations), and a stream read
 * at the network's speed (a bucket's object, a dump) keeps one busy at most: a 512 MiB object from a
 * bucket peaked at 184 MiB RSS with one and about 215 with two, in the same time. Three quarters of the
 * archiver's window of 16 encodes in flight: at 8, a pause of the one worker (a loaded machine) started
 * the second one during a 2 GiB bucket backup.
 */
const GROW_AT = 12;

/** A pool of encoder workers; `encode` has the same contract as `Repository.encodeBlob`. */
export class EncoderPool {
  readonly #workers: Worker[] = [];
  readonly #load: number[] = [];
  readonly #pending = new Map<number, Pending>();
  readonly #free: ArrayBuffer[] = [];
  readonly #init: InitMessage;
  readonly #size: number;
  #job = 0;

  /**
   * A pool of up to `size` workers (default: one per core): one starts now, the others when the started
   * ones fall behind (see {@link GROW_AT}).
   */
  constructor(repo: Repository, size = Math.max(1, navigator.hardwareConcurrency || 2), level?: number) {
    keepMallocLean(); // sealed blobs are allocated on the workers and freed here
    this.#init = {
      kind: "init",
      cipher: repo.modules.cipher,
      key: repo.keys.encryption,
      compression: repo.modules.compression,
      compressionOptions: level ?? repo.settings.compressionLevel
        ? { level: level ?? repo.settings.compressionLevel }
        : {},
    };
    this.#size = Math.max(1, size);
    this.#start();
  }

  /** Workers started so far. */
  get started(): number {
    return this.#workers.length;
  }

  #start(): number {
    const i = this.#workers.length;
    const w = new Worker(new URL("./encoder_worker.ts", import.meta.url), { type: "module" });
    w.onmessage = (e: MessageEvent<ResultMessage>) => this.#done(e.data);
    w.onerror = (e) => {
      e.preventDefault();
      for (const [job, p] of this.#pending) {
        if (p.worker === i) {
          this.#pending.delete(job);
          p.reject(new Error(`encoder worker failed: ${e.message}`));
        }
      }
    };
    w.postMessage(this.#init);
    this.#workers.push(w);
    this.#load.push(0);
    return i;
  }

  /**
   * The smallest free buffer that holds `size` bytes, or a new one of `size` rounded up to {@link ROUND}:
   * chunks average 256 KiB by default, and buffers of at least 1 MiB each, taken first-fit, held 16 MiB
   * for a window of 16 encodes.
   */
  #buffer(size: number): ArrayBuffer {
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const n = this.#free[i].byteLength;
      if (n >= size && (best < 0 || n < this.#free[best].byteLength)) best = i;
    }
    if (best >= 0) return this.#free.splice(best, 1)[0];
    return new ArrayBuffer(Math.max(ROUND, Math.ceil(size / ROUND) * ROUND));
  }

  #done(msg: ResultMessage) {
    const p = this.#pending.get(msg.job);
    if (this.#free.length < KEEP_FREE) this.#free.push(msg.buffer);
    if (!p) return;
    this.#pending.delete(msg.job);
    this.#load[p.worker]--;
    if (msg.error || !msg.sealed) {
      p.reject(new Error(msg.error ?? "encoder worker returned nothing"));
      return;
    }
    p.resolve({
      id: p.id,
      type: p.type,
      compressed: !!msg.compressed,
      length: msg.sealed.length,
      rawLength: p.length,
      sealed: msg.sealed,
    });
  }

  /** Encodes one blob; `plain` is copied before this returns, so the caller may reuse it. */
  encode(type: "data" | "tree", id: string, plain: Uint8Array, compress = true): Promise<EncodedBlob> {
    const buffer = this.#buffer(plain.length);
    new Uint8Array(buffer, 0, plain.length).set(plain);
    let worker = 0;
    for (let i = 1; i < this.#load.length; i++) if (this.#load[i] < this.#load[worker]) worker = i;
    if (this.#load[worker] >= GROW_AT && this.#workers.length < this.#size) worker = this.#start();
    this.#load[worker]++;
    const job = ++this.#job;
    return new Promise((resolve, reject) => {
      this.#pending.set(job, { resolve, reject, type, id, length: plain.length, worker });
      const msg: JobMessage = { kind: "job", job, type, id, buffer, length: plain.length, compress };
      this.#workers[worker].postMessage(msg, [buffer]);
    });
  }

  /** Stops the workers. */
  close(): void {
    for (const w of this.#workers) w.terminate();
    for (const p of this.#pending.values()) p.reject(new Error("encoder pool closed"));
    this.#pending.clear();
  }
}
