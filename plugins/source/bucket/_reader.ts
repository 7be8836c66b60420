/**
 * Reading objects within a memory bound in bytes: small objects are fetched whole, concurrently, as
 * long as their bytes fit the budget; large ones are streamed from one GET straight into the reader's
 * buffer, and a broken stream resumes with a range request pinned to the same ETag (`If-Match`).
 *
 * @example
 * ```ts
 * import { Budget } from "./_reader.ts";
 * const budget = new Budget(64 << 20);
 * await budget.acquire(1024);
 * budget.release(1024);
 * ```
 * @module
 */
import type { ContentReader } from "../../../core/contracts.ts";
import type { RetryRunner } from "../../storage/retry/mod.ts";
import { readBody } from "../../storage/read_body.ts";
import { isStorageError, StorageError } from "../../../core/contracts.ts";
import type { Backend, Fetched } from "./_backend.ts";

/**
 * A byte semaphore, first come first served (so that readers opened ahead are served in their order
 * and the first one always proceeds).
 *
 * @example
 * ```ts
 * import { Budget } from "./_reader.ts";
 * const b = new Budget(10);
 * await b.acquire(8);
 * const later = b.acquire(8); // waits for the release
 * b.release(8);
 * await later;
 * ```
 */
export class Budget {
  #used = 0;
  #peak = 0;
  readonly #waiting: { n: number; go: () => void }[] = [];
  /** Build one of `limit` bytes. */
  constructor(readonly limit: number) {}

  /** Waits until `n` bytes fit (a request above the limit waits until nothing else is held). */
  acquire(n: number): Promise<void> {
    if (this.#waiting.length === 0 && this.#fits(n)) {
      this.#take(n);
      return Promise.resolve();
    }
    return new Promise((go) => this.#waiting.push({ n, go }));
  }

  /** Gives `n` bytes back. */
  release(n: number): void {
    this.#used -= n;
    while (this.#waiting.length && this.#fits(this.#waiting[0].n)) {
      const w = this.#waiting.shift()!;
      this.#take(w.n);
      w.go();
    }
  }

  /** The most bytes held at once. */
  get peak(): number {
    return this.#peak;
  }

  #fits(n: number) {
    return this.#used === 0 || this.#used + n <= this.limit;
  }

  #take(n: number) {
    this.#used += n;
    this.#peak = Math.max(this.#peak, this.#used);
  }
}

/** Where an object is and how to read it. */
export interface ObjectRef {
  /** The bucket. */
  bucket: string;
  /** The key. */
  key: string;
  /** A version other than the current one. */
  versionId?: string;
  /** The listed ETag (for the change check). */
  etag: string;
  /** The listed size. */
  size: number;
}

/** What the readers share. */
export interface ReadContext {
  /** The store. */
  backend: Backend;
  /** The memory budget of prefetched objects. */
  budget: Budget;
  /** Retries of passing faults. */
  run: RetryRunner;
  /** Aborts the reads. */
  signal?: AbortSignal;
  /** Receives the object's metadata from the GET's answer. */
  onMeta(meta: Record<string, string>): void;
}

/** Bytes read from a streamed body at a time. */
const STREAM_PIECE = 1024 * 1024;

/** A reader over bytes in memory; `onClose` runs once. */
function bufferReader(bytes: Uint8Array, onClose: () => void): ContentReader {
  let at = 0;
  let closed = false;
  return {
    read(into) {
      if (at >= bytes.length) return null;
      const n = Math.min(into.length, bytes.length - at);
      into.set(bytes.subarray(at, at + n));
      at += n;
      return n;
    },
    close() {
      if (closed) return;
      closed = true;
      onClose();
    },
  };
}

/**
 * Fetches a small object whole, within the budget, with retries; its reader gives the bytes back to
 * the budget when closed.
 *
 * @example
 * ```ts
 * import { prefetch } from "./_reader.ts";
 * // const reader = await prefetch({ bucket: "b", key: "k", etag: "…", size: 10 }, context);
 * ```
 */
