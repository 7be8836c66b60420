/**
 * Gathers sealed blobs into packs (one open pack per blob type), uploads full packs with bounded
 * concurrency and remembers what it stored, for the index file written at the end of a run.
 *
 * @example
 * ```ts
 * import { Packer } from "./packer.ts";
 * // const packer = new Packer(repo); packer.add(await repo.encodeBlob("data", id, bytes)); await packer.flush();
 * ```
 * @module
 */
import type { EncodedBlob, Repository } from "../repository/repository.ts";
import { packName } from "../repository/repository.ts";
import { shuffle } from "../repository/pack.ts";
import type { BlobType, IndexFile } from "../repository/types.ts";

/** Fills and uploads packs. */
export class Packer {
  readonly #repo: Repository;
  readonly #open: Record<BlobType, { blobs: EncodedBlob[]; size: number }> = {
    data: { blobs: [], size: 0 },
    tree: { blobs: [], size: 0 },
  };
  readonly #inflight = new Set<Promise<void>>();
  readonly #concurrency: number;
  readonly #signal?: AbortSignal;
  #error: unknown = null;
  /** Packs stored so far, as index file records. */
  readonly packs: IndexFile["packs"] = [];
  /** Bytes uploaded so far. */
  bytesUploaded = 0;

  /** Build one for a repository. */
  constructor(repo: Repository, options: { concurrency?: number; signal?: AbortSignal } = {}) {
    this.#repo = repo;
    this.#concurrency = Math.max(1, options.concurrency ?? repo.storage.capabilities.concurrency);
    this.#signal = options.signal;
  }

  /** Adds a blob; starts an upload when its pack is full (waits when too many are in flight). */
  async add(blob: EncodedBlob): Promise<void> {
    if (this.#error) throw this.#error;
    const open = this.#open[blob.type];
    open.blobs.push(blob);
    open.size += blob.length;
    if (open.size >= this.#repo.settings.packSize) await this.#seal(blob.type);
  }

  async #seal(type: BlobType): Promise<void> {
    const open = this.#open[type];
    if (!open.blobs.length) return;
    const blobs = shuffle(open.blobs);
    this.#open[type] = { blobs: [], size: 0 };
    while (this.#inflight.size >= this.#concurrency) await Promise.race(this.#inflight);
    if (this.#error) throw this.#error;
    const { id, bytes, entries } = await this.#repo.buildPack(blobs);
    const p = (async () => {
      await this.#repo.storage.put(packName(id), bytes, { signal: this.#signal });
      this.bytesUploaded += bytes.length;
      this.packs.push({ id, size: bytes.length, blobs: entries.map(({ pack: _p, ...rest }) => rest) });
    })().catch((e) => {
      this.#error ??= e;
    }).finally(() => this.#inflight.delete(p));
    this.#inflight.add(p);
  }

  /** Seals the open packs and waits for every upload. */
  async flush(): Promise<void> {
    await this.#seal("data");
    await this.#seal("tree");
    while (this.#inflight.size) await Promise.race(this.#inflight);
    if (this.#error) throw this.#error;
  }
}
