/**
 * The engine: one object per open repository, with the operations the CLI and the HTTP server call.
 * It never prints and never exits; long operations take an AbortSignal and emit {@link EngineEvent}s.
 *
 * @example
 * ```ts
 * import { Engine } from "./engine.ts";
 * const engine = await Engine.open({ location: "/srv/repo", password: "pw" });
 * const snapshots = engine.snapshots();
 * engine.close();
 * ```
 * @module
 */
import type { SourcePlugin, StoragePlugin } from "./contracts.ts";
import { Catalog, type CatalogSnapshot } from "./catalog/catalog.ts";
import { syncCatalog } from "./catalog/sync.ts";
import { ExitCode, FloeError } from "./errors.ts";
import type { EngineEvent } from "./events.ts";
import { type InitOptions, Repository, type TrustedTransforms } from "./repository/repository.ts";
import { acquireLock, type LockOptions, removeLocks } from "./repository/locks.ts";
import { backup, type BackupOptions, type BackupResult } from "./archiver/archiver.ts";
import { restore, type RestoreOptions, type RestoreResult } from "./restorer/restorer.ts";
import { TreeLoader } from "./trees.ts";
import type { Node } from "./repository/types.ts";
import { openLocation, type StorageOpenOptions } from "./registry.ts";
export type { StorageOpenOptions } from "./registry.ts";

/** Options of {@link Engine.open} and {@link Engine.init}. */
export interface OpenOptions {
  /** Repository location (path, file://, s3:, swift:, sftp:); several make a mirror. */
  location?: string | readonly string[];
  /** Connection and bandwidth bounds, retry settings (with `location`). */
  storageOptions?: StorageOpenOptions;
  /** A storage already built (instead of `location`). */
  storage?: StoragePlugin;
  /** The password. */
  password: string;
  /** Catalog file (default: under the user's cache directory, per repository). */
  catalogPath?: string;
  /** Progress and warnings. */
  onEvent?: (e: EngineEvent) => void;
  /**
   * Third-party transforms the repository may use, id → module specifier, chosen by the caller (never
   * read from the repository): see {@link Repository.open}.
   */
  transforms?: TrustedTransforms;
}

/** Where floe keeps its per-user cache. */
export function cacheDir(): string {
  const env = Deno.env.get("FLOE_CACHE_DIR");
  if (env) return env;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME") ?? "/tmp";
  return `${xdg || `${home}/.cache`}/floe`;
}

/**
 * Builds the storage for a location string — or a mirror for several — wrapped in `retry` when remote
 * and in `limit` when `options` bound connections or bandwidth (see plugins/storage/open.ts).
 */
export async function openStorage(
  location: string | readonly string[],
  options: StorageOpenOptions = {},
): Promise<StoragePlugin> {
  return await openLocation(location, options);
}

/** Which snapshots `latest` and `--as-of` consider. */
export interface SnapshotFilter {
  /** Only this host. */
  host?: string;
  /** Only snapshots with exactly these paths. */
  paths?: string[];
  /** Only snapshots with all these tags. */
  tags?: string[];
}

/** An entry of `ls`. */
export interface ListEntry {
  /** Absolute path inside the snapshot. */
  path: string;
  /** The node. */
  node: Node;
}

/** An open repository with its catalog. */
export class Engine {
  /** The repository. */
  readonly repo: Repository;
  /** The catalog. */
  readonly catalog: Catalog;
  /** Tree loader. */
  readonly trees: TreeLoader;
  readonly #onEvent?: (e: EngineEvent) => void;

  private constructor(repo: Repository, catalog: Catalog, onEvent?: (e: EngineEvent) => void) {
    this.repo = repo;
    this.catalog = catalog;
    this.trees = new TreeLoader(repo, catalog, { onEvent });
    this.#onEvent = onEvent;
  }

