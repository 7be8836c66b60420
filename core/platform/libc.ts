/**
 * A small libc FFI layer for the filesystem source (x86_64 Linux, glibc ≥ 2.33).
 *
 * Deno's fs API cannot reach file names that are not valid UTF-8 (it hands back a lossy name that
 * then fails with NotFound), reports ctime in whole seconds, and has no mkfifo/mknod, lchown,
 * lutimes or xattrs. This module fills those gaps with direct libc calls through `Deno.dlopen`.
 *
 * - The library is opened lazily on first use. {@link available} says whether it can be (FFI
 *   permitted, Linux x86_64, `libc.so.6` loads); it never throws and never prompts. Every other
 *   export throws when the layer is unavailable, so callers check {@link available} first and
 *   fall back to `Deno.*`.
 * - Paths are `string | Uint8Array`. A string is encoded as UTF-8; a `Uint8Array` is taken as raw
 *   bytes (what {@link readDirRaw} returns), optionally already NUL-terminated. A path containing
 *   an interior NUL byte is rejected with a `TypeError` (C would silently truncate it).
 * - Failures throw a {@link LibcError}-shaped error whose message is `EXXX: description: path`,
 *   e.g. `ENOENT: no such file or directory: /tmp/x`. ENOENT, EACCES/EPERM and EEXIST (and a few
 *   more, see {@link errnoError}) are thrown as the matching `Deno.errors.*` class so callers can
 *   catch them exactly like Deno's own errors. Every error carries `code` (errno name), `errno`
 *   (number), `syscall` and `path`.
 * - Calls are synchronous and reuse module-level scratch buffers (path encoding, statx result,
 *   getdents64 buffer), so there is no per-call allocation beyond the returned values. This also makes
 *   the module non-reentrant, which is fine: JS on one thread cannot interleave two sync calls.
 *
 * Struct layouts (x86_64 and every other 64-bit Linux; they are arch-independent):
 *
 * ```text
 * struct statx (256 bytes, <linux/stat.h>)          struct dirent64 (getdents64 records)
 *   0  u32 stx_mask       4  u32 stx_blksize          0  u64 d_ino
 *   8  u64 stx_attributes                             8  i64 d_off
 *  16  u32 stx_nlink     20  u32 stx_uid             16  u16 d_reclen
 *  24  u32 stx_gid       28  u16 stx_mode            18  u8  d_type
 *  30  u16 __spare0                                  19  char d_name[] (NUL-terminated,
 *                                                          padded to d_reclen, 8-aligned)
 *  32  u64 stx_ino       40  u64 stx_size
 *  48  u64 stx_blocks    56  u64 stx_attributes_mask  struct timespec (16 bytes)
 *  64  stx_atime  80 stx_btime  96 stx_ctime            0  i64 tv_sec
 * 112  stx_mtime   (struct statx_timestamp, 16 bytes:   8  i64 tv_nsec
 *                   0 i64 tv_sec, 8 u32 tv_nsec, 12 i32 pad)
 * 128  u32 stx_rdev_major  132 u32 stx_rdev_minor
 * 136  u32 stx_dev_major   140 u32 stx_dev_minor
 * 144  u64 stx_mnt_id ... (rest spare)
 * ```
 *
 * `dev`/`rdev` are returned glibc-encoded (`makedev(major, minor)`), i.e. the same numbers
 * `Deno.lstatSync().dev`/`.rdev` report and `mknod` expects.
 *
 * @module
 */

import { available, cpath, errno, errnoError, fail, libc } from "./_ffi.ts";

export {
  available,
  displayPath,
  errnoError,
  type LibcError,
  NoData,
  TooBig,
  unavailableReason,
} from "./_ffi.ts";
import { quoteName } from "./names.ts";
export { decodeUtf8, isUtf8, joinBytes, quoteName, unquoteName } from "./names.ts";

/**
 * The address of a buffer's first byte (for aligning O_DIRECT buffers). Throws when the layer is
 * unavailable.
 *
 * @example
 * ```ts
 * import { addressOf, available } from "./libc.ts";
 * if (available()) console.log(addressOf(new Uint8Array(8)) % 8);
 * ```
 */
export function addressOf(buffer: Uint8Array): number {
  return Number(libc().addressOf(buffer, buffer, 0n));
}

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

/** `AT_FDCWD`: resolve relative paths against the current working directory. */
const AT_FDCWD = -100;
/** `AT_SYMLINK_NOFOLLOW`: operate on a symlink itself rather than its target. */
const AT_SYMLINK_NOFOLLOW = 0x100;
/** `AT_EMPTY_PATH`: with an empty path, operate on the dirfd itself. */
const AT_EMPTY_PATH = 0x1000;
/** `STATX_BASIC_STATS`: everything `struct stat` has. */
const STATX_BASIC_STATS = 0x7ff;
const O_RDONLY = 0x0;
const O_WRONLY = 0x1;
const O_CREAT = 0x40;
const O_EXCL = 0x80;
const O_TRUNC = 0x200;
const O_DIRECT = 0x4000;
const O_DIRECTORY = 0x10000;
const O_NOFOLLOW = 0x20000;
const O_CLOEXEC = 0x80000;
const O_NOATIME = 0x40000;
const EPERM = 1;
const EINTR = 4;
const EIO = 5;
const EINVAL = 22;
const ENOSPC = 28;
const EOPNOTSUPP = 95;
/** `UTIME_OMIT` for `utimensat`: leave this timestamp unchanged. */
const UTIME_OMIT = (1n << 30n) - 2n;
const NS_PER_S = 1_000_000_000n;

/**
 * `d_type` values of {@link RawDirEntry.type} (`DT_*` from `<dirent.h>`).
 *
 * @example
 * ```ts
 * import { DT, readDirRaw } from "./libc.ts";
 * const subdirs = readDirRaw("/etc").filter((e) => e.type === DT.DIR);
 * console.log(subdirs.length);
 * ```
 */
