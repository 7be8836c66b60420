/**
 * The backup pipeline: scan → skip what the parent snapshot already holds → read into a reused buffer →
 * chunk → id → dedup → compress → seal → pack → upload; then index, then snapshot (that order, so a
 * snapshot is visible only once everything it references is stored).
 *
 * This file runs the walk and commits the snapshot; its parts are private modules beside it:
 * `_file_contents.ts` reads content (file workers, batches, splits, hard links), `_blob_store.ts` dedups,
 * encodes, packs and writes the mid-run index files, `_tree_builder.ts` builds the trees against the
 * parent snapshot's, `_nodes.ts` makes and compares nodes, `_run_state.ts` holds what they share.
 *
 * @example
 * ```ts
 * import { backup } from "./archiver.ts";
 * // const { snapshotId } = await backup({ repo, catalog, source });
 * ```
 * @module
 */
import type { SourceEntry, SourcePlugin, SourceWarning } from "../contracts.ts";
import type { Catalog, CatalogSnapshot } from "../catalog/catalog.ts";
import { FloeError } from "../errors.ts";
import type { Repository } from "../repository/repository.ts";
import { VERSION } from "../repository/repository.ts";
import type { IndexFile, Node, Snapshot } from "../repository/types.ts";
import { type ReadAhead, TreeLoader } from "../trees.ts";
import { loadPlugin } from "../registry.ts";
import type { StepEvent } from "../events.ts";
import { formatTime } from "../dates.ts";
import type { Lock } from "../repository/locks.ts";
import { BlobStore, INDEX_EVERY } from "./_blob_store.ts";
import { FileContents } from "./_file_contents.ts";
import { nodeOf, sameAsOld, unchanged, withAttributes } from "./_nodes.ts";
import { RunState } from "./_run_state.ts";
import { type Slot, TreeBuilder } from "./_tree_builder.ts";

/** What a caller chooses for a backup (the engine adds the repository, catalog, source and lock). */
export interface BackupSettings {
  /** Tags for the snapshot. */
  tags?: string[];
  /** Host name recorded (default: this machine's). */
  host?: string;
  /** Snapshot time (default: now). */
  time?: Date;
  /** Parent snapshot id for change detection; `undefined` picks the latest with the same host and paths. */
  parent?: string | null;
  /** Read every file again, ignoring the parent. */
  force?: boolean;
  /** Skip compression for this run. */
  noCompression?: boolean;
  /** Compression level for this run (the repository's compression transform), instead of its setting. */
  compressionLevel?: number;
  /**
   * Worker threads (default: one per core). Local files (entries with a `localPath`) are read, chunked,
   * hashed, compressed and sealed on them; other content is read here and compressed and sealed there.
   * 0 does everything on the main thread.
   */
  workers?: number;
  /**
   * Blobs per index file written during the run (default 20 000): an index for the packs stored so far
   * is written, and added to the catalog, once they hold this many blobs; the rest go in the last one.
   */
  indexEvery?: number;
  /** Aborts the run; no snapshot becomes visible (packs already indexed are kept for the next run). */
  signal?: AbortSignal;
}

/** Options of {@link backup}. */
export interface BackupOptions extends BackupSettings {
  /** The open repository. */
  repo: Repository;
  /** Its catalog (synced). */
  catalog: Catalog;
  /** What to back up. */
  source: SourcePlugin;
  /**
   * The run's repository lock: checked fresh before every index file and before the snapshot, which
   * are not written once it went stale (a prune may have deleted what the run relies on meanwhile).
   */
  lock?: Pick<Lock, "assertFresh">;
  /** Trees read from the catalog before the key was derived (see `tree_read_ahead.ts`). */
  readAhead?: ReadAhead;
  /** Progress and warnings. */
  onEvent?: (event: StepEvent) => void;
}

/** What {@link backup} returns. */
export interface BackupResult {
  /** The new snapshot's id. */
  snapshotId: string;
  /** The snapshot. */
  snapshot: Snapshot;
  /** Entries that could not be read (left out of the snapshot). */
  warnings: SourceWarning[];
}

