/**
 * `limit`: a storage wrapper that bounds concurrent calls and bandwidth.
 *
 * - `connections`: at most this many calls run on the wrapped storage at once (a `list` holds a slot
 *   only while it fetches its next entry, so a caller may read objects while listing).
 * - `uploadBytesPerSecond` / `downloadBytesPerSecond`: token buckets with a burst of a tenth of a
 *   second's worth (at least 64 KiB). A call that moves `n` bytes first waits until the bytes of
 *   earlier calls are paid for, then runs, and returns no earlier than the time its own `n` bytes
 *   take at the set rate — so large puts and gets are paced and the average rate holds. Uploads are
 *   charged before the put (the size is known); downloads after the get (by the bytes received).
 *
 * @example
 * ```ts
 * import limit, { parseRate } from "./mod.ts";
 * import local from "../local/mod.ts";
 * const storage = limit({ storage: local({ path: "/srv/repo" }), connections: 2, uploadBytesPerSecond: parseRate("10M") });
 * await storage.put("config", new Uint8Array(10));
 * ```
 * @module
 */
import type { CallOptions, ObjectInfo, StoragePlugin } from "../../../core/contracts.ts";

/** Options of the limit wrapper. */
export interface Options {
  /** The storage to wrap. */
  storage: StoragePlugin;
  /** Most calls in flight on the wrapped storage at once (default: unbounded). */
  connections?: number;
  /** Upload (put) bandwidth in bytes per second; 0 or absent means unlimited. */
  uploadBytesPerSecond?: number;
  /** Download (get) bandwidth in bytes per second; 0 or absent means unlimited. */
  downloadBytesPerSecond?: number;
}

/** Defaults of the limit wrapper: no bound at all unless set. */
export const defaults: Omit<Options, "storage"> = {
  connections: undefined,
  uploadBytesPerSecond: undefined,
  downloadBytesPerSecond: undefined,
};

/** The burst a bucket allows, in seconds of its rate. */
const BURST_SECONDS = 0.1;
/** The smallest burst, in bytes. */
const MIN_BURST = 64 * 1024;

const UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/**
 * Reads a rate in bytes per second: `512`, `10K`, `120M`, `1G`, `1.5T` (K = 1024; a trailing `B`,
 * `iB` or `/s` is allowed, case does not matter). `0` means unlimited. Throws on anything else.
 *
 * @example
 * ```ts
 * import { parseRate } from "./mod.ts";
 * parseRate("10K"); // 10240
 * parseRate("120M"); // 125829120
 * ```
 */
export function parseRate(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?(?:\/s)?\s*$/i.exec(String(text));
  if (!m) {
    throw new Error(
      `invalid rate ${JSON.stringify(text)}: expected bytes per second as a number with an optional ` +
        `K, M, G or T suffix (K = 1024), e.g. 512, 10K, 120M, 1G`,
    );
  }
  const value = Math.floor(Number(m[1]) * UNITS[m[2].toUpperCase()]);
  if (!Number.isSafeInteger(value)) throw new Error(`invalid rate ${JSON.stringify(text)}: too large`);
  return value;
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The operation was aborted.", "AbortError");
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return signal?.aborted ? Promise.reject(abortError(signal)) : Promise.resolve();
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * A token bucket kept as the time its debt is paid off (GCRA). `reserve(n)` says how long to wait
 * before starting (earlier reservations paid) and before finishing (these `n` bytes paid).
 */
class Bucket {
  readonly #rate: number; // bytes per ms
  readonly #burst: number; // bytes
  #paidAt = -Infinity; // the time at which the bucket holds 0 tokens (or fewer before it)

  constructor(bytesPerSecond: number) {
    this.#rate = bytesPerSecond / 1000;
    this.#burst = Math.max(MIN_BURST, bytesPerSecond * BURST_SECONDS);
  }

  /** Waits before a transfer: until the bytes of earlier transfers are paid. */
  async before(signal?: AbortSignal): Promise<void> {
    await sleep(this.#paidAt - performance.now(), signal);
  }

  /** Charges `n` bytes; returns the milliseconds until they are paid. */
  charge(n: number): number {
    const now = performance.now();
    const tokens = Math.min(this.#burst, (now - this.#paidAt) * this.#rate);
    this.#paidAt = now + (n - tokens) / this.#rate;
    return this.#paidAt - now;
  }
}

class Slots {
  #free: number;
  readonly #waiting: { resolve: () => void; reject: (e: unknown) => void; signal?: AbortSignal }[] = [];

  constructor(n: number) {
    this.#free = n;
  }

  async acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject, signal };
      this.#waiting.push(waiter);
      signal?.addEventListener("abort", () => {
        const i = this.#waiting.indexOf(waiter);
        if (i >= 0) {
          this.#waiting.splice(i, 1);
          reject(abortError(signal));
        }
      }, { once: true });
    });
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next) next.resolve();
    else this.#free++;
  }
}

