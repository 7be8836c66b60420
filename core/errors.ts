/**
 * Errors the engine raises, each with the process exit code the CLI maps it to.
 *
 * @example
 * ```ts
 * import { FloeError, ExitCode } from "./errors.ts";
 * throw new FloeError("wrong password", ExitCode.WrongPassword);
 * ```
 * @module
 */

/** Documented exit codes of the floe CLI. */
export const ExitCode = {
  /** Everything worked. */
  Ok: 0,
  /** The command failed. */
  Failure: 1,
  /** Bad command-line usage. */
  Usage: 2,
  /** A snapshot was made, but some entries could not be read. */
  Partial: 3,
  /** No repository at the location. */
  NoRepository: 10,
  /** The repository is locked by another process. */
  Busy: 11,
  /** No key of the repository opens with the password given. */
  WrongPassword: 12,
} as const;

/** One of the {@link ExitCode} values. */
export type ExitCodeValue = typeof ExitCode[keyof typeof ExitCode];

/** An error with a one-line message meant for users and the exit code it maps to. */
export class FloeError extends Error {
  /** The exit code the CLI ends with. */
  readonly exitCode: ExitCodeValue;
  /** Build one. */
  constructor(message: string, exitCode: ExitCodeValue = ExitCode.Failure, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FloeError";
    this.exitCode = exitCode;
  }
}

/** Data in the repository failed authentication or does not parse: damaged or tampered. */
export class IntegrityError extends FloeError {
  /** Build one naming the object concerned. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.Failure, options);
    this.name = "IntegrityError";
  }
}
