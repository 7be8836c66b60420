/**
 * `prune`: reclaims packs no snapshot needs and repacks mostly-unused ones, safely while backups run.
 *
 * Protocol (docs/repository_format.md, "Prune and concurrent writers"):
 * 1. take a `prune` lock (conflicts with other prunes and exclusive locks, not with backups);
 * 2. note which pending-deletion markers (`prune/<random>`) are ripe: every lock they name is gone;
 * 3. sync the catalog (snapshot listing), then list and read every index file, then list the packs;
 * 4. walk every snapshot's trees: the used blobs; a used blob that only a marked pack holds resurrects
 *    that pack (it goes back into the index);
 * 5. classify packs (unused / partly used / used), repack the most-unused partly-used ones while the
 *    unused bytes exceed `maxUnused` of the repository, write a new index (every kept, resurrected and
 *    new pack; the last file written lists every old index file in `supersedes`), delete the old files;
 * 6. delete the packs of ripe markers that stayed unused, then the markers;
 * 7. list the locks, then the snapshots and index files: when no other fresh lock exists and nothing
 *    new appeared, nobody can have deduplicated against the packs just dropped from the index, so they
 *    (and unindexed leftovers of crashed backups) are deleted now; otherwise they are written to a
 *    sealed marker for a later prune, and snapshots that appeared meanwhile are checked for blobs only
 *    a marked pack holds (those packs are indexed again at once).
 *
 * Backups must write their lock before syncing their catalog ({@link Engine.backup} does), and call
 * {@link indexMarkedBlobs} after writing their snapshot, so a snapshot is complete even when it
 * deduplicated against a pack a concurrent prune had just marked.
 *
 * @example
 * ```ts
 * import { prune } from "./prune.ts";
 * // const result = await prune({ repo, catalog, maxUnused: 0.05 });
 * ```
 * @module
 */
import type { Catalog } from "./catalog/catalog.ts";
import { syncCatalog } from "./catalog/sync.ts";
import { encodeHex } from "./encoding.ts";
import { FloeError } from "./errors.ts";
import type { StepEvent } from "./events.ts";
import { Packer } from "./archiver/packer.ts";
import { acquireLock, listLocks, type LockOptions } from "./repository/locks.ts";
import { listTemporaries } from "./repository/temporaries.ts";
import { packIdOf, packName, type Repository } from "./repository/repository.ts";
import type { BlobType, IndexEntry, IndexFile } from "./repository/types.ts";
import { cachedTree, fetchTree } from "./trees.ts";

/** At most this many blobs per index file prune writes. */
export const INDEX_BLOBS_PER_FILE = 50_000;

/** Directory of pending-deletion markers. */
export const MARKER_DIR = "prune";

/** A pending-deletion marker (`prune/<random>`, sealed JSON with associated data `"prune"`). */
export interface PruneMarker {
  /** When it was written, ms since the epoch. */
  time: number;
  /** Packs to delete once every lock in `locks` is gone (unless a snapshot needs them again). */
  packs: string[];
  /** Names of the other fresh locks seen when the marker was written. */
  locks: string[];
}

/** What a caller chooses for a prune (the engine adds the repository and catalog). */
export interface PruneSettings {
  /** Unused bytes tolerated, as a fraction of the repository (default 0.05); 1 repacks nothing. */
  maxUnused?: number;
  /** Compute and report, change nothing (takes no lock). */
  dryRun?: boolean;
  /** Aborts between steps (a killed or aborted prune leaves a usable repository). */
  signal?: AbortSignal;
  /** Timing of prune's lock (tests shorten its stale period). */
  lockOptions?: LockOptions;
}

/** Options of {@link prune}. */
export interface PruneOptions extends PruneSettings {
  /** The open repository. */
  repo: Repository;
  /** Its catalog. */
  catalog: Catalog;
  /** Progress. */
  onEvent?: (e: StepEvent) => void;
}

/** A count of packs and their bytes. */
export interface PackCount {
  /** Packs. */
  packs: number;
  /** Bytes. */
  bytes: number;
}