export async function prefetch(ref: ObjectRef, ctx: ReadContext): Promise<ContentReader> {
  await ctx.budget.acquire(ref.size);
  try {
    const bytes = await ctx.run(`GET ${ref.bucket}/${ref.key}`, ctx.signal, async () => {
      const f = await ctx.backend.get(ref.bucket, ref.key, { versionId: ref.versionId, signal: ctx.signal });
      try {
        const data = await readBody(
          f.body,
          f.length >= 0 ? f.length : undefined,
          `${ref.bucket}/${ref.key}`,
          {
            tick: f.tick,
          },
        );
        ctx.onMeta(f.meta);
        return data;
      } finally {
        f.end?.();
      }
    });
    return bufferReader(bytes, () => ctx.budget.release(ref.size));
  } catch (e) {
    ctx.budget.release(ref.size);
    throw e;
  }
}

/**
 * A reader that streams a large object from one GET; a stream broken by a passing fault resumes at the
 * byte reached, with `If-Match` on the ETag first read (an object replaced meanwhile fails the read).
 *
 * @example
 * ```ts
 * import { streamReader } from "./_reader.ts";
 * // const reader = streamReader({ bucket: "b", key: "big", etag: "…", size: 1 << 30 }, context);
 * ```
 */
export function streamReader(ref: ObjectRef, ctx: ReadContext): ContentReader {
  let offset = 0;
  let etag: string | undefined;
  let total = -1;
  let current:
    | { f: Fetched; reader: ReadableStreamBYOBReader | ReadableStreamDefaultReader<Uint8Array> }
    | undefined;
  // Bodies are byte streams: read into one reused buffer rather than a fresh chunk per read (a large
  // object would otherwise leave its size in garbage behind until a collection).
  let scratch = new ArrayBuffer(STREAM_PIECE);
  let pending: Uint8Array | undefined;
  let ended = false;
  const what = `${ref.bucket}/${ref.key}`;

  const drop = () => {
    if (!current) return;
    const c = current;
    current = undefined;
    c.f.end?.();
    c.reader.cancel().catch(() => {});
  };

  /** The next piece of the body, or null at its end; retried by the caller. */
  async function next(): Promise<Uint8Array | null> {
    if (!current) {
      const f = await ctx.backend.get(ref.bucket, ref.key, {
        versionId: ref.versionId,
        offset: offset || undefined,
        ifMatch: etag,
        signal: ctx.signal,
      });
      if (etag === undefined) {
        etag = f.etag;
        total = f.length;
        ctx.onMeta(f.meta);
      }
      let reader: ReadableStreamBYOBReader | ReadableStreamDefaultReader<Uint8Array>;
      try {
        reader = f.body.getReader({ mode: "byob" });
      } catch {
        reader = f.body.getReader();
      }
      current = { f, reader };
      if (scratch.detached) scratch = new ArrayBuffer(STREAM_PIECE); // lost with a broken stream
    }
    try {
      const r = current.reader instanceof ReadableStreamBYOBReader
        ? await current.reader.read(new Uint8Array(scratch))
        : await current.reader.read();
      if (r.value && current.reader instanceof ReadableStreamBYOBReader) {
        scratch = r.value.buffer as ArrayBuffer;
      }
      if (r.done) {
        drop();
        if (total >= 0 && offset < total) {
          throw new StorageError("transient", `${what}: short body (${offset} of ${total} bytes)`);
        }
        return null;
      }
      current.f.tick?.();
      offset += r.value.length;
      return r.value;
    } catch (e) {
      drop();
      throw isStorageError(e) ? e : new StorageError("transient", `${what}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  return {
    async read(into) {
      if (ended) return null;
      let n = 0;
      while (n < into.length) {
        if (!pending) {
          const piece = await ctx.run(`GET ${what}`, ctx.signal, () => next());
          if (piece === null) {
            ended = true;
            break;
          }
          pending = piece;
        }
        const k = Math.min(pending.length, into.length - n);
        into.set(pending.subarray(0, k), n);
        n += k;
        pending = k < pending.length ? pending.subarray(k) : undefined;
      }
      return n === 0 && ended ? null : n;
    },
    close() {
      ended = true;
      pending = undefined;
      drop();
    },
  };
}
