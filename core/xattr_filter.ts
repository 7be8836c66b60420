/**
 * Which extended attributes a backup records or a restore writes back: `--xattr-include` and
 * `--xattr-exclude` globs over attribute names (`user.*`, `security.selinux`, `system.posix_acl_*`), matched
 * against the name as shown (quoted when it is not plain UTF-8; see core/platform/names.ts).
 *
 * @example
 * ```ts
 * import { xattrFilter } from "./xattr_filter.ts";
 * const keep = xattrFilter([], ["security.*"]);
 * keep(new TextEncoder().encode("user.comment")); // true
 * keep(new TextEncoder().encode("security.selinux")); // false
 * ```
 * @module
 */
import picomatch from "picomatch";
import { quoteName } from "./platform/names.ts";

/**
 * A predicate over attribute names: true when `include` is empty or one of its globs matches, and none of
 * `exclude` does. `*` matches any characters, `/` included (attribute names have no path structure).
 *
 * @example
 * ```ts
 * import { xattrFilter } from "./xattr_filter.ts";
 * xattrFilter(["user.*"], [])(new TextEncoder().encode("trusted.x")); // false
 * ```
 */
export function xattrFilter(include: string[] = [], exclude: string[] = []): (name: Uint8Array) => boolean {
  const compile = (globs: string[]) =>
    globs.map((g) => picomatch(g, { dot: true, contains: false, bash: true }));
  const inc = compile(include);
  const exc = compile(exclude);
  if (!inc.length && !exc.length) return () => true;
  return (name) => {
    const shown = quoteName(name);
    return (!inc.length || inc.some((m) => m(shown))) && !exc.some((m) => m(shown));
  };
}
