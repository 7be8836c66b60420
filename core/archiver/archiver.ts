/**
 * The backup pipeline: scan → skip what the parent snapshot already holds → read into a reused buffer →
 * chunk → id → dedup → compress → seal → pack → upload; then index, then snapshot (that order, so a
 * snapshot is visible only once everything it references is stored).
 *
 * @example
 * ```ts
 * import { backup } from "./archiver.ts";
 * // const { snapshotId } = await backup({ repo, catalog, source });
 * ```
 * @module
 */
import type { ContentReader, SourceEntry, SourcePlugin, SourceWarning } from "../contracts.ts";
import type { Catalog } from "../catalog/catalog.ts";
import { FloeError } from "../errors.ts";
import type { EncodedBlob, Repository } from "../repository/repository.ts";
import { VERSION } from "../repository/repository.ts";
import type { BackupSummary, IndexFile, Node, Snapshot, Tree } from "../repository/types.ts";
import { TREE_VERSION } from "../repository/types.ts";
import { TreeLoader } from "../trees.ts";
import { encodeBase64, utf8 } from "../encoding.ts";
import { Packer } from "./packer.ts";
import { EncoderPool } from "./encoder_pool.ts";
import { type FileOutcome, FilePool } from "./file_pool.ts";
import { BOUNCE_SIZE, readChunks, readSyncVia } from "./chunk_reader.ts";
import { Chunker, gearTable } from "../chunker.ts";
import { loadPlugin } from "../registry.ts";
import type { StepEvent } from "../events.ts";
import { formatTime } from "../dates.ts";
import type { Lock } from "../repository/locks.ts";

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

/** A node, or one still being read or built. */
type Slot = Node | Promise<Node | null>;

interface Frame {
  path: string;
  name: string;
  entry: SourceEntry | null;
  old: Node | undefined;
  oldTree: Map<string, Node> | null;
  nodes: Slot[];
  /** The directory's own extended attributes and flags, read (or copied) when it was entered. */
  attributes?: Pick<Node, "xattrs" | "flags">;
}

/** Files up to this size are read in batches (one worker message for many files). */
const SMALL_FILE = 256 * 1024;
/** A batch is sent once it holds this many files … */
const BATCH_FILES = 64;
/** … or this many bytes. */
const BATCH_BYTES = 2 << 20;
/** Jobs in flight per worker before the walk waits. */
const JOBS_PER_WORKER = 4;

const BUFFER_SIZE = 16 * 1024 * 1024;
/** Files from this size on are split across workers … */
const SPLIT_AT = 64 << 20;
/** … into parts of at least this size. */
const SPLIT_PART = 32 << 20;
/** How far past a split's nominal offset its boundary is looked for (see {@link splitPoints}). */
const SYNC_SPAN = 4 << 20;
/**
 * New trees are cached in the catalog (one transaction) whenever their JSON reaches this many characters,
 * rather than all at the end: their JSON would otherwise stay in memory for the whole run, a few hundred
 * bytes per file. The tree cache is keyed by content, so rows of a run that fails do no harm.
 */
const TREE_FLUSH = 4 << 20;
/**
 * Once the packs stored since the last index file hold this many blobs, an index file for them is written
 * and added to the catalog during the run (as restic does), rather than one index for the whole run at
 * the end: the index records do not pile up in memory, and a run that is cut short leaves its stored packs
 * indexed, so the next run does not upload them again. An index names only packs already stored, and no
 * snapshot exists before its last index, so an interrupted run never leaves a snapshot with blobs missing.
 */
const INDEX_EVERY = 20_000;