/** What {@link prune} did (or, with `dryRun`, would do). */
export interface PruneResult {
  /** Nothing was changed. */
  dryRun: boolean;
  /** Snapshots whose trees were walked. */
  snapshots: number;
  /** Packs named by the index before. */
  packsBefore: number;
  /** Bytes of packs and index files before. */
  sizeBefore: number;
  /** Bytes of packs and index files after (estimated with `dryRun`). */
  sizeAfter: number;
  /** Packs no snapshot needs (deleted now or marked). */
  unused: PackCount;
  /** Partly-used packs repacked (their used blobs copied into `repackedInto`). */
  repacked: PackCount & { blobs: number };
  /** New packs written by repacking. */
  repackedInto: PackCount;
  /** Packs deleted in this run (unused, repacked, unindexed leftovers, ripe markers' packs). */
  deleted: PackCount;
  /** Of `deleted`: packs no index named (leftovers of interrupted backups or prunes). */
  orphans: PackCount;
  /** Of `deleted`: packs of earlier markers. */
  deletedFromMarkers: PackCount;
  /** Packs put in a marker for a later prune, because other writers were active. */
  marked: PackCount;
  /** Marked packs that snapshots need again and that went back into the index. */
  resurrected: PackCount;
  /** Markers processed (ripe) and still pending after this run. */
  markers: { processed: number; written: number; pending: number };
  /** Other fresh locks seen (names), which made deletion wait. */
  otherLocks: string[];
  /**
   * Temporary objects of interrupted writes (`data/ab/.tmp-…`): `removed` (with their `bytes`) were older
   * than the stale-lock age, `kept` younger ones may belong to a backup running now.
   */
  temporaries: { removed: number; bytes: number; kept: number };
  /** Unused bytes left in kept packs. */
  unusedBytesAfter: number;
  /** Seconds. */
  duration: number;
}

interface PackRecord {
  id: string;
  size: number;
  blobs: Omit<IndexEntry, "pack">[];
}

// -------------------------------------------------------------------------------------------------
// Markers and marked packs
// -------------------------------------------------------------------------------------------------

async function listMarkers(repo: Repository): Promise<string[]> {
  const out: string[] = [];
  for await (const o of repo.storage.list(`${MARKER_DIR}/`)) out.push(o.name);
  return out.sort();
}

async function loadMarkers(
  repo: Repository,
  onEvent?: (e: StepEvent) => void,
): Promise<{ markers: { name: string; marker: PruneMarker }[]; damaged: number }> {
  const markers: { name: string; marker: PruneMarker }[] = [];
  let damaged = 0;
  for (const name of await listMarkers(repo)) {
    try {
      const marker = await repo.openJson<PruneMarker>(MARKER_DIR, name, await repo.storage.get(name));
      markers.push({ name, marker });
    } catch (e) {
      damaged++;
      onEvent?.({ type: "warning", path: name, message: `${(e as Error).message}; kept` });
    }
  }
  return { markers, damaged };
}

/** Blobs of marked packs, read from the pack headers on first need. */
class MarkedPacks {
  readonly #repo: Repository;
  readonly #packs: Set<string>;
  #where: Map<string, IndexEntry> | null = null;
  /** Entries per pack (after loading). */
  readonly headers = new Map<string, IndexEntry[]>();
  /** Sizes per pack (after loading). */
  readonly sizes = new Map<string, number>();

  constructor(repo: Repository, packs: Iterable<string>) {
    this.#repo = repo;
    this.#packs = new Set(packs);
  }

  get size(): number {
    return this.#packs.size;
  }