/**
 * Wraps a storage so it never runs more than `connections` calls at once and never moves more than
 * the given bytes per second on average.
 *
 * @example
 * ```ts
 * import limit from "./mod.ts";
 * import local from "../local/mod.ts";
 * const slow = limit({ storage: local({ path: "/tmp/repo" }), downloadBytesPerSecond: 1024 * 1024 });
 * ```
 */
export default function limit(options: Options): StoragePlugin {
  const inner = options?.storage;
  if (!inner) throw new Error("limit: option 'storage' is required");
  const { connections, uploadBytesPerSecond: up, downloadBytesPerSecond: down } = options;
  for (
    const [key, value] of Object.entries({
      connections,
      uploadBytesPerSecond: up,
      downloadBytesPerSecond: down,
    })
  ) {
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
      throw new Error(`limit: option '${key}' must be a non-negative number, got ${value}`);
    }
  }
  if (connections !== undefined && connections < 1) {
    throw new Error("limit: option 'connections' must be at least 1");
  }
  const slots = connections ? new Slots(Math.floor(connections)) : undefined;
  const upload = up ? new Bucket(up) : undefined;
  const download = down ? new Bucket(down) : undefined;

  async function slot<T>(opts: CallOptions | undefined, fn: () => Promise<T>): Promise<T> {
    if (!slots) return await fn();
    await slots.acquire(opts?.signal);
    try {
      return await fn();
    } finally {
      slots.release();
    }
  }

  const parts = [
    connections && `${connections} connections`,
    up && `up ${up} B/s`,
    down && `down ${down} B/s`,
  ]
    .filter(Boolean);
  return {
    kind: "storage",
    name: "limit",
    apiVersion: inner.apiVersion,
    location: inner.location,
    capabilities: {
      ...inner.capabilities,
      concurrency: connections
        ? Math.max(1, Math.min(inner.capabilities.concurrency, connections))
        : inner.capabilities.concurrency,
    },
    toString: () => `limit(${inner.location}${parts.length ? `; ${parts.join(", ")}` : ""})`,

    create: (opts) => slot(opts, () => inner.create(opts)),

    async put(name, data, opts) {
      if (upload) await upload.before(opts?.signal);
      const paid = upload ? sleep(upload.charge(data.length)) : undefined;
      await slot(opts, () => inner.put(name, data, opts));
      await paid;
    },

    async get(name, opts) {
      if (download) await download.before(opts?.signal);
      const data = await slot(opts, () => inner.get(name, opts));
      if (download) await sleep(download.charge(data.length), opts?.signal);
      return data;
    },

    stat: (name, opts) => slot(opts, () => inner.stat(name, opts)),

    async *list(prefix, opts): AsyncIterable<ObjectInfo> {
      const it = inner.list(prefix, opts)[Symbol.asyncIterator]();
      try {
        for (;;) {
          const r = await slot(opts, () => it.next());
          if (r.done) return;
          yield r.value;
        }
      } finally {
        await it.return?.();
      }
    },

    delete: (name, opts) => slot(opts, () => inner.delete(name, opts)),

    close: () => inner.close?.() ?? Promise.resolve(),
  } as StoragePlugin;
}