export const DT = {
  /** The filesystem does not report types; `lstat` the entry. */
  UNKNOWN: 0,
  FIFO: 1,
  CHR: 2,
  DIR: 4,
  BLK: 6,
  REG: 8,
  LNK: 10,
  SOCK: 12,
} as const;

/**
 * File type bits of `mode` (`S_IF*` from `<sys/stat.h>`), e.g. for {@link mknod}.
 *
 * @example
 * ```ts
 * import { lstatNs, S_IF } from "./libc.ts";
 * const isSymlink = (lstatNs("/bin").mode & S_IF.MT) === S_IF.LNK;
 * console.log(isSymlink);
 * ```
 */
export const S_IF = {
  /** Mask of the type bits. */
  MT: 0o170000,
  SOCK: 0o140000,
  LNK: 0o120000,
  REG: 0o100000,
  BLK: 0o060000,
  DIR: 0o040000,
  CHR: 0o020000,
  FIFO: 0o010000,
} as const;

// ---------------------------------------------------------------------------------------------
// statx
// ---------------------------------------------------------------------------------------------

/**
 * Result of {@link lstatNs}: `struct statx` with nanosecond times.
 *
 * @example
 * ```ts
 * import { lstatNs, type StatNs } from "./libc.ts";
 * const st: StatNs = lstatNs("/etc/hostname");
 * const changed = (old: StatNs) => old.ctimeNs !== st.ctimeNs || old.ino !== st.ino;
 * console.log(changed(st)); // false
 * ```
 */
export interface StatNs {
  /** Modification time, ns since the epoch. */
  mtimeNs: bigint;
  /** Status change time, ns since the epoch. */
  ctimeNs: bigint;
  /** Access time, ns since the epoch. */
  atimeNs: bigint;
  /** Birth time, ns since the epoch, or `null` when the filesystem does not report it. */
  birthtimeNs: bigint | null;
  ino: bigint;
  /** Device of the filesystem, glibc-encoded (`makedev(major, minor)`). */
  dev: bigint;
  nlink: number;
  /** Type and permission bits (`S_IF*` | 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: bigint;
  /** 512-byte blocks allocated. */
  blocks: bigint;
  /** Device number for char/block devices, glibc-encoded. */
  rdev: bigint;
}

const statxBuf = new Uint8Array(256);
const statxView = new DataView(statxBuf.buffer);
const STATX_BTIME = 0x800;

function tsAt(off: number): bigint {
  return statxView.getBigInt64(off, true) * NS_PER_S + BigInt(statxView.getUint32(off + 8, true));
}

function parseStatx(): StatNs {
  const v = statxView;
  return {
    mtimeNs: tsAt(112),
    ctimeNs: tsAt(96),
    atimeNs: tsAt(64),
    birthtimeNs: (v.getUint32(0, true) & STATX_BTIME) !== 0 ? tsAt(80) : null,
    ino: v.getBigUint64(32, true),
    dev: makedev(v.getUint32(136, true), v.getUint32(140, true)),
    nlink: v.getUint32(16, true),
    mode: v.getUint16(28, true),
    uid: v.getUint32(20, true),
    gid: v.getUint32(24, true),
    size: v.getBigUint64(40, true),
    blocks: v.getBigUint64(48, true),
    rdev: makedev(v.getUint32(128, true), v.getUint32(132, true)),
  };
}

/**
 * `lstat` with nanosecond times via `statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW,
 * STATX_BASIC_STATS | STATX_BTIME)`. Does not follow a final symlink. Accepts byte paths, so it
 * reaches names Deno's `lstat` cannot.
 *
 * @example
 * ```ts
 * import { lstatNs, S_IF } from "./libc.ts";
 * const st = lstatNs("/etc/hostname");
 * const isFile = (st.mode & S_IF.MT) === S_IF.REG;
 * console.log(isFile, st.size, st.ctimeNs % 1_000_000_000n); // sub-second ctime
 * ```
 */
export function lstatNs(path: string | Uint8Array): StatNs {
  const c = libc();
  if (c.statx(AT_FDCWD, cpath(path), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, statxBuf) !== 0) {
    fail("statx", path);
  }
  return parseStatx();
}

/** What {@link lstatMs} returns: `lstat` as plain numbers, times in milliseconds since the epoch. */
export interface StatMs {
  /** Type and permission bits (`S_IF*` | 0o7777). */
  mode: number;
  /** Size in bytes. */
  size: number;
  /** Modification time in whole ms (as Deno's `lstat` reports it). */
  mtimeMs: number;
  /** Access time in whole ms. */
  atimeMs: number;
  /** Status change time in ms with a microsecond fraction. */
  ctimeMs: number;
  /** Inode number. */
  ino: number;
  /** Device of the filesystem, glibc-encoded. */
  dev: number;
  /** Hard link count. */
  nlink: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Device number for char/block devices, glibc-encoded. */
  rdev: number;
  /** Modification time, ns since the epoch, as a decimal string (exact, no BigInt). */
  mtimeNs: string;
  /** Access time, ns since the epoch, as a decimal string. */
  atimeNs: string;
  /** Status change time, ns since the epoch, as a decimal string. */
  ctimeNs: string;
  /** Birth time, ns since the epoch, as a decimal string, or `null` when the file system does not report it. */
  btimeNs: string | null;
}

/** A statx timestamp as a decimal string of ns: exact, and without a BigInt but for times before 1970. */
function nsAt(off: number): string {
  const sec = secAt(off);
  const nsec = statxView.getUint32(off + 8, true);
  if (sec > 0) return `${sec}${String(nsec).padStart(9, "0")}`;
  if (sec === 0) return String(nsec);
  return tsAt(off).toString();
}

/** A 64-bit field as a number without a BigInt (exact below 2^53). */
function u64At(off: number): number {
  return statxView.getUint32(off, true) + statxView.getUint32(off + 4, true) * 0x1_0000_0000;
}

