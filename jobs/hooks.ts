/**
 * A job's hooks (`[jobs.NAME.hooks]`): `before`, `after` (after a successful run), `on-failure` and
 * `finally`, each run by `sh -c` with the run's facts in the environment (FLOE_JOB, FLOE_REPOSITORY with
 * secrets masked, FLOE_SNAPSHOT_ID, FLOE_PATHS one per line, FLOE_ERROR, FLOE_EXIT_CODE); their output
 * goes to the run's log. A failing `before` stops the run; a failing `after` fails it and keeps the
 * snapshot. Written once for both faces: `floe backup --hook-before …` (no job: FLOE_JOB is empty),
 * `floe run` and the server's scheduler (whose API takes hooks only with `[server] allow-hooks = true`).
 *
 * @example
 * ```ts
 * import { withHooks } from "./hooks.ts";
 * const r = await withHooks({ before: "true" }, { job: "home", repository: "/srv/b", paths: [] }, {
 *   signal: new AbortController().signal, log: console.log,
 * }, () => Promise.resolve({ snapshotId: undefined, exitCode: 0 }));
 * ```
 * @module
 */
import { FloeError } from "../mod.ts";
import { ExitCode, exitCodeOf } from "./exit_codes.ts";
import type { HooksConfig } from "../config/mod.ts";

/** Which hook. */
export type HookName = "before" | "after" | "on-failure" | "finally";

/** What the hooks are told about the run. */
export interface HookFacts {
  /** Job name; empty for `floe backup`. */
  job: string;
  /** The repository's location(s), secrets masked. */
  repository: string;
  /** What the job backs up. */
  paths: readonly string[];
}

/** Where the hooks' output goes and what stops them. */
export interface HookContext {
  /** Stops a hook (its process is killed). */
  signal: AbortSignal;
  /** A line for the run's log. */
  log: (line: string) => void;
}

/** A hook that exited non-zero, timed out or could not start. */
export class HookError extends FloeError {
  /** Which hook. */
  readonly hook: HookName;
  /** The snapshot the run made before an `after` hook failed (it is kept). */
  snapshotId?: string;
  /** Build one. */
  constructor(hook: HookName, message: string) {
    super(`${hook} hook ${message}`, "failed");
    this.name = "HookError";
    this.hook = hook;
  }
}

async function pipeLines(stream: ReadableStream<Uint8Array>, prefix: string, log: (line: string) => void) {
  let rest = "";
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
    rest = lines.pop()!;
    for (const l of lines) log(prefix + l);
  }
  if (rest) log(prefix + rest);
}

/** Variables of floe's own environment that hooks do not get: the repository password, the API token. */
const WITHHELD = ["FLOE_PASSWORD", "FLOE_SERVER_TOKEN"];

/** floe's environment less {@link WITHHELD}: a hook is a command of the user's, not a holder of its secrets. */
function inheritedEnv(): Record<string, string> {
  const env = Deno.env.toObject();
  for (const name of WITHHELD) delete env[name];
  return env;
}

/** Runs one hook command; throws {@link HookError} when it does not exit 0. */
export async function runHook(
  hook: HookName,
  command: string,
  env: Record<string, string>,
  ctx: HookContext,
  timeoutMs?: number,
): Promise<void> {
  ctx.log(`[${hook}] $ ${command}`);
  const signals = [ctx.signal, ...(timeoutMs ? [AbortSignal.timeout(timeoutMs)] : [])];
  const signal = AbortSignal.any(signals);
  let child;
  try {
    child = new Deno.Command("sh", {
      args: ["-c", command],
      env: { ...inheritedEnv(), ...env },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal,
    }).spawn();
  } catch (e) {
    throw new HookError(hook, `could not start: ${(e as Error).message}`);
  }
  const output = Promise.all([
    pipeLines(child.stdout, `[${hook}] `, ctx.log),
    pipeLines(child.stderr, `[${hook}] `, ctx.log),
  ]);
  output.catch(() => {}); // awaited below, unless the hook was stopped
  const status = await child.status;
  // A stopped hook's own children (`sleep` under `sh -c`) may hold its output open for long after: the
  // hook ends with its shell, and what they write in the next moment is still logged.
  if (signal.aborted) await Promise.race([output, new Promise((r) => setTimeout(r, 200))]);
  else await output;
  if (status.success) return;
  if (signal.aborted) {
    throw new HookError(
      hook,
      ctx.signal.aborted ? "was stopped (run cancelled)" : `timed out after ${timeoutMs} ms`,
    );
  }
  throw new HookError(hook, status.signal ? `was killed by ${status.signal}` : `exited with ${status.code}`);
}

/** What the run gives back to the hooks. */
export interface HookedResult {
  /** The snapshot made, if any. */
  snapshotId?: string;
  /** The operation's exit code. */
  exitCode: number;
}

/**
 * Runs `operation` between the hooks. A `before` failure throws before the operation runs; an `after`
 * failure throws a {@link HookError} after it (the snapshot stays); `on-failure` and `finally` failures
 * are logged and do not change the outcome.
 */
export async function withHooks<T extends HookedResult>(
  hooks: HooksConfig | undefined,
  facts: HookFacts,
  ctx: HookContext,
  operation: () => Promise<T>,
): Promise<T> {
  if (!hooks) return await operation();
  const env = (extra: Record<string, string>) => ({
    FLOE_JOB: facts.job,
    FLOE_REPOSITORY: facts.repository,
    FLOE_PATHS: facts.paths.join("\n"),
    ...extra,
  });
  const quiet = async (hook: HookName, command: string | undefined, extra: Record<string, string>) => {
    if (!command) return;
    try {
      // on-failure and finally still run after a cancellation: they undo what `before` did.
      await runHook(
        hook,
        command,
        env(extra),
        { ...ctx, signal: new AbortController().signal },
        hooks.hookTimeout,
      );
    } catch (e) {
      ctx.log(`warning: ${(e as Error).message}`);
    }
  };
  let result: T | undefined;
  let failure: unknown;
  try {
    if (hooks.before) await runHook("before", hooks.before, env({}), ctx, hooks.hookTimeout);
    result = await operation();
    if (hooks.after) {
      try {
        await runHook(
          "after",
          hooks.after,
          env({
            FLOE_SNAPSHOT_ID: result.snapshotId ?? "",
            FLOE_EXIT_CODE: String(result.exitCode),
          }),
          ctx,
          hooks.hookTimeout,
        );
      } catch (e) {
        if (e instanceof HookError) e.snapshotId = result.snapshotId;
        throw e;
      }
    }
    return result;
  } catch (e) {
    failure = e;
    await quiet("on-failure", hooks.onFailure, {
      FLOE_SNAPSHOT_ID: result?.snapshotId ?? "",
      FLOE_ERROR: (e as Error)?.message ?? String(e),
      FLOE_EXIT_CODE: String(exitCodeOf(e)),
    });
    throw e;
  } finally {
    const code = failure === undefined
      ? result?.exitCode ?? 0
      : failure instanceof FloeError
      ? exitCodeOf(failure)
      : ExitCode.Failure;
    await quiet("finally", hooks.finally, {
      FLOE_SNAPSHOT_ID: result?.snapshotId ?? "",
      FLOE_EXIT_CODE: String(code),
      ...(failure !== undefined ? { FLOE_ERROR: (failure as Error)?.message ?? String(failure) } : {}),
    });
  }
}
