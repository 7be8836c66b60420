/**
 * Gathers sealed blobs into packs (one open pack per blob type), uploads full packs with bounded
 * concurrency and remembers what it stored, for the index file written at the end of a run.
 *
 * `add` copies the sealed bytes straight into the pack's buffer before it returns, so callers may reuse
 * theirs (file workers get their output buffers back at once); the sealed header is appended in place.
 * Pack buffers are recycled: a run allocates a handful, not one per pack.
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
import { HEADER_ENTRY } from "../repository/pack.ts";
import type { BlobType, IndexFile } from "../repository/types.ts";

interface Open {
  bytes: Uint8Array;
  used: number;
  blobs: EncodedBlob[];
}

/** Room for the sealed header beyond its entries (nonce, tag, length). */
const HEADER_SLACK = 64;
/** A tree pack's first buffer; it doubles as trees come, up to a whole pack's. */
const TREE_START = 1 << 20;

/** Fills and uploads packs. */
export class Packer {
  readonly #repo: Repository;
  readonly #open: Record<BlobType, Open | null> = { data: null, tree: null };
  readonly #inflight = new Set<Promise<void>>();
  readonly #concurrency: number;
  /**
   * Whether the next pack fills while the last uploads (a buffer per upload in flight, plus one). False: the
   * add that fills a pack waits for its upload, and one pack buffer serves the whole run.
   */
  readonly #overlap: boolean;
  readonly #signal?: AbortSignal;
  readonly #onStored?: () => void;
  readonly #free: Uint8Array[] = [];
  readonly #capacity: number;
  #error: unknown = null;
  #adding: Promise<void> = Promise.resolve();
  #packs: IndexFile["packs"] = [];
  /** Blobs in {@link packs}. */
  blobsInPacks = 0;
  /** Bytes uploaded so far. */
  bytesUploaded = 0;

  /** Packs stored since the last {@link takePacks}, as index file records. */
  get packs(): IndexFile["packs"] {
    return this.#packs;
  }

  /** Build one for a repository; `onStored` is called each time a pack is stored (its record in {@link packs}). */
  constructor(
    repo: Repository,
    options: { concurrency?: number; overlap?: boolean; signal?: AbortSignal; onStored?: () => void } = {},
  ) {
    this.#repo = repo;
    this.#onStored = options.onStored;
    this.#concurrency = Math.max(1, options.concurrency ?? repo.storage.capabilities.concurrency);
    this.#overlap = options.overlap ?? true;
    this.#signal = options.signal;
    // A pack closes at packSize; a blob that would overflow the buffer closes it early instead.
    this.#capacity = repo.settings.packSize + (1 << 20);
  }

  #take(type: BlobType, min: number): Uint8Array {
    if (min > this.#capacity) return new Uint8Array(min); // one oversized blob: its own pack
    // A tree pack stays open for most of a run, and a run's trees are often a few MiB in all: its buffer
    // grows as they come (see #grow) instead of holding a whole pack buffer, touched by data, from start to end.
    if (type === "tree") return new Uint8Array(Math.min(this.#capacity, Math.max(TREE_START, min)));
    return this.#free.pop() ?? new Uint8Array(this.#capacity);
  }

  /** Moves an open pack into a buffer twice as large (at most a whole pack's) that holds `need` bytes. */
  static #grow(open: Open, need: number, capacity: number): void {
    const bytes = new Uint8Array(Math.min(capacity, Math.max(need, open.bytes.length * 2)));
    bytes.set(open.bytes.subarray(0, open.used));
    let off = 0;
    for (const b of open.blobs) {
      b.sealed = bytes.subarray(off, off + b.length);
      off += b.length;
    }
    open.bytes = bytes;
  }

  /** Keeps a pack buffer for reuse: as many as uploads in flight, plus the one being filled. */
  #give(buf: Uint8Array): void {
    if (buf.length === this.#capacity && this.#free.length <= this.#concurrency) this.#free.push(buf);
  }

  static #room(open: Open, blob: EncodedBlob): number {
    return open.used + blob.length + (open.blobs.length + 1) * HEADER_ENTRY + HEADER_SLACK;
  }

  /**
   * Adds a blob (its bytes are copied); starts an upload when its pack is full (waits when too many are in
   * flight). Calls take turns: while one waits for an upload to end, another would fill a pack buffer of
   * its own, so the buffers were not bounded by the uploads in flight (four of 17 MiB seen with two).
   */
  add(blob: EncodedBlob): Promise<void> {
    const turn = this.#adding.then(() => this.#add(blob));
    this.#adding = turn.catch(() => {});
    return turn;
  }

  async #add(blob: EncodedBlob): Promise<void> {
    if (this.#error) throw this.#error;
    let open = this.#open[blob.type];
    const need = open ? Packer.#room(open, blob) : 0;
    if (open && need > open.bytes.length) {
      if (open.bytes.length < this.#capacity && need <= this.#capacity) {
        Packer.#grow(open, need, this.#capacity);
      } else {
        await this.#seal(blob.type);
        open = this.#open[blob.type];
      }
    }
    if (!open) {
      open = { bytes: this.#take(blob.type, blob.length + HEADER_ENTRY + HEADER_SLACK), used: 0, blobs: [] };
      this.#open[blob.type] = open;
    }
    open.bytes.set(blob.sealed, open.used);
    open.blobs.push({ ...blob, sealed: open.bytes.subarray(open.used, open.used + blob.length) });
    open.used += blob.length;
    if (open.used >= this.#repo.settings.packSize) await this.#seal(blob.type);
  }

  async #seal(type: BlobType): Promise<void> {
    const open = this.#open[type];
    if (!open || !open.blobs.length) return;
    this.#open[type] = null;
    while (this.#inflight.size >= this.#concurrency) await Promise.race(this.#inflight);
    if (this.#error) throw this.#error;
    // The blobs already lie in order at the start of the buffer: buildPack only appends the header.
    const { id, bytes, entries } = await this.#repo.buildPack(open.blobs, open.bytes);
    const p = (async () => {
      await this.#repo.storage.put(packName(id), bytes, { signal: this.#signal });
      this.#give(open.bytes); // not on failure: a storage may still be reading it (e.g. another mirror member)
      this.bytesUploaded += bytes.length;
      this.#packs.push({ id, size: bytes.length, blobs: entries.map(({ pack: _p, ...rest }) => rest) });
      this.blobsInPacks += entries.length;
      this.#onStored?.();
    })().catch((e) => {
      this.#error ??= e;
    }).finally(() => this.#inflight.delete(p));
    this.#inflight.add(p);
    if (!this.#overlap) await p;
  }

  /** Hands over the records of the packs stored so far (for an index file) and forgets them. */
  takePacks(): IndexFile["packs"] {
    const packs = this.#packs;
    this.#packs = [];
    this.blobsInPacks = 0;
    return packs;
  }

  /** Waits for the uploads in flight to end, however they end (after a failure, before the lock goes). */
  async settle(): Promise<void> {
    while (this.#inflight.size) await Promise.race(this.#inflight);
  }

  /** Seals the open packs and waits for every upload. */
  async flush(): Promise<void> {
    await this.#seal("data");
    await this.#seal("tree");
    while (this.#inflight.size) await Promise.race(this.#inflight);
    if (this.#error) throw this.#error;
  }
}
