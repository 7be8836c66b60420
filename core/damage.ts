/**
 * Which files of which snapshots use a set of damaged (or missing) blobs: `check` names them per
 * problem. Every distinct tree is walked once; a tree's hits are memoized relative to the tree, so a
 * subtree shared by many snapshots (or directories) costs one walk.
 *
 * @example
 * ```ts
 * import { affectedFiles } from "./damage.ts";
 * // for (const hit of await affectedFiles(engine, snapshots, (id) => bad.has(id))) console.log(hit.path);
 * ```
 * @module
 */
import type { CatalogSnapshot } from "./catalog/catalog.ts";
import type { Tree } from "./repository/types.ts";
import { type Engine, internals } from "./engine.ts";

/** A file (or directory whose tree is damaged) that uses a bad blob. */
export interface AffectedFile {
  /** Snapshot id. */
  snapshot: string;
  /** Absolute path inside the snapshot (directories end with `/`). */
  path: string;
  /** The bad blob it uses. */
  blob: string;
}

interface Hit {
  rel: string;
  blob: string;
}

/**
 * Walks the snapshots' trees and returns every file whose content, and every directory whose tree, is
 * bad (directories end with `/`; below a bad tree that can still be read, its lost files are named too).
 */
export async function affectedFiles(
  engine: Engine,
  snapshots: CatalogSnapshot[],
  isBad: (blobId: string) => boolean,
  options: { signal?: AbortSignal; loadTree?: (id: string) => Promise<Tree> } = {},
): Promise<AffectedFile[]> {
  const load = options.loadTree ?? ((id: string) => internals(engine).trees.load(id, options.signal));
  const memo = new Map<string, Hit[]>();
  const visit = async (treeId: string): Promise<Hit[]> => {
    const known = memo.get(treeId);
    if (known) return known;
    options.signal?.throwIfAborted();
    const hits: Hit[] = [];
    let tree;
    try {
      tree = await load(treeId);
    } catch {
      tree = null;
    }
    if (tree) {
      for (const n of tree.nodes) {
        if (n.type === "dir" && n.subtree) {
          // A lost tree is named; when it is still readable (the catalog caches trees) its lost files too.
          if (isBad(n.subtree)) hits.push({ rel: `/${n.name}/`, blob: n.subtree });
          for (const h of await visit(n.subtree)) hits.push({ rel: `/${n.name}${h.rel}`, blob: h.blob });
        }
        for (const c of n.content ?? []) {
          if (isBad(c)) {
            hits.push({ rel: `/${n.name}`, blob: c });
            break;
          }
        }
      }
    }
    memo.set(treeId, hits);
    return hits;
  };
  const out: AffectedFile[] = [];
  for (const s of snapshots) {
    if (isBad(s.snapshot.tree)) out.push({ snapshot: s.id, path: "/", blob: s.snapshot.tree });
    for (const h of await visit(s.snapshot.tree)) out.push({ snapshot: s.id, path: h.rel, blob: h.blob });
  }
  return out;
}
