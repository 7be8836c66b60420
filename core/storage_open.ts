/**
 * Builds the storage of one repository from one or several location strings: each location's plugin,
 * wrapped in `limit` (when connection or bandwidth bounds are set) and, for remote storages, in
 * `retry`; several locations become one `mirror` of them (written to all, read from the first that
 * answers).
 *
 * Order per location: `retry(limit(plugin))` — each attempt is paced and holds a connection slot only
 * while it runs (not while backing off). Bounds apply to each storage of a mirror separately.
 *
 * @example
 * ```ts
 * import { openStorages } from "./storage_open.ts";
 * const storage = await openStorages(["/srv/a", "/srv/b"], { uploadBytesPerSecond: 1 << 20 });
 * await storage.close?.();
 * ```
 * @module
 */
import type { StoragePlugin } from "./contracts.ts";
import { ExitCode, FloeError } from "./errors.ts";
import { loadPlugin } from "./registry.ts";
import { LocationError, maskLocation, parseLocation } from "../plugins/storage/location.ts";
import retry, { type Options as RetryOptions } from "../plugins/storage/retry/mod.ts";
import limit from "../plugins/storage/limit/mod.ts";
import mirror from "../plugins/storage/mirror/mod.ts";

/** Options of {@link openStorages} (and of `openStorage` in engine.ts). */
export interface StorageOpenOptions {
  /** Most calls in flight on each storage at once (`--connections`). */
  connections?: number;
  /** Upload bandwidth of each storage in bytes per second (`--limit-upload`); 0 or absent: unlimited. */
  uploadBytesPerSecond?: number;
  /** Download bandwidth of each storage in bytes per second (`--limit-download`); 0 or absent: unlimited. */
  downloadBytesPerSecond?: number;
  /** Settings of the retry wrapper of remote storages (defaults: the wrapper's). */
  retry?: Omit<RetryOptions, "storage">;
}

/** Opens one location: its plugin, bounded by `limit` when asked, retried when remote. */
export async function openOneStorage(
  location: string,
  options: StorageOpenOptions = {},
): Promise<StoragePlugin> {
  let parsed;
  try {
    parsed = parseLocation(location);
  } catch (e) {
    if (e instanceof LocationError) throw new FloeError(e.message, ExitCode.Usage, { cause: e });
    throw e;
  }
  let storage: StoragePlugin;
  try {
    storage = await loadPlugin("storage", parsed.storage, parsed.options);
  } catch (e) {
    if (e instanceof FloeError) throw e;
    throw new FloeError(
      `cannot open ${maskLocation(location)}: ${(e as Error)?.message ?? e}`,
      ExitCode.Usage,
      {
        cause: e,
      },
    );
  }
  const { connections, uploadBytesPerSecond, downloadBytesPerSecond } = options;
  if (connections || uploadBytesPerSecond || downloadBytesPerSecond) {
    storage = limit({ storage, connections, uploadBytesPerSecond, downloadBytesPerSecond });
  }
  if (parsed.storage !== "local") storage = retry({ ...options.retry, storage });
  return storage;
}

/**
 * Opens a repository's storage: one location, or a mirror of several (in read-preference order).
 * Duplicate locations are refused.
 */
export async function openStorages(
  locations: string | readonly string[],
  options: StorageOpenOptions = {},
): Promise<StoragePlugin> {
  const list = (typeof locations === "string" ? [locations] : [...locations]).map((l) => l.trim());
  if (!list.length || list.some((l) => !l)) {
    throw new FloeError("empty repository location", ExitCode.Usage);
  }
  const dup = list.find((l, i) => list.indexOf(l) !== i);
  if (dup) throw new FloeError(`repository location ${maskLocation(dup)} is given twice`, ExitCode.Usage);
  if (list.length === 1) return await openOneStorage(list[0], options);
  const storages: StoragePlugin[] = [];
  try {
    for (const l of list) storages.push(await openOneStorage(l, options));
  } catch (e) {
    await Promise.allSettled(storages.map((s) => s.close?.()));
    throw e;
  }
  return mirror({ storages });
}
