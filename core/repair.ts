/**
 * `repair index` and `repair snapshots`.
 *
 * - {@link repairIndex} rebuilds the index from pack headers alone: it lists `data/`, reads each pack's
 *   sealed header, writes new index files (superseding every old one), deletes the old ones and re-syncs
 *   the catalog. Packs whose header cannot be read are reported and left out; packs the old index named
 *   but storage no longer holds drop out of the index.
 * - {@link repairSnapshots} writes, for each snapshot whose trees reference missing or damaged blobs, a
 *   repaired snapshot: files with a lost content blob are removed from their directory, a directory whose
 *   tree is lost becomes an empty directory; the new snapshot gets the tag `repaired` and names the old
 *   one in `original`. Originals are kept unless `forget` is set.
 *
 * Both take an exclusive lock (except dry runs).
 *
 * @example
 * ```ts
 * import { repairIndex, repairSnapshots } from "./repair.ts";
 * // await repairIndex(engine); await repairSnapshots(engine, { forget: true });
 * ```
 * @module
 */
import { type Engine, internals } from "./engine.ts";
import { syncCatalog } from "./catalog/sync.ts";
import { acquireLock, type Lock } from "./repository/locks.ts";
import { Packer } from "./archiver/packer.ts";
import { utf8 } from "./encoding.ts";
import type { IndexFile, Snapshot, Tree } from "./repository/types.ts";
import { packIdOf } from "./repository/repository.ts";

/** Blobs per index file written by `repair index`. */
const BLOBS_PER_INDEX = 100_000;

/** Options of {@link repairIndex}. */
export interface RepairIndexOptions {
  /** Only report what would be done. */
  dryRun?: boolean;
  /** Aborts. */
  signal?: AbortSignal;
  /** Progress: packs whose header was read. */
  onProgress?: (done: number, total: number) => void;
}

