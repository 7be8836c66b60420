/**
 * The directory the user ran floe from, against which every relative path they give is read: backup
 * paths, `--target`, `--password-file`, `--exclude-file`, `--catalog`, `--new-password-file`, local
 * repository locations (`./a:b`), plugin paths, and the paths in `FLOE_*` / `AWS_CA_BUNDLE` variables.
 *
 * `deno task floe …` runs floe in the folder of deno.json (floe's checkout), not where the user stands;
 * it passes the user's directory in `INIT_CWD` (set by `deno task`, or already by `npx`, when not set
 * before). So when the process runs in floe's own checkout and `INIT_CWD` names a directory, that
 * directory is the caller's; otherwise (`deno run`, a compiled binary) the process's own.
 *
 * @example
 * ```ts
 * import { callerCwd } from "./cwd.ts";
 * Deno.chdir(callerCwd());
 * ```
 * @module
 */

/**
 * The caller's working directory (see the module documentation).
 *
 * @example
 * ```ts
 * import { callerCwd } from "./cwd.ts";
 * console.log(callerCwd());
 * ```
 */
export function callerCwd(): string {
  const cwd = Deno.cwd();
  const init = Deno.env.get("INIT_CWD");
  const checkout = new URL("../", import.meta.url);
  if (!init?.startsWith("/") || checkout.protocol !== "file:") return cwd;
  try {
    const inCheckout = Deno.realPathSync(cwd) === Deno.realPathSync(decodeURIComponent(checkout.pathname));
    return inCheckout && Deno.statSync(init).isDirectory ? init : cwd;
  } catch {
    return cwd;
  }
}
