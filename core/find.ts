/**
 * `find`: entries matching glob patterns across snapshots, answered from the catalog's tree cache
 * (trees not cached yet are fetched once and cached).
 *
 * Every distinct (tree, path) pair is visited once, level by level: a subtree that many snapshots share
 * at the same path is walked once and its matches are credited to all of them. Patterns follow
 * `core/globs.ts`: one starting with `/` is anchored at the root, one without `/` matches a name at any
 * depth, one with an inner `/` matches a path suffix at any depth.
 *
 * @example
 * ```ts
 * import { find } from "./find.ts";
 * // for (const m of await find(engine, ["*.conf"])) console.log(m.snapshot, m.path);
 * ```
 * @module
 */
import picomatch from "picomatch";
import type { CatalogSnapshot } from "./catalog/catalog.ts";
import { type Engine, internals } from "./engine.ts";
import type { Node } from "./repository/types.ts";

/** One match. */
export interface FindMatch {
  /** Snapshot id. */
  snapshot: string;
  /** Absolute path. */
  path: string;
  /** The entry. */
  node: Node;
}

/** Options of {@link find}. */
export interface FindOptions {
  /** Case-insensitive matching. */
  ignoreCase?: boolean;
  /** Aborts. */
  signal?: AbortSignal;
}

/** Compiles patterns with globs.ts' anchoring rules (without "everything below a match"). */
export function compileFindPatterns(patterns: string[], ignoreCase = false): (path: string) => boolean {
  const matchers = patterns.map((p) => p.trim()).filter(Boolean).map((p) => {
    const pattern = p.endsWith("/") && p.length > 1 ? p.slice(0, -1) : p;
    return picomatch(pattern.startsWith("/") ? pattern : `**/${pattern}`, { dot: true, nocase: ignoreCase });
  });
  return (path) => matchers.some((m) => m(path));
}

/** Entries of `snapshots` matching any pattern; grouped by snapshot (in the order given), paths sorted. */
export async function find(
  engine: Engine,
  snapshots: CatalogSnapshot[],
  patterns: string[],
  options: FindOptions = {},
): Promise<FindMatch[]> {
  const match = compileFindPatterns(patterns, options.ignoreCase);
  // (tree id, path) → snapshots holding that tree at that path.
  let level = new Map<string, { tree: string; path: string; snaps: string[] }>();
  for (const s of snapshots) {
    const key = `${s.snapshot.tree}\0/`;
    const e = level.get(key);
    if (e) e.snaps.push(s.id);
    else level.set(key, { tree: s.snapshot.tree, path: "/", snaps: [s.id] });
  }
  const found = new Map<string, FindMatch[]>(snapshots.map((s) => [s.id, []]));
  while (level.size) {
    const next = new Map<string, { tree: string; path: string; snaps: string[] }>();
    for (const { tree: id, path, snaps } of level.values()) {
      options.signal?.throwIfAborted();
      const tree = await internals(engine).trees.load(id, options.signal);
      for (const n of tree.nodes) {
        const p = path === "/" ? `/${n.name}` : `${path}/${n.name}`;
        if (match(p)) { for (const s of snaps) found.get(s)!.push({ snapshot: s, path: p, node: n }); }
        if (n.type === "dir" && n.subtree) {
          const key = `${n.subtree}\0${p}`;
          const e = next.get(key);
          if (e) e.snaps.push(...snaps);
          else next.set(key, { tree: n.subtree, path: p, snaps: [...snaps] });
        }
      }
    }
    level = next;
  }
  const out: FindMatch[] = [];
  for (const list of found.values()) {
    list.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    out.push(...list);
  }
  return out;
}
