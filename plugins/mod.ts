/**
 * The built-in plugins, listed once: every storage, source and transform floe ships, the location schemes
 * the storages claim, and the function that opens a storage from a location with the wrappers (retry,
 * limit, mirror). Importing this module hands them to the core's registry; floe's mod.ts does so.
 *
 * @example
 * ```ts
 * import { builtins } from "./mod.ts";
 * Object.keys(builtins.storage); // ["local", "s3", "swift", "sftp"]
 * ```
 * @module
 */
import { installPlugins, installStorageOpener, type PluginTable } from "../core/registry.ts";
import { openStorages } from "./storage/open.ts";

const here = (path: string) => new URL(path, import.meta.url).href;

/** The built-in plugins: names → modules (imported only when used), and the schemes storages claim. */
export const builtins: PluginTable = {
  storage: {
    local: here("./storage/local/mod.ts"),
    s3: here("./storage/s3/mod.ts"),
    swift: here("./storage/swift/mod.ts"),
    sftp: here("./storage/sftp/mod.ts"),
  },
  source: {
    fs: here("./source/fs/mod.ts"),
    bucket: here("./source/bucket/mod.ts"),
    mysql: here("./source/mysql/mod.ts"),
    postgres: here("./source/postgres/mod.ts"),
    command: here("./source/command/mod.ts"),
  },
  transform: {
    zstd: here("./transform/zstd/mod.ts"),
    gzip: here("./transform/gzip/mod.ts"),
    none: here("./transform/none/mod.ts"),
    "aes-256-gcm": here("./transform/aes-256-gcm/mod.ts"),
    "chacha20-poly1305": here("./transform/chacha20-poly1305/mod.ts"),
  },
  // Each storage module exports the same list as `schemes` (a test holds them alike); it is repeated here
  // so that opening a location imports only the storage it needs.
  schemes: { local: "local", file: "local", s3: "s3", swift: "swift", sftp: "sftp" },
};

installPlugins(builtins);
installStorageOpener(openStorages);
