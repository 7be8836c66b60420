/**
 * The reading half of a backup: a file entry's content becomes a list of blob ids. Local files are read,
 * chunked, hashed and sealed on the file workers (small ones in batches, large ones split across them);
 * other content (remote objects, dumps) is read here through one reused buffer; hard links are read once.
 *
 * @example
 * ```ts
 * import { FileContents } from "./_file_contents.ts";
 * // const contents = new FileContents({ repo, store, state, workers: 2, compress: true });
 * // const outcome = await contents.read(entry); contents.flush(); await contents.drain(); contents.close();
 * ```
 * @module
 */
import type { ContentReader, SourceEntry } from "../contracts.ts";
import type { Repository } from "../repository/repository.ts";
import { Chunker, gearTable } from "../chunker.ts";
import { readChunks } from "./chunk_reader.ts";
import { type FileOutcome, FilePool } from "./file_pool.ts";
import { splitPoints } from "./split_points.ts";
import type { BlobStore } from "./_blob_store.ts";
import type { RunState } from "./_run_state.ts";

export type { FileOutcome } from "./file_pool.ts";

/** Files up to this size are read in batches (one worker message for many files). */
const SMALL_FILE = 256 * 1024;
/** A batch is sent once it holds this many files … */
const BATCH_FILES = 64;
/** … or this many bytes. */
const BATCH_BYTES = 2 << 20;
/** Jobs in flight per worker before the walk waits. */
const JOBS_PER_WORKER = 4;
/**
 * The buffer content read here (streams: dumps, remote objects) goes through. Streams are cut as they
 * arrive (readChunks), so it needs only room for a maximum chunk ahead plus what a read brings; 16 MiB
 * cost 7 MiB more peak RSS than 8 (300 MB through --stdin: 188 against 181 MB) for no speed.
 */
const BUFFER_SIZE = 8 * 1024 * 1024;
/** Files from this size on are split across workers … */
const SPLIT_AT = 64 << 20;
/** … into parts of at least this size. */
const SPLIT_PART = 32 << 20;

/** Options of {@link FileContents}. */
export interface FileContentsOptions {
  /** The open repository. */
  repo: Repository;
  /** Where the blobs go. */
  store: BlobStore;
  /** The run's shared state. */
  state: RunState;
  /** Worker threads; 0 reads everything here. */
  workers: number;
  /** Try compression. */
  compress: boolean;
  /** Compression level for the workers, instead of the repository's. */
  compressionLevel?: number;
  /** Aborts reads. */
  signal?: AbortSignal;
}

interface Batch {
  paths: string[];
  bytes: number;
  waiters: ((o: FileOutcome) => void)[];
  /** Read the files' attributes too (see {@link FileContents.read}). */
  attributes: boolean;
}

/** Reads the content of a run's file entries. */
export class FileContents {
  readonly #options: FileContentsOptions;
  #files: FilePool | null = null;
  #batch: Batch | null = null;
  /** Jobs in flight (worker reads, reads here). */
  readonly #jobs = new Set<Promise<unknown>>();
  readonly #hardlinks = new Map<string, { size: number; mtime: number; content: Promise<string[] | null> }>();
  /** For content read here; most runs never need it. A chunker of its own: its buffer is its memory. */
  readonly #here: Chunker;
  #buf: Uint8Array | null = null;
  /**
   * Content read here goes through one buffer, so one entry at a time: a second read must not start while
   * the first waits (on its encodes) with chunks of that buffer still to hash and store.
   */
  #hereQueue: Promise<unknown> = Promise.resolve();

  /** Reads for one run. */
  constructor(options: FileContentsOptions) {
    this.#options = options;
    const { repo } = options;
    this.#here = new Chunker(gearTable(repo.keys.chunker), repo.settings.chunker);
  }

