/**
 * Extended attributes of files, directories and symlinks (never following a symlink), with byte
 * names and byte paths, through the libc FFI layer ({@link ./libc.ts}; check its `available()`
 * first). POSIX ACLs are the attributes `system.posix_acl_access` and `system.posix_acl_default`:
 * their raw values round-trip through {@link lgetxattr} and {@link lsetxattr} unchanged.
 *
 * Calls offer a 1 KiB scratch buffer first, so listing or reading is one system call for all but
 * large values; on ERANGE the size is asked for, then read (up to the kernel's 64 KiB limit).
 * Errors: `Deno.errors.NotSupported` (ENOTSUP: no xattrs on this file system or in this namespace),
 * `PermissionDenied` (EPERM/EACCES, e.g. `user.*` on a symlink, `trusted.*` without root),
 * {@link NoData} (ENODATA: no such attribute), {@link TooBig} (E2BIG), and ENOSPC/ERANGE as plain
 * errors with `code` set (ext4 keeps a value within one block unless `ea_inode` is on).
 *
 * @example
 * ```ts
 * import { available } from "./libc.ts";
 * import { lgetxattrs } from "./xattr.ts";
 * if (available()) for (const [name, value] of lgetxattrs("/etc/hostname")) console.log(name, value);
 * ```
 * @module
 */
import { cpath, errno, fail, libc, NoData } from "./_ffi.ts";

export { NoData, TooBig } from "./_ffi.ts";

const ERANGE = 34;

/**
 * `flags` of {@link lsetxattr}: create only (EEXIST if present) or replace only (ENODATA if absent).
 *
 * @example
 * ```ts
 * import { lsetxattr, XATTR } from "./xattr.ts";
 * lsetxattr("/tmp/f", "user.once", new Uint8Array([1]), XATTR.CREATE);
 * ```
 */
export const XATTR = { CREATE: 1, REPLACE: 2 } as const;

/** The kernel's limit for one value and for the list of names (Linux XATTR_SIZE_MAX). */
const XATTR_MAX = 65536;
/**
 * The buffer offered first. The kernel allocates (and for values zeroes) a buffer of the size it is
 * offered on every call, so offering 64 KiB costs ~8 µs per call; 1 KiB holds nearly every list and
 * value met in practice (ACLs, SELinux labels, capabilities), and more is asked for on ERANGE.
 */
const FIRST = 1024;
const scratch = new Uint8Array(XATTR_MAX);

type SizedCall = (buf: Uint8Array | null, size: bigint) => number | bigint;

/** Runs a call that fills a buffer of a size it reports; returns a copy of the bytes. */
function sized(call: SizedCall, syscall: string, path: string | Uint8Array): Uint8Array {
  const n = Number(call(scratch, BigInt(FIRST)));
  if (n >= 0) return scratch.slice(0, n);
  if (errno() !== ERANGE) fail(syscall, path);
  for (let attempt = 0;; attempt++) {
    const need = Number(call(null, 0n));
    if (need < 0) fail(syscall, path);
    const buf = need <= scratch.length ? scratch : new Uint8Array(need);
    const got = Number(call(buf, BigInt(need)));
    if (got >= 0) return buf.slice(0, got);
    // It grew between the two calls: ask again.
    if (errno() !== ERANGE || attempt >= 8) fail(syscall, path);
  }
}

/**
 * `llistxattr(2)`: the names of the extended attributes of `path` itself (a symlink is not
 * followed), as bytes, in the order the file system keeps them. Only namespaces the caller may read
 * are listed (`trusted.*` needs CAP_SYS_ADMIN). Empty for a file without attributes — one system
 * call.
 *
 * @example
 * ```ts
 * import { llistxattr } from "./xattr.ts";
 * const names = llistxattr("/etc/hostname").map((n) => new TextDecoder().decode(n));
 * console.log(names); // e.g. ["security.selinux"]
 * ```
 */
export function llistxattr(path: string | Uint8Array): Uint8Array[] {
  const c = libc();
  const p = cpath(path);
  return splitNames(sized((buf, size) => c.llistxattr(p, buf, size), "llistxattr", path));
}

