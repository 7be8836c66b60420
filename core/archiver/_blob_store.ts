/**
 * The storing half of a backup: dedup against the index and the run's own blobs, encode (compress and
 * seal) on the encoder pool or here, pack, upload, and write an index file for the stored packs every
 * {@link INDEX_EVERY} blobs.
 *
 * @example
 * ```ts
 * import { BlobStore } from "./_blob_store.ts";
 * // const store = new BlobStore({ repo, catalog, state, workers: 2, compress: true, compressor: repo.compression, indexEvery: 20_000 });
 * // const id = await store.save("data", bytes); const index = await store.finish();
 * ```
 * @module
 */
import type { TransformPlugin } from "../contracts.ts";
import type { Catalog } from "../catalog/catalog.ts";
import type { EncodedBlob, Repository } from "../repository/repository.ts";
import type { IndexFile } from "../repository/types.ts";
import { EncoderPool } from "./encoder_pool.ts";
import { Packer } from "./packer.ts";
import { IdFilter } from "./_id_filter.ts";
import { compressRoom } from "../compressibility.ts";
import type { RunState } from "./_run_state.ts";

/**
 * Once the packs stored since the last index file hold this many blobs, an index file for them is written
 * and added to the catalog during the run (as restic does), rather than one index for the whole run at
 * the end: the index records do not pile up in memory, and a run that is cut short leaves its stored packs
 * indexed, so the next run does not upload them again. An index names only packs already stored, and no
 * snapshot exists before its last index, so an interrupted run never leaves a snapshot with blobs missing.
 */
export const INDEX_EVERY = 20_000;

/** Options of {@link BlobStore}. */
export interface BlobStoreOptions {
  /** The open repository. */
  repo: Repository;
  /** Its catalog (synced). */
  catalog: Catalog;
  /** The run's shared state. */
  state: RunState;
  /** Worker threads for encoding data blobs; 0 encodes here. */
  workers: number;
  /**
   * The source is read over a network (`SourceCapabilities.remote`): blobs are encoded on this thread and
   * one pack buffer is filled and uploaded in turn, which keep up with it; encoder workers and pack
   * buffers filled while others upload would only hold memory.
   */
  remote?: boolean;
  /** Try compression. */
  compress: boolean;
  /** Compression level for the encoder workers, instead of the repository's. */
  compressionLevel?: number;
  /** The compression used here (the repository's, or one at the run's level). */
  compressor: TransformPlugin | null;
  /** Blobs per index file written during the run (see {@link INDEX_EVERY}). */
  indexEvery: number;
  /** Throws when the run's lock went stale: no index file is written then. */
  assertLocked?: () => void;
  /** Aborts uploads. */
  signal?: AbortSignal;
}

/** Room beyond a blob's plaintext for its cipher's nonce and tag (the built-in ciphers add 28 bytes). */
const SEAL_SLACK = 64;

/** Dedups, encodes, packs and indexes the blobs of one run. */
export class BlobStore {
  /** Blobs of this run not yet in an index file of the catalog. */
  readonly #pending = new Set<string>();
  /** Encodes running (and packing after them). */
  readonly #inflight = new Set<Promise<void>>();
  readonly #window: number;
  readonly #options: BlobStoreOptions;
  readonly #packer: Packer;
  #encoder: EncoderPool | null = null;
  #indexing: Promise<void> | null = null;
  /**
   * The blobs this run indexed mid-run (they left `#pending`): only those the filter may hold are looked
   * up in the catalog, where asking it about every blob a worker sends cost 300,000 SQLite queries in a
   * first backup of 300,000 small files (3.7 s of the main thread's 33 in a profile).
   */
  #indexedMidRun: IdFilter | null = null;
  #settled = false;
  /**
   * The catalog file workers may read (read-only) to learn which chunks are stored; null when it has
   * none, or when it is empty (nobody asks an empty one).
   */
  readonly catalogPath: string | null;
  readonly #emptyIndex: boolean;

