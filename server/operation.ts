/**
 * What a run does, written as data ({@link OperationRequest}) rather than as a closure, so that it can
 * cross to the worker that runs it (server/worker_run.ts), and {@link perform}, which carries one out
 * through the engine adapter.
 *
 * @example
 * ```ts
 * import { perform } from "./operation.ts";
 * // const result = await perform(adapter, config, { op: "job", job: "home" }, ctx);
 * ```
 * @module
 */
import { FloeError } from "../mod.ts";
import type { CheckJob, Config, PruneJob } from "../config/mod.ts";
import type { EngineAdapter, ForgetRequest, OperationResult, RestoreRequest, RunContext } from "./_engine.ts";
import { runJob } from "./runner.ts";

/** A run's work: a configured job, or a one-off operation on a repository. Plain data (structured-cloneable). */
export type OperationRequest =
  | { op: "job"; job: string }
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
      return await runJob(engine, config, request.job, ctx);
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
