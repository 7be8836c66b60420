/**
 * The events of the engine's operations. Each operation call gets a run id; what happens in it is a
 * stream of data events — `start`, `progress` (with totals where known), `warning`, then `done` or
 * `error` — that the CLI renders as a progress line or JSON status lines and the HTTP server streams
 * (SSE) and stores.
 *
 * The pipelines inside the engine (archiver, restorer, checker, prune, catalog sync) report {@link StepEvent}s;
 * core/operation.ts turns them into {@link EngineEvent}s for the caller.
 *
 * @example
 * ```ts
 * import type { EngineEvent } from "./events.ts";
 * const log = (e: EngineEvent) => {
 *   if (e.type === "progress") console.error(`${e.op} ${e.run}: ${e.files} files, ${e.bytes} bytes`);
 * };
 * ```
 * @module
 */
import type { ErrorCode } from "./errors.ts";

/** The operations of the engine, as events and the server's runs name them. */
export type Operation =
  | "init"
  | "open"
  | "backup"
  | "restore"
  | "check"
  | "repair-index"
  | "repair-snapshots"
  | "forget"
  | "prune"
  | "keys"
  | "unlock"
  | "mirror-sync"
  | "catalog-rebuild"
  | "stats"
  | "find"
  | "diff"
  | "dump";

/** Counts of a running operation; totals are present where the engine knows them. */
export interface Progress {
  /** Files (entries) done. */
  files: number;
  /** Bytes done (read for a backup, written for a restore, read for a check). */
  bytes: number;
  /** Files to do in all, when known (a backup's total grows while its scan runs ahead). */
  filesTotal?: number;
  /** Bytes to do in all, when known. */
  bytesTotal?: number;
  /** Bytes added to the repository (backup: new data after dedup and compression). */
  bytesAdded?: number;
  /** Bytes stored by the storage so far (backup: what a throttled upload has really sent). */
  bytesUploaded?: number;
  /** The entry being worked on. */
  path?: string;
  /** Bytes per second since the start. */
  rate?: number;
  /** What the step is doing, in words (e.g. `reading index files`). */
  message?: string;
}

/** One event of an operation call. */
export type EngineEvent =
  & {
    /** The run (one operation call) the event belongs to. */
    run: string;
    /** The operation. */
    op: Operation;
    /** When, in milliseconds since the epoch. */
    time: number;
  }
  & (
    | {
      /** The operation began. */
      type: "start";
    }
    | ({
      /** Periodic progress, at most a few times a second. */
      type: "progress";
    } & Progress)
    | {
      /** Something could not be read, written or verified; the operation goes on. */
      type: "warning";
      /** The path or object concerned. */
      path?: string;
      /** What happened. */
      message: string;
    }
    | {
      /** The operation ended well. */
      type: "done";
      /** Its result in short (the snapshot made, counts), as plain data. */
      summary?: Record<string, unknown>;
    }
    | {
      /** The operation failed or was cancelled. */
      type: "error";
      /** The error's stable code (see core/errors.ts). */
      code: ErrorCode;
      /** One line saying what went wrong. */
      message: string;
    }
  );

/** What the engine's pipelines report while they run; core/operation.ts turns them into {@link EngineEvent}s. */
export type StepEvent =
  | ({
    /** Periodic progress. */
    type: "progress";
    /** What runs. */
    phase: "backup" | "restore" | "check" | "catalog" | "prune";
  } & Progress)
  | {
    /** Something could not be read or written; the run goes on. */
    type: "warning";
    /** Path concerned. */
    path: string;
    /** What happened. */
    message: string;
  }
  | {
    /** An informational message (`-v` output). */
    type: "info";
    /** Text. */
    message: string;
  }
  | {
    /** A step ended. */
    type: "done";
    /** What ran. */
    phase: "backup" | "restore" | "check" | "prune";
    /** New snapshot (backup). */
    snapshotId?: string;
  };