  /** A store for one run. */
  constructor(options: BlobStoreOptions) {
    this.#options = options;
    const { catalog } = options;
    this.#window = options.workers > 0 ? 16 : 8;
    this.#packer = new Packer(options.repo, {
      overlap: !options.remote, // and so one upload at a time
      signal: options.signal,
      onStored: () => this.#indexSoFar(),
    });
    this.#emptyIndex = catalog.isEmpty();
    this.catalogPath = !this.#emptyIndex && catalog.path && catalog.path !== ":memory:" ? catalog.path : null;
  }

  /** Whether blob `id` is stored, or on its way in this run. */
  known(id: string): boolean {
    return this.#pending.has(id) || this.#options.catalog.hasBlob(id);
  }

  /** Whether blob `id` was stored, or is on its way, in this run (also once indexed mid-run). */
  addedThisRun(id: string): boolean {
    return this.#pending.has(id) || this.#indexedThisRun(id);
  }

  /**
   * Hashes (unless `id` is given), dedups and starts encoding a blob; at most a window of encodes run at
   * once, so this waits while it is full. Returns the blob's id.
   */
  async save(type: "data" | "tree", data: Uint8Array, id?: string): Promise<string> {
    const { repo, state } = this.#options;
    state.check();
    id ??= repo.hasher.id(data);
    if (this.known(id)) return id;
    this.#pending.add(id);
    const pool = type === "data" ? this.#encoderPool() : null;
    const { compress, compressor } = this.#options;
    // Encoded here, the outputs go into buffers of this store's own (when the transforms take them), so
    // that they too can be freed once packed.
    const lent = pool ? undefined : {
      sealed: new Uint8Array(data.length + SEAL_SLACK),
      compressed: compress && compressor ? new Uint8Array(compressRoom(data.length)) : undefined,
    };
    const encoded = pool?.encode(type, id, data, compress) ??
      repo.encodeBlob(type, id, data, compress, compressor, lent);
    const p: Promise<void> = encoded.then(async (blob) => {
      this.#count(blob);
      await this.#packer.add(blob);
      // The pack holds a copy now. A worker's sealed bytes, and the buffers lent to an encode here, are
      // this blob's alone: detaching them frees them at once. V8 counts them as external memory and
      // collects them only once ~64 MiB have piled up: a 512 MiB object from a bucket, in process, peak
      // RSS 222–231 → 200–214 MiB (worker outputs); the mixed bucket of bench:bucket 218 → 184–189 MiB
      // (outputs encoded here).
      for (const bytes of lent ? [lent.sealed, lent.compressed] : [blob.sealed]) {
        (bytes?.buffer as ArrayBuffer | undefined)?.transfer(0);
      }
    }).catch(state.fail).finally(() => this.#inflight.delete(p));
    this.#inflight.add(p);
    while (this.#inflight.size >= this.#window) await Promise.race(this.#inflight);
    return id;
  }

  /** New sealed blobs from the file workers: drops what another worker stored meanwhile, packs the rest. */
  async accept(blobs: EncodedBlob[]): Promise<void> {
    const { catalog } = this.#options;
    const fresh: EncodedBlob[] = [];
    for (const b of blobs) {
      // Workers skip what the catalog held when they asked; what it holds since (this run's mid-run
      // index files) is checked here.
      if (
        this.#pending.has(b.id) ||
        (!this.catalogPath && !this.#emptyIndex ? catalog.hasBlob(b.id) : this.#indexedThisRun(b.id))
      ) {
        continue;
      }
      this.#pending.add(b.id);
      fresh.push(b);
    }
    for (const b of fresh) {
      this.#count(b);
      await this.#packer.add(b);
    }
  }

  /** Waits for the encodes started; throws the run's failure. */
  async drain(): Promise<void> {
    while (this.#inflight.size) await Promise.race(this.#inflight);
    this.#options.state.check();
  }

  /**
   * Uploads the last packs and waits for a mid-run index file being written; returns the index record of
   * the packs no index file names yet (the run's last index file, written with the snapshot).
   */
  async finish(): Promise<IndexFile> {
    await this.#packer.flush();
    await this.#indexing;
    this.#options.state.check();
    return { version: 1, packs: this.#packer.takePacks() };
  }

  /** Ends the run's background writes: no index file is started after it, and it waits for those begun. */
  async settle(): Promise<void> {
    this.#settled = true;
    await this.#packer.settle();
    while (this.#indexing) await this.#indexing;
  }

  /** Stops the encoder workers. */
  close(): void {
    this.#encoder?.close();
  }

  #encoderPool(): EncoderPool | null {
    const { repo, workers, compressionLevel, remote } = this.#options;
    if (workers > 0 && !remote) return (this.#encoder ??= new EncoderPool(repo, workers, compressionLevel));
    return null;
  }

  /** Whether blob `id` is in an index file this run wrote mid-run. */
  #indexedThisRun(id: string): boolean {
    return this.#indexedMidRun !== null && this.#indexedMidRun.mayHave(id) &&
      this.#options.catalog.hasBlob(id);
  }

  #count(blob: EncodedBlob): void {
    const s = this.#options.state.summary;
    if (blob.type === "data") s.data_blobs++;
    else s.tree_blobs++;
    s.data_added += blob.length;
    s.data_added_raw += blob.rawLength;
  }

  /** Writes an index file for the packs stored so far once they hold `indexEvery` blobs. */
  #indexSoFar(): void {
    const { repo, catalog, state, indexEvery } = this.#options;
    if (this.#indexing || this.#settled || state.failure || this.#packer.blobsInPacks < indexEvery) return;
    const index: IndexFile = { version: 1, packs: this.#packer.takePacks() };
    this.#indexing = (async () => {
      this.#options.assertLocked?.();
      const id = await repo.saveJson("index", index);
      catalog.transaction(() => catalog.addIndex(id, index));
      // Indexed blobs are known through the catalog now: `pending` keeps only those not yet indexed.
      const indexed = this.#indexedMidRun ??= new IdFilter();
      for (const p of index.packs) {
        for (const b of p.blobs) {
          indexed.add(b.id);
          this.#pending.delete(b.id);
        }
      }
    })().catch(state.fail).finally(() => (this.#indexing = null));
  }
}
