/**
 * `floe init`: create a repository.
 *
 * @example
 * ```sh
 * FLOE_PASSWORD=… floe init --repo /srv/backup
 * ```
 * @module
 */
import type { Context } from "../context.ts";
import { Engine, knownPlugins } from "../../mod.ts";
import { FloeError } from "../../mod.ts";

/** Maps `--compression` to a transform. */
export function compressionOf(level: string): { compression: string; level?: number } {
  switch (level) {
    case "off":
      return { compression: "none" };
    case "fastest":
      return { compression: "zstd", level: 1 };
    case "default":
    case "auto":
      return { compression: "zstd", level: 2 };
    case "max":
      return { compression: "zstd", level: 19 };
    default:
      // A compression transform loaded with --plugin is named by its id.
      if (knownPlugins("transform").includes(level)) return { compression: level };
      throw new FloeError(
        `--compression must be off, fastest, default, max or the id of a loaded transform (got '${level}')`,
        "usage",
      );
  }
}

/** Runs `init`. */
export default async function init(
  ctx: Context,
  _args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  const { isDefault } = ctx.location();
  const { compression, level: compressionLevel } = compressionOf(String(opts.compression ?? "default"));
  if (!["aes-256-gcm", "chacha20-poly1305"].includes(String(opts.cipher))) {
    throw new FloeError(`--cipher must be aes-256-gcm or chacha20-poly1305`, "usage");
  }
  if (!["scrypt", "argon2id"].includes(String(opts.kdf))) {
    throw new FloeError(`--kdf must be scrypt or argon2id`, "usage");
  }
  const password = await ctx.password(isDefault, "enter password for new repository: ");
  if (!password) throw new FloeError("the password must not be empty", "usage");
  // Remote storages are retried and bounded like any other command's; a mirror is created on all.
  const storage = await ctx.storage();
  const engine = await Engine.init({
    storage,
    password,
    compression,
    compressionLevel,
    cipher: String(opts.cipher),
    kdf: opts.kdf as "scrypt" | "argon2id",
    catalogPath: ctx.globals.catalog,
    onEvent: ctx.onEvent,
  });
  const { id, location } = engine.info;
  if (ctx.globals.json) ctx.json({ id, location });
  else ctx.info(`created floe repository ${id.slice(0, 10)} at ${location}`);
  await engine.close();
}
