/**
 * Inode flags (`chattr`/`lsattr`: immutable, append-only, nodump, …) through the
 * `FS_IOC_GETFLAGS`/`FS_IOC_SETFLAGS` ioctls of the libc FFI layer ({@link ./libc.ts}; check its
 * `available()` first).
 *
 * Support differs by file system: ext4, XFS and btrfs keep most flags; tmpfs (Linux ≥ 6.0) keeps
 * only APPEND, IMMUTABLE, NODUMP and NOATIME and refuses the rest with EOPNOTSUPP; others have no
 * flags at all (ENOTTY → `Deno.errors.NotSupported`, or `null` from the getters). Setting or
 * clearing IMMUTABLE or APPEND needs CAP_LINUX_IMMUTABLE (`PermissionDenied` otherwise), and an
 * immutable or append-only file refuses later writes, renames, time and xattr changes — a restore
 * sets flags last.
 *
 * Flags live on regular files and directories. Opening other types to reach their flags can have
 * effects (a device's driver, a FIFO's reader), and a symlink has none: the path functions open
 * with `O_NOFOLLOW | O_NONBLOCK` and are meant for files and directories only.
 *
 * @example
 * ```ts
 * import { available } from "./libc.ts";
 * import { FS_FL, lgetflags } from "./flags.ts";
 * const f = available() ? lgetflags("/etc/hostname") : null;
 * console.log(f !== null && (f & FS_FL.IMMUTABLE) !== 0);
 * ```
 * @module
 */
import { cpath, errno, fail, libc } from "./_ffi.ts";

/**
 * Inode flag bits (`FS_*_FL` from `<linux/fs.h>`), with the `chattr` letter of each.
 *
 * @example
 * ```ts
 * import { FS_FL } from "./flags.ts";
 * const wanted = FS_FL.IMMUTABLE | FS_FL.NODUMP; // chattr +id
 * console.log(wanted.toString(16)); // "50"
 * ```
 */
export const FS_FL = {
  /** `s`: secure deletion. */
  SECRM: 0x1,
  /** `u`: undelete. */
  UNRM: 0x2,
  /** `c`: compress. */
  COMPR: 0x4,
  /** `S`: synchronous updates. */
  SYNC: 0x8,
  /** `i`: immutable. */
  IMMUTABLE: 0x10,
  /** `a`: append only. */
  APPEND: 0x20,
  /** `d`: not for dump(8). */
  NODUMP: 0x40,
  /** `A`: no atime updates. */
  NOATIME: 0x80,
  /** `m`: do not compress. */
  NOCOMP: 0x400,
  /** `E`: encrypted (read-only). */
  ENCRYPT: 0x800,
  /** `I`: hashed directory index (read-only). */
  INDEX: 0x1000,
  /** `j`: data journalling. */
  JOURNAL_DATA: 0x4000,
  /** `t`: no tail merging. */
  NOTAIL: 0x8000,
  /** `D`: synchronous directory updates. */
  DIRSYNC: 0x10000,
  /** `T`: top of a directory hierarchy. */
  TOPDIR: 0x20000,
  /** `e`: extents (read-only; ext4 refuses to clear it). */
  EXTENT: 0x80000,
  /** `V`: fs-verity (read-only). */
  VERITY: 0x100000,
  /** `C`: no copy on write. */
  NOCOW: 0x800000,
  /** `x`: direct access. */
  DAX: 0x2000000,
  /** `N`: inline data (read-only). */
  INLINE_DATA: 0x10000000,
  /** `P`: project id inheritance. */
  PROJINHERIT: 0x20000000,
  /** `F`: case-insensitive directory. */
  CASEFOLD: 0x40000000,
} as const;

/**
 * The flags a restore puts back: those `chattr` sets and that describe how the file is to be
 * treated. The rest are states of the file system (extents, inline data, index, encryption,
 * verity) or need an empty directory or special mounts (casefold, DAX).
 *
 * @example
 * ```ts
 * import { FS_FL, RESTORABLE_FLAGS } from "./flags.ts";
 * console.log((FS_FL.EXTENT & RESTORABLE_FLAGS) === 0); // true
 * ```
 */
export const RESTORABLE_FLAGS: number = FS_FL.SECRM | FS_FL.UNRM | FS_FL.COMPR | FS_FL.SYNC |
  FS_FL.IMMUTABLE | FS_FL.APPEND | FS_FL.NODUMP | FS_FL.NOATIME | FS_FL.NOCOMP | FS_FL.JOURNAL_DATA |
  FS_FL.NOTAIL | FS_FL.DIRSYNC | FS_FL.TOPDIR | FS_FL.NOCOW | FS_FL.PROJINHERIT;