/**
 * Where to split a file of `size` bytes into `parts` ranges for parallel chunking, so that the chunks are
 * (all but surely) the ones one sequential pass would cut. Each range is chunked as if a chunk began at
 * its start and the file ended at the next range's start. From any offset, a content-defined chunker
 * falls into step with a pass from the file's start within a few chunks: its cut points then coincide.
 * So each boundary is the first cut at or beyond `offset + SYNC_SPAN` of a chain of cuts begun at
 * `offset`; the range before it ends with a cut there too when its own pass has fallen into step by then.
 * If it has not (data without cut points, e.g. long runs of one byte value), the chunk before the boundary
 * is merely cut short: the content is stored whole either way, only deduplication there may differ.
 * Returns the start offsets, the first 0; a single range when the file is too small to split.
 *
 * @example
 * ```ts
 * import { splitPoints } from "./archiver.ts";
 * import { Chunker, gearTable } from "../chunker.ts";
 * splitPoints("/etc/hostname", 10, 2, new Chunker(gearTable(new Uint8Array(32)))); // [0]
 * ```
 */
export function splitPoints(path: string, size: number, parts: number, chunker: Chunker): number[] {
  const bounds = [0];
  if (parts < 2) return bounds;
  const { max } = chunker.params;
  const buf = new Uint8Array(SYNC_SPAN + 2 * max);
  const bounce = new Uint8Array(BOUNCE_SIZE);
  const file = Deno.openSync(path, { read: true });
  try {
    for (let j = 1; j < parts; j++) {
      const offset = Math.floor((size * j) / parts);
      if (offset <= bounds[bounds.length - 1]) continue;
      file.seekSync(offset, Deno.SeekMode.Start);
      let got = 0;
      for (let n; got < buf.length && (n = readSyncVia(file, buf.subarray(got), bounce));) got += n;
      let at = 0;
      while (at < SYNC_SPAN) {
        const n = chunker.cut(buf, at, got, got < buf.length);
        if (n <= 0) break;
        at += n;
      }
      // Past the end of what is there (the file is shorter than its size said): no split here.
      if (at < SYNC_SPAN || at >= got) break;
      bounds.push(offset + at);
    }
  } finally {
    file.close();
  }
  return bounds;
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function nodeOf(e: SourceEntry, name: string): Node {
  const n: Node = { name, type: e.type, mode: e.mode, mtime: e.mtime };
  if (e.ctime !== undefined) n.ctime = e.ctime;
  if (e.uid !== undefined) n.uid = e.uid;
  if (e.gid !== undefined) n.gid = e.gid;
  if (e.type === "file") n.size = e.size;
  if (e.inode !== undefined) n.inode = e.inode;
  if (e.device !== undefined) n.device = e.device;
  if (e.links !== undefined && e.type !== "dir") n.links = e.links;
  if (e.rdev !== undefined) n.rdev = e.rdev;
  if (e.linkTarget !== undefined) n.linkTarget = e.linkTarget;
  // File-system fidelity (tree version 2); xattrs and flags are added by withAttributes.
  if (e.nameBytes) n.nameBytes = encodeBase64(e.nameBytes);
  if (e.targetBytes) n.targetBytes = encodeBase64(e.targetBytes);
  if (e.mtimeNs !== undefined) n.mtimeNs = e.mtimeNs;
  if (e.atimeNs !== undefined) n.atimeNs = e.atimeNs;
  if (e.ctimeNs !== undefined) n.ctimeNs = e.ctimeNs;
  if (e.btimeNs !== undefined) n.btimeNs = e.btimeNs;
  if (e.changeToken !== undefined) n.changeToken = e.changeToken;
  // A file's meta may only be known once its content is read: fileNode adds it after the content.
  if (e.meta && e.type !== "file") n.meta = { ...e.meta };
  return n;
}

/** Whether a node has a field of tree version 2 (see {@link Tree.version}). */
function isFine(n: Node): boolean {
  return n.mtimeNs !== undefined || n.nameBytes !== undefined || n.targetBytes !== undefined ||
    n.xattrs !== undefined || n.flags !== undefined || n.ctimeNs !== undefined;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/**
 * Adds `e`'s extended attributes and flags to `node`: copied from the parent snapshot's node when the inode,
 * size and the ns mtime and ctime are the same (writing an attribute, an ACL or a flag changes the ctime), read
 * from the source otherwise — the system calls only for what changed.
 */
function withAttributes(node: Node, e: SourceEntry, old: Node | undefined, warn: (w: SourceWarning) => void) {
  if (!e.attributes) return;
  if (
    old && old.ctimeNs !== undefined && old.type === e.type && old.ctimeNs === e.ctimeNs &&
    old.mtimeNs === e.mtimeNs && old.inode === e.inode && (e.type !== "file" || old.size === e.size)
  ) {
    if (old.xattrs) node.xattrs = old.xattrs;
    if (old.flags !== undefined) node.flags = old.flags;
    return;
  }
  const got = e.attributes((message) => warn({ path: e.path, message }));
  if (got.xattrs?.length) {
    node.xattrs = [...got.xattrs].sort((a, b) => compareBytes(a[0], b[0]))
      .map(([k, v]) => [encodeBase64(k), encodeBase64(v)]);
  }
  if (got.flags) node.flags = got.flags;
}

/** Whether the parent's node `old` still describes the file `e`, so that its content can be reused. */
function unchanged(old: Node | undefined, e: SourceEntry): old is Node & { content: string[] } {
  if (!old || old.type !== "file" || !old.content || old.size !== e.size || old.mtime !== e.mtime) {
    return false;
  }
  // Sources without inodes (buckets) stamp their entries instead: the stamp alone decides, no open().
  if (e.changeToken !== undefined) return old.changeToken === e.changeToken;
  // Nanosecond times, where both snapshots have them, catch a change within the same millisecond.
  return old.inode === e.inode && old.ctime === e.ctime &&
    (e.ctimeNs === undefined || old.ctimeNs === undefined ||
      (old.ctimeNs === e.ctimeNs && old.mtimeNs === e.mtimeNs));
}

/** Whether `nodes` serialize exactly as the old tree's nodes (same keys in the same order, same values). */
function sameNodes(nodes: Node[], old: Map<string, Node>): boolean {
  if (nodes.length !== old.size) return false;
  let i = 0;
  for (const b of old.values()) {
    const a = nodes[i++] as unknown as Record<string, unknown>;
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    for (let k = 0; k < ka.length; k++) {
      const key = ka[k];
      if (key !== kb[k]) return false;
      const va = a[key];
      const vb = (b as unknown as Record<string, unknown>)[key];
      if (va === vb) continue;
      if (key === "meta") {
        if (JSON.stringify(va) !== JSON.stringify(vb)) return false;
        continue;
      }
      if (!Array.isArray(va) || !Array.isArray(vb) || va.length !== vb.length) return false;
      for (let j = 0; j < va.length; j++) if (va[j] !== vb[j]) return false;
    }
  }
  return true;
}

/** Picks the parent snapshot: the newest with the same host and the same set of paths. */
export function findParent(catalog: Catalog, host: string, paths: readonly string[]): string | undefined {
  const key = JSON.stringify([...paths].sort());
  const all = catalog.snapshots();
  for (let i = all.length - 1; i >= 0; i--) {
    const s = all[i].snapshot;
    if (s.host === host && JSON.stringify([...s.paths].sort()) === key) return all[i].id;
  }
  return undefined;
}

/** Runs one backup. */
export async function backup(options: BackupOptions): Promise<BackupResult> {
  const pools: Pools = { files: null, encoder: null, settle: null };
  try {
    return await run(options, pools);
  } finally {
    pools.files?.close();
    pools.encoder?.close();
    // A run that failed may still have pack uploads and an index file in flight: let them end before the
    // caller releases its lock, so that no index file appears after a prune may have deleted its packs.
    await pools.settle?.();
  }
}

interface Pools {
  files: FilePool | null;
  encoder: EncoderPool | null;
  /** Ends the run's background writes: no index file is started after it, and it waits for those begun. */
  settle: (() => Promise<void>) | null;
}

async function run(options: BackupOptions, pools: Pools): Promise<BackupResult> {
  const { repo, catalog, source, signal } = options;
  const emit = options.onEvent ?? (() => {});
  const started = performance.now();
  const host = options.host ?? Deno.hostname();
  const workers = options.workers ?? (navigator.hardwareConcurrency || 2);
  const indexEvery = Math.max(1, options.indexEvery ?? INDEX_EVERY);
  const trees = new TreeLoader(repo, catalog, { onEvent: emit });
  const assertLocked = () => options.lock?.assertFresh("no snapshot was written; run the backup again");
  const packer = new Packer(repo, { signal, onStored: () => indexSoFar() });
  const warnings: SourceWarning[] = [];
  const pending = new Set<string>();
  let newTrees: [string, string][] = [];
  let newTreeChars = 0;
  const treeIds: string[] = [];
  const hardlinks = new Map<string, { size: number; mtime: number; content: Promise<string[] | null> }>();
  // For content read on this thread (one entry at a time, see readHere); most runs never need it. A chunker
  // of its own: its buffer lives in that chunker's WebAssembly memory.
  const here = new Chunker(gearTable(repo.keys.chunker), repo.settings.chunker);
  let buf: Uint8Array | null = null;
  const compress = !options.noCompression;
  const compressor = options.compressionLevel !== undefined && repo.compression
    ? await loadPlugin("transform", repo.modules.compression!, { level: options.compressionLevel })
    : repo.compression;
  // Workers ask the catalog (read-only) which chunks are stored; nobody asks an empty one.
  const emptyIndex = catalog.isEmpty();
  const catalogPath = !emptyIndex && catalog.path && catalog.path !== ":memory:" ? catalog.path : null;
  const summary: BackupSummary = {
    files_new: 0,
    files_changed: 0,
    files_unmodified: 0,
    dirs_new: 0,
    dirs_changed: 0,
    dirs_unmodified: 0,
    data_blobs: 0,
    tree_blobs: 0,
    data_added: 0,
    data_added_raw: 0,
    total_files_processed: 0,
    total_bytes_processed: 0,
    total_duration: 0,
    errors: 0,
  };

  let parentId: string | undefined;
  if (options.parent === null || options.force) parentId = undefined;
  else if (options.parent) parentId = options.parent;
  else parentId = findParent(catalog, host, source.paths);
  let parentRoot: string | undefined;
  if (parentId) {
    const p = catalog.snapshots().find((s) => s.id === parentId);
    if (!p) throw new FloeError(`parent snapshot ${parentId} not found`);
    parentRoot = p.snapshot.tree;
  }

  const known = (id: string) => pending.has(id) || catalog.hasBlob(id);
  /** Blobs of the parent's trees that the index lacks (looked up once per tree, see loadOld). */
  const missingOld = new Set<string>();
  const oldKnown = (id: string) =>
    !missingOld.has(id) || pending.has(id) || (indexedMidRun && catalog.hasBlob(id));

  const inflight = new Set<Promise<void>>();
  let indexing: Promise<void> | null = null;
  let indexedMidRun = false;
  let settled = false;
  pools.settle = async () => {
    settled = true;
    await packer.settle();
    while (indexing) await indexing;
  };
  let failure: unknown = null;
  const fail = (e: unknown) => {
    failure ??= e;
  };
  const WINDOW = workers > 0 ? 16 : 8;

  function counted(blob: EncodedBlob) {
    if (blob.type === "data") summary.data_blobs++;
    else summary.tree_blobs++;
    summary.data_added += blob.length;
    summary.data_added_raw += blob.rawLength;
  }

  function encoder() {
    if (workers > 0) return (pools.encoder ??= new EncoderPool(repo, workers, options.compressionLevel));
    return null;
  }

  /** Hashes (unless `id` is given), dedups and starts encoding a blob; at most {@link WINDOW} encodes run at once. */
  async function saveBlob(
    type: "data" | "tree",
    data: Uint8Array,
    id = repo.hasher.id(data),
  ): Promise<string> {
    if (failure) throw failure;
    if (known(id)) return id;
    pending.add(id);
    const pool = type === "data" ? encoder() : null;
    const encoded = pool
      ? pool.encode(type, id, data, compress)
      : repo.encodeBlob(type, id, data, compress, compressor);
    const p: Promise<void> = encoded.then(async (blob) => {
      counted(blob);
      await packer.add(blob);
    }).catch(fail).finally(() => inflight.delete(p));
    inflight.add(p);
    while (inflight.size >= WINDOW) await Promise.race(inflight);
    return id;
  }

  /** New sealed blobs from the file workers: drop what another worker stored meanwhile, pack the rest. */
  async function onBlobs(blobs: EncodedBlob[]): Promise<void> {
    const fresh: EncodedBlob[] = [];
    for (const b of blobs) {
      // Workers skip what the catalog held when they asked; what it holds since (this run's mid-run
      // index files) is checked here.
      if (pending.has(b.id) || ((indexedMidRun || (!catalogPath && !emptyIndex)) && catalog.hasBlob(b.id))) {
        continue;
      }
      pending.add(b.id);
      fresh.push(b);
    }
    for (const b of fresh) {
      counted(b);
      await packer.add(b);
    }
  }

  /** Writes an index file for the packs stored so far once they hold `indexEvery` blobs. */
  function indexSoFar(): void {
    if (indexing || settled || failure || packer.blobsInPacks < indexEvery) return;
    const index: IndexFile = { version: 1, packs: packer.takePacks() };
    indexing = (async () => {
      assertLocked();
      const id = await repo.saveJson("index", index);
      catalog.transaction(() => catalog.addIndex(id, index));
      // Indexed blobs are known through the catalog now: `pending` keeps only those not yet indexed.
      indexedMidRun = true;
      for (const p of index.packs) for (const b of p.blobs) pending.delete(b.id);
    })().catch(fail).finally(() => (indexing = null));
  }

  function filePool(): FilePool {
    return pools.files ??= new FilePool(repo, {
      size: workers,
      catalogPath,
      compress,
      compressionLevel: options.compressionLevel,
      onBlobs,
    });
  }

  // Batches of small files for the workers, and the jobs in flight.
  let batch: { paths: string[]; bytes: number; waiters: ((o: FileOutcome) => void)[] } | null = null;
  const jobs = new Set<Promise<unknown>>();

  function sendBatch() {
    if (!batch) return;
    const b = batch;
    batch = null;
    const job = filePool().read(b.paths, b.bytes).then(
      (outcomes) => outcomes.forEach((o, i) => b.waiters[i](o)),
      (e) => {
        fail(e);
        for (const w of b.waiters) w({ error: String((e as Error)?.message ?? e) });
      },
    ).finally(() => jobs.delete(job));
    jobs.add(job);
  }

  function track(job: Promise<unknown>) {
    const tracked = job.catch(() => {}).finally(() => jobs.delete(tracked));
    jobs.add(tracked);
  }

  /** A large file in several ranges on several workers at once (see {@link splitPoints}). */
  async function readSplit(path: string, size: number): Promise<FileOutcome> {
    let bounds: number[];
    try {
      bounds = splitPoints(path, size, Math.min(workers, Math.floor(size / SPLIT_PART)), repo.chunker);
    } catch (e) {
      return { error: (e as Error).message };
    }
    const parts = bounds.map((start, i) => {
      const end = i + 1 < bounds.length ? bounds[i + 1] : -1;
      const job = filePool().read([path], (end < 0 ? size : end) - start, [start, end]).then((o) => o[0]);
      track(job);
      return job;
    });
    const outcomes = await Promise.all(parts);
    const content: string[] = [];
    let total = 0;
    for (const o of outcomes) {
      if ("error" in o) return o;
      for (const id of o.content) content.push(id);
      total += o.size;
    }
    return { content, size: total };
  }

  function readOnWorker(path: string, size: number): Promise<FileOutcome> {
    const pool = filePool();
    if (size >= SPLIT_AT && workers > 1) return readSplit(path, size);
    if (size > SMALL_FILE) {
      const job = pool.read([path], size).then((o) => o[0]);
      track(job);
      return job;
    }
    batch ??= { paths: [], bytes: 0, waiters: [] };
    const b = batch;
    const p = new Promise<FileOutcome>((resolve) => b.waiters.push(resolve));
    b.paths.push(path);
    b.bytes += size;
    if (b.paths.length >= BATCH_FILES || b.bytes >= BATCH_BYTES) sendBatch();
    return p;
  }

  /** Waits while the workers have enough queued. */
  async function throttle() {
    const max = JOBS_PER_WORKER * Math.max(1, workers);
    while (jobs.size >= max) await Promise.race(jobs);
    if (failure) throw failure;
  }

  async function drain(): Promise<void> {
    sendBatch();
    while (jobs.size) await Promise.race(jobs);
    await pools.files?.settle();
    while (inflight.size) await Promise.race(inflight);
    if (failure) throw failure;
  }

  async function loadOld(subtree: string | undefined): Promise<Map<string, Node> | null> {
    if (!subtree) return null;
    const t = await trees.load(subtree, signal);
    if (!catalog.isComplete(subtree)) {
      const ids: string[] = [];
      for (const n of t.nodes) {
        if (n.content) { for (const id of n.content) ids.push(id); }
        if (n.subtree) ids.push(n.subtree);
      }
      for (const id of catalog.missingBlobs(ids)) missingOld.add(id);
    }
    return new Map(t.nodes.map((n) => [n.name, n]));
  }

  let lastProgress = 0;
  function progress(path: string) {
    const now = performance.now();
    if (now - lastProgress < 250) return;
    lastProgress = now;
    emit({
      type: "progress",
      phase: "backup",
      files: summary.total_files_processed,
      bytes: summary.total_bytes_processed,
      bytesAdded: summary.data_added,
      path,
    });
  }

  /** Reads content on this thread (sources without a local path, or no workers). */
  async function readContent(entry: SourceEntry, opened?: Promise<ContentReader>): Promise<FileOutcome> {
    const reader: ContentReader = await (opened ?? entry.open!());
    const content: string[] = [];
    let size = 0;
    try {
      for await (
        const chunk of readChunks(
          (into) => reader.read(into),
          buf ??= here.buffer(BUFFER_SIZE),
          here,
          signal,
        )
      ) {
        content.push(await saveBlob("data", chunk));
        size += chunk.length;
      }
    } finally {
      await reader.close();
    }
    return { content, size };
  }

  /**
   * Content read on this thread goes through one buffer, so one entry at a time: a second read must not
   * start while the first waits (on its encodes) with chunks of that buffer still to hash and store.
   */
  let hereQueue: Promise<unknown> = Promise.resolve();

  function readHere(e: SourceEntry): Promise<FileOutcome> {
    // A stamped entry (a remote object) is opened now, ahead of its turn: its source fetches it while the
    // entries before it are read (see SourceEntry.changeToken).
    const opened = e.changeToken !== undefined ? Promise.resolve().then(() => e.open!()) : undefined;
    opened?.catch(() => {}); // the failure is reported by readContent, in turn
    const job = hereQueue.then(async (): Promise<FileOutcome> => {
      try {
        return await readContent(e, opened);
      } catch (err) {
        if (signal?.aborted || failure) throw err;
        return { error: (err as Error).message };
      }
    });
    hereQueue = job.catch(() => {});
    track(job);
    return job;
  }

  function fileNode(e: SourceEntry, name: string, old: Node | undefined): Slot | null {
    const node = nodeOf(e, name);
    withAttributes(node, e, old, onWarn);
    summary.total_files_processed++;
    summary.total_bytes_processed += e.size;
    if (unchanged(old, e) && old.content.every(oldKnown)) {
      node.content = old.content;
      const meta = e.changeToken !== undefined ? old.meta ?? e.meta : e.meta;
      if (meta) node.meta = { ...meta };
      summary.files_unmodified++;
      return node;
    }
    const changed = !!old;
    const linkKey = (e.links ?? 1) > 1 ? `${e.device}:${e.inode}` : "";
    const seen = linkKey ? hardlinks.get(linkKey) : undefined;
    let outcome: Promise<FileOutcome>;
    if (seen && seen.size === e.size && seen.mtime === e.mtime) {
      outcome = seen.content.then((content) => content ? { content, size: seen.size } : { error: "" });
    } else {
      outcome = e.localPath && workers > 0 ? readOnWorker(e.localPath, e.size) : readHere(e);
      if (linkKey) {
        hardlinks.set(linkKey, {
          size: e.size,
          mtime: e.mtime,
          content: outcome.then((o) => "content" in o ? o.content : null, () => null),
        });
      }
    }
    const slot = outcome.then((o): Node | null => {
      if ("error" in o) {
        if (o.error) {
          const warning = { path: e.path, message: `cannot read: ${o.error}` };
          warnings.push(warning);
          emit({ type: "warning", ...warning });
        }
        return null;
      }
      node.content = o.content;
      node.size = o.size;
      // A stream (stdin, a dump) announces no size, and a file may grow while it is read: count what was read.
      summary.total_bytes_processed += o.size - e.size;
      if (e.meta) node.meta = { ...e.meta };
      if (changed) summary.files_changed++;
      else summary.files_new++;
      return node;
    });
    slot.catch(fail); // failures surface through `failure` and the root's promise
    return slot;
  }

  const stack: Frame[] = [];
  let root: Promise<Node> | undefined;

  async function finalize(frame: Frame): Promise<Node> {
    const nodes: Node[] = [];
    for (const n of await Promise.all(frame.nodes)) if (n) nodes.push(n);
    nodes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let id: string;
    if (
      frame.old?.subtree && frame.oldTree && oldKnown(frame.old.subtree) && sameNodes(nodes, frame.oldTree)
    ) {
      id = frame.old.subtree; // byte-identical tree: no need to serialize and hash it again
    } else {
      const json = JSON.stringify(
        (nodes.some(isFine) ? { version: TREE_VERSION, nodes } : { nodes }) satisfies Tree,
      );
      const bytes = utf8(json);
      id = repo.hasher.id(bytes);
      if (!known(id)) {
        await saveBlob("tree", bytes, id);
        newTrees.push([id, json]);
        newTreeChars += json.length;
        if (newTreeChars >= TREE_FLUSH) {
          const batch = newTrees;
          newTrees = [];
          newTreeChars = 0;
          catalog.transaction(() => {
            for (const [id, json] of batch) catalog.putTree(id, json);
          });
        }
      }
    }
    treeIds.push(id);
    const node: Node = frame.entry
      ? nodeOf(frame.entry, frame.name)
      : { name: frame.name, type: "dir", mode: 0o755, mtime: 0 };
    if (frame.attributes?.xattrs) node.xattrs = frame.attributes.xattrs;
    if (frame.attributes?.flags !== undefined) node.flags = frame.attributes.flags;
    node.subtree = id;
    if (!frame.old) summary.dirs_new++;
    else if (frame.old.subtree === id) summary.dirs_unmodified++;
    else summary.dirs_changed++;
    return node;
  }

  function close(frame: Frame) {
    const p = finalize(frame);
    p.catch(fail);
    const parent = stack[stack.length - 1];
    if (parent) parent.nodes.push(p);
    else root = p;
  }

  async function push(path: string, entry: SourceEntry | null) {
    const top = stack[stack.length - 1];
    const name = path === "/" ? "/" : baseName(path);
    const old = path === "/"
      ? (parentRoot ? { name: "/", type: "dir" as const, mode: 0, mtime: 0, subtree: parentRoot } : undefined)
      : top?.oldTree?.get(name);
    if (path === "/" && parentRoot && !catalog.hasBlob(parentRoot)) missingOld.add(parentRoot);
    const oldTree = old?.type === "dir" ? await loadOld(old.subtree) : null;
    let attributes: Node | undefined;
    if (entry?.attributes) {
      withAttributes(attributes = { name, type: "dir", mode: 0, mtime: 0 }, entry, old, onWarn);
    }
    stack.push({ path, name, entry, old, oldTree, nodes: [], attributes });
  }

  const onWarn = (w: SourceWarning) => {
    warnings.push(w);
    emit({ type: "warning", ...w });
  };

  for await (const e of source.scan({ signal, warn: onWarn })) {
    signal?.throwIfAborted();
    if (failure) throw failure;
    if (e.path === "/") {
      if (stack.length) throw new FloeError("source yielded the root twice");
      await push("/", e);
      continue;
    }
    if (!stack.length) await push("/", null);
    const parent = parentOf(e.path);
    while (stack[stack.length - 1].path !== parent) {
      const top = stack[stack.length - 1];
      if (top.path === "/" || parent.startsWith(top.path + "/")) {
        const rest = parent.slice(top.path === "/" ? 1 : top.path.length + 1);
        const next = (top.path === "/" ? "" : top.path) + "/" + rest.split("/")[0];
        await push(next, null);
      } else {
        close(stack.pop()!);
      }
    }
    const name = baseName(e.path);
    if (e.type === "dir") {
      await push(e.path, e);
      continue;
    }
    const top = stack[stack.length - 1];
    const old = top.oldTree?.get(name);
    let node: Slot | null;
    if (e.type === "file") {
      node = fileNode(e, name, old);
      if (node instanceof Promise) await throttle();
    } else {
      node = nodeOf(e, name);
      withAttributes(node, e, old, onWarn);
    }
    if (node) top.nodes.push(node);
    progress(e.path);
  }
  if (!stack.length) await push("/", null);
  while (stack.length) close(stack.pop()!);
  sendBatch();
  const rootNode = await root!;
  const rootTree = rootNode.subtree!;

  await drain();
  await packer.flush();
  await indexing;
  if (failure) throw failure;
  signal?.throwIfAborted();
  const index: IndexFile = { version: 1, packs: packer.takePacks() };
  let indexId: string | undefined;
  assertLocked();
  if (index.packs.length) indexId = await repo.saveJson("index", index);
  summary.errors = warnings.length;
  summary.total_duration = (performance.now() - started) / 1000;
  const snapshot: Snapshot = {
    version: 1,
    time: formatTime(options.time ?? new Date()),
    host,
    username: Deno.env.get("USER") ?? Deno.env.get("LOGNAME") ?? "unknown",
    paths: [...source.paths],
    tags: [...(options.tags ?? [])].sort(),
    tree: rootTree!,
    source: source.name,
    summary,
    program_version: VERSION,
  };
  if (parentId) snapshot.parent = parentId;
  signal?.throwIfAborted();
  assertLocked();
  const snapshotId = await repo.saveJson("snapshots", snapshot);
  catalog.transaction(() => {
    if (indexId) catalog.addIndex(indexId, index);
    for (const [id, json] of newTrees) catalog.putTree(id, json);
    catalog.markComplete(treeIds); // every blob this snapshot names is in the index now
    catalog.addSnapshot(snapshotId, snapshot);
  });
  emit({ type: "done", phase: "backup", snapshotId });
  return { snapshotId, snapshot, warnings };
}