/** The names of a NUL-separated list. */
function splitNames(list: Uint8Array): Uint8Array[] {
  const names: Uint8Array[] = [];
  for (let start = 0, i = 0; i < list.length; i++) {
    if (list[i] !== 0) continue;
    if (i > start) names.push(list.subarray(start, i));
    start = i + 1;
  }
  return names;
}

/**
 * Every extended attribute of the open file `fd` as `[name, value]` pairs, as {@link lgetxattrs} gives those
 * of a path: `flistxattr(2)` and `fgetxattr(2)`, with no path to resolve (a backup's file reader has the file
 * open already).
 *
 * @example
 * ```ts
 * import { closeFd, openRead } from "./libc.ts";
 * import { fgetxattrs } from "./xattr.ts";
 * const fd = openRead("/etc/hostname");
 * try { console.log(fgetxattrs(fd).length); } finally { closeFd(fd); }
 * ```
 */
export function fgetxattrs(fd: number): [Uint8Array, Uint8Array][] {
  const c = libc();
  const shown = `fd ${fd}`;
  const out: [Uint8Array, Uint8Array][] = [];
  for (const name of splitNames(sized((buf, size) => c.flistxattr(fd, buf, size), "flistxattr", shown))) {
    const n = cpath(name, 2);
    try {
      out.push([name, sized((buf, size) => c.fgetxattr(fd, n, buf, size), "fgetxattr", shown)]);
    } catch (e) {
      if (!(e instanceof NoData)) throw e;
    }
  }
  return out;
}

/**
 * `lgetxattr(2)`: the value of one extended attribute of `path` itself (a symlink is not followed).
 * Throws {@link NoData} when it is absent.
 *
 * @example
 * ```ts
 * import { lgetxattr } from "./xattr.ts";
 * const acl = lgetxattr("/srv/data", "system.posix_acl_access");
 * console.log(acl.length);
 * ```
 */
export function lgetxattr(path: string | Uint8Array, name: string | Uint8Array): Uint8Array {
  const c = libc();
  const p = cpath(path, 0);
  const n = cpath(name, 2);
  return sized((buf, size) => c.lgetxattr(p, n, buf, size), "lgetxattr", path);
}

/**
 * Every extended attribute of `path` itself as `[name, value]` pairs (names as bytes), in
 * {@link llistxattr}'s order: what a backup records. An attribute removed between the listing and
 * its reading is left out.
 *
 * @example
 * ```ts
 * import { lgetxattrs } from "./xattr.ts";
 * const attrs = lgetxattrs("/etc/hostname");
 * console.log(attrs.length);
 * ```
 */
export function lgetxattrs(path: string | Uint8Array): [Uint8Array, Uint8Array][] {
  const out: [Uint8Array, Uint8Array][] = [];
  for (const name of llistxattr(path)) {
    try {
      out.push([name, lgetxattr(path, name)]);
    } catch (e) {
      if (!(e instanceof NoData)) throw e;
    }
  }
  return out;
}

/**
 * `lsetxattr(2)`: sets an extended attribute of `path` itself (a symlink is not followed; the
 * kernel refuses `user.*` on symlinks with EPERM). `flags`: 0 creates or replaces, else one of
 * {@link XATTR}. A value over 64 KiB throws {@link TooBig}; one over what the file system keeps in
 * place (ext4: one block) throws ENOSPC.
 *
 * @example
 * ```ts
 * import { lsetxattr } from "./xattr.ts";
 * lsetxattr("/tmp/file", "user.floe", new TextEncoder().encode("v1"));
 * ```
 */
export function lsetxattr(
  path: string | Uint8Array,
  name: string | Uint8Array,
  value: Uint8Array,
  flags = 0,
): void {
  const c = libc();
  if (c.lsetxattr(cpath(path, 0), cpath(name, 2), value, BigInt(value.byteLength), flags) !== 0) {
    fail("lsetxattr", path);
  }
}

/**
 * `lremovexattr(2)`: removes an extended attribute of `path` itself. Throws {@link NoData} when it
 * is absent.
 *
 * @example
 * ```ts
 * import { lremovexattr } from "./xattr.ts";
 * lremovexattr("/tmp/file", "user.floe");
 * ```
 */
export function lremovexattr(path: string | Uint8Array, name: string | Uint8Array): void {
  if (libc().lremovexattr(cpath(path, 0), cpath(name, 2)) !== 0) fail("lremovexattr", path);
}
