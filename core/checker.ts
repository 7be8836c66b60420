/**
 * `check`: verifies the repository's structure — every index file and snapshot authenticates, every
 * tree and content blob a snapshot references is in the index, every indexed pack exists with the size
 * the index gives — and with `readData`, the content of every (or a subset of) pack: its hash, its
 * header, and every blob's authentication tag and id.
 *
 * @example
 * ```ts
 * import { check } from "./checker.ts";
 * // const report = await check(engine, { readData: true });
 * ```
 * @module
 */
import { type Engine, internals } from "./engine.ts";
import { packIdOf, packName } from "./repository/repository.ts";
import { isPackNamed } from "./repository/pack.ts";
import type { IndexEntry, Tree } from "./repository/types.ts";
import type { CatalogSnapshot } from "./catalog/catalog.ts";
import { IntegrityError } from "./errors.ts";
import { parseTree } from "./trees.ts";
import { listTemporaries, type Temporary } from "./repository/temporaries.ts";
import { affectedFiles } from "./damage.ts";
import type { BlobJob } from "./restorer/decoder.ts";
import { DecoderPool, type Decoders, InlineDecoders } from "./restorer/decoder_pool.ts";

/** How many affected files a problem lists (`filesTotal` gives the full count). */
export const MAX_FILES_PER_PROBLEM = 20;
import { mirrorProblems } from "./mirrors.ts";

/** One problem found. */
export interface CheckProblem {
  /** What kind of object is affected. */
  kind: "index" | "snapshot" | "tree" | "blob" | "pack" | "mirror";
  /** Its id or name. */
  id: string;
  /** What is wrong. */
  message: string;
  /** Snapshots affected, where known. */
  snapshots?: string[];
  /** Files affected (snapshot id and path; directories whose tree is lost end with `/`), at most 20. */
  files?: { snapshot: string; path: string }[];
  /** How many files are affected in all. */
  filesTotal?: number;
}

/** Options of {@link check}. */
export interface CheckOptions {
  /** Read and verify pack contents. */
  readData?: boolean;
  /** Read only a subset: `{ part: n, of: t }` or `{ percent: x }`. */
  subset?: { part: number; of: number } | { percent: number };
  /** Aborts. */
  signal?: AbortSignal;
  /** Progress. */
  onProgress?: (packsDone: number, packsTotal: number, bytes: number) => void;
}

/** The result of a check. */
export interface CheckReport {
  /** Snapshots checked. */
  snapshots: number;
  /** Packs in the index. */
  packs: number;
  /** Packs whose data was read. */
  packsRead: number;
  /** Bytes read. */
  bytesRead: number;
  /** Problems; empty when all is well. */
  problems: CheckProblem[];
  /**
   * Temporary objects interrupted writes left (not problems: `prune` removes the `stale` ones; the
   * `fresh` ones may belong to a backup running now).
   */
  temporaries: { stale: Temporary[]; fresh: Temporary[] };
}

function inSubset(packId: string, subset: CheckOptions["subset"]): boolean {
  if (!subset) return true;
  const x = parseInt(packId.slice(0, 8), 16);
  if ("percent" in subset) return x / 0x100000000 < subset.percent / 100;
  return x % subset.of === subset.part - 1;
}

