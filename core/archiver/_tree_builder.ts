/**
 * The trees of a backup, built as the source's pre-order walk goes: one open frame per directory on the
 * path to the current entry; a directory's tree is written once the walk leaves it and its entries are
 * all read. Each frame holds the parent snapshot's tree of the same directory, to reuse what is unchanged.
 *
 * @example
 * ```ts
 * import { TreeBuilder } from "./_tree_builder.ts";
 * // const builder = new TreeBuilder({ repo, catalog, store, state, trees, parentRoot });
 * // await builder.walkTo("/etc"); builder.add(node); const root = await builder.finish();
 * ```
 * @module
 */
import type { SourceEntry } from "../contracts.ts";
import type { Catalog } from "../catalog/catalog.ts";
import { FloeError } from "../errors.ts";
import type { Repository } from "../repository/repository.ts";
import type { Node, Tree } from "../repository/types.ts";
import { TREE_VERSION } from "../repository/types.ts";
import type { TreeLoader } from "../trees.ts";
import { utf8 } from "../encoding.ts";
import { isFine, nodeOf, sameNodes, withAttributes } from "./_nodes.ts";
import type { BlobStore } from "./_blob_store.ts";
import type { RunState } from "./_run_state.ts";

/**
 * New trees are cached in the catalog (one transaction) whenever their JSON reaches this many characters,
 * rather than all at the end: their JSON would otherwise stay in memory for the whole run, a few hundred
 * bytes per file. The tree cache is keyed by content, so rows of a run that fails do no harm.
 */
const TREE_FLUSH = 4 << 20;

/** A node, or one still being read or built (null: left out, with a warning). */
export type Slot = Node | Promise<Node | null>;

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

/** Options of {@link TreeBuilder}. */
export interface TreeBuilderOptions {
  /** The open repository. */
  repo: Repository;
  /** Its catalog (synced). */
  catalog: Catalog;
  /** Where new trees go. */
  store: BlobStore;
  /** The run's shared state. */
  state: RunState;
  /** Loads the parent snapshot's trees. */
  trees: TreeLoader;
  /** The parent snapshot's root tree, if there is a parent. */
  parentRoot?: string;
  /** Aborts tree loads. */
  signal?: AbortSignal;
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Builds and stores the trees of one run. */
export class TreeBuilder {
  readonly #options: TreeBuilderOptions;
  readonly #stack: Frame[] = [];
  #root: Promise<Node> | undefined;
  /** Blobs of the parent's trees that the index lacks (looked up once per tree, see #loadOld). */
  readonly #missingOld = new Set<string>();
  #newTrees: [string, string][] = [];
  #newTreeChars = 0;
  /** Every tree of the snapshot (new or reused). */
  readonly treeIds: string[] = [];

  /** A builder for one run. */
  constructor(options: TreeBuilderOptions) {
    this.#options = options;
  }

  /** Whether the parent snapshot's blob `id` is still stored (or stored again in this run). */
  readonly stored = (id: string): boolean =>
    !this.#missingOld.has(id) || this.#options.store.addedThisRun(id);