  static async #storage(options: OpenOptions): Promise<StoragePlugin> {
    if (options.storage) return options.storage;
    if (!options.location) {
      throw new FloeError("no repository given: use --repo or FLOE_REPOSITORY", ExitCode.Usage);
    }
    return await openStorage(options.location, options.storageOptions);
  }

  static #catalog(repo: Repository, options: OpenOptions): Catalog {
    return Catalog.open(options.catalogPath ?? `${cacheDir()}/${repo.id}/catalog.db`);
  }

  /** Creates a repository and opens it. */
  static async init(options: OpenOptions & InitOptions): Promise<Engine> {
    const storage = await Engine.#storage(options);
    const repo = await Repository.init(storage, options.password, options);
    const catalog = Engine.#catalog(repo, options);
    await syncCatalog(repo, catalog);
    return new Engine(repo, catalog, options.onEvent);
  }

  /** Opens a repository and brings its catalog up to date. */
  static async open(options: OpenOptions): Promise<Engine> {
    const storage = await Engine.#storage(options);
    const repo = await Repository.open(storage, options.password, { transforms: options.transforms });
    const catalog = Engine.#catalog(repo, options);
    await syncCatalog(repo, catalog, { onEvent: options.onEvent });
    return new Engine(repo, catalog, options.onEvent);
  }

  /** Releases the catalog and storage connections. */
  async close(): Promise<void> {
    this.catalog.close();
    await this.repo.storage.close?.();
  }

  /** Re-reads everything from the repository into an empty catalog. */
  async rebuildCatalog(): Promise<void> {
    this.catalog.transaction(() => {
      this.catalog.clearIndex();
      for (const id of this.catalog.snapshotIds()) this.catalog.removeSnapshot(id);
      this.catalog.db.exec("DELETE FROM trees");
    });
    await syncCatalog(this.repo, this.catalog, { onEvent: this.#onEvent });
    for (const s of this.catalog.snapshots()) await this.#walkTrees(s.snapshot.tree, new Set());
  }

  async #walkTrees(id: string, seen: Set<string>): Promise<void> {
    if (seen.has(id)) return;
    seen.add(id);
    const tree = await this.trees.load(id);
    for (const n of tree.nodes) if (n.type === "dir" && n.subtree) await this.#walkTrees(n.subtree, seen);
  }

  /**
   * Runs a backup of `source` under a shared lock; `lockOptions` sets that lock's timing (tests shorten
   * its stale period). A run whose lock went stale writes no snapshot (see `Lock.assertFresh` in core/repository/locks.ts).
   */
  async backup(
    source: SourcePlugin,
    options: Omit<BackupOptions, "repo" | "catalog" | "source" | "lock"> & { lockOptions?: LockOptions } = {},
  ): Promise<BackupResult> {
    const { lockOptions, ...rest } = options;
    const lock = await acquireLock(this.repo, { ...lockOptions, exclusive: false, purpose: "backup" });
    try {
      // Sync again under the lock: a concurrent prune then either sees this lock or has already removed
      // the index entries of the packs it drops (see "Prune and concurrent writers" in the format doc).
      await syncCatalog(this.repo, this.catalog, { onEvent: this.#onEvent });
      const result = await backup({
        ...rest,
        lock,
        repo: this.repo,
        catalog: this.catalog,
        source,
        onEvent: this.#onEvent,
      });
      const { indexMarkedBlobs } = await import("./prune.ts");
      await indexMarkedBlobs(this.repo, this.catalog, [result.snapshot.tree], this.#onEvent);
      return result;
    } finally {
      await lock.release();
    }
  }

  /** Reclaims unused packs and repacks mostly-unused ones (see core/prune.ts). */
  async prune(
    options: Omit<import("./prune.ts").PruneOptions, "repo" | "catalog"> = {},
  ): Promise<import("./prune.ts").PruneResult> {
    const { prune } = await import("./prune.ts");
    return await prune({ onEvent: this.#onEvent, ...options, repo: this.repo, catalog: this.catalog });
  }

  /** Restores a snapshot. */
  async restore(options: Omit<RestoreOptions, "repo" | "catalog">): Promise<RestoreResult> {
    return await restore({ ...options, repo: this.repo, catalog: this.catalog, onEvent: this.#onEvent });
  }

  /** Snapshots, oldest first, optionally filtered. */
  snapshots(filter: SnapshotFilter = {}): CatalogSnapshot[] {
    const paths = filter.paths?.length ? JSON.stringify([...filter.paths].sort()) : undefined;
    return this.catalog.snapshots().filter(({ snapshot: s }) =>
      (!filter.host || s.host === filter.host) &&
      (!paths || JSON.stringify([...s.paths].sort()) === paths) &&
      (!filter.tags?.length || filter.tags.every((t) => s.tags.includes(t)))
    );
  }

  /**
   * Resolves `latest`, a full id or an unambiguous prefix. With `asOf`, `latest` means the newest snapshot
   * taken at or before that time.
   */
  resolveSnapshot(spec: string, options: SnapshotFilter & { asOf?: Date } = {}): CatalogSnapshot {
    if (spec === "latest") {
      let list = this.snapshots(options);
      if (options.asOf) list = list.filter((s) => s.timeMs <= options.asOf!.getTime());
      if (!list.length) {
        throw new FloeError(
          options.asOf
            ? `no snapshot was taken at or before ${options.asOf.toISOString()}`
            : "no snapshot matches (the repository has none yet?)",
        );
      }
      return list[list.length - 1];
    }
    if (!/^[0-9a-f]{1,64}$/.test(spec)) {
      throw new FloeError(`'${spec}' is not a snapshot id, a prefix of one, or 'latest'`);
    }
    const matches = this.catalog.snapshots().filter((s) => s.id.startsWith(spec));
    if (!matches.length) throw new FloeError(`no snapshot '${spec}'`);
    if (matches.length > 1) {
      throw new FloeError(`snapshot id '${spec}' is ambiguous (${matches.length} snapshots start with it)`);
    }
    return matches[0];
  }

  /** Walks a snapshot (or a subtree) in pre-order. */
  async *ls(
    snapshot: CatalogSnapshot,
    path = "/",
    options: { recursive?: boolean } = {},
  ): AsyncIterable<ListEntry> {
    const start = await this.trees.find(snapshot.snapshot.tree, path);
    if (!start) throw new FloeError(`path ${path} is not in snapshot ${snapshot.id.slice(0, 8)}`);
    const base = "/" + path.split("/").filter(Boolean).join("/");
    if (start.type !== "dir") {
      yield { path: base, node: start };
      return;
    }
    const recursive = options.recursive ?? true;
    const walk = async function* (self: Engine, id: string, prefix: string): AsyncIterable<ListEntry> {
      const tree = await self.trees.load(id);
      for (const n of tree.nodes) {
        const p = prefix === "/" ? `/${n.name}` : `${prefix}/${n.name}`;
        yield { path: p, node: n };
        if (recursive && n.type === "dir" && n.subtree) yield* walk(self, n.subtree, p);
      }
    };
    yield* walk(this, start.subtree!, base);
  }

  /** Reads a file's content blob by blob. */
  async *readFile(node: Node, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    for (const id of node.content ?? []) {
      const entry = this.catalog.lookupBlob(id);
      if (!entry) throw new FloeError(`blob ${id.slice(0, 12)} is not in the index`);
      yield await this.repo.loadBlob(entry, signal);
    }
  }

  /** Removes stale locks (or all). */
  async unlock(all = false): Promise<number> {
    return await removeLocks(this.repo, all);
  }
}

export type { BackupResult, RestoreResult };
