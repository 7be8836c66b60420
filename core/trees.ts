/**
 * Loads directory trees by id: from the catalog's cache, else from the repository (then cached). A cached
 * tree is used only when its bytes still hash to its keyed id: the catalog is a file any process of the
 * user can edit, and a tree chooses what restore writes (modes, link targets, content).
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
import { utf8 } from "./encoding.ts";
import type { StepEvent } from "./events.ts";
import type { Repository } from "./repository/repository.ts";
import type { IndexEntry, Node, Tree } from "./repository/types.ts";
import { checkTreeFormat } from "./repository/tree_format.ts";

/** Rejects names that could escape a restore target or that a file system cannot hold. */
export function validateTree(tree: Tree, id: string): Tree {
  if (!tree || !Array.isArray(tree.nodes)) throw new IntegrityError(`tree ${id.slice(0, 12)} is malformed`);
  // floe writes nodes sorted by name: strictly increasing names are unique without a set of them (a backup
  // validates every tree of its parent). Any other order is checked with one.
  let seen: Set<string> | null = null;
  let previous = "";
  const nodes = tree.nodes;
  for (let i = 0; i < nodes.length; i++) {
    const name = nodes[i]?.name;
    if (
      typeof name !== "string" || !name || name === "." || name === ".." || name.includes("/") ||
      name.includes("\0")
    ) {
      throw new IntegrityError(`tree ${id.slice(0, 12)} holds an unsafe name ${JSON.stringify(name)}`);
    }
    if (seen === null) {
      if (name > previous) {
        previous = name;
        continue;
      }
      seen = new Set(nodes.slice(0, i).map((m) => m.name));
    }
    if (seen.has(name)) {
      throw new IntegrityError(`tree ${id.slice(0, 12)} holds ${JSON.stringify(name)} twice`);
    }
    seen.add(name);
  }
  checkTreeFormat(tree, id);
  return tree;
}

/** Strict UTF-8: a tree's bytes must decode exactly, or its cached text would not hash to its id. */
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Parses and validates a tree blob's plaintext; throws {@link IntegrityError} when it is not UTF-8 JSON
 * or not a safe tree.
 *
 * @example
 * ```ts
 * import { parseTree } from "./trees.ts";
 * parseTree(new TextEncoder().encode('{"nodes":[]}'), "00".repeat(32)); // { nodes: [] }
 * ```
 */
export function parseTree(plain: Uint8Array, id: string): Tree {
  let text: string;
  try {
    text = strict.decode(plain);
  } catch {
    throw new IntegrityError(`tree ${id.slice(0, 12)} is not valid JSON`);
  }
  return parseTreeText(text, id);
}

/**
 * {@link parseTree} of the text of a tree's bytes.
 *
 * @example
 * ```ts
 * import { parseTreeText } from "./trees.ts";
 * parseTreeText('{"nodes":[]}', "00".repeat(32)); // { nodes: [] }
 * ```
 */
export function parseTreeText(text: string, id: string): Tree {
  let tree: Tree;
  try {
    tree = JSON.parse(text);
  } catch {
    throw new IntegrityError(`tree ${id.slice(0, 12)} is not valid JSON`);
  }
  return validateTree(tree, id);
}

/**
 * The catalog's cached copy of a tree, or undefined when there is none or it does not hash to its keyed
 * id: such a copy is dropped (the caller reads the tree from the repository, which authenticates it) and
 * reported as a warning. `ahead` is that copy's text read earlier, unverified (see `tree_read_ahead.ts`):
 * checked the same way, and parsed only once it is.
 *
 * @example
 * ```ts
 * import { cachedTree } from "./trees.ts";
 * // const tree = cachedTree(repo, catalog, id, onEvent) ?? await loadFromRepository(id);
 * ```
 */
export function cachedTree(
  repo: Repository,
  catalog: Catalog,
  id: string,
  onEvent?: (e: StepEvent) => void,
  ahead?: string,
): Tree | undefined {
  const json = ahead ?? catalog.getTreeJson(id);
  if (json === undefined) return undefined;
  const plain = utf8(json);
  if (repo.hasher.id(plain) !== id) {
    catalog.dropTree(id);
    onEvent?.({
      type: "warning",
      path: catalog.path,
      message: `cached tree ${
        id.slice(0, 12)
      } does not match its id (the catalog was altered or damaged): dropped, read from the repository`,
    });
    return undefined;
  }
  // A well-formed string (no lone surrogate) is exactly the UTF-8 decoding of its encoding `plain`, which
  // was just authenticated: parsed as it is, without decoding `plain` again. Otherwise the bytes decide.
  return json.isWellFormed() ? parseTreeText(json, id) : parseTree(plain, id);
}

/**
 * Reads a tree from the repository (which authenticates it against its id) and caches it in the catalog.
 *
 * @example
 * ```ts
 * import { fetchTree } from "./trees.ts";
 * // const tree = await fetchTree(repo, catalog, catalog.lookupBlob(id)!);
 * ```
 */
export async function fetchTree(
  repo: Repository,
  catalog: Catalog,
  entry: IndexEntry,
  signal?: AbortSignal,
): Promise<Tree> {
  const plain = await repo.loadBlob(entry, signal);
  const tree = parseTree(plain, entry.id);
  // Valid UTF-8 (parseTree checked), so the text re-encodes to exactly these bytes.
  catalog.putTree(entry.id, strict.decode(plain));
  return tree;
}

/** Trees read from the catalog ahead of the key, unverified (see `tree_read_ahead.ts`). */
export interface ReadAhead {
  /** The text of tree `id`, if held; handed out once. */
  take(id: string): string | undefined;
}

/** Options of {@link TreeLoader}. */
export interface TreeLoaderOptions {
  /** Receives a warning for each cached tree that fails verification. */
  onEvent?: (e: StepEvent) => void;
  /** Trees read ahead: used when their text hashes to their id, as the catalog's own would be. */
  readAhead?: ReadAhead;
}

/** Loads trees with a cache. */
export class TreeLoader {
  readonly #repo: Repository;
  readonly #catalog: Catalog;
  readonly #onEvent?: (e: StepEvent) => void;
  readonly #readAhead?: ReadAhead;

  /** Build one. */
  constructor(repo: Repository, catalog: Catalog, options: TreeLoaderOptions = {}) {
    this.#repo = repo;
    this.#catalog = catalog;
    this.#onEvent = options.onEvent;
    this.#readAhead = options.readAhead;
  }

  /** The tree with `id`, validated. */
  async load(id: string, signal?: AbortSignal): Promise<Tree> {
    const cached = cachedTree(this.#repo, this.#catalog, id, this.#onEvent, this.#readAhead?.take(id));
    if (cached) return cached;
    const entry = this.#catalog.lookupBlob(id);
    if (!entry) throw new IntegrityError(`tree ${id.slice(0, 12)} is not in the index`);
    return await fetchTree(this.#repo, this.#catalog, entry, signal);
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