/** Checks a repository. */
export async function check(engine: Engine, options: CheckOptions = {}): Promise<CheckReport> {
  const { repo } = internals(engine);
  const problems: CheckProblem[] = [];
  const report: CheckReport = {
    snapshots: 0,
    packs: 0,
    packsRead: 0,
    bytesRead: 0,
    problems,
    temporaries: await listTemporaries(repo.storage, { signal: options.signal }),
  };

  // Everything comes from the repository, never from the catalog: the catalog is a cache anyone with the
  // user's rights can edit, and a check must report what the repository holds. Index files and snapshots
  // must authenticate.
  const indexIds = await repo.listIds("index");
  const badIndexes = new Set<string>();
  const packBlobs = new Map<string, IndexEntry[]>();
  // The same entries by id, for the tree walk, which looks up every blob it meets.
  const byId = new Map<string, IndexEntry>();
  const offsets = new Map<string, Set<number>>();
  for (const id of indexIds) {
    let file;
    try {
      file = await repo.loadIndex(id);
    } catch (e) {
      badIndexes.add(id);
      problems.push({ kind: "index", id, message: (e as Error).message });
      continue;
    }
    for (const p of file.packs) {
      let list = packBlobs.get(p.id);
      if (!list) packBlobs.set(p.id, list = []);
      let seen = offsets.get(p.id);
      if (!seen) offsets.set(p.id, seen = new Set());
      for (const b of p.blobs) {
        // Index files side by side after an interrupted prune list the same blobs again.
        if (seen.has(b.offset)) continue;
        seen.add(b.offset);
        const e: IndexEntry = { ...b, pack: p.id };
        list.push(e);
        if (!byId.has(e.id)) byId.set(e.id, e);
      }
    }
  }
  const snapshots: CatalogSnapshot[] = [];
  for (const id of await repo.listIds("snapshots")) {
    try {
      const snapshot = await repo.loadSnapshot(id);
      snapshots.push({ id, snapshot, timeMs: Date.parse(snapshot.time) });
    } catch (e) {
      problems.push({ kind: "snapshot", id, message: (e as Error).message, snapshots: [id] });
    }
  }
  snapshots.sort((a, b) => a.timeMs - b.timeMs || (a.id < b.id ? -1 : 1));
  // Trees are read from the repository, which authenticates them against their ids. To name the files a
  // problem affects, a tree only a damaged index file listed may be located through the catalog's copy of
  // that index: a wrong location there only fails authentication.
  const readTree = async (id: string, entry: IndexEntry | undefined) => {
    if (!entry) throw new IntegrityError(`tree ${id.slice(0, 12)} is not in the index`);
    return parseTree(await repo.loadBlob(entry, options.signal), id);
  };
  const loadTree = (id: string) => readTree(id, byId.get(id));
  const locateTree = (id: string) => readTree(id, byId.get(id) ?? internals(engine).catalog.lookupBlob(id));

  // Packs in storage vs the index.
  const stored = new Map<string, number>();
  for await (const o of repo.storage.list("data/")) {
    const id = packIdOf(o.name);
    if (id) stored.set(id, o.size);
  }
  report.packs = packBlobs.size;
  const badPacks = new Map<string, string>();
  // Blobs of a bad pack that cannot be read back ("all" when none can be told apart).
  const lostBlobs = new Map<string, Set<string> | "all">();
  for (const [pack, blobs] of packBlobs) {
    const size = stored.get(pack);
    if (size === undefined) {
      badPacks.set(pack, "missing from storage");
      lostBlobs.set(pack, "all");
      continue;
    }
    const end = Math.max(...blobs.map((b) => b.offset + b.length));
    if (size < end + 4) {
      badPacks.set(pack, `truncated (${size} bytes, index needs more than ${end})`);
      lostBlobs.set(pack, new Set(blobs.filter((b) => b.offset + b.length > size).map((b) => b.id)));
    }
  }

  // Trees: every referenced blob must be indexed.
  const seenTrees = new Set<string>();
  const blobOwners = new Map<string, Set<string>>();
  for (const s of snapshots) {
    report.snapshots++;
    const stack = [s.snapshot.tree];
    while (stack.length) {
      options.signal?.throwIfAborted();
      const id = stack.pop()!;
      if (seenTrees.has(id)) continue;
      seenTrees.add(id);
      const entry = byId.get(id);
      if (!entry) {
        problems.push({ kind: "tree", id, message: "not in the index", snapshots: [s.id] });
        continue;
      }
      (blobOwners.get(entry.pack) ?? blobOwners.set(entry.pack, new Set()).get(entry.pack)!).add(s.id);
      let tree;
      try {
        tree = await loadTree(id);
      } catch (e) {
        problems.push({ kind: "tree", id, message: (e as Error).message, snapshots: [s.id] });
        continue;
      }
      for (const n of tree.nodes) {
        if (n.type === "dir" && n.subtree) stack.push(n.subtree);
        for (const c of n.content ?? []) {
          const be = byId.get(c);
          if (!be) {
            problems.push({
              kind: "blob",
              id: c,
              message: `content of ${n.name} is not in the index`,
              snapshots: [s.id],
            });
          } else (blobOwners.get(be.pack) ?? blobOwners.set(be.pack, new Set()).get(be.pack)!).add(s.id);
        }
      }
    }
  }

  // Pack contents.
  if (options.readData) {
    const packs = [...packBlobs.keys()].filter((p) => !badPacks.has(p) && inSubset(p, options.subset));
    await readPacks(engine, packs, packBlobs, stored, badPacks, lostBlobs, report, options);
  }
  for (const [pack, message] of badPacks) {
    problems.push({ kind: "pack", id: pack, message, snapshots: [...(blobOwners.get(pack) ?? [])] });
  }
  if (problems.length) {
    await attachAffectedFiles(
      engine,
      snapshots,
      locateTree,
      problems,
      lostBlobs,
      packBlobs,
      indexIds,
      badIndexes,
      options,
    );
  }
  // A repository mirrored on several storages: every object must be alike on all of them.
  problems.push(...await mirrorProblems(repo.storage, options.signal));
  return report;
}