/** What {@link repairIndex} did (or would do). */
export interface RepairIndexResult {
  /** Packs in storage. */
  packs: number;
  /** Packs indexed. */
  packsIndexed: number;
  /** Blobs indexed. */
  blobs: number;
  /** Packs left out: their header could not be read. */
  unreadable: { pack: string; message: string }[];
  /** Packs the old index named that storage no longer holds. */
  missing: string[];
  /** Packs found in storage that the old index did not name. */
  added: string[];
  /** New index files. */
  written: string[];
  /** Old index files removed. */
  removed: string[];
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

async function lock(engine: Engine, dryRun: boolean | undefined, purpose: string): Promise<Lock | null> {
  return dryRun ? null : await acquireLock(internals(engine).repo, { exclusive: true, purpose });
}

/** Rebuilds the index from the pack headers. */
export async function repairIndex(
  engine: Engine,
  options: RepairIndexOptions = {},
): Promise<RepairIndexResult> {
  const { repo, catalog } = internals(engine);
  const held = await lock(engine, options.dryRun, "repair index");
  try {
    const stored: { id: string; size: number }[] = [];
    for await (const o of repo.storage.list("data/")) {
      const id = packIdOf(o.name);
      if (id) stored.push({ id, size: o.size });
    }
    stored.sort((a, b) => (a.id < b.id ? -1 : 1));
    const oldIds = await repo.listIds("index");
    const known = new Set<string>();
    for (const b of catalog.allBlobs()) known.add(b.pack);
    const result: RepairIndexResult = {
      packs: stored.length,
      packsIndexed: 0,
      blobs: 0,
      unreadable: [],
      missing: [],
      added: [],
      written: [],
      removed: [],
    };
    const storedIds = new Set(stored.map((p) => p.id));
    result.missing = [...known].filter((p) => !storedIds.has(p)).sort();
    const packs = new Map<string, IndexFile["packs"][number]>();
    let done = 0;
    await pool(stored, Math.max(4, repo.storage.capabilities.concurrency), async ({ id, size }) => {
      options.signal?.throwIfAborted();
      try {
        const entries = await repo.readPackHeader(id, size);
        packs.set(id, { id, size, blobs: entries.map(({ pack: _p, ...rest }) => rest) });
      } catch (e) {
        result.unreadable.push({ pack: id, message: (e as Error).message });
      }
      options.onProgress?.(++done, stored.length);
    });
    result.unreadable.sort((a, b) => (a.pack < b.pack ? -1 : 1));
    // Stable order: same packs, same files.
    const files: IndexFile[] = [];
    let current: IndexFile | null = null;
    let count = 0;
    for (const { id } of stored) {
      const p = packs.get(id);
      if (!p) continue;
      if (!known.has(id)) result.added.push(id);
      if (!current || (count + p.blobs.length > BLOBS_PER_INDEX && current.packs.length)) {
        current = { version: 1, supersedes: oldIds, packs: [] };
        files.push(current);
        count = 0;
      }
      current.packs.push(p);
      count += p.blobs.length;
      result.packsIndexed++;
      result.blobs += p.blobs.length;
    }
    if (!files.length && oldIds.length) files.push({ version: 1, supersedes: oldIds, packs: [] });
    if (options.dryRun) return result;
    for (const f of files) result.written.push(await repo.saveJson("index", f));
    const keep = new Set(result.written);
    for (const id of oldIds) {
      if (keep.has(id)) continue;
      await repo.storage.delete(`index/${id}`);
      result.removed.push(id);
    }
    await syncCatalog(repo, catalog);
    return result;
  } finally {
    await held?.release();
  }
}

/** Options of {@link repairSnapshots}. */
export interface RepairSnapshotsOptions {
  /** Only these snapshots (full ids); default all. */
  snapshots?: string[];
  /** Read every referenced blob back (slower; finds damage inside packs). */
  readData?: boolean;
  /** Remove the damaged originals once their repaired versions are stored. */
  forget?: boolean;
  /** Only report. */
  dryRun?: boolean;
  /** Aborts. */
  signal?: AbortSignal;
}

/** What happened to one snapshot. */
export interface SnapshotRepair {
  /** The snapshot examined. */
  id: string;
  /** `ok`: nothing lost; `repaired`: a repaired copy was written (or would be); `unrepairable`: root lost. */
  status: "ok" | "repaired" | "unrepairable";
  /** The repaired snapshot's id (not in a dry run). */
  newId?: string;
  /** Paths removed (files) or emptied (directories, ending with `/`), at most 100. */
  removed: string[];
  /** How many paths were removed or emptied. */
  removedTotal: number;
  /** Whether the original was removed. */
  forgotten: boolean;
}

/** What {@link repairSnapshots} did. */
export interface RepairSnapshotsResult {
  /** One entry per snapshot examined. */
  snapshots: SnapshotRepair[];
  /** Tree blobs written. */
  treesWritten: number;
  /** Index file written, if any. */
  indexId?: string;
}

const MAX_LISTED = 100;

/** Writes repaired copies of snapshots that reference lost blobs. */
export async function repairSnapshots(
  engine: Engine,
  options: RepairSnapshotsOptions = {},
): Promise<RepairSnapshotsResult> {
  const { repo, catalog } = internals(engine);
  const held = await lock(engine, options.dryRun, "repair snapshots");
  try {
    const sizes = new Map<string, number>();
    for await (const o of repo.storage.list("data/")) {
      const id = packIdOf(o.name);
      if (id) sizes.set(id, o.size);
    }

    const verdict = new Map<string, boolean>();
    const isBad = async (id: string): Promise<boolean> => {
      const known = verdict.get(id);
      if (known !== undefined) return known;
      const entry = catalog.lookupBlob(id);
      let bad = !entry;
      if (entry) {
        const size = sizes.get(entry.pack);
        bad = size === undefined || entry.offset + entry.length > size;
        if (!bad && options.readData) {
          try {
            await repo.loadBlob(entry, options.signal);
          } catch {
            bad = true;
          }
        }
      }
      verdict.set(id, bad);
      return bad;
    };
    const loadTree = async (id: string): Promise<Tree | null> => {
      if (await isBad(id)) return null;
      try {
        return await internals(engine).trees.load(id, options.signal);
      } catch {
        verdict.set(id, true);
        return null;
      }
    };

    const packer = new Packer(repo, { signal: options.signal });
    const written = new Set<string>();
    const newTrees: [string, string][] = [];
    const saveTree = async (tree: Tree): Promise<string> => {
      const json = JSON.stringify(tree);
      const bytes = utf8(json);
      const id = repo.hasher.id(bytes);
      if (written.has(id) || !(await isBad(id))) return id;
      written.add(id);
      newTrees.push([id, json]);
      if (!options.dryRun) await packer.add(await repo.encodeBlob("tree", id, bytes));
      return id;
    };

    // Repairs a tree; memoized by id (the result depends only on the tree). Removed paths are relative.
    const memo = new Map<string, { id: string; removed: string[] }>();
    const fix = async (treeId: string, tree: Tree): Promise<{ id: string; removed: string[] }> => {
      const known = memo.get(treeId);
      if (known) return known;
      options.signal?.throwIfAborted();
      const removed: string[] = [];
      const nodes = [];
      let changed = false;
      for (const n of tree.nodes) {
        let lost = false;
        for (const c of n.content ?? []) {
          if (await isBad(c)) {
            lost = true;
            break;
          }
        }
        if (lost) {
          removed.push(`/${n.name}`);
          changed = true;
          continue;
        }
        if (n.type === "dir" && n.subtree) {
          const sub = await loadTree(n.subtree);
          if (!sub) {
            nodes.push({ ...n, subtree: await saveTree({ nodes: [] }) });
            removed.push(`/${n.name}/`);
            changed = true;
            continue;
          }
          const r = await fix(n.subtree, sub);
          if (r.id !== n.subtree) {
            nodes.push({ ...n, subtree: r.id });
            for (const p of r.removed) removed.push(`/${n.name}${p}`);
            changed = true;
            continue;
          }
        }
        nodes.push(n);
      }
      const out = changed ? { id: await saveTree({ nodes }), removed } : { id: treeId, removed };
      memo.set(treeId, out);
      return out;
    };

    const want = options.snapshots ? new Set(options.snapshots) : null;
    const list = catalog.snapshots().filter((s) => !want || want.has(s.id));
    const result: RepairSnapshotsResult = { snapshots: [], treesWritten: 0 };
    const toWrite: { entry: SnapshotRepair; snapshot: Snapshot }[] = [];
    for (const s of list) {
      const root = await loadTree(s.snapshot.tree);
      const entry: SnapshotRepair = {
        id: s.id,
        status: "ok",
        removed: [],
        removedTotal: 0,
        forgotten: false,
      };
      result.snapshots.push(entry);
      if (!root) {
        entry.status = "unrepairable";
        entry.removed = ["/"];
        entry.removedTotal = 1;
        continue;
      }
      const r = await fix(s.snapshot.tree, root);
      if (r.id === s.snapshot.tree) continue;
      entry.status = "repaired";
      entry.removed = r.removed.slice(0, MAX_LISTED);
      entry.removedTotal = r.removed.length;
      const snapshot: Snapshot = {
        ...s.snapshot,
        tree: r.id,
        tags: [...new Set([...s.snapshot.tags, "repaired"])].sort(),
        original: s.snapshot.original ?? s.id,
      };
      // Repaired before (an earlier run): keep that copy rather than write another.
      const twin = catalog.snapshots().find((o) =>
        o.id !== s.id && o.snapshot.original === snapshot.original && o.snapshot.tree === snapshot.tree
      );
      if (twin) entry.newId = twin.id;
      else toWrite.push({ entry, snapshot });
    }
    result.treesWritten = written.size;
    if (options.dryRun) return result;

    // Packs, then their index, then the snapshots that need them (the backup's write order).
    await packer.flush();
    const index: IndexFile = { version: 1, packs: packer.packs };
    if (packer.packs.length) result.indexId = await repo.saveJson("index", index);
    catalog.transaction(() => {
      if (result.indexId) {
        // Blobs written again replace entries that point at the damaged copies.
        const del = catalog.db.prepare("DELETE FROM blobs WHERE id = ?");
        for (const id of written) del.run(id);
        catalog.addIndex(result.indexId, index);
      }
      for (const [id, json] of newTrees) catalog.putTree(id, json);
    });
    for (const { entry, snapshot } of toWrite) {
      entry.newId = await repo.saveJson("snapshots", snapshot);
      catalog.addSnapshot(entry.newId, snapshot);
    }
    if (options.forget) {
      for (const entry of result.snapshots) {
        if (entry.status === "ok") continue;
        await repo.storage.delete(`snapshots/${entry.id}`);
        catalog.removeSnapshot(entry.id);
        entry.forgotten = true;
      }
    }
    return result;
  } finally {
    await held?.release();
  }
}
