/**
 * Where a restore decodes and writes its pack regions: on a pool of Worker threads
 * ({@link DecoderPool}), so every core decrypts, decompresses, checks and writes while the main thread
 * reads the next regions; or on the calling thread ({@link InlineDecoders}), for small restores, where
 * starting workers would cost more than it saves. Both run the same {@link RegionDecoder}.
 *
 * A region's bytes are transferred to the worker, not copied, one message per region.
 *
 * @example
 * ```ts
 * import { DecoderPool } from "./decoder_pool.ts";
 * // const pool = new DecoderPool(repo, 2); const result = await pool.run(job); await pool.close();
 * ```
 * @module
 */
import type { Repository } from "../repository/repository.ts";
import { createFiles, RegionDecoder, type RegionJob, type RegionResult } from "./decoder.ts";
import type {
  ClosedMessage,
  CloseMessage,
  CreatedMessage,
  CreateMessage,
  InitMessage,
  ReadyMessage,
  RegionMessage,
  ResultMessage,
} from "./decoder_worker.ts";

/** Runs region jobs. `run` takes ownership of `job.data` (its buffer may be detached). */
export interface Decoders {
  /** Creates files, empty ((index, size) pairs, and paths); resolves to the failures. */
  create(files: number[], paths: string[]): Promise<[number, string][]>;
  /** Decodes a region and writes its blobs. */
  run(job: RegionJob): Promise<RegionResult>;
  /** Closes every file and stops; call once all jobs are done. */
  close(): Promise<void>;
  /** Stops at once (after a failure); jobs in flight are abandoned. */
  terminate(): void;
}

/** Decoding on the calling thread. */
export class InlineDecoders implements Decoders {
  readonly #decoder: RegionDecoder;

  /** Uses the repository's own transforms. */
  constructor(repo: Repository) {
    this.#decoder = new RegionDecoder(repo.cipher, repo.compression, repo.hasher);
  }

  /** Creates files, empty. */
  create(files: number[], paths: string[]): Promise<[number, string][]> {
    return Promise.resolve(createFiles(files, paths));
  }

  /** Decodes a region and writes its blobs. */
  run(job: RegionJob): Promise<RegionResult> {
    return this.#decoder.run(job).then((r) => {
      const b = job.data.buffer;
      if (job.data.byteOffset === 0 && b instanceof ArrayBuffer) r.buffer = b;
      return r;
    });
  }

  /** Closes every file. */
  close(): Promise<void> {
    this.#decoder.close();
    return Promise.resolve();
  }

  /** Closes every file. */
  terminate(): void {
    this.#decoder.close();
  }
}

interface Pending {
  resolve: (r: RegionResult) => void;
  reject: (e: Error) => void;
  worker: number;
  bytes: number;
}

/** A pool of decoder workers. */
export class DecoderPool implements Decoders {
  readonly #workers: Worker[] = [];
  /** Sealed bytes in flight per worker (-1: the worker died). */
  readonly #load: number[] = [];
  readonly #pending = new Map<number, Pending>();
  readonly #closing: (() => void)[] = [];
  readonly #batches = new Map<
    number,
    { resolve: (failed: [number, string][]) => void; reject: (e: Error) => void; worker: number }
  >();
  #batch = 0;
  #started = 0;
  #onReady!: () => void;
  #onFailed!: (e: Error) => void;
  /** Settles once every worker has loaded the transforms; rejects when one could not. */
  readonly ready: Promise<void> = new Promise((resolve, reject) => {
    this.#onReady = resolve;
    this.#onFailed = reject;
  });

  /** Starts `size` workers with the repository's transforms and keys. */
  constructor(repo: Repository, size: number) {
    const init: InitMessage = {
      kind: "init",
      cipher: repo.modules.cipher,
      key: repo.keys.encryption,
      idKey: repo.keys.id,
      compression: repo.modules.compression,
      compressionOptions: repo.settings.compressionLevel !== undefined
        ? { level: repo.settings.compressionLevel }
        : {},
    };
    this.ready.catch(() => {});
    for (let i = 0; i < Math.max(1, size); i++) {
      const w = new Worker(new URL("./decoder_worker.ts", import.meta.url), { type: "module" });
      w.onmessage = (e: MessageEvent<ResultMessage | ClosedMessage | ReadyMessage | CreatedMessage>) =>
        this.#message(i, e.data);
      w.onerror = (e) => {
        e.preventDefault();
        this.#onFailed(new Error(`restore worker failed: ${e.message}`));
        this.#load[i] = -1;
        for (const [job, p] of this.#pending) {
          if (p.worker === i) {
            this.#pending.delete(job);
            p.reject(new Error(`restore worker failed: ${e.message}`));
          }
        }
        for (const [batch, b] of this.#batches) {
          if (b.worker === i) {
            this.#batches.delete(batch);
            b.reject(new Error(`restore worker failed: ${e.message}`));
          }
        }
        this.#closing[i]?.();
      };
      w.postMessage(init);
      this.#workers.push(w);
      this.#load.push(0);
    }
  }

