/**
 * Temporary objects that interrupted writes left behind (a backup killed while the local or SFTP storage
 * wrote an object under a `.tmp-…` name before renaming it): `check` reports them, `prune` deletes those
 * older than {@link STALE_MS} — a younger one may belong to a write still running.
 *
 * @example
 * ```ts
 * import { listTemporaries } from "./temporaries.ts";
 * // const { stale, fresh } = await listTemporaries(repo.storage);
 * ```
 * @module
 */
import type { CallOptions, StoragePlugin } from "../contracts.ts";
import { STALE_MS } from "./locks.ts";

/** A temporary object. */
export interface Temporary {
  /** Its full name, e.g. `data/ab/.tmp-123-4-ab12…`. */
  name: string;
  /** Bytes. */
  size: number;
  /** Last modification, ms since the epoch. */
  mtime: number;
}

/**
 * Where the storages write temporary objects: beside each object, in the directories of the repository
 * format (the top level for `config`). Nothing else is ever taken for one, whatever a storage lists.
 */
const TEMPORARY = /^(?:(?:data\/[0-9a-f]{2}|index|snapshots|keys|locks|prune)\/)?\.tmp-[A-Za-z0-9._-]+$/;

/**
 * The storage's temporary objects, split by age at {@link STALE_MS}: `stale` ones are left by writes
 * that are over, `fresh` ones may belong to a write still running. Empty for a storage that writes none.
 *
 * @example
 * ```ts
 * import { listTemporaries } from "./temporaries.ts";
 * // for (const t of (await listTemporaries(storage)).stale) console.log(t.name);
 * ```
 */
export async function listTemporaries(
  storage: StoragePlugin,
  options: CallOptions & { now?: number } = {},
): Promise<{ stale: Temporary[]; fresh: Temporary[] }> {
  const out = { stale: [] as Temporary[], fresh: [] as Temporary[] };
  if (!storage.capabilities.temporaries) return out;
  const now = options.now ?? Date.now();
  for await (const o of storage.list("", { temporaries: true, signal: options.signal })) {
    if (!TEMPORARY.test(o.name) || typeof o.mtime !== "number") continue;
    (now - o.mtime > STALE_MS ? out.stale : out.fresh).push({ name: o.name, size: o.size, mtime: o.mtime });
  }
  out.stale.sort((a, b) => (a.name < b.name ? -1 : 1));
  out.fresh.sort((a, b) => (a.name < b.name ? -1 : 1));
  return out;
}
