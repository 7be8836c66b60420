/**
 * Directories only their owner can enter: everything floe writes (repository on a local disk, catalog,
 * cache, key) lives below directories made mode 0700. `mkdir -p` gives the mode to the last component
 * only, and the umask may take bits away from it: here every component created is made 0700 and then
 * set to 0700 explicitly. Directories that already exist keep their mode (an older floe's 0755
 * repository is not rewritten, nor a user's home).
 *
 * @example
 * ```ts
 * import { makePrivateDir } from "./private_dir.ts";
 * makePrivateDir("/tmp/floe-example/a/b"); // a and b are 0700 if they were created here
 * ```
 * @module
 */

/** Mode of every directory floe creates. */
const DIR_MODE = 0o700;

function parentOf(path: string): string | null {
  const slash = path.replace(/\/+$/, "").lastIndexOf("/");
  if (slash < 0) return null; // relative, and the current directory exists
  return slash === 0 ? "/" : path.slice(0, slash);
}

/**
 * Creates `path` and its missing parents, each mode 0700 whatever the umask; does nothing for
 * components that exist (a file there is reported by whoever opens below it). Synchronous: one mkdir
 * that finds the directory there is all it costs in the common case, as `mkdir -p` would.
 *
 * @example
 * ```ts
 * import { makePrivateDir } from "./private_dir.ts";
 * makePrivateDir("/tmp/floe-example/cache");
 * ```
 */
export function makePrivateDir(path: string): void {
  try {
    Deno.mkdirSync(path, { mode: DIR_MODE });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return;
    const parent = parentOf(path);
    if (!(e instanceof Deno.errors.NotFound) || parent === null || parent === path) throw e;
    makePrivateDir(parent);
    try {
      Deno.mkdirSync(path, { mode: DIR_MODE });
    } catch (e2) {
      if (e2 instanceof Deno.errors.AlreadyExists) return;
      throw e2;
    }
  }
  Deno.chmodSync(path, DIR_MODE);
}