/** Packs read at once beyond one per decoder: the next pack is read while the decoders work. */
const READ_AHEAD = 1;
/** Reads smaller than this in all decode on the calling thread (starting workers would cost more). */
const INLINE_MAX = 16 * 1024 * 1024;

/**
 * Reads every pack of `packs` whole and verifies it: every blob the index places in it must authenticate,
 * decompress to its length and hash to its id (a {@link RegionDecoder} on a pool of worker threads, one
 * per core (at most 4), the same checks as `Repository.decodeBlob`), and a pack that holds them all must
 * be named by its content and its header agree with its size. Results are recorded in pack order.
 */
async function readPacks(
  engine: Engine,
  packs: string[],
  packBlobs: Map<string, IndexEntry[]>,
  stored: Map<string, number>,
  badPacks: Map<string, string>,
  lostBlobs: Map<string, Set<string> | "all">,
  report: CheckReport,
  options: CheckOptions,
): Promise<void> {
  const { repo } = internals(engine);
  const cores = navigator.hardwareConcurrency || 1;
  let total = 0;
  for (const p of packs) total += stored.get(p) ?? 0;
  let decoders: Decoders = new InlineDecoders(repo);
  let workers = 1;
  if (cores > 1 && total >= INLINE_MAX) {
    const pool = new DecoderPool(repo, workers = Math.min(4, cores));
    try {
      await pool.ready;
      decoders = pool;
    } catch {
      // Workers that cannot load the transforms (a plugin that only works here): decode here instead.
      pool.terminate();
      workers = 1;
    }
  }
  /**
   * What became of each pack, in the order of `packs`: nothing when it is sound, a message when it could
   * not be read or its header is wrong (all its blobs count as lost), else the blobs that did not open.
   */
  const outcomes: (string | { lost: Set<string>; named: boolean } | undefined)[] = new Array(packs.length);
  let next = 0;
  let done = 0;
  const verify = async (i: number) => {
    const pack = packs[i];
    let bytes: Uint8Array;
    try {
      bytes = await repo.storage.get(packName(pack), { signal: options.signal });
    } catch (e) {
      outcomes[i] = (e as Error).message;
      return;
    }
    const size = bytes.length;
    report.bytesRead += size;
    report.packsRead++;
    const named = isPackNamed(bytes, pack);
    // Every blob the index places here must open and match its id, whatever the name says.
    const lost = new Set<string>();
    const blobs: BlobJob[] = [];
    const ids: string[] = [];
    for (const b of packBlobs.get(pack)!) {
      if (b.offset + b.length > size) lost.add(b.id); // beyond the end
      else {
        ids.push(b.id);
        blobs.push({
          id: b.id,
          tree: b.type === "tree" ? 1 : 0,
          compressed: b.compressed,
          offset: b.offset,
          length: b.length,
          rawLength: b.rawLength,
          targets: [],
        });
      }
    }
    // The decoders take the bytes (a worker's are transferred): nothing here reads them afterwards.
    const result = await decoders.run({
      job: i,
      pack,
      data: bytes,
      blobs,
      paths: [],
      closing: [],
      sizes: [],
      create: [],
      meta: [],
      times: [],
    });
    for (const [k] of result.damaged) lost.add(ids[k]);
    if (!named || lost.size) {
      outcomes[i] = { lost, named };
      return;
    }
    try {
      await repo.readPackHeader(pack, size); // header and size agree
    } catch (e) {
      outcomes[i] = (e as Error).message;
    }
  };
  const runner = async () => {
    while (next < packs.length) {
      options.signal?.throwIfAborted();
      const i = next++;
      await verify(i);
      options.onProgress?.(++done, packs.length, report.bytesRead);
    }
  };
  try {
    await Promise.all(Array.from({ length: workers + READ_AHEAD }, runner));
  } finally {
    if (decoders instanceof DecoderPool) await decoders.close();
  }
  packs.forEach((pack, i) => {
    const o = outcomes[i];
    if (o === undefined) return;
    if (typeof o === "string") {
      badPacks.set(pack, o);
      lostBlobs.set(pack, "all");
      return;
    }
    const count = `${o.lost.size} of ${packBlobs.get(pack)!.length} blobs unreadable`;
    lostBlobs.set(pack, o.lost);
    badPacks.set(
      pack,
      o.named ? `damaged (${count})` : `content does not match its name (damaged; ${count})`,
    );
  });
}

