/**
 * floe's public API: the engine and its operations, the plugin contracts and registry, and what a front end
 * (the CLI, the HTTP server) needs to parse input and render results. Importing it hands the built-in
 * plugins to the registry.
 *
 * @example
 * ```ts
 * import { Engine, loadPlugin } from "./mod.ts";
 * const engine = await Engine.init({ location: "/tmp/floe-repo", password: "pw" });
 * const source = await loadPlugin("source", "fs", { paths: ["/etc/hostname"] });
 * const { snapshotId } = await engine.backup(source, { onEvent: (e) => console.log(e.type) });
 * await engine.close();
 * ```
 * @module
 */
import "./plugins/mod.ts"; // hands the built-in plugins to the registry
export * from "./core/contracts.ts";
export {
  Engine,
  type KeyInfo,
  type ListEntry,
  type OpenOptions,
  openStorage,
  type OperationOptions,
  type RepositoryInfo,
  type SnapshotFilter,
  type StorageOpenOptions,
} from "./core/engine.ts";
export {
  type DefaultRepository,
  defaultRepositoryPaths,
  openDefaultRepository,
  readDefaultKey,
} from "./core/default_repository.ts";
export {
  contractProblems,
  installPlugins,
  knownPlugins,
  loadBuiltin,
  loadPlugin,
  loadUserPlugin,
  moduleUrl,
  type PluginKind,
  type PluginOf,
  type PluginTable,
  resolveBuiltin,
  resolveSpecifier,
  type UserPlugin,
  validatePlugin,
} from "./core/registry.ts";
export type { TrustedTransforms } from "./core/repository/config.ts";
export type { InitOptions } from "./core/repository/repository.ts";
export type { KdfCost } from "./core/crypto/kdf.ts";
export { type ErrorCode, FloeError, IntegrityError } from "./core/errors.ts";
export type { EngineEvent, Operation, Progress, StepEvent } from "./core/events.ts";
export type { LockOptions } from "./core/repository/locks.ts";
export type { ChunkerParams } from "./core/chunker.ts";
export type { Temporary } from "./core/repository/temporaries.ts";
export type { BackupSummary, Node, Snapshot, Tree } from "./core/repository/types.ts";
export type { CatalogSnapshot } from "./core/catalog/catalog.ts";
export type { BackupResult, BackupSettings } from "./core/archiver/archiver.ts";
export type {
  IncompleteEntry,
  OverwriteMode,
  RestoreResult,
  RestoreSettings,
} from "./core/restorer/restorer.ts";
export {
  type CheckOptions,
  type CheckProblem,
  type CheckReport,
  MAX_FILES_PER_PROBLEM,
} from "./core/checker.ts";
export type {
  RepairIndexOptions,
  RepairIndexResult,
  RepairSnapshotsOptions,
  RepairSnapshotsResult,
  SnapshotRepair,
} from "./core/repair.ts";
export type { PackCount, PruneResult, PruneSettings } from "./core/prune.ts";
export type { ForgetDecision, ForgetOptions, ForgetResult } from "./core/forget.ts";
export type { FindMatch, FindOptions } from "./core/find.ts";
export { type Change, count as countChange, type DiffStats, emptyStats } from "./core/diff.ts";
export type { Stats, StatsMode } from "./core/stats.ts";
export type { Dump } from "./core/dump.ts";
export { type SnapshotJson, snapshotJson } from "./core/snapshot_json.ts";
export { makePrivateDir } from "./core/platform/private_dir.ts";
export { capMallocArenas, niceThisThread } from "./core/platform/libc.ts";
export { encodeBase64 } from "./core/encoding.ts";
export { STALE_MS } from "./core/repository/locks.ts";
export type { SyncResult } from "./core/mirrors.ts";
export {
  applyPolicy,
  type Duration,
  formatDuration,
  formatGroupKey,
  type GroupField,
  type GroupKey,
  parseDuration,
  type PolicyDecision,
  PolicyError,
  type PolicyErrorKind,
  type PolicyGroup,
  type PolicyResult,
  type PolicySnapshot,
  type RetentionPolicy,
} from "./core/policy.ts";
export { formatTime, parseDate } from "./core/dates.ts";
export { scanAhead, type ScanAheadOptions, type ScanningSource } from "./core/scan_ahead.ts";
export { maskLocation, URL_PASSWORD } from "./plugins/storage/location.ts";
export { parseRate } from "./plugins/storage/limit/mod.ts";

import type { SourcePlugin, StoragePlugin, TransformPlugin } from "./core/contracts.ts";

/**
 * Identity helper that type-checks a storage plugin object.
 *
 * @example
 * ```ts
 * import { API_VERSION, defineStorage } from "./mod.ts";
 * declare const impl: Omit<import("./mod.ts").StoragePlugin, "kind" | "name" | "apiVersion">;
 * export const storage = defineStorage({ kind: "storage", name: "mine", apiVersion: API_VERSION, ...impl });
 * ```
 */
export function defineStorage<T extends StoragePlugin>(plugin: T): T {
  return plugin;
}

/**
 * Identity helper that type-checks a source plugin object.
 *
 * @example
 * ```ts
 * import { API_VERSION, defineSource } from "./mod.ts";
 * export const source = defineSource({
 *   kind: "source", name: "empty", apiVersion: API_VERSION, paths: ["/empty"],
 *   *scan() {},
 * });
 * ```
 */
export function defineSource<T extends SourcePlugin>(plugin: T): T {
  return plugin;
}

/**
 * Identity helper that type-checks a transform plugin object.
 *
 * @example
 * ```ts
 * import { API_VERSION, defineTransform } from "./mod.ts";
 * export const identity = defineTransform({
 *   kind: "transform", name: "identity", apiVersion: API_VERSION, id: "identity", role: "compression",
 *   encode: (d) => d, decode: (d) => d,
 * });
 * ```
 */
export function defineTransform<T extends TransformPlugin>(plugin: T): T {
  return plugin;
}
