/**
 * `retry`: wraps a storage so that passing faults (`transient` errors, network `TypeError`s) are
 * retried with exponential backoff and full jitter, bounded in attempts and in elapsed time.
 * `not-found`, `auth`, `permanent` and `exists` are never retried.
 *
 * Puts are safe to repeat: objects are immutable, so a put that failed ambiguously (e.g. a 500 after
 * the store applied it) is simply sent again. For `create: true` puts, an `exists` on a retry that
 * follows an ambiguous failure counts as success only when the stored bytes equal the ones sent.
 * A range read shorter than asked for is checked against the object's size and retried if truncated.
 *
 * @example
 * ```ts
 * import retry from "./mod.ts";
 * import local from "../local/mod.ts";
 * const storage = retry({ storage: local({ path: "/tmp/repo" }), maxAttempts: 5 });
 * await storage.create();
 * ```
 * @module
 */
import type {
  CallOptions,
  GetOptions,
  ListOptions,
  ObjectInfo,
  PutOptions,
  StoragePlugin,
} from "../../../core/contracts.ts";
import { isStorageError, StorageError } from "../../../core/contracts.ts";

/** Options of the retry wrapper. */
export interface Options {
  /** The storage to wrap. */
  storage: StoragePlugin;
  /** Attempts per call, the first included (default 6). */
  maxAttempts?: number;
  /** Backoff base: attempt n waits a random time in [0, min(maxDelayMs, baseDelayMs·2ⁿ)] (default 100). */
  baseDelayMs?: number;
  /** Upper bound of one wait (default 5 000). */
  maxDelayMs?: number;
  /** No new attempt starts after this many milliseconds since the call began (default 60 000). */
  maxElapsedMs?: number;
  /** Called before each wait, e.g. for `-v` output. */
  onRetry?: (info: { operation: string; attempt: number; delayMs: number; error: unknown }) => void;
  /** Random source in [0, 1) (tests make it deterministic). */
  random?: () => number;
}

/** Defaults of the retry wrapper. */
export const defaults: Required<
  Pick<Options, "maxAttempts" | "baseDelayMs" | "maxDelayMs" | "maxElapsedMs">
> = {
  maxAttempts: 6,
  baseDelayMs: 100,
  maxDelayMs: 5_000,
  maxElapsedMs: 60_000,
};

/**
 * Whether an error is worth another attempt: a `transient` StorageError or a network TypeError.
 *
 * @example
 * ```ts
 * import { isRetryable } from "./mod.ts";
 * import { StorageError } from "../../../core/contracts.ts";
 * isRetryable(new StorageError("transient", "503")); // true
 * isRetryable(new StorageError("auth", "403")); // false
 * ```
 */
