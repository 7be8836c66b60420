/**
 * The embedded default repository: a local repository under the user's data directory, opened with a
 * random key kept under the user's config directory (mode 0600). It lets `floe backup ~/Documents` work on
 * a fresh machine with no option at all.
 *
 * @example
 * ```ts
 * import { defaultRepositoryPaths } from "./default_repository.ts";
 * const { repository, key } = defaultRepositoryPaths();
 * ```
 * @module
 */
import { Engine, type OpenOptions } from "./engine.ts";
import type { OperationOptions } from "./operation.ts";
import { Repository } from "./repository/repository.ts";
import { openLocation } from "./registry.ts";
import { encodeBase64 } from "./encoding.ts";
import { makePrivateDir } from "./platform/private_dir.ts";
import { FloeError } from "./errors.ts";

/** Where the embedded default repository and its key live (XDG directories). */
export function defaultRepositoryPaths(): { repository: string; key: string } {
  const home = Deno.env.get("HOME") ?? "/root";
  const data = Deno.env.get("XDG_DATA_HOME") || `${home}/.local/share`;
  const config = Deno.env.get("XDG_CONFIG_HOME") || `${home}/.config`;
  return { repository: `${data}/floe/repository`, key: `${config}/floe/key` };
}

/** The default key: its content, or null when there is none yet. */
export function readDefaultKey(path: string = defaultRepositoryPaths().key): string | null {
  try {
    return Deno.readTextFileSync(path).replace(/\r?\n$/, "");
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new FloeError(`cannot read the default repository's key ${path}: ${(e as Error).message}`);
  }
}

/** What {@link openDefaultRepository} did. */
export interface DefaultRepository {
  /** The open engine. */
  engine: Engine;
  /** Whether the repository was created now. */
  created: boolean;
  /** The key file (its content is the password). */
  keyPath: string;
}

/**
 * Opens the embedded default repository, creating it — and its random key, 0600 in a 0700 directory — on
 * first use when `create` is set.
 */
export async function openDefaultRepository(
  options: Omit<OpenOptions, "location" | "storage" | "password"> & OperationOptions & { create?: boolean } =
    {},
): Promise<DefaultRepository> {
  const { repository, key } = defaultRepositoryPaths();
  let password = readDefaultKey(key);
  const storage = await openLocation(repository);
  try {
    if (!options.create || (await Repository.exists(storage))) {
      if (password === null) {
        throw new FloeError(`the default repository's key ${key} is missing`, "wrong-password");
      }
      return { engine: await Engine.open({ ...options, storage, password }), created: false, keyPath: key };
    }
    if (password === null) {
      password = encodeBase64(crypto.getRandomValues(new Uint8Array(32)));
      makePrivateDir(key.slice(0, key.lastIndexOf("/")));
      Deno.writeTextFileSync(key, password + "\n", { mode: 0o600, createNew: true });
      Deno.chmodSync(key, 0o600);
    }
    return { engine: await Engine.init({ ...options, storage, password }), created: true, keyPath: key };
  } catch (e) {
    await storage.close?.().catch(() => {});
    throw e;
  }
}