  /**
   * The content of file entry `e`: taken from another hard link to it read in this run, or read on a
   * worker (entries with a `localPath`), or here. A read that fails resolves to `{ error }`. With
   * `attributes`, a worker also reads the file's attributes on the open file (the outcome's `attributes`,
   * absent when they were not read there).
   */
  read(e: SourceEntry, attributes = false): Promise<FileOutcome> {
    const linkKey = (e.links ?? 1) > 1 ? `${e.device}:${e.inode}` : "";
    const seen = linkKey ? this.#hardlinks.get(linkKey) : undefined;
    if (seen && seen.size === e.size && seen.mtime === e.mtime) {
      return seen.content.then((content) => content ? { content, size: seen.size } : { error: "" });
    }
    const outcome = e.localPath && this.#options.workers > 0
      ? this.#readOnWorker(e.localPath, e.size, attributes)
      : this.#readHere(e);
    if (linkKey) {
      this.#hardlinks.set(linkKey, {
        size: e.size,
        mtime: e.mtime,
        content: outcome.then((o) => "content" in o ? o.content : null, () => null),
      });
    }
    return outcome;
  }

  /** Waits while the workers have enough queued; throws the run's failure. */
  async throttle(): Promise<void> {
    const max = JOBS_PER_WORKER * Math.max(1, this.#options.workers);
    while (this.#jobs.size >= max) await Promise.race(this.#jobs);
    this.#options.state.check();
  }

  /** Sends the batch being gathered: after the last entry, nothing else would. */
  flush(): void {
    const b = this.#batch;
    if (!b) return;
    this.#batch = null;
    const { state } = this.#options;
    const job = this.#pool().read(b.paths, b.bytes, { attributes: b.attributes }).then(
      (outcomes) => outcomes.forEach((o, i) => b.waiters[i](this.#ended(o))),
      (e) => {
        state.fail(e);
        for (const w of b.waiters) w({ error: String((e as Error)?.message ?? e) });
      },
    ).finally(() => this.#jobs.delete(job));
    this.#jobs.add(job);
  }

  /** Sends the last batch and waits for every read and for the workers' last blobs. */
  async drain(): Promise<void> {
    this.flush();
    while (this.#jobs.size) await Promise.race(this.#jobs);
    await this.#files?.settle();
  }

  /** Stops the file workers. */
  close(): void {
    this.#files?.close();
  }

  #pool(): FilePool {
    const { repo, store, state, workers, compress, compressionLevel } = this.#options;
    return this.#files ??= new FilePool(repo, {
      size: workers,
      catalogPath: store.catalogPath,
      compress,
      compressionLevel,
      onBlobs: (blobs) => store.accept(blobs),
      onRead: (bytes) => {
        state.reading += bytes;
        state.progress();
      },
    });
  }

  /** The bytes a worker's read of a file (or part) reported are no longer under way once it ends. */
  #ended = (o: FileOutcome): FileOutcome => {
    this.#options.state.reading -= "error" in o ? o.read ?? 0 : o.size;
    return o;
  };

  #track(job: Promise<unknown>): void {
    const tracked = job.catch(() => {}).finally(() => this.#jobs.delete(tracked));
    this.#jobs.add(tracked);
  }

  #readOnWorker(path: string, size: number, attributes: boolean): Promise<FileOutcome> {
    const pool = this.#pool();
    if (size >= SPLIT_AT && this.#options.workers > 1) return this.#readSplit(path, size);
    if (size > SMALL_FILE) {
      const job = pool.read([path], size, { attributes }).then((o) => this.#ended(o[0]));
      this.#track(job);
      return job;
    }
    const b = this.#batch ??= { paths: [], bytes: 0, waiters: [], attributes: false };
    b.attributes ||= attributes;
    const p = new Promise<FileOutcome>((resolve) => b.waiters.push(resolve));
    b.paths.push(path);
    b.bytes += size;
    if (b.paths.length >= BATCH_FILES || b.bytes >= BATCH_BYTES) this.flush();
    return p;
  }

  /** A large file in several ranges on several workers at once (see {@link splitPoints}). */
  async #readSplit(path: string, size: number): Promise<FileOutcome> {
    const { repo, workers } = this.#options;
    let bounds: number[];
    try {
      bounds = splitPoints(path, size, Math.min(workers, Math.floor(size / SPLIT_PART)), repo.chunker);
    } catch (e) {
      return { error: (e as Error).message };
    }
    const parts = bounds.map((start, i) => {
      const end = i + 1 < bounds.length ? bounds[i + 1] : -1;
      const job = this.#pool().read([path], (end < 0 ? size : end) - start, { range: [start, end] })
        .then((o) => this.#ended(o[0]));
      this.#track(job);
      return job;
    });
    const outcomes = await Promise.all(parts);
    const content: string[] = [];
    let total = 0;
    for (const o of outcomes) {
      if ("error" in o) return o;
      for (const id of o.content) content.push(id);
      total += o.size;
    }
    return { content, size: total };
  }

  #readHere(e: SourceEntry): Promise<FileOutcome> {
    const { state, signal } = this.#options;
    // A stamped entry (a remote object) is opened now, ahead of its turn: its source fetches it while the
    // entries before it are read (see SourceEntry.changeToken).
    const opened = e.changeToken !== undefined ? Promise.resolve().then(() => e.open!()) : undefined;
    opened?.catch(() => {}); // the failure is reported by #readContent, in turn
    const job = this.#hereQueue.then(async (): Promise<FileOutcome> => {
      try {
        return await this.#readContent(e, opened);
      } catch (err) {
        if (signal?.aborted || state.failure) throw err;
        return { error: (err as Error).message };
      }
    });
    this.#hereQueue = job.catch(() => {});
    this.#track(job);
    return job;
  }

  async #readContent(entry: SourceEntry, opened?: Promise<ContentReader>): Promise<FileOutcome> {
    const { store, state, signal } = this.#options;
    const reader: ContentReader = await (opened ?? entry.open!());
    const content: string[] = [];
    let size = 0;
    try {
      const buf = this.#buf ??= this.#here.buffer(BUFFER_SIZE);
      for await (const chunk of readChunks((into) => reader.read(into), buf, this.#here, signal)) {
        content.push(await store.save("data", chunk));
        size += chunk.length;
        state.reading += chunk.length;
        state.progress(entry.path);
      }
    } finally {
      state.reading -= size;
      await reader.close();
    }
    return { content, size };
  }
}
