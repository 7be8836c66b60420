/**
 * The messages between `floe serve`'s two threads (server/serve.ts): the HTTP worker, which answers
 * requests and whose scheduler decides when runs start, and the thread that started the server, which
 * carries the runs out. Everything here is plain data (structured-cloneable); secrets never cross, the
 * config does (each side opens repositories itself).
 *
 * @example
 * ```ts
 * import type { ToHttp } from "./_threads.ts";
 * const stop: ToHttp = { type: "stop", graceMs: 30_000 };
 * ```
 * @module
 */
import type { Config, ListenAddress } from "../config/mod.ts";
import type { OperationEvent, OperationResult } from "./_engine.ts";
import type { OperationFailure, OperationRequest } from "./operation.ts";

/** What the starting thread sends the HTTP worker. */
export type ToHttp =
  | {
    type: "start";
    config: Config;
    configPath: string;
    token: string;
    listen?: ListenAddress;
    insecure?: boolean;
  }
  | { type: "stop"; graceMs: number }
  | { type: "event"; run: number; event: OperationEvent }
  | { type: "log"; run: number; line: string }
  | { type: "result"; run: number; result: OperationResult }
  | { type: "failure"; run: number; failure: OperationFailure };

/** What the HTTP worker sends the starting thread. */
export type FromHttp =
  | { type: "listening"; url: string; port: number }
  | { type: "start-failed"; message: string; code: string }
  | { type: "stopped" }
  | { type: "server-log"; line: string }
  | { type: "perform"; run: number; request: OperationRequest }
  | { type: "cancel"; run: number; message: string };
