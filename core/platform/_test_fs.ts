/**
 * Test helpers for core/platform: temporary directories, loop-mounted scratch file systems, and the
 * OS's own view of files through Python's `os` module (so tests do not only check floe against
 * itself). Byte strings cross to Python as hex, since argv and JSON are text.
 *
 * @module
 */

const dec = new TextDecoder();
const enc = new TextEncoder();

/** Lower-case hex of bytes (or of a string's UTF-8). */
export function hex(b: Uint8Array | string): string {
  const bytes = typeof b === "string" ? enc.encode(b) : b;
  return Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Bytes of lower- or upper-case hex. */
export function unhex(s: string): Uint8Array {
  return new Uint8Array((s.match(/../g) ?? []).map((h) => parseInt(h, 16)));
}

/** Concatenates strings (as UTF-8) and byte lists into one byte string. */
export function bytes(...parts: (string | number[] | Uint8Array)[]): Uint8Array {
  const chunks = parts.map((p) => typeof p === "string" ? enc.encode(p) : new Uint8Array(p));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/**
 * Runs a Python 3 snippet with `args` in `sys.argv[1:]` and returns its stdout, parsed as JSON.
 * `H(i)` in the snippet gives `bytes.fromhex(sys.argv[i])`.
 */
export function py<T = unknown>(code: string, ...args: string[]): T {
  const prelude = "import os, sys, json\nH = lambda i: bytes.fromhex(sys.argv[i])\n";
  const out = new Deno.Command("python3", {
    args: ["-c", prelude + code, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .outputSync();
  if (!out.success) throw new Error(`python3 failed: ${dec.decode(out.stderr).trim()}`);
  return JSON.parse(dec.decode(out.stdout));
}

/** Runs a command; returns stdout (throws with stderr on failure). */
export function run(cmd: string, args: string[]): string {
  const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(out.stderr).trim()}`);
  return dec.decode(out.stdout);
}

/** Whether a command is on the PATH. */
export function have(cmd: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

/** Wraps a test body with a temporary directory (under `base`) removed afterwards. */
export function withTempDir(fn: (dir: string) => void | Promise<void>, base?: string): () => Promise<void> {
  return async () => {
    const dir = Deno.makeTempDirSync({ prefix: "floe-platform-", dir: base });
    try {
      await fn(dir);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  };
}

/** A mounted scratch file system. */
export interface Scratch {
  /** Its mount point. */
  dir: string;
  /** Unmounts it and removes the image. */
  close(): void;
}

/**
 * Makes and loop-mounts a 64 MiB (XFS: 300 MiB) file system image — ext4 with `ea_inode` (xattr
 * values up to 64 KiB) or XFS — or returns why it cannot (not root, no mkfs, no loop device).
 */
export function mountScratch(kind: "ext4" | "xfs"): Scratch | string {
  if (Deno.uid() !== 0) return "not root: cannot loop-mount";
  const mkfs = `mkfs.${kind}`;
  if (!have(mkfs)) return `${mkfs} is not installed`;
  const work = Deno.makeTempDirSync({ prefix: `floe-${kind}-` });
  const img = `${work}/img`;
  const dir = `${work}/mnt`;
  try {
    Deno.mkdirSync(dir);
    run("truncate", ["-s", kind === "xfs" ? "300M" : "64M", img]);
    run(mkfs, kind === "ext4" ? ["-q", "-b", "4096", "-O", "ea_inode", img] : ["-q", img]);
    run("mount", ["-o", "loop", img, dir]);
  } catch (e) {
    Deno.removeSync(work, { recursive: true });
    return `cannot mount a ${kind} image: ${(e as Error).message.split("\n")[0]}`;
  }
  return {
    dir,
    close() {
      run("umount", [dir]);
      Deno.removeSync(work, { recursive: true });
    },
  };
}
