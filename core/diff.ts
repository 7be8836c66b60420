/**
 * `diff`: what changed between two snapshots. Both trees are walked side by side in name order;
 * subtrees with the same id are identical and skipped without being loaded.
 *
 * Modifiers (restic's): `+` added, `-` removed, `M` content changed (content blobs, size, link target,
 * device number, or entry type), `U` metadata only (mode, owner, mtime). Directories end with `/`.
 *
 * @example
 * ```ts
 * import { diffTrees } from "./diff.ts";
 * // for await (const c of diffTrees(engine.trees, a.snapshot.tree, b.snapshot.tree)) console.log(c.modifier, c.path);
 * ```
 * @module
 */
import type { TreeLoader } from "./trees.ts";
import type { Node } from "./repository/types.ts";

/** One change. */
export interface Change {
  /** `+`, `-`, `M` or `U`. */
  modifier: "+" | "-" | "M" | "U";
  /** Absolute path (directories end with `/`). */
  path: string;
  /** The entry before (absent for `+`). */
  before?: Node;
  /** The entry after (absent for `-`). */
  after?: Node;
}

/** Totals of a diff. */
export interface DiffStats {
  /** Per modifier and entry kind. */
  added: { files: number; dirs: number; others: number; bytes: number };
  /** Entries removed. */
  removed: { files: number; dirs: number; others: number; bytes: number };
  /** Entries whose content changed. */
  changed: number;
  /** Entries whose metadata only changed. */
  metadata: number;
}

/** Fresh, zeroed stats. */
export function emptyStats(): DiffStats {
  return {
    added: { files: 0, dirs: 0, others: 0, bytes: 0 },
    removed: { files: 0, dirs: 0, others: 0, bytes: 0 },
    changed: 0,
    metadata: 0,
  };
}

/** Adds a change to the totals. */
export function count(stats: DiffStats, c: Change): void {
  if (c.modifier === "M") stats.changed++;
  else if (c.modifier === "U") stats.metadata++;
  else {
    const n = (c.modifier === "+" ? c.after : c.before)!;
    const t = c.modifier === "+" ? stats.added : stats.removed;
    if (n.type === "file") {
      t.files++;
      t.bytes += n.size ?? 0;
    } else if (n.type === "dir") t.dirs++;
    else t.others++;
  }
}

const sameList = (a?: string[], b?: string[]) =>
  (a?.length ?? 0) === (b?.length ?? 0) && (a ?? []).every((x, i) => x === b![i]);

function contentChanged(a: Node, b: Node): boolean {
  return a.type !== b.type || (a.size ?? 0) !== (b.size ?? 0) || !sameList(a.content, b.content) ||
    a.linkTarget !== b.linkTarget || (a.rdev ?? 0) !== (b.rdev ?? 0);
}

function metadataChanged(a: Node, b: Node): boolean {
  return a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.mtime !== b.mtime;
}

const join = (prefix: string, name: string) => (prefix === "/" ? `/${name}` : `${prefix}/${name}`);
const shown = (path: string, n: Node) => (n.type === "dir" ? `${path}/` : path);

/** Every entry below a tree, as `+` or `-` changes. */
async function* all(
  trees: TreeLoader,
  id: string,
  prefix: string,
  modifier: "+" | "-",
): AsyncIterable<Change> {
  const tree = await trees.load(id);
  for (const n of tree.nodes) {
    const p = join(prefix, n.name);
    yield modifier === "+"
      ? { modifier, path: shown(p, n), after: n }
      : { modifier, path: shown(p, n), before: n };
    if (n.type === "dir" && n.subtree) yield* all(trees, n.subtree, p, modifier);
  }
}

/** The changes from tree `a` to tree `b`, in path order. */
export async function* diffTrees(
  trees: TreeLoader,
  a: string,
  b: string,
  prefix = "/",
): AsyncIterable<Change> {
  if (a === b) return;
  const [ta, tb] = await Promise.all([trees.load(a), trees.load(b)]);
  let i = 0, j = 0;
  while (i < ta.nodes.length || j < tb.nodes.length) {
    const na = ta.nodes[i], nb = tb.nodes[j];
    const order = !na ? 1 : !nb ? -1 : na.name < nb.name ? -1 : na.name > nb.name ? 1 : 0;
    if (order < 0) {
      const p = join(prefix, na.name);
      yield { modifier: "-", path: shown(p, na), before: na };
      if (na.type === "dir" && na.subtree) yield* all(trees, na.subtree, p, "-");
      i++;
      continue;
    }
    if (order > 0) {
      const p = join(prefix, nb.name);
      yield { modifier: "+", path: shown(p, nb), after: nb };
      if (nb.type === "dir" && nb.subtree) yield* all(trees, nb.subtree, p, "+");
      j++;
      continue;
    }
    i++, j++;
    const p = join(prefix, na.name);
    if (na.type !== nb.type) {
      // A file became a directory (or the like): the old entry goes, the new one comes.
      yield { modifier: "-", path: shown(p, na), before: na };
      if (na.type === "dir" && na.subtree) yield* all(trees, na.subtree, p, "-");
      yield { modifier: "+", path: shown(p, nb), after: nb };
      if (nb.type === "dir" && nb.subtree) yield* all(trees, nb.subtree, p, "+");
      continue;
    }
    if (na.type === "dir") {
      if (metadataChanged(na, nb)) yield { modifier: "U", path: `${p}/`, before: na, after: nb };
      if (na.subtree && nb.subtree) yield* diffTrees(trees, na.subtree, nb.subtree, p);
      else if (nb.subtree) yield* all(trees, nb.subtree, p, "+");
      else if (na.subtree) yield* all(trees, na.subtree, p, "-");
      continue;
    }
    if (contentChanged(na, nb)) yield { modifier: "M", path: p, before: na, after: nb };
    else if (metadataChanged(na, nb)) yield { modifier: "U", path: p, before: na, after: nb };
  }
}
