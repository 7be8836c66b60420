/**
 * The server's one door into the engine: every engine call the server and `floe run` make goes
 * through here (open a configured repository; run backup, restore, check, prune and forget with a signal
 * and an event callback; list snapshots, walk trees, read content, diff, stats), and engine errors are
 * mapped to HTTP statuses here too, by the errors' stable codes.
 *
 * @example
 * ```ts
 * import { EngineAdapter } from "./_engine.ts";
 * // const engine = new EngineAdapter(config);
 * // const list = await engine.snapshots("main");
 * ```
 * @module
 */
import {
  countChange as count,
  emptyStats,
  Engine,
  type EngineEvent,
  FloeError,
  loadPlugin,
  maskLocation,
  type OverwriteMode,
  type RetentionPolicy,
  scanAhead,
  type SnapshotFilter,
  type SnapshotJson,
  snapshotJson,
} from "../mod.ts";
import { ExitCode } from "../jobs/exit_codes.ts";
import type { BackupJob, CheckJob, Config, KeepConfig, PruneJob, RepositoryConfig } from "../config/mod.ts";

/**
 * An event of a running operation: the engine's own `progress` and `warning` events (the run reports its
 * start and end itself, with its result).
 */
export type OperationEvent = Extract<EngineEvent, { type: "progress" | "warning" }>;

/** What every run gets: its signal and where its events and log lines go. */
export interface RunContext {
  /** Cancels the operation; nothing partial becomes visible. */
  signal: AbortSignal;
  /** Progress, warnings, messages. */
  onEvent: (event: OperationEvent) => void;
  /** A line for the run's log. */
  log: (line: string) => void;
}

/** What an operation returns. */
export interface OperationResult {
  /** The snapshot a backup made. */
  snapshotId?: string;
  /** Figures (snake_case), stored with the run. */
  summary: Record<string, unknown>;
  /** The repository's snapshot count afterwards, when known without scanning. */
  snapshotCount?: number;
  /** The CLI's exit code for the outcome (3: snapshot made with unreadable entries; 1: check found problems). */
  exitCode: number;
}

/** A restore request, validated by the caller (target under a restore root). */
export interface RestoreRequest {
  /** Snapshot id, prefix or `latest`. */
  snapshot: string;
  /** Subtree to restore (absolute, default `/`). */
  path?: string;
  /** Target directory (absolute). */
  target: string;
  /** Include globs. */
  include?: string[];
  /** Exclude globs. */
  exclude?: string[];
  /** Overwrite mode. */
  overwrite?: OverwriteMode;
}

/** A forget request: snapshots by id, or a keep policy. */
export interface ForgetRequest {
  /** Snapshot ids (or prefixes) to forget. */
  snapshots?: string[];
  /** A keep policy applied to all snapshots (grouped by host and paths). */
  keep?: KeepConfig;
}

/** An entry of a snapshot's directory. */
export interface TreeEntry {
  /** Name. */
  name: string;
  /** Absolute path. */
  path: string;
  /** Kind. */
  type: string;
  /** Size (files). */
  size: number;
  /** Modification time, ISO 8601. */
  mtime: string;
  /** Mode bits. */
  mode: number;
  /** Owner. */
  uid?: number;
  /** Group. */
  gid?: number;
  /** Symlink target. */
  link_target?: string;
}

/** A snapshot's path read for download: a file's bytes, or a directory as tar. */
export type Content =
  | { type: "file"; name: string; size: number; read(start: number, end: number): ReadableStream<Uint8Array> }
  | { type: "dir"; name: string; tar(): ReadableStream<Uint8Array> };

/** An error the API answers with: HTTP status, stable code, one-line message. */
export class ApiError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** Stable code. */
  readonly code: string;
  /** Build one. */
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/**
 * Maps any error to the API's answer, engine errors by their stable code; anything else is a 500 whose
 * message is kept (engine messages are one line and carry no secret).
 */
