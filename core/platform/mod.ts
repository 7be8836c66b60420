/**
 * File-system operations Deno's API lacks — mkfifo, mknod, lchown, symlink times — through the libc FFI
 * layer ({@link ./libc.ts}) when `--allow-ffi` is granted, else through the standard commands (`mkfifo`,
 * `mknod`, `chown -h`, `touch -h`).
 *
 * @example
 * ```ts
 * import { platform } from "./mod.ts";
 * platform.mkfifo("/tmp/fifo", 0o600);
 * ```
 * @module
 */
import * as libc from "./libc.ts";

function run(cmd: string, args: string[]): void {
  const out = new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).outputSync();
  if (!out.success) throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
}

/** Operations with fallbacks. */
export const platform = {
  /** Creates a FIFO. */
  mkfifo(path: string, mode: number): void {
    if (libc.available()) return libc.mkfifo(path, mode & 0o7777);
    run("mkfifo", ["-m", (mode & 0o7777).toString(8), "--", path]);
  },
  /** Creates a character or block device from its `rdev` as `lstat` reports it. */
  mknod(path: string, type: "chardev" | "blockdev", mode: number, rdev: number): void {
    if (libc.available()) {
      return libc.mknod(
        path,
        (type === "chardev" ? libc.S_IF.CHR : libc.S_IF.BLK) | (mode & 0o7777),
        BigInt(rdev),
      );
    }
    const [major, minor] = libc.splitDev(rdev);
    run("mknod", [
      "-m",
      (mode & 0o7777).toString(8),
      "--",
      path,
      type === "chardev" ? "c" : "b",
      `${major}`,
      `${minor}`,
    ]);
  },
  /** Changes the owner of a symlink itself. */
  lchown(path: string, uid: number, gid: number): void {
    if (libc.available()) return libc.lchown(path, uid, gid);
    run("chown", ["-h", `${uid}:${gid}`, "--", path]);
  },
  /** Sets a symlink's own mtime (and atime). */
  setSymlinkTimes(path: string, mtimeMs: number): void {
    if (libc.available()) {
      const ns = BigInt(Math.round(mtimeMs)) * 1_000_000n;
      return libc.setTimes(path, ns, ns, { noFollow: true });
    }
    run("touch", ["-h", "-m", "-d", new Date(mtimeMs).toISOString(), "--", path]);
  },
};
