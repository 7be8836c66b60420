/**
 * The one loader of libc for core/platform: the symbol table, lazy `dlopen`, errno, the errors it
 * maps to, and NUL-terminated path encoding. Private to core/platform ({@link ./libc.ts},
 * {@link ./xattr.ts}, {@link ./flags.ts} build on it); everything public is re-exported there.
 *
 * @module
 */
import { quoteName } from "./names.ts";
import { lazyLibrary, openLibrary } from "./_libraries.ts";

// ---------------------------------------------------------------------------------------------
// Library loading
// ---------------------------------------------------------------------------------------------

/** The libc functions core/platform calls. */
const SYMBOLS = {
  __errno_location: { parameters: [], result: "pointer" },
  memcpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer" },
  /** `memmove(buf, buf, 0)` returns `buf`: its address, without `UnsafePointer` (see {@link errno}). */
  addressOf: { name: "memmove", parameters: ["buffer", "buffer", "usize"], result: "usize" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  getdents64: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // open(2) is variadic; on x86_64 an int passed in the 3rd register is how the mode arrives anyway.
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  pwrite: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  // The same calls on a thread of Deno's blocking pool, for direct I/O that waits for the device.
  pwrite_nb: {
    name: "pwrite",
    parameters: ["i32", "buffer", "usize", "i64"],
    result: "isize",
    nonblocking: true,
  },
  fsync: { parameters: ["i32"], result: "i32" },
  fsync_nb: { name: "fsync", parameters: ["i32"], result: "i32", nonblocking: true },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  fallocate: { parameters: ["i32", "i32", "i64", "i64"], result: "i32" },
  mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
  mknod: { parameters: ["buffer", "u32", "u64"], result: "i32" },
  mkdir: { parameters: ["buffer", "u32"], result: "i32" },
  symlink: { parameters: ["buffer", "buffer"], result: "i32" },
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  lchown: { parameters: ["buffer", "u32", "u32"], result: "i32" },
  chmod: { parameters: ["buffer", "u32"], result: "i32" },
  fchown: { parameters: ["i32", "u32", "u32"], result: "i32" },
  fchmod: { parameters: ["i32", "u32"], result: "i32" },
  futimens: { parameters: ["i32", "buffer"], result: "i32" },
  link: { parameters: ["buffer", "buffer"], result: "i32" },
  rename: { parameters: ["buffer", "buffer"], result: "i32" },
  unlink: { parameters: ["buffer"], result: "i32" },
  rmdir: { parameters: ["buffer"], result: "i32" },
  utimensat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  llistxattr: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  lsetxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  lremovexattr: { parameters: ["buffer", "buffer"], result: "i32" },
  flistxattr: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  fgetxattr: { parameters: ["i32", "buffer", "buffer", "usize"], result: "isize" },
  // ioctl(2) is variadic; the third argument is a pointer in a register on x86_64.
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  // glibc's; optional so that a C library without it still loads.
  mallopt: { parameters: ["i32", "i32"], result: "i32", optional: true },
  gettid: { parameters: [], result: "i32", optional: true },
  setpriority: { parameters: ["i32", "u32", "i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded symbols. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Where the calling thread's errno lives (its address is stable per thread). */
let errnoAddress: Deno.PointerObject | null = null;
const errnoCopy = new Int32Array(1);

const loaded = lazyLibrary<Libc>("libc FFI", () => {
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    return { error: `unsupported platform ${Deno.build.os}/${Deno.build.arch}` };
  }
  const opened = openLibrary(["libc.so.6"], SYMBOLS);
  if ("error" in opened) return opened;
  errnoAddress = opened.symbols.__errno_location();
  if (errnoAddress === null) throw new Error("__errno_location returned NULL");
  return opened;
});

/** The loaded library; throws when it cannot be loaded (callers check {@link available} first). */
export function libc(): Libc {
  return loaded.symbols();
}

/**
 * Whether the libc layer can be used: Linux x86_64, FFI permitted, `libc.so.6` loaded. Loads the
 * library on first call. Never throws and never triggers a permission prompt.
 *
 * @example
 * ```ts
 * import { available, lstatNs } from "./libc.ts";
 * const mtime = available() ? lstatNs("/etc/hostname").mtimeNs : null;
 * console.log(mtime);
 * ```
 */
export function available(): boolean {
  return loaded.available();
}

/**
 * Why {@link available} returned false, or `undefined` when the layer is loaded (or not yet tried).
 *
 * @example
 * ```ts
 * import { available, unavailableReason } from "./libc.ts";
 * if (!available()) console.warn(`falling back to Deno fs: ${unavailableReason()}`);
 * ```
 */
export function unavailableReason(): string | undefined {
  return loaded.unavailableReason();
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** errno → [name, description] for the errors a filesystem walker can meet (Linux numbering). */
const ERRNO: Record<number, readonly [string, string]> = {
  1: ["EPERM", "operation not permitted"],
  2: ["ENOENT", "no such file or directory"],
  4: ["EINTR", "interrupted system call"],
  5: ["EIO", "input/output error"],
  6: ["ENXIO", "no such device or address"],
  7: ["E2BIG", "argument list too long"],
  9: ["EBADF", "bad file descriptor"],
  11: ["EAGAIN", "resource temporarily unavailable"],
  12: ["ENOMEM", "cannot allocate memory"],
  13: ["EACCES", "permission denied"],
  14: ["EFAULT", "bad address"],
  16: ["EBUSY", "device or resource busy"],
  17: ["EEXIST", "file exists"],
  18: ["EXDEV", "invalid cross-device link"],
  19: ["ENODEV", "no such device"],
  20: ["ENOTDIR", "not a directory"],
  21: ["EISDIR", "is a directory"],
  22: ["EINVAL", "invalid argument"],
  23: ["ENFILE", "too many open files in system"],
  24: ["EMFILE", "too many open files"],
  25: ["ENOTTY", "inappropriate ioctl for device"],
  26: ["ETXTBSY", "text file busy"],
  27: ["EFBIG", "file too large"],
  28: ["ENOSPC", "no space left on device"],
  29: ["ESPIPE", "illegal seek"],
  30: ["EROFS", "read-only file system"],
  31: ["EMLINK", "too many links"],
  34: ["ERANGE", "numerical result out of range"],
  36: ["ENAMETOOLONG", "file name too long"],
  38: ["ENOSYS", "function not implemented"],
  39: ["ENOTEMPTY", "directory not empty"],
  40: ["ELOOP", "too many levels of symbolic links"],
  61: ["ENODATA", "no data available"],
  75: ["EOVERFLOW", "value too large for defined data type"],
  84: ["EILSEQ", "invalid or incomplete multibyte or wide character"],
  95: ["ENOTSUP", "operation not supported"],
  116: ["ESTALE", "stale file handle"],
  117: ["EUCLEAN", "structure needs cleaning"],
  121: ["EREMOTEIO", "remote I/O error"],
  122: ["EDQUOT", "disk quota exceeded"],
};

/**
 * ENODATA: the extended attribute asked for does not exist (`lgetxattr`, `lremovexattr`).
 *
 * @example
 * ```ts
 * import { lgetxattr, NoData } from "./xattr.ts";
 * try {
 *   lgetxattr("/etc/hostname", "user.missing");
 * } catch (e) {
 *   console.log(e instanceof NoData); // true
 * }
 * ```
 */
export class NoData extends Error {
  /** Build one. */
  constructor(message: string) {
    super(message);
    this.name = "NoData";
  }
}

/**
 * E2BIG: an extended attribute value (or the list of names) exceeds what the kernel passes (64 KiB).
 *
 * @example
 * ```ts
 * import { lsetxattr, TooBig } from "./xattr.ts";
 * try {
 *   lsetxattr("/tmp/f", "user.big", new Uint8Array(70_000));
 * } catch (e) {
 *   console.log(e instanceof TooBig); // true
 * }
 * ```
 */
export class TooBig extends Error {
  /** Build one. */
  constructor(message: string) {
    super(message);
    this.name = "TooBig";
  }
}

/**
 * The fields every error thrown by this module carries (in addition to `message`).
 *
 * @example
 * ```ts
 * import { type LibcError, lstatNs } from "./libc.ts";
 * try {
 *   lstatNs("/missing");
 * } catch (e) {
 *   const { code, syscall, path } = e as LibcError; // "ENOENT", "statx", "/missing"
 *   console.log(code, syscall, path, e instanceof Deno.errors.NotFound); // … true
 * }
 * ```
 */
export interface LibcError extends Error {
  /** errno name, e.g. `ENOENT` (`E<n>` for numbers not in the table). */
  code: string;
  /** errno number. */
  errno: number;
  /** The libc function that failed, e.g. `statx`. */
  syscall: string;
  /** The path (lossy-decoded) the call was about; empty for fd calls. */
  path: string;
}

/**
 * Builds the error for an errno: `Deno.errors.NotFound` (ENOENT), `PermissionDenied`
 * (EACCES/EPERM), `AlreadyExists` (EEXIST), `NotADirectory`, `IsADirectory`, `FilesystemLoop`,
 * `Busy`, `NotSupported` (ENOTSUP/EOPNOTSUPP, and ENOTTY: an ioctl the file system lacks),
 * `Interrupted` (EINTR), {@link NoData} (ENODATA: no such extended attribute), {@link TooBig}
 * (E2BIG: an xattr value or list over the kernel's limit), else a plain `Error`. The message is
 * `NAME: description: path`, a byte path shown in the reversible form of {@link quoteName}.
 * Exported for callers that want to format errors the same way.
 *
 * @example
 * ```ts
 * import { errnoError } from "./libc.ts";
 * const e = errnoError(2, "statx", "/tmp/x");
 * console.log(e.message); // "ENOENT: no such file or directory: /tmp/x"
 * console.log(e instanceof Deno.errors.NotFound, e.code); // true "ENOENT"
 * ```
 */
export function errnoError(errno: number, syscall: string, path: string | Uint8Array = ""): LibcError {
  const [code, text] = ERRNO[errno] ?? [`E${errno}`, `errno ${errno}`];
  const shown = typeof path === "string" ? path : quoteName(stripNul(path));
  const message = shown === "" ? `${code}: ${text}` : `${code}: ${text}: ${shown}`;
  let err: Error;
  switch (errno) {
    case 2:
      err = new Deno.errors.NotFound(message);
      break;
    case 1:
    case 13:
      err = new Deno.errors.PermissionDenied(message);
      break;
    case 17:
      err = new Deno.errors.AlreadyExists(message);
      break;
    case 20:
      err = new Deno.errors.NotADirectory(message);
      break;
    case 21:
      err = new Deno.errors.IsADirectory(message);
      break;
    case 40:
      err = new Deno.errors.FilesystemLoop(message);
      break;
    case 16:
      err = new Deno.errors.Busy(message);
      break;
    case 95:
    case 25:
      err = new Deno.errors.NotSupported(message);
      break;
    case 4:
      err = new Deno.errors.Interrupted(message);
      break;
    case 61:
      err = new NoData(message);
      break;
    case 7:
      err = new TooBig(message);
      break;
    default:
      err = new Error(message);
  }
  return Object.assign(err, { code, errno, syscall, path: shown });
}

/** errno of the last failed call on this thread. */
export function errno(): number {
  // Copied out by memcpy: viewing it in place (UnsafePointerView) needs FFI permission for every library,
  // and deno.json grants it for libc and libcrypto only.
  libc().memcpy(errnoCopy, errnoAddress, 4n);
  return errnoCopy[0];
}

/** Throws the error for the current errno. */
export function fail(syscall: string, path: string | Uint8Array = ""): never {
  throw errnoError(errno(), syscall, path);
}

// ---------------------------------------------------------------------------------------------
// Paths and UTF-8
// ---------------------------------------------------------------------------------------------

/** UTF-8 encoder for string paths. */
export const encoder: TextEncoder = new TextEncoder();
/** Replaces bytes that are not UTF-8 with U+FFFD, for messages only. */
export const lossyDecoder: TextDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Reused NUL-terminated path buffers: slot 0 for the first path argument, 1 for the second. */
const pathScratch: Uint8Array[] = [new Uint8Array(4200), new Uint8Array(4200), new Uint8Array(512)];

/**
 * Returns `path` as NUL-terminated bytes, in the slot's scratch buffer unless the caller's bytes
 * already end in NUL. Valid only until the next call using the same slot.
 */
export function cpath(path: string | Uint8Array, slot = 0): Uint8Array {
  if (typeof path === "string") {
    if (path.includes("\0")) throw new TypeError(`path contains a NUL byte: ${JSON.stringify(path)}`);
    let buf = pathScratch[slot];
    if (buf.length < path.length * 3 + 1) buf = pathScratch[slot] = new Uint8Array(path.length * 3 + 64);
    const { written } = encoder.encodeInto(path, buf);
    buf[written] = 0;
    return buf.subarray(0, written + 1);
  }
  const nul = path.indexOf(0);
  if (nul === path.length - 1) return path;
  if (nul !== -1) throw new TypeError(`path contains a NUL byte: ${displayPath(path)}`);
  let buf = pathScratch[slot];
  if (buf.length < path.length + 1) buf = pathScratch[slot] = new Uint8Array(path.length + 64);
  buf.set(path);
  buf[path.length] = 0;
  return buf.subarray(0, path.length + 1);
}

/**
 * Lossy UTF-8 decoding of a byte path for messages and logs (invalid bytes become U+FFFD; a
 * trailing NUL is dropped). Not reversible — keep the bytes for filesystem calls.
 *
 * @example
 * ```ts
 * import { displayPath } from "./libc.ts";
 * displayPath(new Uint8Array([0x62, 0xff, 0x63])); // "b\uFFFDc"
 * ```
 */
export function displayPath(path: string | Uint8Array): string {
  if (typeof path === "string") return path;
  return lossyDecoder.decode(stripNul(path));
}

/** `path` without a trailing NUL. */
function stripNul(path: Uint8Array): Uint8Array {
  return path.length > 0 && path[path.length - 1] === 0 ? path.subarray(0, path.length - 1) : path;
}
