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
import type { RestoreEntry, SourcePlugin, StoragePlugin } from "./contracts.ts";
import { Catalog, type CatalogSnapshot } from "./catalog/catalog.ts";
import { syncCatalog } from "./catalog/sync.ts";
import { FloeError } from "./errors.ts";
import type { EngineEvent, StepEvent } from "./events.ts";
import { operate, type OperationOptions } from "./operation.ts";
import type { ScanningSource } from "./scan_ahead.ts";
import { checkMirrorInit, mirrorMembers, syncMirrors, type SyncResult } from "./mirrors.ts";
import type { CheckOptions, CheckReport } from "./checker.ts";
import type {
  RepairIndexOptions,
  RepairIndexResult,
  RepairSnapshotsOptions,
  RepairSnapshotsResult,
} from "./repair.ts";
import type { PruneResult, PruneSettings } from "./prune.ts";
import type { FindMatch, FindOptions } from "./find.ts";
import type { Change } from "./diff.ts";
import type { Stats, StatsMode } from "./stats.ts";
import type { Dump } from "./dump.ts";
import { decideForget, type ForgetOptions, type ForgetResult } from "./forget.ts";
import { fromUtf8 } from "./encoding.ts";
import { picked, restoreEntries } from "./restore_entries.ts";
import { type InitOptions, Repository, type TrustedTransforms } from "./repository/repository.ts";
import { acquireLock, type LockOptions, removeLocks } from "./repository/locks.ts";
import { backup, type BackupResult, type BackupSettings, findParent } from "./archiver/archiver.ts";
import { restore, type RestoreResult, type RestoreSettings } from "./restorer/restorer.ts";
import { TreeLoader } from "./trees.ts";
import { TreeReadAhead } from "./tree_read_ahead.ts";
import type { Node } from "./repository/types.ts";
import { openLocation, type StorageOpenOptions } from "./registry.ts";
export type { StorageOpenOptions } from "./registry.ts";
export type { OperationOptions } from "./operation.ts";

/** A key file as `key list` shows it. */
export interface KeyInfo {
  /** The key file's id. */
  id: string;
  /** When it was added. */
  created: string;
  /** Who added it. */
  host: string;
  /** Who added it. */
  username: string;
  /** Its key derivation function, or `damaged`. */
  kdf: string;
  /** Whether it opened this engine. */
  current: boolean;
}

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
  /** Events of opening (the catalog's sync), and of every later call that passes no `onEvent` of its own. */
  onEvent?: (e: EngineEvent) => void;
  /**
   * Third-party transforms the repository may use, id → module specifier, chosen by the caller (never
   * read from the repository): see {@link Repository.open}.
   */
  transforms?: TrustedTransforms;
  /**
   * The backup this engine is opened for (its host and paths): as soon as the repository's config is read,
   * the catalog opens and the trees of that backup's likely parent are read while the key is derived (see
   * `tree_read_ahead.ts`); the next {@link Engine.backup} uses them.
   */
  readAheadFor?: { host: string; paths: readonly string[]; after?: Promise<unknown> };
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

/** The parts of an engine the core's own modules work on; not part of the public API (see {@link internals}). */
export interface EngineParts {
  /** The unlocked repository. */
  repo: Repository;
  /** Its catalog. */
  catalog: Catalog;
  /** Tree loader over both. */
  trees: TreeLoader;
}

let partsOf: (engine: Engine) => EngineParts;

/**
 * The repository, catalog and tree loader behind an engine, for the core's own modules (checker, stats,
 * repair) and tests. mod.ts does not export it: front ends call the engine's operations.
 *
 * @example
 * ```ts
 * import { type Engine, internals } from "./engine.ts";
 * declare const engine: Engine;
 * const { repo } = internals(engine);
 * ```
 */
export function internals(engine: Engine): EngineParts {
  return partsOf(engine);
}

