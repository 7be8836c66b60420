/**
 * floe's config file: load and validate `floe.toml`, compute job schedules, import OpenStack
 * Freezer jobs. Every key is documented in docs/configuration.md.
 *
 * @example
 * ```ts
 * import { loadConfig, nextRun } from "./mod.ts";
 * // const config = await loadConfig();
 * // for (const [name, job] of Object.entries(config.jobs)) {
 * //   if (job.schedule) console.log(name, nextRun(job.schedule, new Date()));
 * // }
 * ```
 * @module
 */
export {
  ConfigError,
  type ConfigErrorCode,
  type ConfigProblem,
  defaultConfigPath,
  loadConfig,
  MAX_CONFIG_BYTES,
  parseConfig,
} from "./load.ts";
export type {
  BackupJob,
  CheckJob,
  Config,
  HooksConfig,
  Job,
  KeepConfig,
  PruneJob,
  RepositoryConfig,
  ServerConfig,
} from "./schema.ts";
export {
  describeSchedule,
  nextRun,
  type NextRunOptions,
  parseSchedule,
  previousRun,
  type Schedule,
} from "./schedule.ts";
export { type ListenAddress, parseDurationMs, parseEvery, parseListen } from "./units.ts";
export { freezerToToml } from "./freezer.ts";
