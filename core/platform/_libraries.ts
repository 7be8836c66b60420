/**
 * Opens a system library by FFI from an absolute path, so that `--allow-ffi` can be narrowed to exactly
 * the files floe loads (deno.json's tasks list {@link LIBRARY_DIRS} × the library names). Under such a
 * narrowed grant Deno reads a bare name (`libc.so.6`) as a path relative to the working directory, so a
 * bare name is only tried when every library may be loaded (`--allow-ffi` without a list), where the
 * system's loader finds it on systems with other library folders.
 *
 * @example
 * ```ts
 * import { openLibrary } from "./_libraries.ts";
 * const r = openLibrary(["libc.so.6"], { getpid: { parameters: [], result: "i32" } });
 * if ("symbols" in r) console.log(r.symbols.getpid());
 * ```
 * @module
 */

/**
 * The folders searched, in order: Debian/Ubuntu multiarch (`/lib` and `/usr/lib` both, as the merged
 * `/usr` is not canonicalised by Deno's permission check), Fedora/RHEL/SUSE, then Arch.
 *
 * @example
 * ```ts
 * import { LIBRARY_DIRS } from "./_libraries.ts";
 * console.log(LIBRARY_DIRS.map((d) => `${d}/libc.so.6`).join(","));
 * ```
 */
export const LIBRARY_DIRS: readonly string[] = [
  "/lib/x86_64-linux-gnu",
  "/usr/lib/x86_64-linux-gnu",
  "/lib64",
  "/usr/lib64",
  "/usr/lib",
];

/**
 * Opens the first of `names` found in {@link LIBRARY_DIRS} that FFI may load and `accept` approves (then
 * the bare names, when FFI is granted without a list); never prompts. Returns its symbols, or why none
 * could be opened.
 *
 * @example
 * ```ts
 * import { openLibrary } from "./_libraries.ts";
 * const r = openLibrary(["libcrypto.so.3"], { OPENSSL_version_major: { parameters: [], result: "u32" } });
 * console.log("error" in r ? r.error : r.path);
 * ```
 */
export function openLibrary<S extends Deno.ForeignLibraryInterface>(
  names: readonly string[],
  symbols: S,
  accept: (s: Deno.DynamicLibrary<S>["symbols"]) => boolean = () => true,
): { symbols: Deno.DynamicLibrary<S>["symbols"]; path: string } | { error: string } {
  if (typeof Deno.dlopen !== "function") return { error: "Deno.dlopen is not available" };
  const granted = (path?: string) => Deno.permissions.querySync({ name: "ffi", path }).state === "granted";
  const candidates = names.flatMap((n) => LIBRARY_DIRS.map((d) => `${d}/${n}`)).filter((p) => granted(p));
  if (granted()) candidates.push(...names);
  else if (!candidates.length) return { error: "FFI permission not granted (--allow-ffi)" };
  const errors: string[] = [];
  for (const path of candidates) {
    if (path.startsWith("/") && Deno.permissions.querySync({ name: "read", path }).state === "granted") {
      try {
        Deno.statSync(path);
      } catch {
        continue; // not on this system
      }
    }
    try {
      const lib = Deno.dlopen(path, symbols).symbols;
      if (accept(lib)) return { symbols: lib, path };
      errors.push(`${path}: self-test failed`);
    } catch (e) {
      errors.push(e instanceof Error ? e.message : String(e));
    }
  }
  return { error: errors.join("; ") || `${names.join(", ")} not found in ${LIBRARY_DIRS.join(", ")}` };
}

/** A library opened on first use: its symbols, whether it could be opened, and why not. */
export interface LazyLibrary<S> {
  /** The symbols; throws `<what> unavailable: <reason>` when the library cannot be used. */
  symbols(): S;
  /** Whether the library can be used; opens it on first call. Never throws and never prompts. */
  available(): boolean;
  /** Why {@link LazyLibrary.available} is false, or `undefined` when loaded (or not yet tried). */
  unavailableReason(): string | undefined;
}

/**
 * A library opened by `open` on first use, once: the lazy state libc and libcrypto share. `open` returns
 * the symbols or why they cannot be had; a throw counts as the latter.
 *
 * @example
 * ```ts
 * import { lazyLibrary, openLibrary } from "./_libraries.ts";
 * const libm = lazyLibrary("libm", () => openLibrary(["libm.so.6"], { cos: { parameters: ["f64"], result: "f64" } }));
 * if (libm.available()) console.log(libm.symbols().cos(0));
 * ```
 */
export function lazyLibrary<S>(what: string, open: () => { symbols: S } | { error: string }): LazyLibrary<S> {
  let lib: S | null = null;
  let error: string | undefined;
  const load = () => {
    if (lib !== null || error !== undefined) return;
    try {
      const opened = open();
      if ("error" in opened) error = opened.error;
      else lib = opened.symbols;
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
  };
  return {
    symbols() {
      load();
      if (lib === null) throw new Error(`${what} unavailable: ${error}`);
      return lib;
    },
    available() {
      load();
      return lib !== null;
    },
    unavailableReason: () => lib === null ? error : undefined,
  };
}