  #message(worker: number, msg: ResultMessage | ClosedMessage | ReadyMessage | CreatedMessage) {
    if (msg.kind === "closed") {
      this.#closing[worker]?.();
      return;
    }
    if (msg.kind === "created") {
      const b = this.#batches.get(msg.batch);
      this.#batches.delete(msg.batch);
      b?.resolve(msg.failed);
      return;
    }
    if (msg.kind === "ready") {
      if (msg.error !== undefined) this.#onFailed(new Error(msg.error));
      else if (++this.#started === this.#workers.length) this.#onReady();
      return;
    }
    const p = this.#pending.get(msg.job);
    if (!p) return;
    this.#pending.delete(msg.job);
    this.#load[p.worker] = Math.max(0, this.#load[p.worker] - p.bytes);
    if (msg.error !== undefined) p.reject(new Error(msg.error));
    else {
      p.resolve({
        job: msg.job,
        bytes: msg.bytes,
        failed: msg.failed,
        damaged: msg.damaged,
        absent: msg.absent,
        metaSet: msg.metaSet,
        metaFailed: msg.metaFailed,
        buffer: msg.buffer,
      });
    }
  }

  /** Creates files on the next worker in turn (they are idle while the restore walks its trees). */
  create(files: number[], paths: string[]): Promise<[number, string][]> {
    const live = this.#load.map((l, i) => l >= 0 ? i : -1).filter((i) => i >= 0);
    if (!live.length) return Promise.reject(new Error("restore workers failed"));
    const batch = ++this.#batch;
    const worker = live[batch % live.length];
    return new Promise((resolve, reject) => {
      this.#batches.set(batch, { resolve, reject, worker });
      const msg: CreateMessage = { kind: "create", batch, files, paths };
      this.#workers[worker].postMessage(msg);
    });
  }

  /** Sends a region to the least busy worker, its buffer transferred (and handed back in the result). */
  run(job: RegionJob): Promise<RegionResult> {
    let worker = -1;
    for (let i = 0; i < this.#load.length; i++) {
      if (this.#load[i] >= 0 && (worker < 0 || this.#load[i] < this.#load[worker])) worker = i;
    }
    if (worker < 0) return Promise.reject(new Error("restore workers failed"));
    let data = job.data;
    // The region's buffer goes whole (it is the restore's own: a storage read); a view that does not start
    // it is sent as a copy.
    if (!(data.buffer instanceof ArrayBuffer) || data.byteOffset !== 0) data = data.slice();
    const buffer = data.buffer as ArrayBuffer;
    const bytes = data.length;
    this.#load[worker] += bytes;
    return new Promise((resolve, reject) => {
      this.#pending.set(job.job, { resolve, reject, worker, bytes });
      const msg: RegionMessage = {
        kind: "region",
        job: job.job,
        pack: job.pack,
        buffer,
        length: bytes,
        blobs: job.blobs,
        paths: job.paths,
        closing: job.closing,
        sizes: job.sizes,
        create: job.create,
        meta: job.meta,
        times: job.times,
      };
      this.#workers[worker].postMessage(msg, [buffer]);
    });
  }

  /** Lets every worker close its files, then stops them. */
  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w, i) => {
      if (this.#load[i] < 0) return;
      return new Promise<void>((resolve) => {
        this.#closing[i] = resolve;
        w.postMessage({ kind: "close" } satisfies CloseMessage);
      });
    }));
    this.terminate();
  }

  /** Stops the workers at once. */
  terminate(): void {
    this.#onFailed(new Error("restore workers stopped"));
    for (const w of this.#workers) w.terminate();
    for (const p of this.#pending.values()) p.reject(new Error("restore workers stopped"));
    this.#pending.clear();
    for (const b of this.#batches.values()) b.reject(new Error("restore workers stopped"));
    this.#batches.clear();
  }
}