/** `_IOR('f', 1, long)` and `_IOW('f', 2, long)`; the kernel moves an int either way. */
const FS_IOC_GETFLAGS = 0x80086601n;
const FS_IOC_SETFLAGS = 0x40086602n;
const EINTR = 4;
const ENOTTY = 25;
const EINVAL = 22;
const EOPNOTSUPP = 95;
const O_RDONLY_NONBLOCK_NOFOLLOW_CLOEXEC = 0x0 | 0x800 | 0x20000 | 0x80000;

const flagsBuf = new Uint8Array(8);
const flagsView = new DataView(flagsBuf.buffer);

/**
 * `ioctl(fd, FS_IOC_GETFLAGS)`: the inode flags of an open file or directory (see {@link FS_FL}),
 * or `null` when its file system has none (ENOTTY, ENOTSUP, EINVAL).
 *
 * @example
 * ```ts
 * import { closeFd, openRead } from "./libc.ts";
 * import { getflagsFd } from "./flags.ts";
 * const fd = openRead("/etc/hostname");
 * try { console.log(getflagsFd(fd)); } finally { closeFd(fd); }
 * ```
 */
export function getflagsFd(fd: number): number | null {
  const c = libc();
  flagsView.setBigUint64(0, 0n);
  while (c.ioctl(fd, FS_IOC_GETFLAGS, flagsBuf) !== 0) {
    const err = errno();
    if (err === EINTR) continue;
    if (err === ENOTTY || err === EOPNOTSUPP || err === EINVAL) return null;
    fail("ioctl FS_IOC_GETFLAGS", `fd ${fd}`);
  }
  return flagsView.getUint32(0, true);
}

/**
 * Sets the {@link RESTORABLE_FLAGS} of an open file or directory to those of `flags`, keeping its
 * other flags (the way `chattr` reads, changes and writes them back): no ioctl when nothing
 * changes. Throws `NotSupported` where the file system has no flags or refuses one of them (tmpfs:
 * anything but APPEND, IMMUTABLE, NODUMP, NOATIME), `PermissionDenied` without CAP_LINUX_IMMUTABLE
 * for IMMUTABLE/APPEND.
 *
 * @example
 * ```ts
 * import { closeFd, openRead } from "./libc.ts";
 * import { FS_FL, setflagsFd } from "./flags.ts";
 * const fd = openRead("/srv/archive/2024.tar");
 * try { setflagsFd(fd, FS_FL.NODUMP); } finally { closeFd(fd); }
 * ```
 */
export function setflagsFd(fd: number, flags: number): void {
  const current = getflagsFd(fd);
  const wanted = flags & RESTORABLE_FLAGS;
  if (current === null) {
    if (wanted === 0) return;
    // Let the kernel say why (ENOTTY → NotSupported).
  } else if (((current & ~RESTORABLE_FLAGS) | wanted) === current) return;
  flagsView.setBigUint64(0, 0n);
  flagsView.setUint32(0, ((current ?? 0) & ~RESTORABLE_FLAGS | wanted) >>> 0, true);
  const c = libc();
  while (c.ioctl(fd, FS_IOC_SETFLAGS, flagsBuf) !== 0) {
    if (errno() !== EINTR) fail("ioctl FS_IOC_SETFLAGS", `fd ${fd}`);
  }
}

function withFd<T>(path: string | Uint8Array, fn: (fd: number) => T): T {
  const c = libc();
  const fd = c.open(cpath(path), O_RDONLY_NONBLOCK_NOFOLLOW_CLOEXEC, 0);
  if (fd < 0) fail("open", path);
  try {
    return fn(fd);
  } finally {
    c.close(fd);
  }
}

/**
 * The inode flags of a regular file or directory by path ({@link getflagsFd} on an fd opened
 * read-only with `O_NOFOLLOW | O_NONBLOCK`), or `null` where the file system has none. A symlink
 * throws ELOOP (`FilesystemLoop`): do not call it on one, nor on devices, FIFOs or sockets.
 *
 * @example
 * ```ts
 * import { lgetflags } from "./flags.ts";
 * console.log(lgetflags("/etc/hostname"));
 * ```
 */
export function lgetflags(path: string | Uint8Array): number | null {
  return withFd(path, getflagsFd);
}

/**
 * {@link setflagsFd} by path, on a regular file or directory (same opening as {@link lgetflags}).
 *
 * @example
 * ```ts
 * import { FS_FL, lsetflags } from "./flags.ts";
 * lsetflags("/srv/archive/2024.tar", FS_FL.NODUMP);
 * ```
 */
export function lsetflags(path: string | Uint8Array, flags: number): void {
  withFd(path, (fd) => setflagsFd(fd, flags));
}
