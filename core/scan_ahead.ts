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
import { nextTurn } from "./event_loop.ts";

/** Options of {@link scanAhead}. */
export interface ScanAheadOptions {
  /** Entries buffered at most before the early walk pauses (bounds memory). */
  maxEntries?: number;
  /** Milliseconds of walking before yielding to the event loop. */
  sliceMs?: number;
}

/**
 * Defaults of {@link scanAhead}. An entry of the fs source holds ~490 bytes of heap (~730 when the figures
 * below were taken), so 50,000 are ~23 MiB; at 200,000 an unchanged re-backup of 1,000,000 files peaked at
 * 209–370 MiB (the walk, its garbage and the collector's threads starved the key's derivation on 2 cores:
 * 354 ms in one run, 973 in the next, while the walk reached the cap), and at 50,000 at 203–219 MiB in the
 * same wall time (4 rounds each; 100,000 files: 256–266 → 204–223 MiB, 0.97 s against 1.00).
 */
export const defaults: Required<ScanAheadOptions> = { maxEntries: 50_000, sliceMs: 4 };

/** A source whose scan has begun; {@link SourcePlugin.scan} may be called once. */
export interface ScanningSource extends SourcePlugin {
  /** Stops the early walk (e.g. when the command fails before the backup starts). */
  stop(): void;
  /** Files and bytes the walk has found so far, and whether it is done: the backup's totals. */
  scanned(): { files: number; bytes: number; done: boolean };
  /**
   * Resolves when the early walk stops: done, paused at its cap, stopped or failed. Other work meant for the
   * same idle wait (reading the parent's trees) starts then, so that the walk goes first.
   */
  readonly walked: Promise<void>;
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
  // A step of the early walk under way, and whether scan() has taken the walk over (then it, not the early
  // walk, takes that step's entry). A source may yield its next entry only once the content of the one
  // before was read — a dump is awaited to its end (plugins/source/_child.ts) — so scan() must hand the
  // buffered entries over before it waits for that step, never wait for the early walk to finish first.
  let inFlight: Promise<IteratorResult<SourceEntry>> | null = null;
  let taken = false;

  // The early walk: slices of at most `sliceMs`, a macrotask turn between them.
  const filling = (async () => {
    try {
      while (!stopped && !done && buffered.length < maxEntries) {
        const until = performance.now() + sliceMs;
        // The clock is read every 16 entries (~50 µs of a walk), not for each one.
        let n = 0;
        while (
          !stopped && !done && buffered.length < maxEntries && ((++n & 15) !== 0 || performance.now() < until)
        ) {
          let r: IteratorResult<SourceEntry>;
          if (sync) r = (iterator as Iterator<SourceEntry>).next();
          else {
            inFlight = (iterator as AsyncIterator<SourceEntry>).next();
            r = await inFlight;
            if (taken) return;
            inFlight = null;
          }
          if (r.done) done = true;
          else {
            buffered.push(r.value);
            count(r.value);
          }
        }
        await nextTurn();
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
    walked: filling,
    async *scan(context: ScanContext): AsyncGenerator<SourceEntry> {
      stopped = true;
      taken = true;
      const step = inFlight;
      if (!step) await filling; // between two steps: it ends at its next check
      for (const w of early) context.warn(w);
      forward = (w) => context.warn(w);
      // The source's signal follows the caller's for the whole run, not only the scan: a reader opened from
      // an entry (standard input, a dump) is read after the scan has ended and must stop on it too.
      context.signal?.addEventListener("abort", () => abort.abort(context.signal?.reason), { once: true });
      for (let i = 0; i < buffered.length; i++) {
        const e = buffered[i];
        buffered[i] = undefined as unknown as SourceEntry; // let it go once handed over
        yield e;
      }
      buffered.length = 0;
      if (failure) throw failure;
      if (step) {
        const r = await step;
        if (r.done) done = true;
        else {
          count(r.value);
          yield r.value;
        }
      }
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
    },
  };
}
