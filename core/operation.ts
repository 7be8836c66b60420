/**
 * Runs one operation call: gives it a run id, emits `start`, turns the pipelines' {@link StepEvent}s into
 * {@link EngineEvent}s (adding the run, the operation, the time, the rate and the totals the caller
 * knows), then `done` with a summary or `error` with the error's code. The core never prints: the caller's
 * `onEvent` decides what to do with them.
 *
 * @example
 * ```ts
 * import { operate } from "./operation.ts";
 * const n = await operate("stats", { onEvent: console.log }, async () => 42);
 * ```
 * @module
 */
import { FloeError } from "./errors.ts";
import type { EngineEvent, Operation, Progress, StepEvent } from "./events.ts";

/** Options every operation of the engine takes. */
export interface OperationOptions {
  /** Cancels the operation; it then ends with an error of code `cancelled` and records nothing partial. */
  signal?: AbortSignal;
  /** Receives the operation's events. */
  onEvent?: (event: EngineEvent) => void;
  /** The run id to tag the events with (default: a new random one); the server passes its run's. */
  run?: string;
}

/** What an operation's body gets: a way to report steps, and the totals it learns along the way. */
export interface OperationContext {
  /** The run id. */
  run: string;
  /** Reports a pipeline's event. */
  step: (event: StepEvent) => void;
  /** Sets totals (or other counts) added to every later progress event, e.g. from a scan running ahead. */
  totals: (values: () => Partial<Progress>) => void;
}

/** An event without what {@link operate} adds. */
type EventBody = EngineEvent extends infer E ? E extends unknown ? Omit<E, "run" | "op" | "time"> : never
  : never;

/** Turns an error into the code events and the front ends use. */
export function errorCodeOf(e: unknown): FloeError["code"] {
  if (e instanceof DOMException && e.name === "AbortError") return "cancelled";
  const code = (e as { code?: unknown })?.code;
  return e instanceof FloeError && typeof code === "string" ? e.code : "failed";
}

/**
 * Runs `body` as operation `op`. `summarize` turns its result into the `done` event's summary.
 */
export async function operate<T>(
  op: Operation,
  call: OperationOptions,
  body: (ctx: OperationContext) => Promise<T>,
  summarize?: (result: T) => Record<string, unknown>,
): Promise<T> {
  const run = call.run ?? crypto.randomUUID();
  const onEvent = call.onEvent;
  const started = performance.now();
  let extra: () => Partial<Progress> = () => ({});
  const emit = (e: EventBody) => {
    if (onEvent) onEvent({ run, op, time: Date.now(), ...e } as EngineEvent);
  };
  let last: Progress = { files: 0, bytes: 0 };
  const step = (e: StepEvent) => {
    if (!onEvent) return;
    if (e.type === "progress") {
      const { type: _t, phase: _p, ...counts } = e;
      const seconds = (performance.now() - started) / 1000;
      last = { ...counts, ...extra() };
      emit({
        type: "progress",
        ...last,
        rate: seconds > 0.05 ? Math.round(last.bytes / seconds) : undefined,
      });
    } else if (e.type === "warning") emit({ type: "warning", path: e.path, message: e.message });
    else if (e.type === "info") emit({ type: "progress", ...last, message: e.message });
    // A pipeline's own `done` is not the operation's: that comes when the body returns.
  };
  emit({ type: "start" });
  try {
    call.signal?.throwIfAborted();
    const result = await body({ run, step, totals: (values) => (extra = values) });
    emit({ type: "done", summary: summarize?.(result) });
    return result;
  } catch (e) {
    const code = errorCodeOf(e);
    const message = (e as Error)?.message?.split("\n")[0] ?? String(e);
    emit({ type: "error", code, message });
    if (code === "cancelled" && !(e instanceof FloeError)) {
      throw new FloeError(`${op} cancelled; nothing partial was recorded`, "cancelled", { cause: e });
    }
    throw e;
  }
}
