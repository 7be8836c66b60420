/**
 * Reads, chunks, ids, compresses and seals local files on Worker threads (see {@link ./file_worker.ts}),
 * so a backup uses every core: the main thread walks the tree, decides what changed, packs, uploads
 * and builds trees. Sealed blobs arrive in recycled buffers that go back to their worker once
 * `onBlobs` has copied them into packs.
 *
 * @example
 * ```ts
 * import { FilePool } from "./file_pool.ts";
 * // const pool = new FilePool(repo, { catalogPath, onBlobs: async (blobs) => { for (const b of blobs) await packer.add(b); } });
 * // const [outcome] = await pool.read(["/etc/hostname"]); pool.close();
 * ```
 * @module
 */
import type { EncodedBlob, Repository } from "../repository/repository.ts";
import type {
  BlobsMessage,
  DoneMessage,
  FailMessage,
  FileAck,
  FileJob,
  FileOutcome,
  FileWorkerInit,
  ReadMessage,
} from "./file_worker.ts";

import { keepMallocLean } from "../platform/libc.ts";

export type { FileOutcome } from "./file_worker.ts";

/** Options of {@link FilePool}. */
export interface FilePoolOptions {
  /** Worker threads (default: one per core). */
  size?: number;
  /** The catalog database file the workers read to skip stored blobs; null when it has no file. */
  catalogPath: string | null;
  /** Try compression (default true). */
  compress?: boolean;
  /** Compression level instead of the repository's. */
  compressionLevel?: number;
  /** Receives new sealed blobs (in the worker's order); must copy them before its promise settles. */
  onBlobs(blobs: EncodedBlob[]): Promise<void>;
  /** Receives how many bytes the workers read, as they go; a job's last bytes before it resolves. */
  onRead?(bytes: number): void;
}

interface Pending {
  resolve: (files: FileOutcome[]) => void;
  reject: (e: Error) => void;
  worker: number;
  bytes: number;
}

/** A pool of file workers. */
export class FilePool {
  readonly #workers: Worker[] = [];
  readonly #load: number[] = [];
  readonly #pending = new Map<number, Pending>();
  readonly #handling = new Set<Promise<void>>();
  readonly #onBlobs: (blobs: EncodedBlob[]) => Promise<void>;
  readonly #onRead: (bytes: number) => void;
  #job = 0;
  #failure: Error | null = null;

  /** Starts the workers. */
  constructor(repo: Repository, options: FilePoolOptions) {
    keepMallocLean(); // blob buffers cross between the workers and this thread
    this.#onBlobs = options.onBlobs;
    this.#onRead = options.onRead ?? (() => {});
    const size = Math.max(1, options.size ?? (navigator.hardwareConcurrency || 2));
    const level = options.compressionLevel ?? repo.settings.compressionLevel;
    const init: FileWorkerInit = {
      kind: "init",
      cipher: repo.modules.cipher,
      key: repo.keys.encryption,
      idKey: repo.keys.id,
      chunkerSeed: repo.keys.chunker,
      chunker: repo.settings.chunker,
      compression: repo.modules.compression,
      compressionOptions: level !== undefined ? { level } : {},
      compress: options.compress ?? true,
      catalogPath: options.catalogPath,
    };
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./file_worker.ts", import.meta.url), { type: "module" });
      w.onmessage = (e: MessageEvent<BlobsMessage | ReadMessage | DoneMessage | FailMessage>) =>
        this.#message(i, e.data);
      w.onerror = (e) => {
        e.preventDefault();
        this.#fail(i, new Error(`file worker failed: ${e.message}`));
      };
      w.postMessage(init);
      this.#workers.push(w);
      this.#load.push(0);
    }
  }

  #fail(worker: number, error: Error) {
    this.#failure ??= error;
    for (const [job, p] of this.#pending) {
      if (p.worker === worker) {
        this.#pending.delete(job);
        this.#load[worker] -= p.bytes;
        p.reject(error);
      }
    }
  }

  #message(worker: number, msg: BlobsMessage | ReadMessage | DoneMessage | FailMessage) {
    if (msg.kind === "blobs") {
      const bytes = new Uint8Array(msg.buffer);
      const blobs: EncodedBlob[] = msg.blobs.map((r) => ({
        id: r.id,
        type: "data",
        compressed: r.compressed,
        length: r.length,
        rawLength: r.rawLength,
        sealed: bytes.subarray(r.offset, r.offset + r.length),
      }));
      const h: Promise<void> = this.#onBlobs(blobs).then(() => {
        const ack: FileAck = { kind: "ack", buffer: msg.buffer };
        this.#workers[worker].postMessage(ack, [msg.buffer]);
      }).catch((e) => {
        this.#failure ??= e instanceof Error ? e : new Error(String(e));
        for (const [job, p] of this.#pending) {
          this.#pending.delete(job);
          p.reject(this.#failure);
        }
      }).finally(() => this.#handling.delete(h));
      this.#handling.add(h);
      return;
    }
    if (msg.kind === "read") {
      this.#onRead(msg.bytes);
      return;
    }
    if (msg.kind === "fail") {
      this.#fail(worker, new Error(msg.error));
      return;
    }
    if (msg.read) this.#onRead(msg.read);
    const p = this.#pending.get(msg.job);
    if (!p) return;
    this.#pending.delete(msg.job);
    this.#load[worker] -= p.bytes;
    p.resolve(msg.files);
  }

  /**
   * Reads `paths` (one job, one worker, the least loaded); resolves with one outcome per path, in order.
   * `range` limits a one-file job to part of the file, `attributes` reads the files' attributes too (see
   * {@link FileJob}).
   */
  read(
    paths: string[],
    bytes = 0,
    { range, attributes }: Pick<FileJob, "range" | "attributes"> = {},
  ): Promise<FileOutcome[]> {
    if (this.#failure) return Promise.reject(this.#failure);
    let worker = 0;
    for (let i = 1; i < this.#load.length; i++) if (this.#load[i] < this.#load[worker]) worker = i;
    const weight = bytes + paths.length * 4096; // a file costs an open and a close whatever its size
    this.#load[worker] += weight;
    const job = ++this.#job;
    return new Promise((resolve, reject) => {
      this.#pending.set(job, { resolve, reject, worker, bytes: weight });
      const msg: FileJob = range ? { kind: "job", job, paths, range } : { kind: "job", job, paths };
      if (attributes) msg.attributes = true;
      this.#workers[worker].postMessage(msg);
    });
  }

  /** Waits until every blob received so far has been handed to `onBlobs` and settled. */
  async settle(): Promise<void> {
    while (this.#handling.size) await Promise.race(this.#handling);
    if (this.#failure) throw this.#failure;
  }

  /** Stops the workers. */
  close(): void {
    for (const w of this.#workers) w.terminate();
    for (const p of this.#pending.values()) p.reject(new Error("file pool closed"));
    this.#pending.clear();
  }
}