/** Picks the parent snapshot: the newest with the same host and the same set of paths. */
export function findParent(
  catalog: Catalog,
  host: string,
  paths: readonly string[],
): CatalogSnapshot | undefined {
  const key = JSON.stringify([...paths].sort());
  const all = catalog.snapshots();
  for (let i = all.length - 1; i >= 0; i--) {
    const s = all[i].snapshot;
    if (s.host === host && JSON.stringify([...s.paths].sort()) === key) return all[i];
  }
  return undefined;
}

/** The catalog's snapshot `id` (a parent the caller named). */
function snapshotNamed(catalog: Catalog, id: string): CatalogSnapshot {
  const s = catalog.snapshots().find((s) => s.id === id);
  if (!s) throw new FloeError(`parent snapshot ${id} not found`);
  return s;
}

/** Runs one backup. */
export async function backup(options: BackupOptions): Promise<BackupResult> {
  const parts: Parts = { contents: null, store: null };
  try {
    return await run(options, parts);
  } finally {
    parts.contents?.close();
    parts.store?.close();
    // A run that failed may still have pack uploads and an index file in flight: let them end before the
    // caller releases its lock, so that no index file appears after a prune may have deleted its packs.
    await parts.store?.settle();
  }
}

/** The parts of a run that hold workers or background writes, for {@link backup} to end. */
interface Parts {
  contents: FileContents | null;
  store: BlobStore | null;
}

async function run(options: BackupOptions, parts: Parts): Promise<BackupResult> {
  const { repo, catalog, source, signal } = options;
  const started = performance.now();
  const state = new RunState(options.onEvent ?? (() => {}));
  const host = options.host ?? Deno.hostname();
  const workers = options.workers ?? (navigator.hardwareConcurrency || 2);
  const compress = !options.noCompression;
  const assertLocked = () => options.lock?.assertFresh("no snapshot was written; run the backup again");
  const parent = options.parent === null || options.force
    ? undefined
    : options.parent === undefined
    ? findParent(catalog, host, source.paths)
    : snapshotNamed(catalog, options.parent);
  const parentId = parent?.id;
  const parentRoot = parent?.snapshot.tree;

  const store = parts.store = new BlobStore({
    repo,
    catalog,
    state,
    workers,
    remote: source.capabilities?.remote === true,
    compress,
    compressionLevel: options.compressionLevel,
    compressor: options.compressionLevel !== undefined && repo.compression
      ? await loadPlugin("transform", repo.modules.compression!, { level: options.compressionLevel })
      : repo.compression,
    indexEvery: Math.max(1, options.indexEvery ?? INDEX_EVERY),
    assertLocked,
    signal,
  });
  const contents = parts.contents = new FileContents({
    repo,
    store,
    state,
    workers,
    compress,
    compressionLevel: options.compressionLevel,
    signal,
  });
  const trees = new TreeLoader(repo, catalog, { onEvent: state.emit, readAhead: options.readAhead });
  const builder = new TreeBuilder({ repo, catalog, store, state, trees, parentRoot, signal });

  for await (const e of source.scan({ signal, warn: state.warn })) {
    signal?.throwIfAborted();
    state.check();
    if (e.path === "/") {
      await builder.root(e);
      continue;
    }
    await builder.walkTo(parentOf(e.path));
    if (e.type === "dir") {
      await builder.enter(e);
      continue;
    }
    const name = baseName(e.path);
    const old = builder.old(name);
    let node: Slot;
    if (e.type === "file") {
      node = fileNode(e, name, old, state, builder, contents);
      if (node instanceof Promise) await contents.throttle();
    } else {
      node = nodeOf(e, name);
      withAttributes(node, e, old, state.warn);
    }
    builder.add(node);
    state.progress(e.path);
  }
  contents.flush(); // the last batch of small files: the trees wait for it
  const rootTree = await builder.finish();
  await contents.drain();
  await store.drain();
  const index = await store.finish();
  signal?.throwIfAborted();
  return await commit(options, { state, builder, index, rootTree, host, parentId, started, assertLocked });
}

