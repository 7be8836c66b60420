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

interface Pending {
  resolve: (b: EncodedBlob) => void;
  reject: (e: Error) => void;
  type: "data" | "tree";
  id: string;
  length: number;
  worker: number;
}

/** A pool of encoder workers; `encode` has the same contract as `Repository.encodeBlob`. */
export class EncoderPool {
  readonly #workers: Worker[] = [];
  readonly #load: number[] = [];
  readonly #pending = new Map<number, Pending>();
  readonly #free: ArrayBuffer[] = [];
  #job = 0;

  /** Starts `size` workers (default: one per core). */
  constructor(repo: Repository, size = Math.max(1, navigator.hardwareConcurrency || 2), level?: number) {
    keepMallocLean(); // sealed blobs are allocated on the workers and freed here
    const init: InitMessage = {
      kind: "init",
      cipher: repo.modules.cipher,
      key: repo.keys.encryption,
      compression: repo.modules.compression,
      compressionOptions: level ?? repo.settings.compressionLevel
        ? { level: level ?? repo.settings.compressionLevel }
        : {},
    };
    for (let i = 0; i < size; i++) {
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
      w.postMessage(init);
      this.#workers.push(w);
      this.#load.push(0);
    }
  }

  #buffer(size: number): ArrayBuffer {
    for (let i = this.#free.length - 1; i >= 0; i--) {
      if (this.#free[i].byteLength >= size) return this.#free.splice(i, 1)[0];
    }
    return new ArrayBuffer(Math.max(size, 1 << 20));
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
