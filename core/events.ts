/**
 * Progress events the engine emits; the CLI renders them, the HTTP server streams them (SSE).
 *
 * @example
 * ```ts
 * import type { EngineEvent } from "./events.ts";
 * const log = (e: EngineEvent) => e.type === "warning" && console.error(e.path, e.message);
 * ```
 * @module
 */

/** One engine event. */
export type EngineEvent =
  | {
    /** Periodic progress. */
    type: "progress";
    /** What runs. */
    phase: "backup" | "restore" | "check" | "catalog" | "prune";
    /** Files done. */
    files: number;
    /** Bytes done. */
    bytes: number;
    /** Bytes added to the repository (backup). */
    bytesAdded?: number;
    /** Current path. */
    path?: string;
  }
  | {
    /** Something could not be read or written; the run goes on. */
    type: "warning";
    /** Path concerned. */
    path: string;
    /** What happened. */
    message: string;
  }
  | {
    /** An informational message. */
    type: "info";
    /** Text. */
    message: string;
  }
  | {
    /** A run ended. */
    type: "done";
    /** What ran. */
    phase: "backup" | "restore" | "check" | "prune";
    /** New snapshot (backup). */
    snapshotId?: string;
  };
