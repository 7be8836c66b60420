/**
 * Reads a snapshot's trees from the catalog while the repository's key is still being derived: the
 * catalog's texts, in the order a backup walks them, up to a budget. Nothing read here is trusted yet —
 * the catalog is a file any process of the user can edit — so `cachedTree` (trees.ts) hands a tree out
 * only after its text hashes to its keyed id, which needs the key, and parses it only then.
 *
 * Why: an unchanged re-backup is mostly the walk and the parent's trees. The walk already runs during the
 * key derivation (`scan_ahead.ts`) and usually ends before it; the trees were read after it, ~65 ms of
 * SQLite reads for 30,000 files, on a thread that had just been idle.
 *
 * Texts, not parsed trees: the trees of 30,000 files parsed ahead are tens of MiB of small objects that
 * all survive, which V8's young generation copies on each collection (GC pauses 34 → 74 ms) and which
 * every page of costs a fresh page (peak RSS 211 → 193 MiB held as texts). Parsed when the backup
 * takes them, they die young. The subtrees to read next are found in the text.
 *
 * @example
 * ```ts
 * import { TreeReadAhead } from "./tree_read_ahead.ts";
 * // const ahead = new TreeReadAhead(catalog, parentRoot);   // before the key
 * // … const loader = new TreeLoader(repo, catalog, { readAhead: ahead }); …
 * // ahead.stop();
 * ```
 * @module
 */
import type { Catalog } from "./catalog/catalog.ts";
import { nextTurn } from "./event_loop.ts";

/** Options of {@link TreeReadAhead}. */
export interface Options {
  /** Characters of tree text held at most (unverified trees waiting for the backup to take them). */
  maxChars?: number;
  /** Milliseconds of reading before a turn of the event loop (the key's derivation ends in one). */
  sliceMs?: number;
  /**
   * Reading starts once this settles (the early walk of the source, which goes first: at scale it fills
   * the wait for the key by itself, and then nothing is read ahead and held).
   */
  after?: Promise<unknown>;
}

/** Defaults of {@link TreeReadAhead}: 16 Mi characters are the trees of ~40,000 files with fidelity. */
export const defaults: Required<Omit<Options, "after">> = { maxChars: 16 << 20, sliceMs: 4 };

/** Reads the trees below `root` from the catalog, depth first in node order, in slices; see the module doc. */
export class TreeReadAhead {
  readonly #catalog: Catalog;
  readonly #options: Required<Omit<Options, "after">>;
  /** Tree texts by id, unverified. */
  readonly #held = new Map<string, string>();
  #chars = 0;
  #stopped = false;
  /** Subtrees still to read, the next one last. */
  readonly #todo: string[];

  /** Starts reading (the first slice runs after the current task, or once `options.after` settles). */
  constructor(catalog: Catalog, root: string, options: Options = {}) {
    this.#catalog = catalog;
    const { after, ...rest } = options;
    this.#options = { ...defaults, ...rest };
    this.#todo = [root];
    (after ?? Promise.resolve()).then(nextTurn, nextTurn).then(() => this.#run());
  }

  /** Trees held now (for tests and the bench). */
  get size(): number {
    return this.#held.size;
  }

  /** The text of tree `id` (unverified) if it was read ahead; it is handed out once (and then no longer held). */
  take(id: string): string | undefined {
    const json = this.#held.get(id);
    if (json === undefined) return undefined;
    this.#held.delete(id);
    this.#chars -= json.length;
    return json;
  }

  /**
   * Stops reading; what is held stays until taken or {@link close}d. A backup calls it as it starts: from
   * then on the thread is busy and the backup reads what it needs itself.
   */
  stop(): void {
    this.#stopped = true;
    this.#todo.length = 0;
  }

  /** Stops reading and lets go of what is held. */
  close(): void {
    this.stop();
    this.#held.clear();
    this.#chars = 0;
  }

  async #run(): Promise<void> {
    const { maxChars, sliceMs } = this.#options;
    while (!this.#stopped && this.#todo.length && this.#chars < maxChars) {
      const until = performance.now() + sliceMs;
      while (!this.#stopped && this.#todo.length && this.#chars < maxChars && performance.now() < until) {
        this.#readOne(this.#todo.pop()!);
      }
      await nextTurn();
    }
  }

  #readOne(id: string): void {
    if (this.#held.has(id)) return;
    let json: string | undefined;
    try {
      json = this.#catalog.getTreeJson(id);
      // A lone surrogate would not survive the UTF-8 encoding the verification hashes: such a text is
      // left to cachedTree, which decides on its bytes.
      if (json === undefined || !json.isWellFormed()) return;
    } catch {
      return; // the backup reads it again and reports what is wrong with it
    }
    this.#held.set(id, json);
    this.#chars += json.length;
    const subs: string[] = [];
    for (const m of json.matchAll(SUBTREE)) subs.push(m[1]);
    for (let i = subs.length - 1; i >= 0; i--) this.#todo.push(subs[i]);
  }
}

/**
 * A subtree reference in a tree's JSON. A name or value that contains this text is escaped in JSON (`\"`),
 * so only a node's own field matches; a false match would only read one more text, which nothing trusts.
 */
const SUBTREE = /"subtree":"([^"\\]+)"/g;
