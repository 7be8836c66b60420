/**
 * The floe command's exit codes, and how an engine error's code maps to one. The server reports the
 * same codes (a run's `exit_code`, a hook's FLOE_EXIT_CODE), so they live beside the hooks, outside
 * both faces.
 *
 * @example
 * ```ts
 * import { exitCodeOf } from "./exit_codes.ts";
 * import { FloeError } from "../mod.ts";
 * exitCodeOf(new FloeError("locked", "busy")); // 11
 * ```
 * @module
 */
import type { ErrorCode } from "../mod.ts";

/** Documented exit codes of the floe CLI. */
export const ExitCode = {
  /** Everything worked. */
  Ok: 0,
  /** The command failed. */
  Failure: 1,
  /** Bad command-line usage. */
  Usage: 2,
  /** The command ran, but some entries could not be read (backup) or restored exactly (restore). */
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

const BY_CODE: Partial<Record<ErrorCode, ExitCodeValue>> = {
  "usage": ExitCode.Usage,
  "no-repository": ExitCode.NoRepository,
  "busy": ExitCode.Busy,
  "wrong-password": ExitCode.WrongPassword,
};

/** The exit code for an error: by its {@link ErrorCode} when it has one, else 1. */
export function exitCodeOf(e: unknown): ExitCodeValue {
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" && Object.hasOwn(BY_CODE, code)
    ? BY_CODE[code as ErrorCode]!
    : ExitCode.Failure;
}