  /** Opens the root, described by the source's entry for "/". */
  async root(e: SourceEntry): Promise<void> {
    if (this.#stack.length) throw new FloeError("source yielded the root twice");
    await this.#push("/", e);
  }

  /**
   * Makes `dir` the current directory: closes the directories the walk has left and opens those on the
   * way down that the source did not yield (a source may start below the root).
   */
  async walkTo(dir: string): Promise<void> {
    const stack = this.#stack;
    if (!stack.length) await this.#push("/", null);
    while (stack[stack.length - 1].path !== dir) {
      const top = stack[stack.length - 1];
      if (top.path === "/" || dir.startsWith(top.path + "/")) {
        const rest = dir.slice(top.path === "/" ? 1 : top.path.length + 1);
        const next = (top.path === "/" ? "" : top.path) + "/" + rest.split("/")[0];
        await this.#push(next, null);
      } else {
        this.#close(stack.pop()!);
      }
    }
  }

  /** Opens directory entry `e` (a child of the current directory) as the current directory. */
  async enter(e: SourceEntry): Promise<void> {
    await this.#push(e.path, e);
  }

  /** The parent snapshot's node named `name` in the current directory. */
  old(name: string): Node | undefined {
    return this.#stack[this.#stack.length - 1].oldTree?.get(name);
  }

  /** Adds a node to the current directory. */
  add(node: Slot): void {
    this.#stack[this.#stack.length - 1].nodes.push(node);
  }

  /** Closes every open directory; resolves to the root tree's id once every tree is stored. */
  async finish(): Promise<string> {
    if (!this.#stack.length) await this.#push("/", null);
    while (this.#stack.length) this.#close(this.#stack.pop()!);
    return (await this.#root!).subtree!;
  }

  /** New trees not yet cached in the catalog, as [id, JSON] rows (for the snapshot's transaction). */
  get newTrees(): readonly [string, string][] {
    return this.#newTrees;
  }

  async #push(path: string, entry: SourceEntry | null): Promise<void> {
    const { catalog, parentRoot, state } = this.#options;
    const top = this.#stack[this.#stack.length - 1];
    const name = path === "/" ? "/" : baseName(path);
    const old = path === "/"
      ? (parentRoot ? { name: "/", type: "dir" as const, mode: 0, mtime: 0, subtree: parentRoot } : undefined)
      : top?.oldTree?.get(name);
    if (path === "/" && parentRoot && !catalog.hasBlob(parentRoot)) this.#missingOld.add(parentRoot);
    const oldTree = old?.type === "dir" ? await this.#loadOld(old.subtree) : null;
    let attributes: Node | undefined;
    if (entry?.attributes) {
      withAttributes(attributes = { name, type: "dir", mode: 0, mtime: 0 }, entry, old, state.warn);
    }
    this.#stack.push({ path, name, entry, old, oldTree, nodes: [], attributes });
  }

  #close(frame: Frame): void {
    const p = this.#finalize(frame);
    p.catch(this.#options.state.fail);
    const parent = this.#stack[this.#stack.length - 1];
    if (parent) parent.nodes.push(p);
    else this.#root = p;
  }

  async #loadOld(subtree: string | undefined): Promise<Map<string, Node> | null> {
    if (!subtree) return null;
    const { catalog, trees, signal } = this.#options;
    const t = await trees.load(subtree, signal);
    if (!catalog.isComplete(subtree)) {
      const ids: string[] = [];
      for (const n of t.nodes) {
        if (n.content) { for (const id of n.content) ids.push(id); }
        if (n.subtree) ids.push(n.subtree);
      }
      for (const id of catalog.missingBlobs(ids)) this.#missingOld.add(id);
    }
    return new Map(t.nodes.map((n) => [n.name, n]));
  }

  async #finalize(frame: Frame): Promise<Node> {
    const { repo, store, state } = this.#options;
    const nodes: Node[] = [];
    for (const n of await Promise.all(frame.nodes)) if (n) nodes.push(n);
    nodes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let id: string;
    if (
      frame.old?.subtree && frame.oldTree && this.stored(frame.old.subtree) && sameNodes(nodes, frame.oldTree)
    ) {
      id = frame.old.subtree; // byte-identical tree: no need to serialize and hash it again
    } else {
      const json = JSON.stringify(
        (nodes.some(isFine) ? { version: TREE_VERSION, nodes } : { nodes }) satisfies Tree,
      );
      const bytes = utf8(json);
      id = repo.hasher.id(bytes);
      if (!store.known(id)) {
        await store.save("tree", bytes, id);
        this.#cache(id, json);
      }
    }
    this.treeIds.push(id);
    const node: Node = frame.entry
      ? nodeOf(frame.entry, frame.name)
      : { name: frame.name, type: "dir", mode: 0o755, mtime: 0 };
    if (frame.attributes?.xattrs) node.xattrs = frame.attributes.xattrs;
    if (frame.attributes?.flags !== undefined) node.flags = frame.attributes.flags;
    node.subtree = id;
    const s = state.summary;
    if (!frame.old) s.dirs_new++;
    else if (frame.old.subtree === id) s.dirs_unmodified++;
    else s.dirs_changed++;
    return node;
  }

  /** Keeps a new tree's JSON for the catalog's tree cache, written in batches of {@link TREE_FLUSH}. */
  #cache(id: string, json: string): void {
    this.#newTrees.push([id, json]);
    this.#newTreeChars += json.length;
    if (this.#newTreeChars < TREE_FLUSH) return;
    const batch = this.#newTrees;
    this.#newTrees = [];
    this.#newTreeChars = 0;
    this.#options.catalog.transaction(() => {
      for (const [id, json] of batch) this.#options.catalog.putTree(id, json);
    });
  }
}