/** Seconds of a statx timestamp (signed 64-bit) as a number. */
function secAt(off: number): number {
  return statxView.getUint32(off, true) + statxView.getInt32(off + 4, true) * 0x1_0000_0000;
}

function msAt(off: number): number {
  return secAt(off) * 1000 + Math.floor(statxView.getUint32(off + 8, true) / 1e6);
}

function devAt(off: number): number {
  const major = statxView.getUint32(off, true);
  const minor = statxView.getUint32(off + 4, true);
  if (major < 0x1000 && minor < 0x100) return (major << 8) | minor; // the common case, no BigInt
  return Number(makedev(major, minor));
}

/**
 * `lstat` through one `statx` call with plain numbers (no BigInt): what a directory walk needs,
 * with ctime to the microsecond. Several times cheaper than {@link lstatNs} plus `Deno.lstatSync`.
 *
 * @example
 * ```ts
 * import { lstatMs, S_IF } from "./libc.ts";
 * const st = lstatMs("/etc/hostname");
 * console.log((st.mode & S_IF.MT) === S_IF.REG, st.size, st.mtimeMs);
 * ```
 */
export function lstatMs(path: string | Uint8Array): StatMs {
  const c = libc();
  if (c.statx(AT_FDCWD, cpath(path), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, statxBuf) !== 0) {
    fail("statx", path);
  }
  const v = statxView;
  const ctimeUs = secAt(96) * 1e6 + Math.floor(v.getUint32(104, true) / 1000);
  // One string for equal instants: a file written once has mtime = ctime (= birth time), and a walk makes
  // these for every entry, which it keeps until the backup takes them.
  const mtimeNs = nsAt(112);
  const ctimeNs = sameTs(96, 112) ? mtimeNs : nsAt(96);
  const atimeNs = sameTs(64, 112) ? mtimeNs : nsAt(64);
  const btimeNs = (v.getUint32(0, true) & STATX_BTIME) === 0
    ? null
    : sameTs(80, 112)
    ? mtimeNs
    : sameTs(80, 64)
    ? atimeNs
    : nsAt(80);
  return {
    mode: v.getUint16(28, true),
    size: u64At(40),
    mtimeMs: msAt(112),
    atimeMs: msAt(64),
    ctimeMs: ctimeUs / 1000,
    ino: u64At(32),
    dev: devAt(136),
    nlink: v.getUint32(16, true),
    uid: v.getUint32(20, true),
    gid: v.getUint32(24, true),
    rdev: devAt(128),
    mtimeNs,
    atimeNs,
    ctimeNs,
    btimeNs,
  };
}

/** Whether the statx timestamps at offsets `a` and `b` of the buffer are the same instant. */
function sameTs(a: number, b: number): boolean {
  const v = statxView;
  return v.getUint32(a + 8, true) === v.getUint32(b + 8, true) &&
    v.getUint32(a, true) === v.getUint32(b, true) &&
    v.getInt32(a + 4, true) === v.getInt32(b + 4, true);
}

/**
 * `fstat` with nanosecond times (`statx` with `AT_EMPTY_PATH` on an open fd), e.g. to check that
 * a file did not change while it was being read.
 *
 * @example
 * ```ts
 * import { closeFd, fstatNs, openRead } from "./libc.ts";
 * const fd = openRead(new TextEncoder().encode("/etc/hostname"));
 * try { console.log(fstatNs(fd).size); } finally { closeFd(fd); }
 * ```
 */
export function fstatNs(fd: number): StatNs {
  const c = libc();
  if (c.statx(fd, EMPTY_CSTR, AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, statxBuf) !== 0) {
    fail("statx", `fd ${fd}`);
  }
  return parseStatx();
}
const EMPTY_CSTR = new Uint8Array(1);

/**
 * glibc's `makedev`: combines major and minor numbers into a `dev_t` as `lstatNs().rdev` reports
 * it and {@link mknod} expects.
 *
 * @example
 * ```ts
 * import { makedev } from "./libc.ts";
 * makedev(1, 3); // 259n, /dev/null
 * ```
 */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/**
 * Splits a glibc `dev_t` into `[major, minor]` (inverse of {@link makedev}).
 *
 * @example
 * ```ts
 * import { splitDev } from "./libc.ts";
 * splitDev(259n); // [1, 3]
 * ```
 */
export function splitDev(dev: bigint | number): [number, number] {
  const d = BigInt(dev);
  const major = ((d >> 32n) & 0xfffff000n) | ((d >> 8n) & 0xfffn);
  const minor = ((d >> 12n) & 0xffffff00n) | (d & 0xffn);
  return [Number(major), Number(minor)];
}

// ---------------------------------------------------------------------------------------------
// Directories
// ---------------------------------------------------------------------------------------------

/**
 * One entry of {@link readDirRaw}.
 *
 * @example
 * ```ts
 * import { decodeUtf8, type RawDirEntry, readDirRaw } from "./libc.ts";
 * const entries: RawDirEntry[] = readDirRaw("/tmp");
 * console.log(entries.map((e) => decodeUtf8(e.name) ?? e.name));
 * ```
 */
export interface RawDirEntry {
  /** The name's raw bytes (no NUL, no directory part). */
  name: Uint8Array;
  /** `d_type`, one of {@link DT}; `DT.UNKNOWN` means the filesystem did not say — lstat it. */
  type: number;
}

/** getdents64 result buffer (glibc's own readdir uses 32 KiB). */
const direntBuf = new Uint8Array(64 * 1024);
const direntView = new DataView(direntBuf.buffer);
const DIRENT_BUF_SIZE = BigInt(direntBuf.byteLength);