/** Names the files each problem affects (walking every snapshot's trees once). */
async function attachAffectedFiles(
  engine: Engine,
  snapshots: CatalogSnapshot[],
  loadTree: (id: string) => Promise<Tree>,
  problems: CheckProblem[],
  lostBlobs: Map<string, Set<string> | "all">,
  packBlobs: Map<string, IndexEntry[]>,
  indexIds: string[],
  badIndexes: Set<string>,
  options: CheckOptions,
): Promise<void> {
  const owner = new Map<string, number>();
  problems.forEach((p, i) => {
    if (p.kind === "blob" || p.kind === "tree") owner.set(p.id, i);
    if (p.kind === "pack") {
      const lost = lostBlobs.get(p.id);
      if (!lost) return;
      for (const b of lost === "all" ? packBlobs.get(p.id)!.map((e) => e.id) : lost) {
        if (!owner.has(b)) owner.set(b, i);
      }
    }
  });
  // Blobs listed only by a damaged index file are lost to any catalog built from now on.
  let covered: Set<string> | undefined;
  const indexProblems = problems.flatMap((p, i) => (p.kind === "index" ? [i] : []));
  if (indexProblems.length) {
    covered = new Set();
    for (const id of indexIds) {
      if (badIndexes.has(id)) continue;
      try {
        for (const p of (await internals(engine).repo.loadIndex(id)).packs) {
          for (const b of p.blobs) covered.add(b.id);
        }
      } catch { /* reported above */ }
    }
  }
  const problemsOf = (id: string): number[] | undefined => {
    const i = owner.get(id);
    if (i !== undefined) return [i];
    if (covered && !covered.has(id)) return indexProblems;
    return undefined;
  };
  const hits = await affectedFiles(engine, snapshots, (id) => problemsOf(id) !== undefined, {
    signal: options.signal,
    loadTree,
  });
  const snaps = new Map<number, Set<string>>();
  for (const h of hits) {
    for (const i of problemsOf(h.blob)!) {
      const p = problems[i];
      p.filesTotal = (p.filesTotal ?? 0) + 1;
      if ((p.files ??= []).length < MAX_FILES_PER_PROBLEM) {
        p.files.push({ snapshot: h.snapshot, path: h.path });
      }
      (snaps.get(i) ?? snaps.set(i, new Set()).get(i)!).add(h.snapshot);
    }
  }
  problems.forEach((p, i) => {
    const found = [...(snaps.get(i) ?? [])];
    // A pack whose unreadable blobs are known affects exactly the snapshots that use them.
    if (p.kind === "pack" && lostBlobs.get(p.id) !== "all") p.snapshots = found;
    else if (found.length) p.snapshots = [...new Set([...(p.snapshots ?? []), ...found])];
  });
}
