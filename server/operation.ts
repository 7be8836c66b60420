/**
 * What a run does, written as data ({@link OperationRequest}) rather than as a closure, so that it can
 * cross between the HTTP thread, whose scheduler decides when it runs, and the thread that carries it
 * out (server/serve.ts); {@link perform}, which carries one out through the engine adapter; and how a
 * failure crosses back ({@link OperationFailure}). The scheduler knows requests only.
 *
 * @example
 * ```ts
 * import { perform } from "./operation.ts";
 * // const result = await perform(adapter, config, { op: "job", job: "home" }, ctx);
 * ```
 * @module
 */
import { FloeError } from "../mod.ts";
import type { CheckJob, Config, HooksConfig, PruneJob } from "../config/mod.ts";
import {
  ApiError,
  apiErrorOf,
  type EngineAdapter,
  type ForgetRequest,
  type OperationResult,
  type RestoreRequest,
  type RunContext,
} from "./_engine.ts";
import { HookError } from "../jobs/hooks.ts";
import { runJob } from "./runner.ts";

/**
 * A run's work: a configured job (with the hooks a request gave for this run), or a one-off operation on
 * a repository. Plain data: structured-cloneable.
 */
export type OperationRequest =
  | { op: "job"; job: string; hooks?: HooksConfig }
  | { op: "restore"; repository: string; restore: RestoreRequest }
  | { op: "check"; repository: string; check: Pick<CheckJob, "readData" | "readDataSubset"> }
  | { op: "prune"; repository: string; prune: Pick<PruneJob, "maxUnused"> }
  | { op: "forget"; repository: string; forget: ForgetRequest };

/** Carries out a request; a check that finds problems throws (the run failed). */
export async function perform(
  engine: EngineAdapter,
  config: Config,
  request: OperationRequest,
  ctx: RunContext,
): Promise<OperationResult> {
  switch (request.op) {
    case "job":
      return await runJob(engine, config, request.job, ctx, request.hooks);
    case "restore":
      return await engine.restore(request.repository, request.restore, ctx);
    case "check": {
      const r = await engine.check(request.repository, request.check, ctx);
      if (r.exitCode) throw new FloeError(`check found ${r.summary.problems} problem(s)`, "failed");
      return r;
    }
    case "prune":
      return await engine.prune(request.repository, request.prune, ctx);
    case "forget":
      return await engine.forget(request.repository, request.forget, ctx);
  }
}

/** How an operation failed, as the API answers it: plain data, it crosses threads. */
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

/** The failure an error stands for (engine errors by their stable code; a kept snapshot with it). */
export function failureOf(e: unknown): OperationFailure {
  const { status, code, message } = apiErrorOf(e);
  const snapshotId = e instanceof HookError || e instanceof OperationError ? e.snapshotId : undefined;
  return { status, code, message, ...(snapshotId ? { snapshotId } : {}) };
}

/** An operation's failure, rebuilt on the other side of a thread. */
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
