/**
 * Runs an operation on a worker of its own, off the thread that answers HTTP: a backup's main-thread
 * work (packing, catalog writes through synchronous node:sqlite, tree building, collecting its garbage)
 * would otherwise sit between requests and delay every answer while it runs. The worker gets the config
 * and the {@link OperationRequest}; its events and log lines come back as messages; aborting the run's
 * signal asks the worker to abort its own, and the run ends only when the worker says so (a cancelled
 * backup has removed what it wrote and released its lock by then).
 *
 * @example
 * ```ts
 * import { runInWorker } from "./worker_run.ts";
 * // const result = await runInWorker(config, { op: "job", job: "home" }, { signal, onEvent, log });
 * ```
 * @module
 */
import { FloeError } from "../mod.ts";
import type { Config } from "../config/mod.ts";
import { ApiError, type OperationEvent, type OperationResult, type RunContext } from "./_engine.ts";
import type { OperationRequest } from "./operation.ts";

/** What the server sends the worker. */
export type ToWorker =
  | { type: "start"; config: Config; request: OperationRequest }
  | { type: "cancel"; message: string };

/** How an operation failed, as the API answers it. */
export interface OperationFailure {
  /** HTTP status. */
  status: number;
  /** Stable code. */
  code: string;
  /** One-line message. */
  message: string;
  /** The snapshot a backup made before a later step (an `after` hook) failed; it is kept. */
  snapshotId?: string;
}

/** What the worker sends back. */
export type FromWorker =
  | { type: "event"; event: OperationEvent }
  | { type: "log"; line: string }
  | { type: "result"; result: OperationResult }
  | { type: "error"; failure: OperationFailure };

/** An operation's failure, rebuilt on the server's side of the worker. */
export class OperationError extends ApiError {
  /** The snapshot made before the failure, if any. */
  readonly snapshotId?: string;
  /** Build one. */
  constructor(failure: OperationFailure) {
    super(failure.status, failure.code, failure.message);
    this.name = "OperationError";
    this.snapshotId = failure.snapshotId;
  }
}

/** Runs `request` on a new worker; resolves with its result or rejects with an {@link OperationError}. */
export function runInWorker(
  config: Config,
  request: OperationRequest,
  ctx: RunContext,
): Promise<OperationResult> {
  const worker = new Worker(new URL("./_operation_worker.ts", import.meta.url), { type: "module" });
  const post = (m: ToWorker) => worker.postMessage(m);
  return new Promise<OperationResult>((resolve, reject) => {
    const cancel = () => {
      const reason = ctx.signal.reason;
      post({ type: "cancel", message: reason instanceof FloeError ? reason.message : "cancelled" });
    };
    const end = () => {
      ctx.signal.removeEventListener("abort", cancel);
      worker.terminate();
    };
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      const m = e.data;
      switch (m.type) {
        case "event":
          return ctx.onEvent(m.event);
        case "log":
          return ctx.log(m.line);
        case "result":
          end();
          return resolve(m.result);
        case "error":
          end();
          return reject(new OperationError(m.failure));
      }
    };
    worker.onerror = (e) => {
      e.preventDefault();
      end();
      reject(new ApiError(500, "internal", `the operation's worker failed: ${e.message}`));
    };
    ctx.signal.addEventListener("abort", cancel, { once: true });
    post({ type: "start", config, request });
    if (ctx.signal.aborted) cancel();
  });
}