/**
 * Lists a directory, returning raw byte names (excluding `.` and `..`) and `d_type`. Names that
 * are not valid UTF-8 come back intact.
 *
 * Listing does not move the directory's access time: it is opened with `O_NOATIME` (as restic does), so a
 * backup that records atimes does not change the very trees it reads at every run (under `relatime` a
 * listing updates an atime older than 24 h). Without the right to (not the owner, no CAP_FOWNER: EPERM) it
 * is opened as usual.
 *
 * Implementation: `open(O_RDONLY | O_DIRECTORY | O_CLOEXEC)` then `getdents64` (glibc ≥ 2.30) into
 * a 64 KiB scratch buffer, parsing the `struct dirent64` records in JS — the same records glibc's
 * `readdir64` hands out one at a time, but one FFI call per ~2,000 entries instead of one per entry
 * (about 1.5× faster than `opendir`/`readdir64`/`closedir`, and faster than `Deno.readDirSync`).
 *
 * @example
 * ```ts
 * import { DT, isUtf8, readDirRaw } from "./libc.ts";
 * for (const { name, type } of readDirRaw("/tmp")) {
 *   if (type === DT.DIR) console.log("dir", isUtf8(name) ? new TextDecoder().decode(name) : name);
 * }
 * ```
 */
export function readDirRaw(dir: string | Uint8Array): RawDirEntry[] {
  const out: RawDirEntry[] = [];
  listDir(dir, (start, end, type) => out.push({ name: direntBuf.slice(start, end), type }));
  return out;
}

/**
 * One entry of {@link readDirNames}: the name as {@link quoteName} shows it, and its raw bytes only when
 * that form is quoted (not UTF-8, a control character, a leading `"`).
 *
 * @example
 * ```ts
 * import { type DirName, readDirNames } from "./libc.ts";
 * const names: DirName[] = readDirNames("/tmp");
 * console.log(names.filter((n) => n.bytes).length, "names that are not plain");
 * ```
 */
export interface DirName {
  /** The name's display form (itself when plain). */
  name: string;
  /** The raw bytes, when `name` is quoted. */
  bytes?: Uint8Array;
}

/**
 * Lists a directory as {@link readDirRaw} does, each name already in its display form
 * (`{ name: quoteName(raw), bytes: raw }`, bytes only when quoted): a directory walk's listing. A plain
 * ASCII name becomes its string straight from the listing buffer, with no byte copy of its own (most
 * names: a walk of 30,000 entries made as many `Uint8Array`s only to turn them into strings).
 *
 * @example
 * ```ts
 * import { readDirNames } from "./libc.ts";
 * for (const { name, bytes } of readDirNames("/tmp")) console.log(bytes ? `${name} (not plain)` : name);
 * ```
 */
export function readDirNames(dir: string | Uint8Array): DirName[] {
  const out: DirName[] = [];
  const buf = direntBuf;
  listDir(dir, (start, end) => {
    // Plain ASCII: printable bytes and no leading quote, which quoteName shows as they are.
    let plain = buf[start] !== 0x22;
    for (let i = start; plain && i < end; i++) plain = buf[i] >= 0x20 && buf[i] < 0x7f;
    if (plain) {
      out.push({ name: String.fromCharCode.apply(null, buf.subarray(start, end) as unknown as number[]) });
    } else {
      const bytes = buf.slice(start, end);
      const name = quoteName(bytes);
      out.push(name.charCodeAt(0) === 0x22 ? { name, bytes } : { name });
    }
  });
  return out;
}

/**
 * Calls `each` with the bounds of every name in `dir` (in {@link direntBuf}, valid during the call) and its
 * `d_type`, skipping `.` and `..`.
 */
function listDir(dir: string | Uint8Array, each: (start: number, end: number, type: number) => void): void {
  const c = libc();
  const path = cpath(dir);
  let fd = c.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOATIME, 0);
  if (fd < 0 && errno() === EPERM) fd = c.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) fail("open", dir);
  const buf = direntBuf;
  try {
    for (;;) {
      const n = Number(c.getdents64(fd, buf, DIRENT_BUF_SIZE));
      if (n === 0) break;
      if (n < 0) {
        if (errno() === EINTR) continue;
        fail("getdents64", dir);
      }
      // struct dirent64: d_ino u64 @0, d_off i64 @8, d_reclen u16 @16, d_type u8 @18, d_name @19.
      for (let off = 0; off < n;) {
        const reclen = direntView.getUint16(off + 16, true);
        if (reclen === 0) break; // cannot happen; guards against an infinite loop
        const start = off + 19;
        const limit = off + reclen;
        let end = start;
        while (end < limit && buf[end] !== 0) end++;
        const len = end - start;
        // Skip "." and "..".
        if (!(buf[start] === 0x2e && (len === 1 || (len === 2 && buf[start + 1] === 0x2e)))) {
          each(start, end, buf[off + 18]);
        }
        off = limit;
      }
    }
  } finally {
    c.close(fd);
  }
}

/**
 * `mkdir(2)` on a string or byte path (mode is filtered by the umask).
 *
 * @example
 * ```ts
 * import { mkdirBytes } from "./libc.ts";
 * mkdirBytes(new Uint8Array([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0x64, 0xff]), 0o755); // "/tmp/d\xff"
 * ```
 */
export function mkdirBytes(path: string | Uint8Array, mode = 0o777): void {
  if (libc().mkdir(cpath(path), mode) !== 0) fail("mkdir", path);
}

/**
 * `symlink(2)`: creates `path` as a symlink pointing to `target`; both may be byte strings.
 *
 * @example
 * ```ts
 * import { symlinkBytes } from "./libc.ts";
 * symlinkBytes(new Uint8Array([0x78, 0xff]), "/tmp/link-to-x-ff");
 * ```
 */
export function symlinkBytes(target: string | Uint8Array, path: string | Uint8Array): void {
  if (libc().symlink(cpath(target, 1), cpath(path, 0)) !== 0) fail("symlink", path);
}

/**
 * `readlink(2)`: a symlink's target as raw bytes (targets, like names, need not be UTF-8).
 *
 * @example
 * ```ts
 * import { readlinkBytes } from "./libc.ts";
 * const target = readlinkBytes("/proc/self/exe");
 * console.log(target.length);
 * ```
 */
