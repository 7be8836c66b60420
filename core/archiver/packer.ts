/**
 * Gathers sealed blobs into packs (one open pack per blob type), uploads full packs with bounded
 * concurrency and remembers what it stored, for the index file written at the end of a run.
 *
 * `add` copies the sealed bytes into a staging buffer before it returns, so callers may reuse theirs
 * (workers get their output buffers back at once). Staging and pack buffers are recycled: a run
 * allocates a handful of pack-sized buffers, not one per pack.
 *
 * @example
 * ```ts
 * import { Packer } from "./packer.ts";
 * // const packer = new Packer(repo); await packer.add(await repo.encodeBlob("data", id, bytes)); await packer.flush();
 * ```
 * @module
 */
import type { EncodedBlob, Repository } from "../repository/repository.ts";
import { packName } from "../repository/repository.ts";
import { shuffle } from "../repository/pack.ts";
import type { BlobType, IndexFile } from "../repository/types.ts";

interface Staging {
  bytes: Uint8Array;
  used: number;
  blobs: EncodedBlob[];
}

/** Pack buffers kept for reuse beyond those in flight. */
const KEEP_BUFFERS = 2;

/** Fills and uploads packs. */
export class Packer {
  readonly #repo: Repository;
  readonly #staging: Record<BlobType, Staging | null> = { data: null, tree: null };
  readonly #inflight = new Set<Promise<void>>();
  readonly #concurrency: number;
  readonly #signal?: AbortSignal;
  readonly #free: Uint8Array[] = [];
  readonly #bufferSize: number;
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
    // A pack closes once it reaches packSize, so it holds at most packSize plus one blob and its header.
    this.#bufferSize = repo.settings.packSize + repo.settings.chunker.max + (1 << 20);
  }

  #take(min: number): Uint8Array {
    const i = this.#free.findIndex((b) => b.length >= min);
    if (i >= 0) return this.#free.splice(i, 1)[0];
    return new Uint8Array(Math.max(min, this.#bufferSize));
  }

  #give(buf: Uint8Array): void {
    if (buf.length === this.#bufferSize && this.#free.length < KEEP_BUFFERS) this.#free.push(buf);
  }

  /** Adds a blob (its bytes are copied); starts an upload when its pack is full (waits when too many are in flight). */
  async add(blob: EncodedBlob): Promise<void> {
    if (this.#error) throw this.#error;
    let st = this.#staging[blob.type];
    if (!st) st = this.#staging[blob.type] = { bytes: this.#take(blob.length), used: 0, blobs: [] };
    if (st.used + blob.length > st.bytes.length) {
      const bigger = new Uint8Array(Math.max(st.bytes.length * 2, st.used + blob.length));
      bigger.set(st.bytes.subarray(0, st.used));
      for (const b of st.blobs) {
        const at = b.sealed.byteOffset - st.bytes.byteOffset;
        b.sealed = bigger.subarray(at, at + b.length);
      }
      st.bytes = bigger;
    }
    st.bytes.set(blob.sealed, st.used);
    st.blobs.push({ ...blob, sealed: st.bytes.subarray(st.used, st.used + blob.length) });
    st.used += blob.length;
    if (st.used >= this.#repo.settings.packSize) await this.#seal(blob.type);
  }

  async #seal(type: BlobType): Promise<void> {
    const st = this.#staging[type];
    if (!st || !st.blobs.length) return;
    this.#staging[type] = null;
    while (this.#inflight.size >= this.#concurrency) await Promise.race(this.#inflight);
    if (this.#error) throw this.#error;
    const out = this.#take(st.used + st.blobs.length * 42 + 1024);
    const { id, bytes, entries } = await this.#repo.buildPack(shuffle(st.blobs), out);
    this.#give(st.bytes);
    const p = (async () => {
      await this.#repo.storage.put(packName(id), bytes, { signal: this.#signal });
      this.#give(out); // not on failure: a storage may still be reading it (e.g. another mirror member)
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