/** The repository's identity and settings, as `init` and `cat config` show them. */
export interface RepositoryInfo {
  /** The repository id (64 hex). */
  id: string;
  /** Where it is stored (secrets masked). */
  location: string;
  /** The locations of a mirror's storages. */
  mirrors: string[];
  /** The cipher. */
  cipher: string;
  /** The compression and its level. */
  compression: string;
  /** The id of the key file that opened it. */
  keyId: string;
}

/** An open repository with its catalog: every operation the CLI and the HTTP server call. */
export class Engine {
  readonly #repo: Repository;
  readonly #catalog: Catalog;
  readonly #trees: TreeLoader;
  readonly #onEvent?: (e: EngineEvent) => void;
  #readAhead: TreeReadAhead | null;

  static {
    partsOf = (e) => ({ repo: e.#repo, catalog: e.#catalog, trees: e.#trees });
  }

  private constructor(
    repo: Repository,
    catalog: Catalog,
    onEvent?: (e: EngineEvent) => void,
    readAhead: TreeReadAhead | null = null,
  ) {
    this.#repo = repo;
    this.#catalog = catalog;
    this.#trees = new TreeLoader(repo, catalog, { onEvent: (e) => this.#stepWarning(e) });
    this.#onEvent = onEvent;
    this.#readAhead = readAhead;
  }

  #stepWarning(e: StepEvent): void {
    if (e.type === "warning") {
      this.#onEvent?.({
        run: "engine",
        op: "open",
        time: Date.now(),
        type: "warning",
        path: e.path,
        message: e.message,
      });
    }
  }

  /** The call's options with the engine's default event handler when the call brings none. */
  #call(call: OperationOptions): OperationOptions {
    return call.onEvent || !this.#onEvent ? call : { ...call, onEvent: this.#onEvent };
  }

  static async #storage(options: OpenOptions): Promise<StoragePlugin> {
    if (options.storage) return options.storage;
    if (!options.location) {
      throw new FloeError("no repository given: use --repo or FLOE_REPOSITORY", "usage");
    }
    return await openStorage(options.location, options.storageOptions);
  }

  static #catalogPath(id: string, options: OpenOptions): string {
    return options.catalogPath ?? `${cacheDir()}/${id}/catalog.db`;
  }

  static #openCatalog(repo: Repository, options: OpenOptions): Catalog {
    return Catalog.open(Engine.#catalogPath(repo.id, options));
  }

  /**
   * Creates a repository and opens it. A mirror is created on all its storages, and refused when only some
   * of them hold a repository already (`mirrorSync` copies it there).
   */
  static async init(options: OpenOptions & InitOptions & OperationOptions): Promise<Engine> {
    const storage = await Engine.#storage(options);
    try {
      return await operate("init", options, async (ctx) => {
        await checkMirrorInit(storage);
        const repo = await Repository.init(storage, options.password, options);
        const catalog = Engine.#openCatalog(repo, options);
        await syncCatalog(repo, catalog, { onEvent: ctx.step });
        return new Engine(repo, catalog, options.onEvent);
      }, (e) => ({ id: e.#repo.id, location: storage.location }));
    } catch (e) {
      if (!options.storage) await storage.close?.().catch(() => {});
      throw e;
    }
  }

  /** Opens a repository and brings its catalog up to date. */
  static async open(options: OpenOptions & OperationOptions): Promise<Engine> {
    const storage = await Engine.#storage(options);
    try {
      return await operate("open", options, async (ctx) => {
        const early: { catalog?: Catalog; ahead?: TreeReadAhead } = {};
        const onConfig = options.readAheadFor
          ? (config: { id: string }) => Object.assign(early, Engine.#openReadAhead(config.id, options))
          : undefined;
        try {
          const repo = await Repository.open(storage, options.password, {
            transforms: options.transforms,
            onConfig,
          });
          const catalog = early.catalog ?? Engine.#openCatalog(repo, options);
          await syncCatalog(repo, catalog, { onEvent: ctx.step });
          return new Engine(repo, catalog, options.onEvent, early.ahead);
        } catch (e) {
          early.ahead?.close();
          early.catalog?.close();
          throw e;
        }
      });
    } catch (e) {
      if (!options.storage) await storage.close?.().catch(() => {});
      throw e;
    }
  }

  /**
   * The catalog of repository `id` opened before its key is known, and the read-ahead of the trees of the
   * parent that a backup of `options.readAheadFor` would pick from it now; nothing when the catalog does
   * not exist yet (a first backup has no parent) or does not open (the normal open then reports why).
   */
  static #openReadAhead(id: string, options: OpenOptions): { catalog?: Catalog; ahead?: TreeReadAhead } {
    const path = Engine.#catalogPath(id, options);
    const { host, paths, after } = options.readAheadFor!;
    let catalog: Catalog | undefined;
    try {
      if (path === ":memory:") return {};
      Deno.statSync(path); // throws when there is no catalog yet (then there is no parent either)
      catalog = Catalog.open(path);
      const root = findParent(catalog, host, paths)?.snapshot.tree;
      return { catalog, ahead: root ? new TreeReadAhead(catalog, root, { after }) : undefined };
    } catch {
      catalog?.close();
      return {};
    }
  }

  /** The repository's identity and settings. */
  get info(): RepositoryInfo {
    const repo = this.#repo;
    const level = repo.settings.compressionLevel;
    return {
      id: repo.id,
      location: repo.storage.location,
      mirrors: (mirrorMembers(repo.storage) ?? []).map((s) => s.location),
      cipher: repo.config.cipher,
      compression: repo.settings.compression + (level !== undefined ? ` (level ${level})` : ""),
      keyId: repo.keyId,
    };
  }

  /** Releases the catalog and storage connections. */
  async close(): Promise<void> {
    this.#readAhead?.close();
    this.#readAhead = null;
    this.#catalog.close();
    await this.#repo.storage.close?.();
  }

  /** Re-reads everything from the repository into an empty catalog. */
  async rebuildCatalog(
    call: OperationOptions = {},
  ): Promise<{ snapshots: number; blobs: number; packs: number }> {
    return await operate("catalog-rebuild", this.#call(call), async (ctx) => {
      this.#catalog.transaction(() => {
        this.#catalog.clearIndex();
        for (const id of this.#catalog.snapshotIds()) this.#catalog.removeSnapshot(id);
        this.#catalog.clearTrees();
      });
      await syncCatalog(this.#repo, this.#catalog, { onEvent: ctx.step });
      const seen = new Set<string>();
      for (const s of this.#catalog.snapshots()) await this.#walkTrees(s.snapshot.tree, seen, call.signal);
      const { blobs, packs } = this.#catalog.indexStats();
      return { snapshots: this.#catalog.snapshots().length, blobs, packs };
    }, (r) => ({ ...r }));
  }

  async #walkTrees(id: string, seen: Set<string>, signal?: AbortSignal): Promise<void> {
    if (seen.has(id)) return;
    seen.add(id);
    const tree = await this.#trees.load(id, signal);
    for (const n of tree.nodes) {
      if (n.type === "dir" && n.subtree) await this.#walkTrees(n.subtree, seen, signal);
    }
  }

  /**
   * Backs up `source` under a shared lock; `lockOptions` sets that lock's timing (tests shorten its stale
   * period). A run whose lock went stale writes no snapshot (see `Lock.assertFresh` in
   * core/repository/locks.ts); a cancelled run records nothing. Progress carries the files and bytes found
   * so far by a scan running ahead (core/scan_ahead.ts) as totals.
   */
  async backup(
    source: SourcePlugin,
    options: BackupSettings & OperationOptions & {
      lockOptions?: LockOptions;
    } = {},
  ): Promise<BackupResult> {
    const { lockOptions, onEvent: _o, run: _r, ...rest } = options;
    return await operate("backup", this.#call(options), async (ctx) => {
      const scanned = (source as Partial<ScanningSource>).scanned;
      if (scanned) ctx.totals(() => ({ filesTotal: scanned().files, bytesTotal: scanned().bytes }));
      const lock = await acquireLock(this.#repo, { ...lockOptions, exclusive: false, purpose: "backup" });
      try {
        // Sync again under the lock: a concurrent prune then either sees this lock or has already removed
        // the index entries of the packs it drops (see "Prune and concurrent writers" in the format doc).
        await syncCatalog(this.#repo, this.#catalog, { onEvent: ctx.step });
        // From here the thread is busy: the backup reads what it needs itself, taking what was read ahead.
        this.#readAhead?.stop();
        const result = await backup({
          ...rest,
          lock,
          repo: this.#repo,
          catalog: this.#catalog,
          source,
          readAhead: this.#readAhead ?? undefined,
          onEvent: ctx.step,
        });
        const { indexMarkedBlobs } = await import("./prune.ts");
        await indexMarkedBlobs(this.#repo, this.#catalog, [result.snapshot.tree], ctx.step);
        return result;
      } finally {
        this.#readAhead?.close();
        this.#readAhead = null;
        await lock.release();
      }
    }, (r) => ({ snapshot_id: r.snapshotId, warnings: r.warnings.length, ...r.snapshot.summary }));
  }

  /** Reclaims unused packs and repacks mostly-unused ones (see core/prune.ts). */
  async prune(
    options: PruneSettings & OperationOptions = {},
  ): Promise<PruneResult> {
    const { onEvent: _o, run: _r, ...rest } = options;
    return await operate("prune", this.#call(options), async (ctx) => {
      const { prune } = await import("./prune.ts");
      return await prune({ ...rest, onEvent: ctx.step, repo: this.#repo, catalog: this.#catalog });
    }, (r) => ({ deleted: r.deleted, repacked: r.repacked, dry_run: r.dryRun }));
  }

  /**
   * Restores a snapshot (an id, a prefix, `latest`, or one {@link resolveSnapshot} gave). Goes on past
   * damage: what could not be restored exactly is listed in the result's `incomplete`.
   */
  async restore(
    options: RestoreSettings & OperationOptions & {
      snapshot: CatalogSnapshot | string;
    },
  ): Promise<RestoreResult> {
    const { onEvent: _o, run: _r, ...rest } = options;
    const snapshot = typeof options.snapshot === "string"
      ? this.resolveSnapshot(options.snapshot)
      : options.snapshot;
    return await operate("restore", this.#call(options), async (ctx) => {
      const whole = !options.subpath && !options.include?.length && !options.exclude?.length;
      const summary = snapshot.snapshot.summary;
      if (whole && summary) {
        ctx.totals(() => ({
          filesTotal: summary.total_files_processed,
          bytesTotal: summary.total_bytes_processed,
        }));
      }
      return await restore({
        ...rest,
        snapshot,
        repo: this.#repo,
        catalog: this.#catalog,
        onEvent: ctx.step,
      });
    }, (r) => ({
      snapshot_id: snapshot.id,
      files: r.files,
      bytes: r.bytes,
      skipped: r.skipped,
      incomplete: r.incomplete.length,
    }));
  }

  /**
   * The entries of a snapshot (or of `path` in it), in pre-order, with their content: what a source's
   * `restore()` takes (see core/restore_entries.ts).
   */
  restoreEntries(snapshot: CatalogSnapshot, path = "/", signal?: AbortSignal): AsyncIterable<RestoreEntry> {
    return restoreEntries(this, snapshot, path, signal);
  }

  /**
   * Restores a snapshot (or `path` in it) into the source's own kind of place — a database, a bucket — by
   * handing its entries to `source.restore()`. Warnings are events; the result counts them. `include` and
   * `exclude` pick files by restic's globs, as for a restore into a directory (`--include shop.sql`
   * restores one database of a mysql snapshot).
   */
  async restoreInto(
    source: SourcePlugin,
    options: OperationOptions & {
      snapshot: CatalogSnapshot | string;
      path?: string;
      include?: string[];
      exclude?: string[];
    },
  ): Promise<{ snapshotId: string; warnings: { path: string; message: string }[] }> {
    if (typeof source.restore !== "function") {
      throw new FloeError(`the ${source.name} source cannot restore into its own kind of place`, "usage");
    }
    const snapshot = typeof options.snapshot === "string"
      ? this.resolveSnapshot(options.snapshot)
      : options.snapshot;
    return await operate("restore", this.#call(options), async (ctx) => {
      const warnings: { path: string; message: string }[] = [];
      const entries = this.restoreEntries(snapshot, options.path ?? "/", options.signal);
      await source.restore!(picked(entries, options.include ?? [], options.exclude ?? []), {
        signal: options.signal,
        warn: (w) => {
          warnings.push(w);
          ctx.step({ type: "warning", path: w.path, message: w.message });
        },
      });
      return { snapshotId: snapshot.id, warnings };
    }, (r) => ({ snapshot_id: r.snapshotId, warnings: r.warnings.length }));
  }

  /** Verifies the repository (see core/checker.ts); with `readData` or `subset`, its content too. */
  async check(options: CheckOptions & OperationOptions = {}): Promise<CheckReport> {
    return await operate("check", this.#call(options), async () => {
      const { check } = await import("./checker.ts");
      return await check(this, options);
    }, (r) => ({ problems: r.problems.length, snapshots: r.snapshots, packs: r.packs }));
  }

  /** Rebuilds the index from the pack headers (see core/repair.ts). */
  async repairIndex(
    options: Omit<RepairIndexOptions, "onEvent"> & OperationOptions = {},
  ): Promise<RepairIndexResult> {
    return await operate("repair-index", this.#call(options), async () => {
      const { repairIndex } = await import("./repair.ts");
      return await repairIndex(this, options);
    });
  }

  /** Writes repaired copies of snapshots that reference lost data (see core/repair.ts). */
  async repairSnapshots(
    options: Omit<RepairSnapshotsOptions, "onEvent"> & OperationOptions = {},
  ): Promise<RepairSnapshotsResult> {
    return await operate("repair-snapshots", this.#call(options), async () => {
      const { repairSnapshots } = await import("./repair.ts");
      return await repairSnapshots(this, options);
    });
  }

  /**
   * Removes snapshots — the ones named, or those a retention policy does not keep (restic's `--keep-*`
   * rules) — under a shared lock; with `prune`, then reclaims their space.
   */
  async forget(options: ForgetOptions & OperationOptions): Promise<ForgetResult> {
    return await operate("forget", this.#call(options), async (ctx) => {
      const decided = decideForget(this, options);
      if (!options.dryRun && decided.remove.length) {
        const lock = await acquireLock(this.#repo, { exclusive: false, purpose: "forget" });
        try {
          for (const r of decided.remove) {
            options.signal?.throwIfAborted();
            lock.assertFresh("the snapshots not yet removed are kept");
            await this.#repo.storage.delete(`snapshots/${r.id}`);
            this.#catalog.removeSnapshot(r.id);
          }
        } finally {
          await lock.release();
        }
      }
      let pruned: PruneResult | undefined;
      if (options.prune && !options.dryRun) {
        const { prune } = await import("./prune.ts");
        pruned = await prune({
          ...options.pruneOptions,
          signal: options.signal,
          onEvent: ctx.step,
          repo: this.#repo,
          catalog: this.#catalog,
        });
      }
      return { ...decided, dryRun: !!options.dryRun, pruned };
    }, (r) => ({ removed: r.remove.length, dry_run: r.dryRun }));
  }

  /**
   * Brings the catalog up to date with the repository (snapshots and index files other clients wrote since
   * it was opened): a long-lived engine, such as the server's, calls it now and then.
   */
  async refresh(call: OperationOptions = {}): Promise<void> {
    call.signal?.throwIfAborted();
    await syncCatalog(this.#repo, this.#catalog, { onEvent: (e) => this.#stepWarning(e) });
  }

  /**
   * A value that changes whenever the list of snapshots changes, cheap to read: lets a caller keep a
   * rendered snapshot list until it is stale.
   */
  snapshotState(): string {
    return JSON.stringify(
      this.#catalog.db.prepare("SELECT count(*), total(time_ms), min(id), max(id) FROM snapshots").get(),
    );
  }

  /** Snapshots, oldest first, optionally filtered. */
  snapshots(filter: SnapshotFilter = {}): CatalogSnapshot[] {
    const paths = filter.paths?.length ? JSON.stringify([...filter.paths].sort()) : undefined;
    return this.#catalog.snapshots().filter(({ snapshot: s }) =>
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
          "not-found",
        );
      }
      return list[list.length - 1];
    }
    if (!/^[0-9a-f]{1,64}$/.test(spec)) {
      throw new FloeError(`'${spec}' is not a snapshot id, a prefix of one, or 'latest'`, "usage");
    }
    const matches = this.#catalog.snapshots().filter((s) => s.id.startsWith(spec));
    if (!matches.length) throw new FloeError(`no snapshot '${spec}'`, "not-found");
    if (matches.length > 1) {
      throw new FloeError(
        `snapshot id '${spec}' is ambiguous (${matches.length} snapshots start with it)`,
        "usage",
      );
    }
    return matches[0];
  }

  /** The node at `path` in a snapshot, or a `not-found` error. */
  async node(snapshot: CatalogSnapshot, path: string, signal?: AbortSignal): Promise<Node> {
    signal?.throwIfAborted();
    const node = await this.#trees.find(snapshot.snapshot.tree, path);
    if (!node) throw new FloeError(`path ${path} is not in snapshot ${snapshot.id.slice(0, 8)}`, "not-found");
    return node;
  }

  /** Walks a snapshot (or a subtree) in pre-order; `recursive: false` lists one directory. */
  async *ls(
    snapshot: CatalogSnapshot,
    path = "/",
    options: { recursive?: boolean; signal?: AbortSignal } = {},
  ): AsyncIterable<ListEntry> {
    const start = await this.node(snapshot, path, options.signal);
    const base = "/" + path.split("/").filter(Boolean).join("/");
    if (start.type !== "dir") {
      yield { path: base, node: start };
      return;
    }
    const recursive = options.recursive ?? true;
    const trees = this.#trees;
    const walk = async function* (id: string, prefix: string): AsyncIterable<ListEntry> {
      const tree = await trees.load(id, options.signal);
      for (const n of tree.nodes) {
        const p = prefix === "/" ? `/${n.name}` : `${prefix}/${n.name}`;
        yield { path: p, node: n };
        if (recursive && n.type === "dir" && n.subtree) yield* walk(n.subtree, p);
      }
    };
    yield* walk(start.subtree!, base);
  }

  /** Reads a file's content blob by blob; a damaged or missing blob ends it with an error. */
  async *readFile(node: Node, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    for (const id of node.content ?? []) {
      const entry = this.#catalog.lookupBlob(id);
      if (!entry) throw new FloeError(`blob ${id.slice(0, 12)} is not in the index`, "integrity");
      yield await this.#repo.loadBlob(entry, signal);
    }
  }

  /**
   * A file's content, or a directory as a tar stream (see core/dump.ts). A damaged blob cuts the output
   * short with an error naming the file — it is never filled in.
   */
  async dump(snapshot: CatalogSnapshot, path: string, options: { signal?: AbortSignal } = {}): Promise<Dump> {
    const { dump } = await import("./dump.ts");
    return await dump(this, snapshot, path, options.signal);
  }

  /** Searches names or paths across snapshots (see core/find.ts). */
  async find(
    patterns: string[],
    options: FindOptions & { snapshots?: CatalogSnapshot[]; filter?: SnapshotFilter } = {},
  ): Promise<FindMatch[]> {
    const { find } = await import("./find.ts");
    return await find(this, options.snapshots ?? this.snapshots(options.filter), patterns, options);
  }

  /** What changed between two snapshots, entry by entry (see core/diff.ts). */
  async *diff(
    a: CatalogSnapshot,
    b: CatalogSnapshot,
    options: { signal?: AbortSignal } = {},
  ): AsyncIterable<Change> {
    const { diffTrees } = await import("./diff.ts");
    for await (const c of diffTrees(this.#trees, a.snapshot.tree, b.snapshot.tree)) {
      options.signal?.throwIfAborted();
      yield c;
    }
  }

  /** Restore size, deduplicated and stored sizes (see core/stats.ts). */
  async stats(
    snapshots: CatalogSnapshot[] = this.snapshots(),
    options: { mode?: StatsMode; signal?: AbortSignal } = {},
  ): Promise<Stats> {
    const { stats } = await import("./stats.ts");
    return await stats(this, snapshots, options.mode, options);
  }

  /** A decrypted repository object: `config` (with its sealed settings), a snapshot, an index file, a key file. */
  async cat(type: "config" | "snapshot" | "index" | "key", id = ""): Promise<unknown> {
    const repo = this.#repo;
    const unique = (ids: string[], what: string) => {
      const m = ids.filter((i) => i.startsWith(id));
      if (m.length === 1) return m[0];
      throw new FloeError(
        m.length ? `${what} id '${id}' is ambiguous` : `no ${what} '${id}'`,
        m.length ? "usage" : "not-found",
      );
    };
    if (type === "config") return { ...repo.config, settings: repo.settings };
    if (type === "snapshot") return await repo.loadSnapshot(this.resolveSnapshot(id).id);
    if (type === "index") return await repo.loadIndex(unique(await repo.listIds("index"), "index"));
    const name = unique(await repo.listIds("keys"), "key");
    const k = JSON.parse(fromUtf8(await repo.storage.get(`keys/${name}`)));
    return { ...k, data: "(sealed)" };
  }

  /** The key files, each marked `current` when it opened this engine. */
  async listKeys(): Promise<KeyInfo[]> {
    return (await this.#repo.listKeys()).map((k) => ({ ...k, current: k.id === this.#repo.keyId }));
  }

  /** Adds a key file for another password, under a shared lock; returns its id. */
  async addKey(password: string, kdf?: "scrypt" | "argon2id"): Promise<string> {
    return await this.#underLock("key add", () => this.#repo.addKey(password, kdf));
  }

  /** Removes a key file (not the one in use, not the last), under a shared lock. */
  async removeKey(id: string): Promise<void> {
    await this.#underLock("key remove", () => this.#repo.removeKey(id));
  }

  /** A new key for a new password, then the current key removed, under a shared lock; returns the new id. */
  async changePassword(password: string, kdf?: "scrypt" | "argon2id"): Promise<string> {
    return await this.#underLock("key passwd", async () => {
      const id = await this.#repo.addKey(password, kdf);
      await this.#repo.storage.delete(`keys/${this.#repo.keyId}`);
      return id;
    });
  }

  async #underLock<T>(purpose: string, fn: () => Promise<T>): Promise<T> {
    const lock = await acquireLock(this.#repo, { exclusive: false, purpose });
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }

  /** Removes stale locks (or all); returns how many. */
  async unlock(all = false): Promise<number> {
    return await removeLocks(this.#repo, all);
  }

  /**
   * Copies what some storages of a mirror lack from the others, under the exclusive lock (see
   * core/mirrors.ts); a `usage` error when the repository is not a mirror.
   */
  async mirrorSync(
    options: OperationOptions & { onCopy?: (name: string, to: string, bytes: number) => void } = {},
  ): Promise<SyncResult> {
    return await operate("mirror-sync", this.#call(options), async () => {
      if (!mirrorMembers(this.#repo.storage)) {
        throw new FloeError(
          "'mirror sync' needs several repository locations (--repo given twice or more)",
          "usage",
        );
      }
      const lock = await acquireLock(this.#repo, { exclusive: true, purpose: "mirror sync" });
      try {
        return await syncMirrors(this.#repo.storage, { signal: options.signal, onCopy: options.onCopy });
      } finally {
        await lock.release();
      }
    }, (r) => ({ copied: r.copied, bytes: r.bytes, unresolved: r.unresolved.length }));
  }
}

export type { BackupResult, RestoreResult };
