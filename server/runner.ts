/**
 * Runs one configured job: its hooks around the operation its kind names, tried again with exponential
 * backoff when it fails (`retries`, `retry-delay`), stopped by `timeout`. The scheduler and `floe run`
 * both call {@link runJob}; the operations themselves are in the engine adapter.
 *
 * @example
 * ```ts
 * import { runJob } from "./runner.ts";
 * // const result = await runJob(adapter, config, "home", { signal, onEvent, log });
 * ```
 * @module
 */
import { FloeError } from "../mod.ts";
import { ExitCode } from "../jobs/exit_codes.ts";
import type { Config, HooksConfig, Job } from "../config/mod.ts";
import { type EngineAdapter, maskedLocations, type OperationResult, type RunContext } from "./_engine.ts";
import { HookError, withHooks } from "../jobs/hooks.ts";

/** The operation a job's kind names. */
function operation(engine: EngineAdapter, job: Job, ctx: RunContext): Promise<OperationResult> {
  switch (job.kind) {
    case "backup":
      return engine.backup(job, ctx);
    case "check":
      return engine.check(job.repository, job, ctx);
    case "prune":
      return engine.prune(job.repository, job, ctx);
  }
}

/** Waits `ms`, or less when `signal` aborts (then throws its reason). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs job `name` once, with its retries. A check that finds problems throws (the run failed); a
 * cancellation is not retried. `ctx.signal` cancels; the job's `timeout` aborts with a TimeoutError.
 * `hooks` (from a request, checked against `allow-hooks` by the caller) replace the job's hooks of the
 * same names for this run.
 */
export async function runJob(
  engine: EngineAdapter,
  config: Config,
  name: string,
  ctx: RunContext,
  hooks?: HooksConfig,
): Promise<OperationResult> {
  const job = config.jobs[name];
  const runHooks = hooks ? { ...job.hooks, ...hooks } : job.hooks;
  const signal = job.timeout ? AbortSignal.any([ctx.signal, AbortSignal.timeout(job.timeout)]) : ctx.signal;
  const run = { ...ctx, signal };
  const facts = {
    job: name,
    repository: maskedLocations(config.repositories[job.repository]).join(" , "),
    paths: job.kind === "backup" ? job.paths : [],
  };
  for (let attempt = 0;; attempt++) {
    try {
      const result = await withHooks(runHooks, facts, run, () => operation(engine, job, run));
      if (job.kind === "check" && result.exitCode !== ExitCode.Ok) {
        throw new FloeError(`check found ${result.summary.problems} problem(s)`, "failed");
      }
      return result;
    } catch (e) {
      if (signal.aborted) {
        if (!ctx.signal.aborted) throw new FloeError(`timed out after ${job.timeout} ms`, "failed");
        throw e;
      }
      // A failed `after` hook comes after the snapshot: trying again would make another one.
      if (attempt >= job.retries || (e instanceof HookError && e.hook === "after")) throw e;
      const delay = job.retryDelay * 2 ** attempt;
      ctx.log(
        `attempt ${attempt + 1} of ${job.retries + 1} failed: ${(e as Error)?.message}; ` +
          `trying again in ${Math.round(delay / 1000)} s`,
      );
      await sleep(delay, signal);
    }
  }
}
