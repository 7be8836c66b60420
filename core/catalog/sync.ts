/**
 * Brings the catalog up to date with the repository: new index files and snapshots are read in, removed
 * ones forgotten. A catalog that was deleted is rebuilt the same way, so a new machine needs only the
 * repository and a password.
 *
 * @example
 * ```ts
 * import { syncCatalog } from "./sync.ts";
 * // await syncCatalog(repo, catalog);
 * ```
 * @module
 */
import type { Repository } from "../repository/repository.ts";
import type { IndexFile, Snapshot } from "../repository/types.ts";
import type { Catalog } from "./catalog.ts";
import type { StepEvent } from "../events.ts";
import { IntegrityError } from "../errors.ts";
import { isStorageError } from "../contracts.ts";

/** Options of {@link syncCatalog}. */
export interface SyncOptions {
  /** Progress. */
  onEvent?: (e: StepEvent) => void;
  /** How many files to fetch at once. */
  concurrency?: number;
}

/**
 * Loads `ids` with at most `concurrency` loads at once. Each result goes to `use` as it arrives when given
 * (so only the loads in flight are held in memory), otherwise into the returned list.
 */
async function fetchAll<T>(
  ids: string[],
  load: (id: string) => Promise<T>,
  concurrency: number,
  onDamaged?: (id: string, e: Error) => void,
  use?: (id: string, value: T) => void,
) {
  const out: [string, T][] = [];
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, async () => {
    while (next < ids.length) {
      const id = ids[next++];
      let value: T;
      try {
        value = await load(id);
      } catch (e) {
        // A damaged (altered, truncated) file is skipped, not ingested, so `check` and `repair` can still
        // run; it is tried again on the next sync. Other errors (storage) still stop the sync.
        if (!(e instanceof IntegrityError) || !onDamaged) throw e;
        onDamaged(id, e);
        continue;
      }
      if (use) use(id, value);
      else out.push([id, value]);
    }
  }));
  return out;
}

/** Reports a file that failed authentication as skipped. */
function damaged(options: SyncOptions, dir: string) {
  return (id: string, e: Error) =>
    options.onEvent?.({
      type: "warning",
      path: `${dir}/${id}`,
      message: `${e.message}; skipped (see 'floe check')`,
    });
}

/** What {@link syncCatalog} changed. */
export interface SyncResult {
  /** Index files read in. */
  indexAdded: number;
  /** Snapshots read in. */
  snapshotsAdded: number;
  /** Snapshots forgotten. */
  snapshotsRemoved: number;
  /** Whether the blob index was read anew from every index file. */
  rebuiltIndex: boolean;
}

/** Listings taken anew when a listed file vanished before it was read. */
const RELISTS = 5;

/**
 * Syncs; returns what changed. A file listed but gone before it is read (a concurrent prune replaced an
 * index file, a forget removed a snapshot) makes it list again and start over: it is never an error.
 */
export async function syncCatalog(
  repo: Repository,
  catalog: Catalog,
  options: SyncOptions = {},
): Promise<SyncResult> {
  for (let attempt = 0;; attempt++) {
    try {
      return await syncOnce(repo, catalog, options);
    } catch (e) {
      if (!isStorageError(e, "not-found") || attempt >= RELISTS) throw e;
    }
  }
}

async function syncOnce(repo: Repository, catalog: Catalog, options: SyncOptions): Promise<SyncResult> {
  const concurrency = options.concurrency ?? Math.max(4, repo.storage.capabilities.concurrency);
  if (catalog.getMeta("repository") !== repo.id) {
    catalog.transaction(() => {
      catalog.clearIndex();
      for (const id of catalog.snapshotIds()) catalog.removeSnapshot(id);
      catalog.setMeta("repository", repo.id);
    });
  }
  const [indexIds, snapIds] = await Promise.all([repo.listIds("index"), repo.listIds("snapshots")]);
  const stored = new Set(indexIds);
  const have = catalog.indexIds();
  let rebuiltIndex = false;
  let toLoad = indexIds.filter((id) => !have.has(id));
  if ([...have].some((id) => !stored.has(id))) {
    // Index files were removed (prune, repair): re-read them all so no stale entry survives.
    rebuiltIndex = true;
    toLoad = indexIds;
  }
  if (toLoad.length) {
    options.onEvent?.({ type: "info", message: `reading ${toLoad.length} index file(s) into the catalog` });
  }
  // Each index file is staged as it arrives (see Catalog.startStaging): memory holds only the files being
  // fetched, however large the index. The staged rows enter the index with the new snapshots, in one
  // transaction, so no snapshot is visible before its blobs and a sync cut short changes nothing.
  let indexAdded = 0;
  // A rebuild with nothing to read (every index file removed) still replaces the index: with nothing.
  const staging = toLoad.length > 0 || rebuiltIndex;
  if (staging) catalog.startStaging();
  try {
    await fetchAll(toLoad, (id) => repo.loadIndex(id), concurrency, damaged(options, "index"), (id, file) => {
      catalog.transaction(() => catalog.addIndex(id, file as IndexFile, true));
      indexAdded++;
    });
    return await syncSnapshots(repo, catalog, options, snapIds, { concurrency, rebuiltIndex, indexAdded });
  } finally {
    if (staging) catalog.dropStaging();
  }
}

/** Reads new snapshots in and forgets removed ones, in the transaction that ends a sync. */
async function syncSnapshots(
  repo: Repository,
  catalog: Catalog,
  options: SyncOptions,
  snapIds: string[],
  done: { concurrency: number; rebuiltIndex: boolean; indexAdded: number },
): Promise<SyncResult> {
  const { concurrency, rebuiltIndex, indexAdded } = done;
  const haveSnaps = catalog.snapshotIds();
  // A malformed row (an edited catalog) is read again from the repository, which authenticates it.
  const invalid = new Set(catalog.invalidSnapshots());
  for (const id of invalid) {
    options.onEvent?.({
      type: "warning",
      path: catalog.path,
      message: `cached snapshot ${
        id.slice(0, 12)
      } is malformed (the catalog was altered or damaged): read again from the repository`,
    });
  }
  const storedSnaps = new Set(snapIds);
  const newSnaps = await fetchAll(
    snapIds.filter((id) => !haveSnaps.has(id) || invalid.has(id)),
    (id) => repo.loadSnapshot(id),
    concurrency,
    damaged(options, "snapshots"),
  );
  const removed = [...haveSnaps].filter((id) => !storedSnaps.has(id));
  catalog.transaction(() => {
    if (indexAdded || rebuiltIndex) catalog.finishStaging(rebuiltIndex);
    for (const [id, s] of newSnaps) catalog.addSnapshot(id, s as Snapshot);
    for (const id of removed) catalog.removeSnapshot(id);
  });
  return {
    indexAdded,
    snapshotsAdded: newSnaps.length,
    snapshotsRemoved: removed.length,
    rebuiltIndex,
  };
}
