/**
 * Loads directory trees by id: from the catalog's cache, else from the repository (then cached).
 *
 * @example
 * ```ts
 * import { TreeLoader } from "./trees.ts";
 * // const tree = await new TreeLoader(repo, catalog).load(snapshot.tree);
 * ```
 * @module
 */
import type { Catalog } from "./catalog/catalog.ts";
import { IntegrityError } from "./errors.ts";
import { fromUtf8 } from "./encoding.ts";
import type { Repository } from "./repository/repository.ts";
import type { Node, Tree } from "./repository/types.ts";
import { checkTreeFormat } from "./repository/tree_format.ts";

/** Rejects names that could escape a restore target or that a file system cannot hold. */
export function validateTree(tree: Tree, id: string): Tree {
  if (!tree || !Array.isArray(tree.nodes)) throw new IntegrityError(`tree ${id.slice(0, 12)} is malformed`);
  const seen = new Set<string>();
  for (const n of tree.nodes) {
    const name = n?.name;
    if (
      typeof name !== "string" || !name || name === "." || name === ".." || name.includes("/") ||
      name.includes("\0")
    ) {
      throw new IntegrityError(`tree ${id.slice(0, 12)} holds an unsafe name ${JSON.stringify(name)}`);
    }
    if (seen.has(name)) {
      throw new IntegrityError(`tree ${id.slice(0, 12)} holds ${JSON.stringify(name)} twice`);
    }
    seen.add(name);
  }
  checkTreeFormat(tree, id);
  return tree;
}

/** Loads trees with a cache. */
export class TreeLoader {
  readonly #repo: Repository;
  readonly #catalog: Catalog;

  /** Build one. */
  constructor(repo: Repository, catalog: Catalog) {
    this.#repo = repo;
    this.#catalog = catalog;
  }

  /** The tree with `id`, validated. */
  async load(id: string, signal?: AbortSignal): Promise<Tree> {
    const cached = this.#catalog.getTree(id);
    if (cached) return validateTree(cached, id);
    const entry = this.#catalog.lookupBlob(id);
    if (!entry) throw new IntegrityError(`tree ${id.slice(0, 12)} is not in the index`);
    const json = fromUtf8(await this.#repo.loadBlob(entry, signal));
    let tree: Tree;
    try {
      tree = JSON.parse(json);
    } catch {
      throw new IntegrityError(`tree ${id.slice(0, 12)} is not valid JSON`);
    }
    validateTree(tree, id);
    this.#catalog.putTree(id, json);
    return tree;
  }

  /** The node at `path` (`/a/b`) below the tree `root`, or undefined; `/` gives a synthetic dir node. */
  async find(root: string, path: string): Promise<Node | undefined> {
    const segs = path.split("/").filter(Boolean);
    let node: Node = { name: "/", type: "dir", mode: 0o755, mtime: 0, subtree: root };
    for (const seg of segs) {
      if (node.type !== "dir" || !node.subtree) return undefined;
      const tree = await this.load(node.subtree);
      const next = tree.nodes.find((n) => n.name === seg);
      if (!next) return undefined;
      node = next;
    }
    return node;
  }
}
