/**
 * What every part of one backup run shares: the first failure (later ones are consequences), the
 * warnings, the summary's counters and the progress events.
 *
 * @example
 * ```ts
 * import { RunState } from "./_run_state.ts";
 * const state = new RunState(() => {});
 * state.warn({ path: "/a", message: "cannot read" });
 * state.summary.errors; // 0 until the run ends
 * ```
 * @module
 */
import type { SourceWarning } from "../contracts.ts";
import type { StepEvent } from "../events.ts";
import type { BackupSummary } from "../repository/types.ts";

/** Progress events are emitted at most this often (ms). */
const PROGRESS_EVERY = 250;

/** The shared state of one backup run. */
export class RunState {
  /** The first error of the run; every part stops at its next step once it is set. */
  failure: unknown = null;
  /** Entries that could not be read (left out of the snapshot). */
  readonly warnings: SourceWarning[] = [];
  /** The snapshot's summary, counted as the run goes. */
  readonly summary: BackupSummary = {
    files_new: 0,
    files_changed: 0,
    files_unmodified: 0,
    dirs_new: 0,
    dirs_changed: 0,
    dirs_unmodified: 0,
    data_blobs: 0,
    tree_blobs: 0,
    data_added: 0,
    data_added_raw: 0,
    total_files_processed: 0,
    total_bytes_processed: 0,
    total_duration: 0,
    errors: 0,
  };
  /**
   * Bytes read so far of files whose read has not ended: progress counts them (a large file's read shows
   * as it goes, not only once it is done), the summary only once each file's read ends.
   */
  reading = 0;
  readonly #emit: (event: StepEvent) => void;
  #lastProgress = 0;
  #lastPath = "";

  /** A run whose events go to `emit`. */
  constructor(emit: (event: StepEvent) => void) {
    this.#emit = emit;
  }

  /** Emits an event. */
  readonly emit = (event: StepEvent): void => this.#emit(event);

  /** Records `e` as the run's failure unless one is recorded already. */
  readonly fail = (e: unknown): void => {
    this.failure ??= e;
  };

  /** Throws the run's failure, if any. */
  check(): void {
    if (this.failure) throw this.failure;
  }

  /** Records and emits a warning. */
  readonly warn = (w: SourceWarning): void => {
    this.warnings.push(w);
    this.#emit({ type: "warning", ...w });
  };

  /**
   * Emits a progress event at `path` (default: the last path given), unless one went out less than
   * {@link PROGRESS_EVERY} ms ago. Files and bytes are those done, plus the bytes read of files under way.
   */
  progress(path: string = this.#lastPath): void {
    this.#lastPath = path;
    const now = performance.now();
    if (now - this.#lastProgress < PROGRESS_EVERY) return;
    this.#lastProgress = now;
    const s = this.summary;
    this.#emit({
      type: "progress",
      phase: "backup",
      files: s.total_files_processed,
      bytes: s.total_bytes_processed + this.reading,
      bytesAdded: s.data_added,
      path,
    });
  }
}