  async find(id: string): Promise<IndexEntry | undefined> {
    if (!this.#packs.size) return undefined;
    if (!this.#where) {
      this.#where = new Map();
      for (const pack of this.#packs) {
        let size: number;
        let entries: IndexEntry[];
        try {
          size = (await this.#repo.storage.stat(packName(pack))).size;
          entries = await this.#repo.readPackHeader(pack, size);
        } catch {
          continue; // already deleted, or damaged: nothing to resurrect from it
        }
        this.headers.set(pack, entries);
        this.sizes.set(pack, size);
        for (const e of entries) if (!this.#where.has(e.id)) this.#where.set(e.id, e);
      }
    }
    return this.#where.get(id);
  }
}

// -------------------------------------------------------------------------------------------------
// Walking snapshots
// -------------------------------------------------------------------------------------------------

/**
 * Walks the trees below `roots`, calling `use` for every tree and content blob once. `locate` finds a
 * blob (in the index, or a marked pack); trees come from the catalog's cache when there (verified).
 */
async function walk(
  repo: Repository,
  catalog: Catalog,
  onEvent: ((e: StepEvent) => void) | undefined,
  roots: string[],
  locate: (id: string) => Promise<IndexEntry | undefined>,
  use: (id: string, type: BlobType) => Promise<void> | void,
  signal?: AbortSignal,
): Promise<void> {
  // Separate sets: a data blob could have a tree's id (same plaintext), and the tree must still be walked.
  const seenTrees = new Set<string>();
  const seenData = new Set<string>();
  const stack = [...roots];
  while (stack.length) {
    signal?.throwIfAborted();
    const id = stack.pop()!;
    if (seenTrees.has(id)) continue;
    seenTrees.add(id);
    await use(id, "tree");
    let tree = cachedTree(repo, catalog, id, onEvent);
    if (!tree) {
      const entry = await locate(id);
      if (!entry) continue; // reported by `use`
      tree = await fetchTree(repo, catalog, entry, signal);
    }
    for (const n of tree.nodes) {
      if (n.type === "dir" && n.subtree) stack.push(n.subtree);
      for (const c of n.content ?? []) {
        if (seenData.has(c)) continue;
        seenData.add(c);
        await use(c, "data");
      }
    }
  }
}

function recordOf(pack: string, size: number, entries: IndexEntry[]): PackRecord {
  return { id: pack, size, blobs: entries.map(({ pack: _p, ...rest }) => rest) };
}

/** Writes index files of at most {@link INDEX_BLOBS_PER_FILE} blobs; the last one lists `supersedes`. */
async function writeIndex(
  repo: Repository,
  records: PackRecord[],
  supersedes: string[],
): Promise<{ ids: string[]; files: [string, IndexFile][] }> {
  const groups: PackRecord[][] = [[]];
  let n = 0;
  for (const r of records) {
    if (n && n + r.blobs.length > INDEX_BLOBS_PER_FILE) {
      groups.push([]);
      n = 0;
    }
    groups[groups.length - 1].push(r);
    n += r.blobs.length;
  }
  const files: [string, IndexFile][] = [];
  for (let i = 0; i < groups.length; i++) {
    if (!groups[i].length && !(i === groups.length - 1 && supersedes.length)) continue;
    const file: IndexFile = { version: 1, packs: groups[i] };
    if (i === groups.length - 1 && supersedes.length) file.supersedes = [...supersedes];
    files.push([await repo.saveJson("index", file), file]);
  }
  return { ids: files.map(([id]) => id), files };
}

/**
 * After a backup wrote its snapshot: when prune markers exist, makes sure every blob the snapshot
 * references is in the index, indexing again any marked pack that holds one (a backup that synced its
 * catalog before a concurrent prune may have deduplicated against such a pack). Call it while still
 * holding the backup's lock. Returns the number of packs indexed again.
 */
export async function indexMarkedBlobs(
  repo: Repository,
  catalog: Catalog,
  roots: string[],
  onEvent?: (e: StepEvent) => void,
): Promise<number> {
  const { markers } = await loadMarkers(repo, onEvent);
  if (!markers.length) return 0;
  await syncCatalog(repo, catalog, { onEvent });
  const marked = new MarkedPacks(repo, markers.flatMap((m) => m.marker.packs));
  const revive = new Set<string>();
  let missing = 0;
  const locate = async (id: string) => catalog.lookupBlob(id) ?? await marked.find(id);
  await walk(repo, catalog, onEvent, roots, locate, async (id) => {
    if (catalog.hasBlob(id)) return;
    const m = await marked.find(id);
    if (m) revive.add(m.pack);
    else missing++;
  });
  if (missing) {
    onEvent?.({
      type: "warning",
      path: "/",
      message: `${missing} blob(s) of the new snapshot are in no index nor marked pack (run 'floe check')`,
    });
  }
  if (!revive.size) return 0;
  const records = [...revive].map((p) => recordOf(p, marked.sizes.get(p)!, marked.headers.get(p)!));
  const { files } = await writeIndex(repo, records, []);
  catalog.transaction(() => {
    for (const [id, file] of files) catalog.addIndex(id, file);
  });
  return revive.size;
}

// -------------------------------------------------------------------------------------------------
// Prune
// -------------------------------------------------------------------------------------------------

async function storedSize(repo: Repository): Promise<{ packs: Map<string, number>; indexBytes: number }> {
  const packs = new Map<string, number>();
  for await (const o of repo.storage.list("data/")) {
    // Only names of the documented form: prune deletes unindexed packs it finds here.
    const id = packIdOf(o.name);
    if (id) packs.set(id, o.size);
  }
  let indexBytes = 0;
  for await (const o of repo.storage.list("index/")) indexBytes += o.size;
  return { packs, indexBytes };
}

/** Deletes (unless `dryRun`) the temporary objects older than the stale-lock age; counts them. */
async function sweepTemporaries(
  repo: Repository,
  dryRun: boolean,
  signal?: AbortSignal,
): Promise<PruneResult["temporaries"]> {
  const { stale, fresh } = await listTemporaries(repo.storage, { signal });
  if (!dryRun) { for (const t of stale) await repo.storage.delete(t.name, { signal }); }
  return { removed: stale.length, bytes: stale.reduce((a, t) => a + t.size, 0), kept: fresh.length };
}

const sum = (m: Map<string, number>) => {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
};

/** Prunes a repository. */
export async function prune(options: PruneOptions): Promise<PruneResult> {
  const { repo, catalog, signal } = options;
  const emit = options.onEvent ?? (() => {});
  const info = (message: string) => emit({ type: "info", message });
  const maxUnused = options.maxUnused ?? 0.05;
  if (!(maxUnused >= 0 && maxUnused <= 1)) throw new FloeError("maxUnused must be between 0 and 1");
  const dryRun = !!options.dryRun;
  const started = performance.now();
  const lock = dryRun
    ? null
    : await acquireLock(repo, { ...options.lockOptions, exclusive: false, kind: "prune", purpose: "prune" });
  // Checked before every write and deletion: once the lock went stale, another prune may be running.
  const assertLocked = () =>
    lock?.assertFresh("prune stopped before deleting or writing anything more; run 'floe prune' again");
  try {
    // 1. Markers, and which of them are ripe (every lock they name is gone or stale).
    const { markers, damaged: damagedMarkers } = await loadMarkers(repo, emit);
    const freshAtStart = new Set(
      (await listLocks(repo)).filter((l) => !l.stale && l.info && l.name !== lock?.name).map((l) => l.name),
    );
    const ripe = markers.filter((m) => m.marker.locks.every((n) => !freshAtStart.has(n)));
    const markedAll = new Set(markers.flatMap((m) => m.marker.packs));

    // 2. Snapshots (catalog sync), then index files, then packs — in this order.
    await syncCatalog(repo, catalog, { onEvent: emit });
    const snapshots = catalog.snapshots();
    const walked = new Set(snapshots.map((s) => s.id));
    const indexIds = await repo.listIds("index");
    const records = new Map<string, PackRecord>();
    for (const id of indexIds) {
      signal?.throwIfAborted();
      let file: IndexFile;
      try {
        file = await repo.loadIndex(id);
      } catch (e) {
        throw new FloeError(
          `index/${id.slice(0, 12)} cannot be read (${(e as Error).message}); prune stops without ` +
            `changing anything: run 'floe check' (and 'floe repair index')`,
          undefined,
          { cause: e },
        );
      }
      for (const p of file.packs) {
        const r = records.get(p.id);
        if (!r) records.set(p.id, { id: p.id, size: p.size, blobs: [...p.blobs] });
        else {
          const have = new Set(r.blobs.map((b) => b.offset));
          for (const b of p.blobs) if (!have.has(b.offset)) r.blobs.push(b);
        }
      }
    }
    const before = await storedSize(repo);
    const sizeBefore = sum(before.packs) + before.indexBytes;
    info(`${snapshots.length} snapshots, ${records.size} indexed packs, ${before.packs.size} stored packs`);

    // 3. Used blobs: walk every snapshot; resurrect marked packs that hold a used blob no index has.
    const where = new Map<string, IndexEntry[]>();
    for (const r of records.values()) {
      for (const b of r.blobs) {
        const e = { ...b, pack: r.id };
        const l = where.get(b.id);
        if (l) l.push(e);
        else where.set(b.id, [e]);
      }
    }
    const marked = new MarkedPacks(repo, [...markedAll].filter((p) => !records.has(p)));
    const resurrect = new Set<string>();
    const missing: string[] = [];
    const used = new Set<string>();
    const locate = async (id: string) => where.get(id)?.[0] ?? await marked.find(id);
    await walk(
      repo,
      catalog,
      emit,
      snapshots.map((s) => s.snapshot.tree),
      locate,
      async (id) => {
        used.add(id);
        if (where.has(id)) return;
        const m = await marked.find(id);
        if (m) resurrect.add(m.pack);
        else missing.push(id);
      },
      signal,
    );
    if (missing.length) {
      throw new FloeError(
        `${missing.length} blob(s) that snapshots reference are in no index (e.g. ${
          missing[0].slice(0, 12)
        }); prune stops without changing anything: run 'floe check'`,
      );
    }

    // 4. Classify. A blob stored more than once counts as used in the pack holding most used blobs.
    const usedCount = new Map<string, number>();
    for (const r of records.values()) {
      let n = 0;
      for (const b of r.blobs) if (used.has(b.id)) n++;
      usedCount.set(r.id, n);
    }
    const home = new Map<string, string>();
    for (const [id, locs] of where) {
      if (!used.has(id)) continue;
      let best = locs[0];
      for (const l of locs) if (usedCount.get(l.pack)! > usedCount.get(best.pack)!) best = l;
      home.set(id, best.pack);
    }
    const unusedPacks: PackRecord[] = [];
    const partial: { r: PackRecord; used: number; unused: number }[] = [];
    const keep: PackRecord[] = [];
    let unusedBytesKept = 0;
    for (const r of records.values()) {
      let usedBytes = 0;
      let unusedBytes = 0;
      const counted = new Set<string>();
      for (const b of r.blobs) {
        if (home.get(b.id) === r.id && !counted.has(b.id)) {
          counted.add(b.id);
          usedBytes += b.length;
        } else unusedBytes += b.length;
      }
      const storedAs = before.packs.get(r.id);
      if (!counted.size) {
        unusedPacks.push(r);
      } else if (!unusedBytes || storedAs === undefined) {
        if (storedAs === undefined) {
          emit({
            type: "warning",
            path: packName(r.id),
            message: "indexed pack is missing (see 'floe check')",
          });
        }
        keep.push(r);
        unusedBytesKept += unusedBytes;
      } else partial.push({ r, used: usedBytes, unused: unusedBytes });
    }
    // Repack the most-unused packs first while the unused bytes exceed maxUnused of the repository.
    partial.sort((a, b) => b.unused / (b.r.size || 1) - a.unused / (a.r.size || 1));
    let total = 0;
    for (const r of keep) total += r.size;
    let unusedTotal = unusedBytesKept;
    for (const p of partial) {
      total += p.r.size;
      unusedTotal += p.unused;
    }
    const repack: typeof partial = [];
    for (const p of partial) {
      if (unusedTotal <= maxUnused * total) {
        keep.push(p.r);
        continue;
      }
      repack.push(p);
      unusedTotal -= p.unused;
      total -= p.unused;
    }
    const orphanPacks = [...before.packs].filter(([id]) => !records.has(id) && !markedAll.has(id));
    const ripePacks = new Set(
      ripe.flatMap((m) => m.marker.packs).filter((p) => !records.has(p) && !resurrect.has(p)),
    );

    const result: PruneResult = {
      dryRun,
      snapshots: snapshots.length,
      packsBefore: records.size,
      sizeBefore,
      sizeAfter: sizeBefore,
      unused: { packs: unusedPacks.length, bytes: unusedPacks.reduce((a, r) => a + r.size, 0) },
      repacked: {
        packs: repack.length,
        bytes: repack.reduce((a, p) => a + p.r.size, 0),
        blobs: 0,
      },
      repackedInto: { packs: 0, bytes: 0 },
      deleted: { packs: 0, bytes: 0 },
      orphans: { packs: 0, bytes: 0 },
      deletedFromMarkers: { packs: 0, bytes: 0 },
      marked: { packs: 0, bytes: 0 },
      resurrected: { packs: resurrect.size, bytes: 0 },
      markers: { processed: ripe.length, written: 0, pending: markers.length - ripe.length },
      otherLocks: [...freshAtStart],
      temporaries: { removed: 0, bytes: 0, kept: 0 },
      unusedBytesAfter: unusedTotal,
      duration: 0,
    };
    for (const p of resurrect) result.resurrected.bytes += marked.sizes.get(p) ?? 0;
    const stored = (p: string) => before.packs.get(p) ?? 0;

    if (dryRun) {
      // Estimate: as if no other writer were active.
      const repackUsed = repack.reduce((a, p) => a + p.used, 0);
      result.repacked.blobs = repack.reduce(
        (a, p) => a + p.r.blobs.filter((b) => home.get(b.id) === p.r.id).length,
        0,
      );
      result.repackedInto.bytes = repackUsed;
      result.orphans = { packs: orphanPacks.length, bytes: orphanPacks.reduce((a, [, s]) => a + s, 0) };
      let ripeBytes = 0;
      for (const p of ripePacks) ripeBytes += stored(p);
      result.deletedFromMarkers = { packs: ripePacks.size, bytes: ripeBytes };
      result.deleted = {
        packs: unusedPacks.length + repack.length + orphanPacks.length + ripePacks.size,
        bytes: result.unused.bytes + result.repacked.bytes + result.orphans.bytes + ripeBytes,
      };
      result.sizeAfter = sizeBefore - result.deleted.bytes + repackUsed;
      result.temporaries = await sweepTemporaries(repo, true, signal);
      result.duration = (performance.now() - started) / 1000;
      return result;
    }

    // 5. Repack: read each pack once, verify every blob kept, copy its sealed bytes into new packs.
    const packer = new Packer(repo, { signal });
    const repacked: PackRecord[] = [];
    for (const p of repack) {
      signal?.throwIfAborted();
      assertLocked();
      const bytes = await repo.storage.get(packName(p.r.id), { signal });
      const blobs = [];
      try {
        for (const b of p.r.blobs) {
          if (home.get(b.id) !== p.r.id) continue;
          const sealed = bytes.subarray(b.offset, b.offset + b.length);
          await repo.decodeBlob({ ...b, pack: p.r.id }, sealed);
          home.delete(b.id); // copied once
          blobs.push({
            id: b.id,
            type: b.type,
            compressed: b.compressed,
            length: b.length,
            rawLength: b.rawLength,
            sealed: sealed.slice(),
          });
        }
      } catch (e) {
        emit({
          type: "warning",
          path: packName(p.r.id),
          message: `${(e as Error).message}; pack kept, not repacked`,
        });
        for (const b of blobs) home.set(b.id, p.r.id);
        keep.push(p.r);
        continue;
      }
      for (const b of blobs) await packer.add(b);
      result.repacked.blobs += blobs.length;
      repacked.push(p.r);
    }
    assertLocked();
    await packer.flush();
    result.repacked.packs = repacked.length;
    result.repacked.bytes = repacked.reduce((a, r) => a + r.size, 0);
    result.repackedInto = { packs: packer.packs.length, bytes: packer.bytesUploaded };

    // 6. New index (kept + resurrected + new packs), then the old index files go.
    const revived = [...resurrect].map((p) => recordOf(p, marked.sizes.get(p)!, marked.headers.get(p)!));
    const dropped = [...unusedPacks, ...repacked];
    let newIndexIds: string[] = [];
    if (dropped.length || revived.length || packer.packs.length) {
      signal?.throwIfAborted();
      assertLocked();
      ({ ids: newIndexIds } = await writeIndex(repo, [...keep, ...revived, ...packer.packs], indexIds));
      info(`wrote ${newIndexIds.length} index file(s) replacing ${indexIds.length}`);
      for (const id of indexIds) {
        assertLocked();
        await repo.storage.delete(`index/${id}`);
      }
    }

    // 7. Ripe markers: their packs that stayed unused go now, then the markers.
    for (const p of ripePacks) {
      assertLocked();
      await repo.storage.delete(packName(p));
      result.deletedFromMarkers.packs++;
      result.deletedFromMarkers.bytes += stored(p);
    }
    for (const m of ripe) {
      assertLocked();
      await repo.storage.delete(m.name);
    }

    // 8. Delete now when no other writer can have seen the dropped packs; else mark them.
    const others = (await listLocks(repo)).filter((l) => !l.stale && l.info && l.name !== lock!.name)
      .map((l) => l.name);
    const newIndexSet = new Set([...indexIds, ...newIndexIds]);
    const snapsNow = await repo.listIds("snapshots");
    const idxNow = await repo.listIds("index");
    const quiet = !others.length && snapsNow.every((id) => walked.has(id)) &&
      idxNow.every((id) => newIndexSet.has(id));
    result.otherLocks = [...new Set([...result.otherLocks, ...others])];
    const drop = dropped.map((r) => r.id).filter((id) => before.packs.has(id));
    if (quiet) {
      for (const id of drop) {
        assertLocked();
        await repo.storage.delete(packName(id));
      }
      if (!damagedMarkers) {
        for (const [id, size] of orphanPacks) {
          assertLocked();
          await repo.storage.delete(packName(id));
          result.orphans.packs++;
          result.orphans.bytes += size;
        }
      }
      result.deleted = {
        packs: drop.length + result.orphans.packs + result.deletedFromMarkers.packs,
        bytes: drop.reduce((a, p) => a + stored(p), 0) + result.orphans.bytes +
          result.deletedFromMarkers.bytes,
      };
    } else {
      result.deleted = { ...result.deletedFromMarkers };
      if (drop.length) {
        const marker: PruneMarker = { time: Date.now(), packs: drop, locks: others };
        const name = `${MARKER_DIR}/${encodeHex(crypto.getRandomValues(new Uint8Array(16)))}`;
        assertLocked();
        await repo.storage.put(name, await repo.sealJson(MARKER_DIR, marker));
        result.markers.written = 1;
        result.markers.pending++;
        result.marked = { packs: drop.length, bytes: drop.reduce((a, p) => a + stored(p), 0) };
        info(
          `other writers active (${others.length} lock(s)): ${drop.length} pack(s) marked for a later prune`,
        );
        // Snapshots written meanwhile may reference marked packs: index those again now.
        const newSnaps = (await repo.listIds("snapshots")).filter((id) => !walked.has(id));
        if (newSnaps.length) {
          await syncCatalog(repo, catalog, { onEvent: emit });
          const roots = catalog.snapshots().filter((s) => !walked.has(s.id)).map((s) => s.snapshot.tree);
          const n = await indexMarkedBlobs(repo, catalog, roots, emit);
          result.resurrected.packs += n;
        }
      }
    }

    result.temporaries = await sweepTemporaries(repo, false, signal);
    await syncCatalog(repo, catalog, { onEvent: emit });
    const after = await storedSize(repo);
    result.sizeAfter = sum(after.packs) + after.indexBytes;
    result.duration = (performance.now() - started) / 1000;
    emit({ type: "done", phase: "prune" });
    return result;
  } finally {
    await lock?.release();
  }
}