export function readlinkBytes(path: string | Uint8Array): Uint8Array {
  const c = libc();
  const p = cpath(path);
  for (let size = 256;; size *= 4) {
    const buf = new Uint8Array(size);
    const n = Number(c.readlink(p, buf, BigInt(size)));
    if (n < 0) fail("readlink", path);
    if (n < size) return buf.slice(0, n);
  }
}

/**
 * `link(2)`: creates `path` as a hard link to `existing` (for restoring hard links).
 *
 * @example
 * ```ts
 * import { linkBytes } from "./libc.ts";
 * linkBytes("/tmp/a", new Uint8Array([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0xff]));
 * ```
 */
export function linkBytes(existing: string | Uint8Array, path: string | Uint8Array): void {
  if (libc().link(cpath(existing, 1), cpath(path, 0)) !== 0) fail("link", path);
}

/**
 * `rename(2)`: atomically moves `from` to `to`, replacing `to` if it exists.
 *
 * @example
 * ```ts
 * import { renameBytes } from "./libc.ts";
 * renameBytes("/tmp/.partial", new Uint8Array([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0xff]));
 * ```
 */
export function renameBytes(from: string | Uint8Array, to: string | Uint8Array): void {
  if (libc().rename(cpath(from, 1), cpath(to, 0)) !== 0) fail("rename", to);
}

/**
 * `unlink(2)`: removes a non-directory (a symlink itself, not its target).
 *
 * @example
 * ```ts
 * import { unlinkBytes } from "./libc.ts";
 * unlinkBytes(new Uint8Array([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0xff]));
 * ```
 */
export function unlinkBytes(path: string | Uint8Array): void {
  if (libc().unlink(cpath(path)) !== 0) fail("unlink", path);
}

/**
 * `rmdir(2)`: removes an empty directory.
 *
 * @example
 * ```ts
 * import { rmdirBytes } from "./libc.ts";
 * rmdirBytes(new Uint8Array([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0x64, 0xff]));
 * ```
 */
export function rmdirBytes(path: string | Uint8Array): void {
  if (libc().rmdir(cpath(path)) !== 0) fail("rmdir", path);
}

/**
 * `chmod(2)`: sets permission bits (0o7777, not filtered by the umask). Follows symlinks — Linux
 * has no way to change a symlink's own mode (and it is meaningless), so skip symlinks.
 *
 * @example
 * ```ts
 * import { chmodBytes } from "./libc.ts";
 * chmodBytes(new Uint8Array([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0xff]), 0o4755);
 * ```
 */
export function chmodBytes(path: string | Uint8Array, mode: number): void {
  if (libc().chmod(cpath(path), mode & 0o7777) !== 0) fail("chmod", path);
}

// ---------------------------------------------------------------------------------------------
// Special files, ownership, times
// ---------------------------------------------------------------------------------------------

/**
 * `mkfifo(3)`: creates a named pipe (mode is filtered by the umask).
 *
 * @example
 * ```ts
 * import { mkfifo } from "./libc.ts";
 * mkfifo("/tmp/my.fifo", 0o600);
 * ```
 */
export function mkfifo(path: string | Uint8Array, mode: number): void {
  if (libc().mkfifo(cpath(path), mode) !== 0) fail("mkfifo", path);
}

/**
 * `mknod(2)`: creates a char/block device (needs CAP_MKNOD), FIFO or socket node. `mode` includes
 * the type bits ({@link S_IF}); `dev` is a glibc `dev_t` as `lstatNs().rdev` returns.
 *
 * @example
 * ```ts
 * import { makedev, mknod, S_IF } from "./libc.ts";
 * mknod("/tmp/null2", S_IF.CHR | 0o666, makedev(1, 3)); // as root
 * ```
 */
export function mknod(path: string | Uint8Array, mode: number, dev: bigint | number = 0n): void {
  if (libc().mknod(cpath(path), mode, BigInt(dev)) !== 0) fail("mknod", path);
}

/**
 * `lchown(2)`: changes owner and group of `path` itself, not following a symlink. Pass `-1` to
 * leave the uid or gid unchanged.
 *
 * @example
 * ```ts
 * import { lchown } from "./libc.ts";
 * lchown("/tmp/some-symlink", 1000, 1000); // as root
 * ```
 */
export function lchown(path: string | Uint8Array, uid: number, gid: number): void {
  if (libc().lchown(cpath(path), uid >>> 0, gid >>> 0) !== 0) fail("lchown", path);
}

const timesBuf = new BigInt64Array(4);

function putTime(i: number, ns: bigint | null): void {
  if (ns === null) {
    timesBuf[i] = 0n;
    timesBuf[i + 1] = UTIME_OMIT;
    return;
  }
  let s = ns / NS_PER_S;
  let n = ns % NS_PER_S;
  if (n < 0n) {
    n += NS_PER_S;
    s -= 1n;
  }
  timesBuf[i] = s;
  timesBuf[i + 1] = n;
}

/**
 * `utimensat(AT_FDCWD, path, [atime, mtime], noFollow ? AT_SYMLINK_NOFOLLOW : 0)`: sets access and
 * modification times with nanosecond precision, on a symlink itself when `noFollow` is set. A
 * `null` time is left unchanged (`UTIME_OMIT`). Times before 1970 (negative) are supported.
 *
 * @example
 * ```ts
 * import { lstatNs, setTimes } from "./libc.ts";
 * setTimes("/tmp/link", 1_700_000_000_123_456_789n, 1_700_000_000_987_654_321n, { noFollow: true });
 * lstatNs("/tmp/link").mtimeNs; // 1700000000987654321n
 * ```
 */
export function setTimes(
  path: string | Uint8Array,
  atimeNs: bigint | null,
  mtimeNs: bigint | null,
  options: { noFollow?: boolean } = {},
): void {
  putTime(0, atimeNs);
  putTime(2, mtimeNs);
  const flags = options.noFollow ? AT_SYMLINK_NOFOLLOW : 0;
  if (libc().utimensat(AT_FDCWD, cpath(path), timesBuf, flags) !== 0) fail("utimensat", path);
}

