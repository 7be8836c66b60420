/**
 * Starts a source's scan early: while a command waits on something else (unlocking the repository's key
 * costs ~150 ms of scrypt on a thread-pool thread), the walk runs in short slices on the idle main thread
 * and buffers what it finds. The backup then takes the buffered entries first and goes on with the walk.
 * For an unchanged re-backup, the walk is most of the work: overlapping it with the key derivation
 * takes that much off the run.
 *
 * @example
 * ```ts
 * import { scanAhead } from "./scan_ahead.ts";
 * import fs from "../plugins/source/fs/mod.ts";
 * const source = scanAhead(fs({ paths: ["/etc"] }));
 * // … open the repository meanwhile …
 * for await (const e of source.scan({ warn: console.warn })) console.log(e.path);
 * ```
 * @module
 */
import type { ScanContext, SourceEntry, SourcePlugin, SourceWarning } from "./contracts.ts";

/** Options of {@link scanAhead}. */
export interface ScanAheadOptions {
  /** Entries buffered at most before the early walk pauses (bounds memory). */
  maxEntries?: number;
  /** Milliseconds of walking before yielding to the event loop. */
  sliceMs?: number;
}

/** Defaults of {@link scanAhead}. */
export const defaults: Required<ScanAheadOptions> = { maxEntries: 200_000, sliceMs: 4 };

/** A source whose scan has begun; {@link SourcePlugin.scan} may be called once. */
export interface ScanningSource extends SourcePlugin {
  /** Stops the early walk (e.g. when the command fails before the backup starts). */
  stop(): void;
  /** Files and bytes the walk has found so far, and whether it is done: the backup's totals. */
  scanned(): { files: number; bytes: number; done: boolean };
}

/** Wraps `source` and starts its walk now. */
export function scanAhead(source: SourcePlugin, options: ScanAheadOptions = {}): ScanningSource {
  const { maxEntries, sliceMs } = { ...defaults, ...options };
  const buffered: SourceEntry[] = [];
  const early: SourceWarning[] = [];
  const abort = new AbortController();
  let forward: ((w: SourceWarning) => void) | null = null;
  const ctx: ScanContext = {
    signal: abort.signal,
    warn: (w) => forward ? forward(w) : early.push(w),
  };
  const iterable = source.scan(ctx);
  const sync = Symbol.iterator in iterable;
  const iterator = sync
    ? (iterable as Iterable<SourceEntry>)[Symbol.iterator]()
    : (iterable as AsyncIterable<SourceEntry>)[Symbol.asyncIterator]();
  let done = false;
  let stopped = false;
  const found = { files: 0, bytes: 0 };
  const count = (e: SourceEntry) => {
    if (e.type === "file") {
      found.files++;
      found.bytes += e.size;
    }
  };
  let failure: unknown = null;

  // The early walk: slices of at most `sliceMs`, a macrotask turn between them.
  const filling = (async () => {
    try {
      while (!stopped && !done && buffered.length < maxEntries) {
        const until = performance.now() + sliceMs;
        while (!stopped && !done && buffered.length < maxEntries && performance.now() < until) {
          const r = sync
            ? (iterator as Iterator<SourceEntry>).next()
            : await (iterator as AsyncIterator<SourceEntry>).next();
          if (r.done) done = true;
          else {
            buffered.push(r.value);
            count(r.value);
          }
        }
        await new Promise((r) => setTimeout(r, 0));
      }
    } catch (e) {
      failure = e;
      done = true;
    }
  })();

  return {
    ...source,
    stop() {
      stopped = true;
      if (!done) abort.abort();
    },
    scanned: () => ({ ...found, done }),
    async *scan(context: ScanContext): AsyncGenerator<SourceEntry> {
      stopped = true;
      for (const w of early) context.warn(w);
      forward = (w) => context.warn(w);
      const onAbort = () => abort.abort(context.signal?.reason);
      context.signal?.addEventListener("abort", onAbort, { once: true });
      try {
        // The buffered entries go out before the early walk is awaited: its last next() may be waiting
        // for one of them to be consumed (a streamed dump's source goes on once its content was read).
        // Stopped, the walk ends after that next(); what it brings is handed over in turn.
        for (let i = 0, settled = false;;) {
          for (; i < buffered.length; i++) {
            const e = buffered[i];
            buffered[i] = undefined as unknown as SourceEntry; // let it go once handed over
            yield e;
          }
          if (settled) break;
          await filling;
          settled = true;
        }
        buffered.length = 0;
        if (failure) throw failure;
        while (!done) {
          const r = sync
            ? (iterator as Iterator<SourceEntry>).next()
            : await (iterator as AsyncIterator<SourceEntry>).next();
          if (r.done) {
            done = true;
            break;
          }
          count(r.value);
          yield r.value;
        }
      } finally {
        context.signal?.removeEventListener("abort", onAbort);
      }
    },
  };
}