/**
 * The node of file entry `e`: its parent's content when the file is unchanged (and all of that content
 * still stored), otherwise a node whose content is being read.
 */
function fileNode(
  e: SourceEntry,
  name: string,
  old: Node | undefined,
  state: RunState,
  builder: TreeBuilder,
  contents: FileContents,
): Slot {
  const summary = state.summary;
  const same = unchanged(old, e) && old.content.every(builder.stored);
  if (same) {
    summary.total_files_processed++;
    summary.total_bytes_processed += e.size;
    summary.files_unmodified++;
    if (sameAsOld(old, e, name)) return old;
    const node = nodeOf(e, name);
    withAttributes(node, e, old, state.warn);
    node.content = old.content;
    const meta = e.changeToken !== undefined ? old.meta ?? e.meta : e.meta;
    if (meta) node.meta = { ...meta };
    return node;
  }
  // The node is made once the content is read. A file worker reads the attributes too, on the file it has
  // open (no second path lookup on this thread, which walks and packs for all the workers); content read
  // elsewhere leaves them to the source, by path. A file read is counted once its read ends (progress shows
  // its bytes as they are read, see RunState).
  const slot = contents.read(e, e.attributes !== undefined).then((o): Node | null => {
    summary.total_files_processed++;
    if ("error" in o) {
      if (o.error) state.warn({ path: e.path, message: `cannot read: ${o.error}` });
      return null;
    }
    const node = nodeOf(e, name);
    withAttributes(node, e, old, state.warn, o.attributes);
    node.content = o.content;
    node.size = o.size;
    // A stream (stdin, a dump) announces no size, and a file may grow while it is read: count what was read.
    summary.total_bytes_processed += o.size;
    if (e.meta) node.meta = { ...e.meta };
    if (old) summary.files_changed++;
    else summary.files_new++;
    return node;
  });
  slot.catch(state.fail); // failures surface through the run's failure and the root's promise
  return slot;
}

interface Finished {
  state: RunState;
  builder: TreeBuilder;
  /** The packs no index file names yet. */
  index: IndexFile;
  rootTree: string;
  host: string;
  parentId: string | undefined;
  started: number;
  assertLocked: () => void;
}

/**
 * Writes the run's last index file, then the snapshot, each only while the lock is fresh; then records
 * both in the catalog in one transaction.
 */
async function commit(options: BackupOptions, f: Finished): Promise<BackupResult> {
  const { repo, catalog, source, signal } = options;
  const { state, index, assertLocked } = f;
  let indexId: string | undefined;
  assertLocked();
  if (index.packs.length) indexId = await repo.saveJson("index", index);
  const summary = state.summary;
  summary.errors = state.warnings.length;
  summary.total_duration = (performance.now() - f.started) / 1000;
  const snapshot: Snapshot = {
    version: 1,
    time: formatTime(options.time ?? new Date()),
    host: f.host,
    username: Deno.env.get("USER") ?? Deno.env.get("LOGNAME") ?? "unknown",
    paths: [...source.paths],
    tags: [...(options.tags ?? [])].sort(),
    tree: f.rootTree,
    source: source.name,
    summary,
    program_version: VERSION,
  };
  if (f.parentId) snapshot.parent = f.parentId;
  signal?.throwIfAborted();
  assertLocked();
  const snapshotId = await repo.saveJson("snapshots", snapshot);
  catalog.transaction(() => {
    if (indexId) catalog.addIndex(indexId, index);
    for (const [id, json] of f.builder.newTrees) catalog.putTree(id, json);
    catalog.markComplete(f.builder.treeIds); // every blob this snapshot names is in the index now
    catalog.addSnapshot(snapshotId, snapshot);
  });
  state.emit({ type: "done", phase: "backup", snapshotId });
  return { snapshotId, snapshot, warnings: state.warnings };
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
