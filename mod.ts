/**
 * floe's public API: the engine, the plugin contracts and helpers to define plugins.
 *
 * @example
 * ```ts
 * import { Engine, loadPlugin } from "./mod.ts";
 * const engine = await Engine.init({ location: "/tmp/floe-repo", password: "pw" });
 * const source = await loadPlugin("source", "fs", { paths: ["/etc/hostname"] });
 * const { snapshotId } = await engine.backup(source);
 * await engine.close();
 * ```
 * @module
 */
import "./plugins/mod.ts"; // hands the built-in plugins to the registry
export * from "./core/contracts.ts";
export { Engine, openStorage, type SnapshotFilter } from "./core/engine.ts";
export {
  contractProblems,
  loadBuiltin,
  loadPlugin,
  resolveBuiltin,
  resolveSpecifier,
  validatePlugin,
} from "./core/registry.ts";
export type { TrustedTransforms } from "./core/repository/config.ts";
export type { KdfCost } from "./core/crypto/kdf.ts";
export { ExitCode, FloeError, IntegrityError } from "./core/errors.ts";
export type { EngineEvent } from "./core/events.ts";
export type { BackupSummary, Node, Snapshot, Tree } from "./core/repository/types.ts";
export { check, type CheckReport } from "./core/checker.ts";
export { applyPolicy, type RetentionPolicy } from "./core/policy.ts";

import type { SourcePlugin, StoragePlugin, TransformPlugin } from "./core/contracts.ts";

/** Identity helper that type-checks a storage plugin object. */
export function defineStorage<T extends StoragePlugin>(plugin: T): T {
  return plugin;
}

/** Identity helper that type-checks a source plugin object. */
export function defineSource<T extends SourcePlugin>(plugin: T): T {
  return plugin;
}

/** Identity helper that type-checks a transform plugin object. */
export function defineTransform<T extends TransformPlugin>(plugin: T): T {
  return plugin;
}
