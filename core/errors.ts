/**
 * Errors the engine raises, each with a stable code the CLI maps to an exit code and the server to an HTTP
 * status.
 *
 * @example
 * ```ts
 * import { FloeError } from "./errors.ts";
 * throw new FloeError("wrong password", "wrong-password");
 * ```
 * @module
 */

/**
 * Why an operation failed, as a stable string the front ends map: the CLI to exit codes, the server to HTTP
 * statuses.
 */
export type ErrorCode =
  /** The request itself is wrong: an unknown option value, a bad date, an unclaimed location scheme. */
  | "usage"
  /** The operation failed (the general case). */
  | "failed"
  /** There is no repository at the location. */
  | "no-repository"
  /** The repository is locked by another process. */
  | "busy"
  /** No key of the repository opens with the password given. */
  | "wrong-password"
  /** Data failed authentication or does not parse: damaged or tampered. */
  | "integrity"
  /** What was asked for (a snapshot, a path in it, a key) does not exist. */
  | "not-found"
  /** The operation was cancelled (a signal, SIGINT/SIGTERM); nothing partial was recorded. */
  | "cancelled"
  /** A plugin could not be loaded or does not satisfy its contract. */
  | "plugin";

/**
 * An error with a one-line message meant for users and a stable {@link ErrorCode}.
 *
 * @example
 * ```ts
 * import { FloeError } from "./errors.ts";
 * const e = new FloeError("no snapshot 'abc'", "not-found");
 * console.log(e.code); // "not-found"
 * ```
 */
export class FloeError extends Error {
  /** Why it failed. */
  readonly code: ErrorCode;
  /** Build one. */
  constructor(message: string, code: ErrorCode = "failed", options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FloeError";
    this.code = code;
  }
}

/** Data in the repository failed authentication or does not parse: damaged or tampered. */
export class IntegrityError extends FloeError {
  /** Build one naming the object concerned. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, "integrity", options);
    this.name = "IntegrityError";
  }
}
