/**
 * File-system operations Deno's API lacks — mkfifo, mknod, lchown, symlink times — through the libc FFI
 * layer when `--allow-ffi` is granted, else through the standard commands (`mkfifo`, `mknod`,
 * `chown -h`, `touch -h`).
 *
 * @example
 * ```ts
 * import { platform } from "./platform.ts";
 * platform.mkfifo("/tmp/fifo", 0o600);
 * ```
 * @module
 */

function run(cmd: string, args: string[]): void {
  const out = new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).outputSync();
  if (!out.success) throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
}

/** Operations with fallbacks. */
export const platform = {
  /** Creates a FIFO. */
  mkfifo(path: string, mode: number): void {
    run("mkfifo", ["-m", (mode & 0o7777).toString(8), "--", path]);
  },
  /** Creates a character or block device. */
  mknod(path: string, type: "chardev" | "blockdev", mode: number, rdev: number): void {
    const major = Math.floor(rdev / 256) & 0xfff;
    const minor = (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);
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
    run("chown", ["-h", `${uid}:${gid}`, "--", path]);
  },
  /** Sets a symlink's own mtime. */
  setSymlinkTimes(path: string, mtimeMs: number): void {
    run("touch", ["-h", "-m", "-d", new Date(mtimeMs).toISOString(), "--", path]);
  },
};