export function apiErrorOf(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof FloeError) {
    switch (e.code) {
      case "usage":
        return new ApiError(400, "invalid-request", e.message);
      case "not-found":
        return new ApiError(404, "not-found", e.message);
      case "busy":
        return new ApiError(409, "repository-busy", e.message);
      case "cancelled":
        return new ApiError(499, "cancelled", e.message);
      case "no-repository":
        return new ApiError(502, "no-repository", e.message);
      case "wrong-password":
        return new ApiError(502, "wrong-password", e.message);
      case "integrity":
        return new ApiError(500, "integrity", e.message);
    }
    return new ApiError(500, "failed", e.message);
  }
  if (e instanceof DOMException && (e.name === "AbortError" || e.name === "TimeoutError")) {
    return new ApiError(499, "cancelled", e.message || "cancelled");
  }
  return new ApiError(500, "internal", (e as Error)?.message ?? String(e));
}

/** Whether an error is the cancellation of an operation. */
export function isCancellation(e: unknown, signal: AbortSignal): boolean {
  return signal.aborted && (e === signal.reason || e instanceof DOMException || e instanceof FloeError);
}

/** A repository's locations with secrets masked. */
export function maskedLocations(repo: RepositoryConfig): string[] {
  return repo.location.map(maskLocation);
}

function keepPolicy(keep: KeepConfig): RetentionPolicy {
  return {
    keepLast: keep.last,
    keepHourly: keep.hourly,
    keepDaily: keep.daily,
    keepWeekly: keep.weekly,
    keepMonthly: keep.monthly,
    keepYearly: keep.yearly,
    keepWithin: keep.within,
    keepWithinHourly: keep.withinHourly,
    keepWithinDaily: keep.withinDaily,
    keepWithinWeekly: keep.withinWeekly,
    keepWithinMonthly: keep.withinMonthly,
    keepWithinYearly: keep.withinYearly,
    keepTags: keep.tags,
  };
}

function toOperationEvent(e: EngineEvent): OperationEvent | undefined {
  // The run reports its own start and end, with its result.
  return e.type === "progress" || e.type === "warning" ? e : undefined;
}

/** How long a cached reading engine trusts its catalog before syncing it again. */
const RESYNC_MS = 30_000;

/** Opens configured repositories and runs operations on them. */
export class EngineAdapter {
  readonly #config: Config;
  readonly #readers = new Map<
    string,
    { engine: Promise<Engine>; syncedMs: number; syncing?: Promise<void>; failure?: unknown }
  >();
  /** Snapshot lists by repository, with the catalog state they were read at. */
  readonly #lists = new Map<string, { state: string; list: SnapshotJson[] }>();

  /** Build one for a config. */
  constructor(config: Config) {
    this.#config = config;
  }

  #repo(name: string): RepositoryConfig {
    if (!Object.hasOwn(this.#config.repositories, name)) {
      throw new ApiError(404, "not-found", `no repository '${name}' in the config`);
    }
    return this.#config.repositories[name];
  }