/**
 * `fchown(2)`: changes owner and group of the open file `fd` (no path is looked up again). Pass `-1` to
 * leave the uid or gid unchanged. Like any chown, it clears the setuid and setgid bits: set the mode after.
 *
 * @example
 * ```ts
 * import { closeFd, fchownFd, openWrite } from "./libc.ts";
 * const fd = openWrite("/tmp/owned", 0o644);
 * try { fchownFd(fd, 1000, 1000); } finally { closeFd(fd); } // as root
 * ```
 */
export function fchownFd(fd: number, uid: number, gid: number): void {
  if (libc().fchown(fd, uid >>> 0, gid >>> 0) !== 0) fail("fchown", `fd ${fd}`);
}

/**
 * `fchmod(2)`: sets the permission bits (0o7777, not filtered by the umask) of the open file `fd`.
 *
 * @example
 * ```ts
 * import { closeFd, fchmodFd, openWrite } from "./libc.ts";
 * const fd = openWrite("/tmp/setuid-tool", 0o600);
 * try { fchmodFd(fd, 0o4755); } finally { closeFd(fd); }
 * ```
 */
export function fchmodFd(fd: number, mode: number): void {
  if (libc().fchmod(fd, mode & 0o7777) !== 0) fail("fchmod", `fd ${fd}`);
}

/**
 * `futimens(3)`: sets access and modification times of the open file `fd` with nanosecond precision, as
 * {@link setTimes} does for a path. A `null` time is left unchanged (`UTIME_OMIT`).
 *
 * @example
 * ```ts
 * import { closeFd, futimensFd, lstatNs, openWrite } from "./libc.ts";
 * const fd = openWrite("/tmp/timed", 0o644);
 * try { futimensFd(fd, null, 1_700_000_000_987_654_321n); } finally { closeFd(fd); }
 * lstatNs("/tmp/timed").mtimeNs; // 1700000000987654321n
 * ```
 */
export function futimensFd(fd: number, atimeNs: bigint | null, mtimeNs: bigint | null): void {
  putTime(0, atimeNs);
  putTime(2, mtimeNs);
  if (libc().futimens(fd, timesBuf) !== 0) fail("futimens", `fd ${fd}`);
}

// ---------------------------------------------------------------------------------------------
// File descriptors
// ---------------------------------------------------------------------------------------------

function openPath(path: string | Uint8Array, flags: number, mode: number): number {
  const fd = libc().open(cpath(path), flags | O_CLOEXEC, mode);
  if (fd < 0) fail("open", path);
  return fd;
}

/**
 * Opens a file for reading (`O_RDONLY | O_CLOEXEC`, plus `O_NOFOLLOW` with `noFollow`) and returns
 * the fd. Close it with {@link closeFd}. Opening a FIFO this way blocks until a writer appears —
 * check the type first.
 *
 * @example
 * ```ts
 * import { closeFd, openRead, readFd } from "./libc.ts";
 * const fd = openRead(new Uint8Array([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0xff])); // "/tmp/\xff"
 * try {
 *   const buf = new Uint8Array(65536);
 *   for (let n; (n = readFd(fd, buf)) > 0;) console.log(buf.subarray(0, n));
 * } finally {
 *   closeFd(fd);
 * }
 * ```
 */
export function openRead(path: string | Uint8Array, options: { noFollow?: boolean } = {}): number {
  return openPath(path, O_RDONLY | (options.noFollow ? O_NOFOLLOW : 0), 0);
}

/**
 * Opens (creating or truncating) a file for writing: `O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC`.
 * `mode` applies only when the file is created, filtered by the umask.
 *
 * @example
 * ```ts
 * import { closeFd, openWrite, writeFd } from "./libc.ts";
 * const fd = openWrite(new Uint8Array([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0xff]), 0o644);
 * try { writeFd(fd, new TextEncoder().encode("hello")); } finally { closeFd(fd); }
 * ```
 */
