/**
 * The config file for `floe serve`, `floe run` and `floe jobs`: `--config FILE`, else the default
 * path; a bad file is a usage error with its one-line message (file:line: key: problem).
 *
 * @example
 * ```ts
 * import { configFromOption } from "./config_file.ts";
 * // const { config, path } = await configFromOption({ config: "/etc/floe/floe.toml" });
 * ```
 * @module
 */
import { FloeError } from "../mod.ts";
import { type Config, ConfigError, defaultConfigPath, loadConfig } from "../config/mod.ts";

/** Loads the config named by `--config` (or the default). */
export async function configFromOption(
  opts: Record<string, unknown>,
): Promise<{ config: Config; path: string }> {
  let path: string;
  try {
    path = opts.config ? String(opts.config) : defaultConfigPath();
    return { config: await loadConfig(path), path };
  } catch (e) {
    if (e instanceof ConfigError) throw new FloeError(e.message, "usage", { cause: e });
    throw e;
  }
}
