/**
 * Builds the storage of one repository from one or several location strings: each location opens the
 * storage plugin that claims its scheme (`s3:…` → the plugin exporting `schemes = ["s3"]`; a path →
 * `local`), whose default factory gets `{ location }`; it is wrapped in `limit` (when connection or
 * bandwidth bounds are set) and, unless local, in `retry`; several locations become one `mirror` of them
 * (written to all, read from the first that answers). A `word:` prefix no plugin claims is refused
 * before anything is created.
 *
 * Order per location: `retry(limit(plugin))` — each attempt is paced and holds a connection slot only
 * while it runs (not while backing off). Bounds apply to each storage of a mirror separately.
 *
 * @example
 * ```ts
 * import { openStorages } from "./open.ts";
 * const storage = await openStorages(["/srv/a", "/srv/b"], { uploadBytesPerSecond: 1 << 20 });
 * await storage.close?.();
 * ```
 * @module
 */
import type { StoragePlugin } from "../../core/contracts.ts";
import { FloeError } from "../../core/errors.ts";
import {
  knownPlugins,
  loadPlugin,
  storageForLocation,
  type StorageOpenOptions,
} from "../../core/registry.ts";
import { LocationError, maskLocation } from "./location.ts";
import retry, { type Options as RetryOptions } from "./retry/mod.ts";
import limit from "./limit/mod.ts";
import mirror from "./mirror/mod.ts";

/** Opens one location: its plugin, bounded by `limit` when asked, retried when remote. */
export async function openOneStorage(
  location: string,
  options: StorageOpenOptions = {},
): Promise<StoragePlugin> {
  const name = storageForLocation(location);
  if (name === null) {
    const schemes = knownPlugins("schemes").map((s) => `${s}:`).join(", ");
    throw new FloeError(
      `unknown location scheme in ${JSON.stringify(maskLocation(location))} (known: ${schemes}; load a ` +
        `plugin that claims it with --plugin; a local path holding a colon is written ./PATH or absolute)`,
      "usage",
    );
  }
  let storage: StoragePlugin;
  try {
    storage = await loadPlugin("storage", name, { location });
  } catch (e) {
    if (e instanceof LocationError) throw new FloeError(e.message, "usage", { cause: e });
    if (e instanceof FloeError) throw e;
    throw new FloeError(
      `cannot open ${maskLocation(location)}: ${(e as Error)?.message ?? e}`,
      "usage",
      {
        cause: e,
      },
    );
  }
  const { connections, uploadBytesPerSecond, downloadBytesPerSecond } = options;
  if (connections || uploadBytesPerSecond || downloadBytesPerSecond) {
    storage = limit({ storage, connections, uploadBytesPerSecond, downloadBytesPerSecond });
  }
  if (name !== "local") storage = retry({ ...(options.retry as Omit<RetryOptions, "storage">), storage });
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
    throw new FloeError("empty repository location", "usage");
  }
  const dup = list.find((l, i) => list.indexOf(l) !== i);
  if (dup) throw new FloeError(`repository location ${maskLocation(dup)} is given twice`, "usage");
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
