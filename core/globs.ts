/**
 * Exclude/include glob matching with restic's semantics: a pattern starting with `/` is anchored at the
 * root; a pattern with another `/` matches at any depth; a pattern without `/` matches any single name.
 * A match on a directory excludes everything beneath it.
 *
 * @example
 * ```ts
 * import { compileGlobs } from "./globs.ts";
 * const excluded = compileGlobs(["*.tmp", "/var/cache"]);
 * excluded("/home/a/x.tmp"); // true
 * ```
 * @module
 */
import picomatch from "picomatch";

/** Compiles patterns into one predicate over absolute `/`-separated paths. */
export function compileGlobs(patterns: string[]): (path: string) => boolean {
  const list = patterns.map((p) => p.trim()).filter(Boolean);
  if (!list.length) return () => false;
  const matchers = list.map((p) => {
    const pattern = p.endsWith("/") && p.length > 1 ? p.slice(0, -1) : p;
    const anchored = pattern.startsWith("/") ? pattern : `**/${pattern}`;
    const m = picomatch(anchored, { dot: true });
    const under = picomatch(`${anchored}/**`, { dot: true });
    return (path: string) => m(path) || under(path);
  });
  return (path: string) => matchers.some((m) => m(path));
}
