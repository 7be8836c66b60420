/**
 * The HTTP side of `floe serve` (see server/serve.ts): the app, the scheduler, the runs database and the
 * engine that answers reads live here, on a worker of their own; each run's request goes to the thread
 * that started the server, which carries it out, and its events, log lines and result come back.
 *
 * @example
 * ```ts
 * // Started by startServer: new Worker(new URL("./_http_worker.ts", import.meta.url), { type: "module" })
 * ```
 * @module
 */
/// <reference lib="deno.worker" />
import { FloeError, niceThisThread } from "../mod.ts";
import type { OperationResult, RunContext } from "./_engine.ts";
import { OperationError, type OperationRequest } from "./operation.ts";
import type { RunningServer } from "./serve.ts";
import { startServerHere } from "./_serve_here.ts";
import type { FromHttp, ToHttp } from "./_threads.ts";

/**
 * The nice value of this thread (Linux): the HTTP side yields to the runs it hands to the starting thread
 * when the cores are busy — what a UI watches should not slow what it watches. `deno task bench:server`, 2
 * cores, a backup of 300 MiB followed by 100 SSE clients (medians of 5–7 runs each way): slowed 7.4–7.9 % in
 * four of five bench runs at nice 0; −0.2 and −3.3 % at nice 5, snapshot listings during backups p99 16–18 ms
 * (target ≤ 50). Nice 10 did as well on the bench (−0.8–4.8 %), but it yields that much to every other
 * process too, and with it one loaded test run had the UI test see a run's progress only once it was done.
 * The runs' own threads, started from the main thread, keep its priority.
 */
const HTTP_NICE = 5;
niceThisThread(HTTP_NICE);

const post = (m: FromHttp) => self.postMessage(m);
const runs = new Map<
  number,
  { ctx: RunContext; resolve(r: OperationResult): void; reject(e: Error): void }
>();
let lastRunId = 0;
let server: RunningServer | undefined;

/** Hands a run to the starting thread; settles when it says the run ended. */
function performThere(request: OperationRequest, ctx: RunContext): Promise<OperationResult> {
  const run = ++lastRunId;
  return new Promise<OperationResult>((resolve, reject) => {
    const cancel = () => {
      const reason = ctx.signal.reason;
      post({ type: "cancel", run, message: reason instanceof FloeError ? reason.message : "cancelled" });
    };
    ctx.signal.addEventListener("abort", cancel, { once: true });
    const settle = () => {
      ctx.signal.removeEventListener("abort", cancel);
      runs.delete(run);
    };
    runs.set(run, {
      ctx,
      resolve: (r) => (settle(), resolve(r)),
      reject: (e) => (settle(), reject(e)),
    });
    post({ type: "perform", run, request });
    if (ctx.signal.aborted) cancel();
  });
}

self.onmessage = async (e: MessageEvent<ToHttp>) => {
  const m = e.data;
  switch (m.type) {
    case "start":
      try {
        server = await startServerHere({
          ...m,
          log: (line) => post({ type: "server-log", line }),
          perform: performThere,
        });
        post({ type: "listening", url: server.url, port: server.port });
      } catch (err) {
        post({
          type: "start-failed",
          message: (err as Error)?.message ?? String(err),
          code: err instanceof FloeError ? err.code : "failed",
        });
      }
      return;
    case "stop":
      await server?.stop(m.graceMs);
      post({ type: "stopped" });
      return;
    case "event":
      return runs.get(m.run)?.ctx.onEvent(m.event);
    case "log":
      return runs.get(m.run)?.ctx.log(m.line);
    case "result":
      return runs.get(m.run)?.resolve(m.result);
    case "failure":
      return runs.get(m.run)?.reject(new OperationError(m.failure));
  }
};
