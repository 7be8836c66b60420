/**
 * What the route modules share: the config, the engine adapter, the scheduler and the runs database.
 *
 * @example
 * ```ts
 * import type { Services } from "./_services.ts";
 * const names = (s: Services) => Object.keys(s.config.jobs);
 * ```
 * @module
 */
import type { Config } from "../config/mod.ts";
import type { EngineAdapter } from "./_engine.ts";
import type { RunsDb } from "./runs_db.ts";
import type { Scheduler } from "./scheduler.ts";

/** The server's parts, handed to every route module. */
export interface Services {
  /** The loaded config. */
  config: Config;
  /** The one door into the engine. */
  engine: EngineAdapter;
  /** Runs and schedules. */
  scheduler: Scheduler;
  /** Run history. */
  db: RunsDb;
}
