/**
 * CLI helpers for remote and mirrored repositories: the storage bounds of the global options
 * (`--limit-upload`, `--limit-download`, `--connections`), several locations in `FLOE_REPOSITORY`,
 * and the one-line error message that names the location (its password masked).
 *
 * @example
 * ```ts
 * import { splitLocations } from "./remote.ts";
 * splitLocations("/srv/a , sftp://nas//srv/b"); // ["/srv/a", "sftp://nas//srv/b"]
 * ```
 * @module
 */
import { FloeError } from "../mod.ts";
import { maskLocation, parseRate, type StorageOpenOptions } from "../mod.ts";

/**
 * Splits `FLOE_REPOSITORY`: one location, or several separated by a comma with white space on both
 * sides (`/srv/a , s3:…`). A plain comma inside a location (`/srv/a,b`) is part of it.
 */
export function splitLocations(value: string): string[] {
  return value.split(/\s+,\s+/).map((l) => l.trim()).filter(Boolean);
}

/** Reads the bound options' text values into {@link StorageOpenOptions}; usage errors on bad values. */
export function storageBounds(
  values: { limitUpload?: string; limitDownload?: string; connections?: string },
): StorageOpenOptions {
  const out: StorageOpenOptions = {};
  const rate = (text: string, option: string) => {
    try {
      return parseRate(text);
    } catch (e) {
      throw new FloeError(`${option}: ${(e as Error).message}`, "usage");
    }
  };
  if (values.limitUpload !== undefined) out.uploadBytesPerSecond = rate(values.limitUpload, "--limit-upload");
  if (values.limitDownload !== undefined) {
    out.downloadBytesPerSecond = rate(values.limitDownload, "--limit-download");
  }
  if (values.connections !== undefined) {
    const n = Number(values.connections);
    if (!/^\d+$/.test(values.connections.trim()) || !Number.isSafeInteger(n) || n < 1) {
      throw new FloeError(
        `--connections takes a whole number ≥ 1, got '${values.connections}'`,
        "usage",
      );
    }
    out.connections = n;
  }
  return out;
}

/**
 * The message of an error for the one stderr line: its first line, prefixed with the repository
 * location (its password masked) when a storage error does not name it. The caller still passes the
 * line through the CLI's `redact`.
 *
 * @example
 * ```ts
 * import { errorLine } from "./remote.ts";
 * errorLine(new Error("boom\nmore"), []); // "boom"
 * ```
 */
export function errorLine(e: unknown, locations: readonly string[]): string {
  const err = e as Error & { name?: string };
  let message = String(err?.message ?? e).split("\n")[0];
  if (err?.name === "StorageError") {
    const masked = locations.map(maskLocation);
    const named = masked.some((l) => l && message.includes(l));
    if (!named && masked.length) message = `${masked[0]}: ${message}`;
    message = `storage: ${message}`;
  }
  return message;
}