export function openWrite(path: string | Uint8Array, mode = 0o666): number {
  return openPath(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

/**
 * Creates a new file for writing, failing if anything is at `path` already, even a symlink or a
 * dangling one (`O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC`): what a restore uses so that it never
 * writes through a link planted in the target. `mode` is filtered by the umask.
 *
 * @example
 * ```ts
 * import { closeFd, openNew, writeFd } from "./libc.ts";
 * const fd = openNew(new Uint8Array([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0xfe]), 0o600); // "/tmp/\xfe"
 * try { writeFd(fd, new TextEncoder().encode("x")); } finally { closeFd(fd); }
 * ```
 */
export function openNew(path: string | Uint8Array, mode = 0o666): number {
  return openPath(path, O_WRONLY | O_CREAT | O_EXCL, mode);
}

/**
 * Opens an existing file for writing, neither creating nor truncating it and never through a symlink
 * (`O_WRONLY | O_NOFOLLOW | O_CLOEXEC`; a symlink at `path` fails with ELOOP).
 *
 * @example
 * ```ts
 * import { closeFd, openExisting, pwriteFd } from "./libc.ts";
 * const fd = openExisting("/tmp/out.bin");
 * pwriteFd(fd, new TextEncoder().encode("x"), 10);
 * closeFd(fd);
 * ```
 */
export function openExisting(path: string | Uint8Array): number {
  return openPath(path, O_WRONLY | O_NOFOLLOW, 0);
}

/**
 * `read(2)` into `buf` (a view's offset is honoured); returns the byte count, 0 at end of file.
 * Retries on EINTR.
 *
 * @example
 * ```ts
 * import { closeFd, openRead, readFd } from "./libc.ts";
 * const fd = openRead("/etc/hostname");
 * const buf = new Uint8Array(4096);
 * const n = readFd(fd, buf);
 * closeFd(fd);
 * console.log(new TextDecoder().decode(buf.subarray(0, n)));
 * ```
 */
export function readFd(fd: number, buf: Uint8Array): number {
  const c = libc();
  for (;;) {
    const n = Number(c.read(fd, buf, BigInt(buf.byteLength)));
    if (n >= 0) return n;
    if (errno() !== EINTR) fail("read", `fd ${fd}`);
  }
}

/**
 * Writes all of `buf` with `write(2)`, looping over short writes and EINTR; returns
 * `buf.byteLength`.
 *
 * @example
 * ```ts
 * import { closeFd, openWrite, writeFd } from "./libc.ts";
 * const fd = openWrite("/tmp/out.txt", 0o644);
 * writeFd(fd, new TextEncoder().encode("data"));
 * closeFd(fd);
 * ```
 */
export function writeFd(fd: number, buf: Uint8Array): number {
  const c = libc();
  let off = 0;
  while (off < buf.byteLength) {
    const n = Number(c.write(fd, off === 0 ? buf : buf.subarray(off), BigInt(buf.byteLength - off)));
    if (n < 0) {
      if (errno() === EINTR) continue;
      fail("write", `fd ${fd}`);
    }
    off += n;
  }
  return off;
}

/**
 * `pread(2)` into `buf` at `offset` (the file position is left alone); returns the byte count, 0 at end of
 * file. Retries on EINTR.
 *
 * @example
 * ```ts
 * import { closeFd, openRead, preadFd } from "./libc.ts";
 * const fd = openRead("/etc/hostname");
 * const n = preadFd(fd, new Uint8Array(4096), 0);
 * closeFd(fd);
 * ```
 */
export function preadFd(fd: number, buf: Uint8Array, offset: number): number {
  const c = libc();
  for (;;) {
    const n = Number(c.pread(fd, buf, BigInt(buf.byteLength), BigInt(offset)));
    if (n >= 0) return n;
    if (errno() !== EINTR) fail("pread", `fd ${fd}`);
  }
}

/**
 * Writes all of `buf` at `offset` with `pwrite(2)` (the file position is left alone), looping over short
 * writes and EINTR.
 *
 * @example
 * ```ts
 * import { closeFd, openWrite, pwriteFd } from "./libc.ts";
 * const fd = openWrite("/tmp/out.bin", 0o644);
 * pwriteFd(fd, new TextEncoder().encode("data"), 4096);
 * closeFd(fd);
 * ```
 */
export function pwriteFd(fd: number, buf: Uint8Array, offset: number): void {
  const c = libc();
  for (let done = 0; done < buf.byteLength;) {
    const rest = done === 0 ? buf : buf.subarray(done);
    const n = Number(c.pwrite(fd, rest, BigInt(rest.byteLength), BigInt(offset + done)));
    if (n < 0) {
      if (errno() === EINTR) continue;
      fail("pwrite", `fd ${fd}`);
    }
    if (n === 0) throw errnoError(ENOSPC, "pwrite", `fd ${fd}`);
    done += n;
  }
}

/**
 * `close(2)`. EINTR is not retried (on Linux the fd is released regardless).
 *
 * @example
 * ```ts
 * import { closeFd, openRead } from "./libc.ts";
 * closeFd(openRead("/etc/hostname"));
 * ```
 */
export function closeFd(fd: number): void {
  if (libc().close(fd) !== 0 && errno() !== EINTR) fail("close", `fd ${fd}`);
}

// ---------------------------------------------------------------------------------------------
// Direct I/O
// ---------------------------------------------------------------------------------------------

/**
 * Alignment of buffers, offsets and lengths for {@link openDirect} files (the largest logical block size).
 *
 * @example
 * ```ts
 * import { DIRECT_ALIGN } from "./libc.ts";
 * console.log(Math.ceil(5000 / DIRECT_ALIGN) * DIRECT_ALIGN); // 8192
 * ```
 */
export const DIRECT_ALIGN = 4096;

/**
 * Creates a new file for writing with `O_DIRECT` (`O_WRONLY | O_CREAT | O_EXCL | O_DIRECT |
 * O_CLOEXEC`): writes go from the caller's buffer to the device, not through the page cache. Returns
 * the fd, or `null` when the file system refuses `O_DIRECT` (EINVAL; nothing was created). Writes to it
 * must use buffers, offsets and lengths aligned to {@link DIRECT_ALIGN}.
 *
 * @example
 * ```ts
 * import { closeFd, openDirect } from "./libc.ts";
 * const fd = openDirect("/var/tmp/pack.tmp", 0o644);
 * if (fd !== null) closeFd(fd); // else: write it the ordinary way
 * ```
 */
export function openDirect(path: string | Uint8Array, mode = 0o666): number | null {
  const fd = libc().open(cpath(path), O_WRONLY | O_CREAT | O_EXCL | O_DIRECT | O_CLOEXEC, mode);
  if (fd >= 0) return fd;
  if (errno() === EINVAL) return null;
  fail("open", path);
}

/**
 * `pwrite(2)` of all of `buf` at `offset`, run on a thread of Deno's blocking pool so the caller's
 * thread goes on while the device works. `buf` must stay referenced (and unchanged) until the promise
 * settles. errno belongs to the thread that ran the call, so a failed call is repeated here on the
 * calling thread to learn it (a pwrite of the same bytes at the same place is idempotent); a short
 * write is completed the same way.
 *
 * @example
 * ```ts
 * import { closeFd, openWrite, pwriteAsync } from "./libc.ts";
 * const fd = openWrite("/tmp/out.bin", 0o644);
 * await pwriteAsync(fd, new Uint8Array(4096), 0);
 * closeFd(fd);
 * ```
 */
export async function pwriteAsync(fd: number, buf: Uint8Array, offset: number): Promise<void> {
  const c = libc();
  const n = Number(await c.pwrite_nb(fd, buf, BigInt(buf.byteLength), BigInt(offset)));
  if (n === buf.byteLength) return;
  let done = Math.max(0, n);
  while (done < buf.byteLength) {
    const rest = buf.subarray(done);
    const m = Number(c.pwrite(fd, rest, BigInt(rest.byteLength), BigInt(offset + done)));
    if (m < 0) {
      if (errno() === EINTR) continue;
      fail("pwrite", `fd ${fd}`);
    }
    if (m === 0) throw errnoError(ENOSPC, "pwrite", `fd ${fd}`);
    done += m;
  }
}

/**
 * `fsync(2)` on a thread of Deno's blocking pool. A failure is reported with the errno of a second,
 * synchronous fsync, or as EIO when that one succeeds (Linux reports a writeback error to each file
 * description once).
 *
 * @example
 * ```ts
 * import { closeFd, fsyncAsync, openWrite } from "./libc.ts";
 * const fd = openWrite("/tmp/out.bin", 0o644);
 * await fsyncAsync(fd);
 * closeFd(fd);
 * ```
 */
export async function fsyncAsync(fd: number): Promise<void> {
  const c = libc();
  if ((await c.fsync_nb(fd)) === 0) return;
  if (c.fsync(fd) !== 0) fail("fsync", `fd ${fd}`);
  throw errnoError(EIO, "fsync", `fd ${fd}`);
}

/**
 * Reserves `size` bytes for the open file `fd` (`fallocate(2)`, mode 0: the file's size becomes at
 * least `size`, the range reads as zeros), so the file system can allocate it in one piece. Returns
 * false where the file system does not support it (EOPNOTSUPP); throws on other failures (ENOSPC).
 *
 * @example
 * ```ts
 * import { closeFd, fallocateFd, openWrite } from "./libc.ts";
 * const fd = openWrite("/tmp/out.bin", 0o644);
 * fallocateFd(fd, 1 << 20);
 * closeFd(fd);
 * ```
 */
export function fallocateFd(fd: number, size: number): boolean {
  const c = libc();
  while (c.fallocate(fd, 0, 0n, BigInt(size)) !== 0) {
    const err = errno();
    if (err === EINTR) continue;
    if (err === EOPNOTSUPP) return false;
    fail("fallocate", `fd ${fd}`);
  }
  return true;
}

/**
 * `ftruncate(2)`: sets the size of the open file `fd`.
 *
 * @example
 * ```ts
 * import { closeFd, ftruncateFd, openWrite } from "./libc.ts";
 * const fd = openWrite("/tmp/out.bin", 0o644);
 * ftruncateFd(fd, 10);
 * closeFd(fd);
 * ```
 */
export function ftruncateFd(fd: number, size: number): void {
  const c = libc();
  while (c.ftruncate(fd, BigInt(size)) !== 0) {
    if (errno() !== EINTR) fail("ftruncate", `fd ${fd}`);
  }
}

const M_MMAP_THRESHOLD = -3;
const M_ARENA_MAX = -8;
/**
 * Arenas glibc may make (its default is eight per core). Deno's I/O runs on a pool of threads, each of which
 * takes an arena of its own when it meets contention; response bodies allocated on one and freed on another
 * leave each arena's heap fragmented and resident. Two, set by `MALLOC_ARENA_MAX=2` in the environment:
 * a bucket backup's peak 245–254 → 219–234 MiB at the same speed. Set by {@link capMallocArenas} at the
 * start of `floe backup`, threads the runtime started earlier keep their arenas: 215 MiB where the variable gave 208.
 */
const ARENAS = 2;
/** Allocations from this size on get mappings of their own (glibc's initial threshold). */
const MMAP_FROM = 128 * 1024;
let mallocPinned = false;

/**
 * Keeps glibc from holding freed buffers resident: allocations of {@link MMAP_FROM} bytes or more stay
 * on mappings of their own, returned to the system when freed (`mallopt(M_MMAP_THRESHOLD)`, which also
 * turns off glibc's dynamic threshold). Otherwise the first such buffer freed raises the threshold to its
 * size, and from then on buffers of a backup (blobs sealed on worker threads and freed on the main one,
 * response bodies) come from the heaps of up to eight arenas per core, which keep them after they are
 * freed: measured on a 512 MiB object backed up from a bucket, peak anonymous memory 240 → 169 MiB, at
 * the same speed. Once per process; false when the C library has no `mallopt` or FFI is not granted.
 *
 * @example
 * ```ts
 * import { keepMallocLean } from "./libc.ts";
 * keepMallocLean();
 * ```
 */
export function keepMallocLean(): boolean {
  if (mallocPinned) return true;
  if (!available()) return false; // no FFI here: the defaults stay
  const mallopt = libc().mallopt;
  mallocPinned = mallopt !== null && mallopt(M_MMAP_THRESHOLD, MMAP_FROM) === 1;
  return mallocPinned;
}

/**
 * Caps the arenas glibc may make at {@link ARENAS} (`mallopt(M_ARENA_MAX)`). Threads that have an arena
 * keep it, so call it early, before the threads that do I/O allocate. False when the C library has no
 * `mallopt` or FFI is not granted.
 *
 * @example
 * ```ts
 * import { capMallocArenas } from "./libc.ts";
 * capMallocArenas();
 * ```
 */
export function capMallocArenas(): boolean {
  if (!available()) return false;
  const mallopt = libc().mallopt;
  return mallopt !== null && mallopt(M_ARENA_MAX, ARENAS) === 1;
}

const PRIO_PROCESS = 0;

/**
 * Lowers the calling thread's CPU priority to nice value `nice` (0–19). Linux keeps a nice value per
 * thread: `setpriority(PRIO_PROCESS, gettid(), nice)` changes this thread's alone, and threads it starts
 * later inherit it. Any process may lower its own priority. False when libc or `gettid` (glibc 2.30) is not
 * reachable or the call fails; the thread then keeps its priority.
 *
 * @example
 * ```ts
 * import { niceThisThread } from "./libc.ts";
 * niceThisThread(10); // this thread yields to the process's other threads when the cores are busy
 * ```
 */
export function niceThisThread(nice: number): boolean {
  if (!available()) return false;
  const { gettid, setpriority } = libc();
  if (gettid === null) return false;
  return setpriority(PRIO_PROCESS, gettid(), nice) === 0;
}