  async #password(name: string, repo: RepositoryConfig): Promise<string> {
    if (repo.passwordFile) {
      try {
        return (await Deno.readTextFile(repo.passwordFile)).replace(/\r?\n$/, "");
      } catch (e) {
        throw new FloeError(`repository ${name}: cannot read ${repo.passwordFile}: ${(e as Error).message}`);
      }
    }
    if (repo.passwordCommand) {
      const out = await new Deno.Command("sh", {
        args: ["-c", repo.passwordCommand],
        stdin: "null",
        stderr: "null",
      })
        .output();
      if (!out.success) throw new FloeError(`repository ${name}: password-command exited with ${out.code}`);
      return new TextDecoder().decode(out.stdout).replace(/\r?\n$/, "");
    }
    const env = Deno.env.get("FLOE_PASSWORD");
    if (env) return env;
    throw new FloeError(`repository ${name}: no password-file, no password-command and no FLOE_PASSWORD`);
  }

  /** Opens a repository for one operation; events go to `onEvent`. */
  async #open(name: string, onEvent?: (e: EngineEvent) => void): Promise<Engine> {
    const repo = this.#repo(name);
    return await Engine.open({
      location: repo.location,
      storageOptions: {
        connections: repo.connections,
        uploadBytesPerSecond: repo.limitUpload,
        downloadBytesPerSecond: repo.limitDownload,
      },
      password: await this.#password(name, repo),
      onEvent,
    });
  }

  /**
   * The shared engine that answers reads (kept open: opening derives the key). Its catalog is synced
   * with the repository in the background when it is older than {@link RESYNC_MS}: a sync lists and
   * reads the repository, and the request that notices the age should not wait for it. A sync that
   * failed is done again, awaited, by the next read, which then answers with its error.
   */
  async #reader(name: string): Promise<Engine> {
    this.#repo(name);
    let r = this.#readers.get(name);
    if (!r) {
      r = { engine: this.#open(name), syncedMs: Date.now() };
      this.#readers.set(name, r);
      r.engine.catch(() => this.#readers.delete(name));
    } else if (r.failure !== undefined) {
      r.failure = undefined;
      r.syncedMs = Date.now();
      await (await r.engine).refresh();
    } else if (!r.syncing && Date.now() - r.syncedMs > RESYNC_MS) {
      const reader = r;
      reader.syncedMs = Date.now();
      reader.syncing = reader.engine.then((engine) => engine.refresh())
        .catch((e) => {
          reader.failure = e;
        })
        .finally(() => {
          reader.syncing = undefined;
        });
    }
    return await r.engine;
  }

  async #withEngine<T>(
    name: string,
    ctx: RunContext,
    fn: (engine: Engine, onEvent: (e: EngineEvent) => void) => Promise<T>,
  ): Promise<T> {
    const onEvent = (e: EngineEvent) => {
      const ev = toOperationEvent(e);
      if (ev) ctx.onEvent(ev);
    };
    const engine = await this.#open(name, onEvent);
    try {
      return await fn(engine, onEvent);
    } finally {
      await engine.close();
    }
  }

  /** Names and masked locations of the configured repositories. */
  repositories(): { name: string; locations: string[] }[] {
    return Object.entries(this.#config.repositories).map(([name, r]) => ({
      name,
      locations: maskedLocations(r),
    }));
  }

  /** Whether a repository opens (for `GET /repositories`): "ok" or the error's message. */
  async status(name: string): Promise<{ status: "ok" | "error"; snapshots?: number; error?: string }> {
    try {
      // The cached list: counting through engine.snapshots() would parse every snapshot on each call.
      return { status: "ok", snapshots: (await this.snapshots(name)).length };
    } catch (e) {
      return { status: "error", error: apiErrorOf(e).message };
    }
  }

  /** Backs up a job's source, then applies its keep policy (restic's forget) when the backup succeeded. */
  async backup(job: BackupJob, ctx: RunContext): Promise<OperationResult> {
    const source = await loadPlugin("source", job.source, {
      ...job.sourceOptions,
      ...(job.source === "fs"
        ? {
          paths: job.paths,
          exclude: job.exclude,
          excludeIfPresent: job.excludeIfPresent,
          oneFileSystem: job.oneFileSystem,
        }
        : { paths: job.paths }),
    });
    // As the CLI does: the walk runs ahead of the backup, so progress carries totals (a UI's bar and ETA).
    const scanning = scanAhead(source);
    return await this.#withEngine(job.repository, ctx, async (engine, onEvent) => {
      const result = await engine.backup(scanning, {
        tags: job.tags,
        host: job.host,
        signal: ctx.signal,
        onEvent,
      });
      const s = result.snapshot.summary!;
      ctx.log(
        `snapshot ${result.snapshotId.slice(0, 8)} saved: ${s.total_files_processed} files, ` +
          `${s.total_bytes_processed} bytes processed, ${s.data_added} bytes added`,
      );
      // Warnings are in the log already: the scheduler writes each warning event as it comes.
      const summary: Record<string, unknown> = { ...s };
      if (job.keep) {
        const { snapshot } = result;
        const filter = { host: snapshot.host, paths: snapshot.paths, tags: job.tags };
        const removed = await this.#applyKeep(engine, filter, job.keep, ctx);
        summary.snapshots_forgotten = removed.length;
      }
      return {
        snapshotId: result.snapshotId,
        summary,
        snapshotCount: engine.snapshots().length,
        exitCode: result.warnings.length ? ExitCode.Partial : ExitCode.Ok,
      };
    }).finally(() => scanning.stop());
  }

  /** Forgets what `keep` does not keep among the snapshots `filter` selects (restic's forget). */
  async #applyKeep(engine: Engine, filter: SnapshotFilter, keep: KeepConfig, ctx: RunContext) {
    const r = await engine.forget({ policy: keepPolicy(keep), filter, signal: ctx.signal }).catch((e) => {
      throw e instanceof FloeError ? new FloeError(`keep: ${e.message}`, e.code) : e;
    });
    const removed = r.remove.map((x) => x.id);
    for (const id of removed) ctx.log(`forgot snapshot ${id.slice(0, 8)}`);
    return removed;
  }

  async #forgetIds(engine: Engine, ids: string[], ctx?: RunContext): Promise<void> {
    if (!ids.length) return;
    await engine.forget({ ids, signal: ctx?.signal });
    for (const id of ids) ctx?.log(`forgot snapshot ${id.slice(0, 8)}`);
  }

  /** Restores a snapshot (or a subtree) into a target directory the caller has vetted. */
  async restore(repository: string, req: RestoreRequest, ctx: RunContext): Promise<OperationResult> {
    return await this.#withEngine(repository, ctx, async (engine, onEvent) => {
      const snap = engine.resolveSnapshot(req.snapshot);
      const r = await engine.restore({
        onEvent,
        snapshot: snap,
        subpath: req.path && req.path !== "/" ? req.path : undefined,
        target: req.target,
        include: req.include,
        exclude: req.exclude,
        overwrite: req.overwrite ?? "always",
        signal: ctx.signal,
      });
      for (const w of r.incomplete) ctx.log(`not restored exactly: ${w.path}: ${w.message}`);
      ctx.log(`restored ${snap.id.slice(0, 8)} to ${req.target}: ${r.files} files, ${r.bytes} bytes`);
      return {
        snapshotId: snap.id,
        summary: {
          files_restored: r.files,
          dirs_restored: r.dirs,
          others_restored: r.others,
          bytes_restored: r.bytes,
          files_skipped: r.skipped,
          errors: r.warnings.length + r.incomplete.length,
        },
        exitCode: r.warnings.length || r.incomplete.length ? ExitCode.Partial : ExitCode.Ok,
      };
    });
  }

  /** Checks a repository; problems make the run fail (exit code 1) with the report in the summary. */
  async check(
    repository: string,
    options: Pick<CheckJob, "readData" | "readDataSubset">,
    ctx: RunContext,
  ): Promise<OperationResult> {
    return await this.#withEngine(repository, ctx, async (engine, onEvent) => {
      const report = await engine.check({
        readData: options.readData || !!options.readDataSubset,
        subset: options.readDataSubset,
        signal: ctx.signal,
        onEvent,
      });
      for (const p of report.problems) ctx.log(`error: ${p.kind} ${p.id}: ${p.message}`);
      ctx.log(
        `checked ${report.snapshots} snapshots, ${report.packs} packs: ${report.problems.length} problem(s)`,
      );
      return {
        summary: {
          snapshots: report.snapshots,
          packs: report.packs,
          packs_read: report.packsRead,
          bytes_read: report.bytesRead,
          problems: report.problems.length,
        },
        snapshotCount: report.snapshots,
        exitCode: report.problems.length ? ExitCode.Failure : ExitCode.Ok,
      };
    });
  }

  /** Prunes a repository. */
  async prune(
    repository: string,
    options: Pick<PruneJob, "maxUnused">,
    ctx: RunContext,
  ): Promise<OperationResult> {
    return await this.#withEngine(repository, ctx, async (engine, onEvent) => {
      const r = await engine.prune({ maxUnused: options.maxUnused, signal: ctx.signal, onEvent });
      ctx.log(`pruned: deleted ${r.deleted.packs} pack(s), ${r.sizeBefore - r.sizeAfter} bytes freed`);
      return {
        summary: {
          snapshots: r.snapshots,
          packs_before: r.packsBefore,
          size_before: r.sizeBefore,
          size_after: r.sizeAfter,
          packs_deleted: r.deleted.packs,
          packs_repacked: r.repacked.packs,
          packs_marked: r.marked.packs,
          duration: r.duration,
        },
        snapshotCount: r.snapshots,
        exitCode: ExitCode.Ok,
      };
    });
  }

  /** Forgets snapshots by id, or by a keep policy over all snapshots. */
  async forget(repository: string, req: ForgetRequest, ctx: RunContext): Promise<OperationResult> {
    return await this.#withEngine(repository, ctx, async (engine) => {
      let removed: string[];
      if (req.snapshots?.length) {
        removed = [...new Set(req.snapshots.map((s) => engine.resolveSnapshot(s).id))];
        await this.#forgetIds(engine, removed, ctx);
      } else if (req.keep) {
        removed = await this.#applyKeep(engine, {}, req.keep, ctx);
      } else {
        throw new ApiError(400, "invalid-request", "forget needs snapshots or keep");
      }
      return {
        summary: { snapshots_forgotten: removed.length, forgotten: removed },
        snapshotCount: engine.snapshots().length,
        exitCode: ExitCode.Ok,
      };
    });
  }

  /**
   * All snapshots, oldest first, as `floe snapshots --json` prints them. The list is kept while the
   * catalog's snapshot table stays the same (a backup writes index and tree rows all the time, so the
   * whole database's version would change too often): reading and decoding a thousand snapshot rows on
   * every request costs the event loop tens of milliseconds during a backup.
   */
  async snapshots(repository: string): Promise<SnapshotJson[]> {
    const engine = await this.#reader(repository);
    const state = engine.snapshotState();
    const cached = this.#lists.get(repository);
    if (cached?.state === state) return cached.list;
    const list = engine.snapshots().map(snapshotJson);
    this.#lists.set(repository, { state, list });
    return list;
  }

  /** One snapshot by id, prefix or `latest`. */
  async snapshot(repository: string, id: string): Promise<SnapshotJson> {
    return snapshotJson((await this.#reader(repository)).resolveSnapshot(id));
  }

  /** Forgets one snapshot under the lock; returns its full id and the count left. */
  async forgetSnapshot(repository: string, id: string): Promise<{ id: string; snapshotCount: number }> {
    const engine = await this.#reader(repository);
    const snap = engine.resolveSnapshot(id);
    await this.#forgetIds(engine, [snap.id]);
    return { id: snap.id, snapshotCount: engine.snapshots().length };
  }

  /** A directory's entries (or a single entry for a file). `path` is absolute and vetted. */
  async tree(repository: string, id: string, path: string): Promise<TreeEntry[]> {
    const engine = await this.#reader(repository);
    const snap = engine.resolveSnapshot(id);
    const out: TreeEntry[] = [];
    for await (const { path: p, node } of engine.ls(snap, path, { recursive: false })) {
      out.push({
        name: node.name,
        path: p,
        type: node.type,
        size: node.size ?? 0,
        mtime: new Date(node.mtime).toISOString(),
        mode: node.mode,
        ...(node.uid !== undefined ? { uid: node.uid } : {}),
        ...(node.gid !== undefined ? { gid: node.gid } : {}),
        ...(node.linkTarget !== undefined ? { link_target: node.linkTarget } : {}),
      });
    }
    return out;
  }

  /**
   * A file's bytes (a byte range of them) or a directory as tar. `path` is absolute and vetted. Reading
   * stops when the returned stream is cancelled (the client went away).
   */
  async content(repository: string, id: string, path: string): Promise<Content> {
    const engine = await this.#reader(repository);
    const snap = engine.resolveSnapshot(id);
    const node = await engine.node(snap, path);
    const name = path.split("/").filter(Boolean).pop() ?? "root";
    if (node.type === "file") {
      return {
        type: "file",
        name,
        size: node.size ?? 0,
        read: (start, end) => {
          const blobs = engine.readFile(node)[Symbol.asyncIterator]();
          let offset = 0;
          return new ReadableStream<Uint8Array>({
            async pull(controller) {
              while (true) {
                const next = await blobs.next();
                if (next.done || offset >= end) {
                  controller.close();
                  return;
                }
                const chunk = next.value;
                const from = Math.max(0, start - offset), to = Math.min(chunk.length, end - offset);
                offset += chunk.length;
                if (to > from) {
                  controller.enqueue(chunk.subarray(from, to));
                  return;
                }
              }
            },
            async cancel() {
              await blobs.return?.();
            },
          });
        },
      };
    }
    if (node.type === "dir") {
      return {
        type: "dir",
        name,
        tar: () => {
          const ac = new AbortController();
          let it: AsyncIterator<Uint8Array> | undefined;
          return new ReadableStream<Uint8Array>({
            async pull(controller) {
              it ??= (await engine.dump(snap, path, { signal: ac.signal })).stream[Symbol.asyncIterator]();
              const next = await it.next();
              if (next.done) controller.close();
              else controller.enqueue(next.value);
            },
            async cancel() {
              ac.abort();
              await it?.return?.();
            },
          });
        },
      };
    }
    throw new ApiError(
      400,
      "invalid-request",
      `${path} is a ${node.type}: only files and directories have content`,
    );
  }

  /** The changes between two snapshots and their counts. */
  async diff(repository: string, from: string, to: string) {
    const engine = await this.#reader(repository);
    const a = engine.resolveSnapshot(from), b = engine.resolveSnapshot(to);
    const totals = emptyStats();
    const changes: { path: string; modifier: string }[] = [];
    for await (const c of engine.diff(a, b)) {
      count(totals, c);
      changes.push({ path: c.path, modifier: c.modifier });
    }
    return {
      source_snapshot: a.id,
      target_snapshot: b.id,
      changes,
      changed_files: totals.changed,
      metadata_changed: totals.metadata,
      added: totals.added,
      removed: totals.removed,
    };
  }

  /** Sizes of all snapshots and the repository, from the catalog (`floe stats --json`'s figures). */
  async stats(repository: string) {
    const engine = await this.#reader(repository);
    const s = await engine.stats(engine.snapshots(), { mode: "all" });
    return {
      snapshots_count: s.snapshots,
      total_file_count: s.restoreSize?.files ?? 0,
      total_size: s.restoreSize?.bytes ?? 0,
      unique_file_count: s.filesByContents?.files ?? 0,
      unique_files_size: s.filesByContents?.bytes ?? 0,
      total_uncompressed_size: s.raw?.rawBytes ?? 0,
      total_stored_size: s.raw?.storedBytes ?? 0,
      compression_ratio: s.compressionRatio ?? null,
      space_saving: s.spaceSaving ?? null,
      repository: s.repository
        ? {
          blob_count: s.repository.blobs,
          pack_count: s.repository.packs,
          raw_size: s.repository.rawBytes,
          stored_size: s.repository.storedBytes,
          pack_size: s.repository.packBytes,
        }
        : null,
    };
  }

  /** Closes the cached engines. */
  async close(): Promise<void> {
    const readers = [...this.#readers.values()];
    this.#readers.clear();
    for (const r of readers) {
      await r.syncing;
      await (await r.engine.catch(() => undefined))?.close();
    }
  }
}
