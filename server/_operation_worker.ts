/**
 * Worker side of server/worker_run.ts: carries out one operation through its own engine adapter and
 * posts its events, log lines and result (or failure, as the API answers it) back, then closes.
 *
 * @example
 * ```ts
 * // Started by runInWorker: new Worker(new URL("./_operation_worker.ts", import.meta.url), { type: "module" })
 * ```
 * @module
 */
/// <reference lib="deno.worker" />
import { FloeError } from "../mod.ts";
import { apiErrorOf, EngineAdapter } from "./_engine.ts";
import { HookError } from "./hooks.ts";
import { perform } from "./operation.ts";
import type { FromWorker, ToWorker } from "./worker_run.ts";

const controller = new AbortController();
const post = (m: FromWorker) => self.postMessage(m);

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  if (m.type === "cancel") return controller.abort(new FloeError(m.message, "cancelled"));
  const engine = new EngineAdapter(m.config);
  let reply: FromWorker;
  try {
    const result = await perform(engine, m.config, m.request, {
      signal: controller.signal,
      onEvent: (event) => post({ type: "event", event }),
      log: (line) => post({ type: "log", line }),
    });
    reply = { type: "result", result };
  } catch (err) {
    const { status, code, message } = apiErrorOf(err);
    const snapshotId = err instanceof HookError ? err.snapshotId : undefined;
    reply = { type: "error", failure: { status, code, message, ...(snapshotId ? { snapshotId } : {}) } };
  } finally {
    await engine.close();
  }
  post(reply);
  self.close();
};