export function isRetryable(e: unknown): boolean {
  if (isStorageError(e)) return e.code === "transient";
  return e instanceof TypeError; // fetch's network failures
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The retry policy of {@link retrying}: {@link Options} without the storage. */
export type RetryPolicy = Omit<Options, "storage">;

/** Runs `fn` until it succeeds, fails for good (not {@link isRetryable}), or the policy's bounds are reached. */
export type RetryRunner = <T>(
  operation: string,
  signal: AbortSignal | undefined,
  fn: (attempt: number) => Promise<T>,
) => Promise<T>;

/**
 * The retry loop of the wrapper, for callers that are not storages (the bucket source's reads).
 *
 * @example
 * ```ts
 * import { retrying } from "./mod.ts";
 * const run = retrying({ maxAttempts: 3 });
 * const value = await run("example", undefined, () => Promise.resolve(42));
 * ```
 */
export function retrying(options: RetryPolicy = {}): RetryRunner {
  const maxAttempts = Math.max(1, options.maxAttempts ?? defaults.maxAttempts);
  const base = options.baseDelayMs ?? defaults.baseDelayMs;
  const maxDelay = options.maxDelayMs ?? defaults.maxDelayMs;
  const maxElapsed = options.maxElapsedMs ?? defaults.maxElapsedMs;
  const random = options.random ?? Math.random;
  async function run<T>(
    operation: string,
    signal: AbortSignal | undefined,
    fn: (attempt: number) => Promise<T>,
  ): Promise<T> {
    const started = Date.now();
    for (let attempt = 0;; attempt++) {
      signal?.throwIfAborted();
      try {
        return await fn(attempt);
      } catch (e) {
        if (signal?.aborted || !isRetryable(e)) throw e;
        const delay = Math.floor(random() * Math.min(maxDelay, base * 2 ** attempt));
        const last = attempt + 1 >= maxAttempts || Date.now() - started + delay > maxElapsed;
        if (last) {
          const msg = (e as Error)?.message ?? String(e);
          throw new StorageError(
            "transient",
            `${operation}: gave up after ${attempt + 1} attempt(s) in ${Date.now() - started} ms: ${msg}`,
            { cause: e },
          );
        }
        options.onRetry?.({ operation, attempt: attempt + 1, delayMs: delay, error: e });
        await sleep(delay, signal);
      }
    }
  }

  return run;
}

/**
 * Wraps a storage with retries.
 *
 * @example
 * ```ts
 * import retry from "./mod.ts";
 * import local from "../local/mod.ts";
 * const storage = retry({ storage: local({ path: "/tmp/repo" }), maxElapsedMs: 30_000 });
 * console.log(storage.location); // /tmp/repo
 * ```
 */
export default function retry(options: Options): StoragePlugin {
  const inner = options?.storage;
  if (!inner) throw new Error("retry storage: option 'storage' is required");
  const run = retrying(options);
  const maxAttempts = Math.max(1, options.maxAttempts ?? defaults.maxAttempts);
  const base = options.baseDelayMs ?? defaults.baseDelayMs;
  const maxDelay = options.maxDelayMs ?? defaults.maxDelayMs;
  const maxElapsed = options.maxElapsedMs ?? defaults.maxElapsedMs;
  const random = options.random ?? Math.random;

  return {
    kind: "storage",
    name: inner.name,
    apiVersion: inner.apiVersion,
    location: inner.location,
    capabilities: inner.capabilities,

    create(opts?: CallOptions) {
      return run(`create ${inner.location}`, opts?.signal, () => inner.create(opts));
    },

    put(name: string, data: Uint8Array, opts?: PutOptions) {
      let ambiguous = false;
      return run(`put ${name}`, opts?.signal, async () => {
        try {
          await inner.put(name, data, opts);
        } catch (e) {
          if (isStorageError(e, "exists") && opts?.create && ambiguous) {
            // An earlier attempt may have written it: ours if the bytes match.
            const stored = await inner.get(name, { signal: opts.signal });
            if (equalBytes(stored, data)) return;
          }
          if (isRetryable(e)) ambiguous = true;
          throw e;
        }
      });
    },

    get(name: string, opts?: GetOptions) {
      return run(`get ${name}`, opts?.signal, async () => {
        const out = await inner.get(name, opts);
        const range = opts?.range;
        if (range && out.length > range.length) {
          throw new StorageError(
            "permanent",
            `${name}: range read returned ${out.length} > ${range.length} bytes`,
          );
        }
        if (range && out.length < range.length) {
          // Legitimate only at the object's end.
          const { size } = await inner.stat(name, opts);
          const expected = Math.max(0, Math.min(range.length, size - range.offset));
          if (out.length < expected) {
            throw new StorageError(
              "transient",
              `${name}: truncated range read (${out.length} of ${expected} bytes)`,
            );
          }
        }
        return out;
      });
    },

    stat(name: string, opts?: CallOptions) {
      return run(`stat ${name}`, opts?.signal, () => inner.stat(name, opts));
    },

    async *list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
      // Restart a broken listing; names already yielded are skipped.
      const seen = new Set<string>();
      const started = Date.now();
      for (let attempt = 0;; attempt++) {
        opts?.signal?.throwIfAborted();
        try {
          for await (const o of inner.list(prefix, opts)) {
            if (seen.has(o.name)) continue;
            seen.add(o.name);
            yield o;
          }
          return;
        } catch (e) {
          if (opts?.signal?.aborted || !isRetryable(e)) throw e;
          const delay = Math.floor(random() * Math.min(maxDelay, base * 2 ** attempt));
          if (attempt + 1 >= maxAttempts || Date.now() - started + delay > maxElapsed) {
            throw new StorageError("transient", `list ${prefix}: gave up after ${attempt + 1} attempt(s)`, {
              cause: e,
            });
          }
          options.onRetry?.({ operation: `list ${prefix}`, attempt: attempt + 1, delayMs: delay, error: e });
          await sleep(delay, opts?.signal);
        }
      }
    },

    delete(name: string, opts?: CallOptions) {
      return run(`delete ${name}`, opts?.signal, () => inner.delete(name, opts));
    },

    close() {
      return inner.close?.() ?? Promise.resolve();
    },
  };
}
