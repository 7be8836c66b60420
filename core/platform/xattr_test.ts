/**
 * Tests of xattr.ts against the OS's own view (Python's `os.listxattr`/`os.getxattr`, `getfattr`,
 * `getfacl`/`setfacl`), on `/tmp` (ext4), `/dev/shm` (tmpfs) and, as root, loop-mounted ext4 with
 * `ea_inode` (64 KiB values) and XFS.
 *
 * @module
 */
import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { available, closeFd, joinBytes, mkdirBytes, openNew, openRead, symlinkBytes } from "./libc.ts";
import {
  fgetxattrs,
  lgetxattr,
  lgetxattrs,
  llistxattr,
  lremovexattr,
  lsetxattr,
  NoData,
  TooBig,
  XATTR,
} from "./xattr.ts";
import { bytes, have, hex, mountScratch, py, run, type Scratch, withTempDir } from "./_test_fs.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const isRoot = Deno.uid() === 0;

/** Python's view of all attributes of `path` itself: hex name → hex value. */
function osXattrs(path: string | Uint8Array): Record<string, string> {
  return py(
    "p = H(1)\nprint(json.dumps({os.fsencode(n).hex(): os.getxattr(p, n, follow_symlinks=False).hex() " +
      "for n in os.listxattr(p, follow_symlinks=False)}))",
    hex(path),
  );
}

function ours(path: string | Uint8Array): Record<string, string> {
  return Object.fromEntries(lgetxattrs(path).map(([n, v]) => [hex(n), hex(v)]));
}

/** A value whose bytes depend on their position and a seed. */
function pattern(len: number, seed: number): Uint8Array {
  return new Uint8Array(len).map((_, i) => (i * 31 + seed * 7 + (i >> 8)) & 0xff);
}

function newFile(path: string | Uint8Array): void {
  closeFd(openNew(path, 0o644));
}

const scratch: Record<string, Scratch | string> = {};
function fs(kind: "ext4" | "xfs"): Scratch | string {
  return scratch[kind] ??= mountScratch(kind);
}
addEventListener("unload", () => {
  for (const s of Object.values(scratch)) if (typeof s !== "string") s.close();
});

for (const base of ["/tmp", "/dev/shm"]) {
  Deno.test(
    `user.* xattrs with byte names on a file and a directory match Python's (${base})`,
    withTempDir((dir) => {
      const f = joinBytes(dir, bytes("f", [0xff]));
      newFile(f);
      const d = joinBytes(dir, bytes("d", [0xfe]));
      mkdirBytes(d, 0o755);
      for (const p of [f, d]) {
        assertEquals(llistxattr(p).filter((n) => dec.decode(n).startsWith("user.")), []);
        lsetxattr(p, "user.floe", new Uint8Array([0, 1, 2, 255, 0, 42]));
        lsetxattr(p, "user.empty", new Uint8Array(0));
        lsetxattr(p, bytes("user.", [0xff, 0x80], "raw"), enc.encode("byte name"));
        lsetxattr(p, "user.3k", pattern(3000, 1)); // ext4 (no ea_inode) keeps all in one 4 KiB block
        assertEquals(ours(p), osXattrs(p));
        assertEquals(lgetxattr(p, bytes("user.", [0xff, 0x80], "raw")), enc.encode("byte name"));
        assertEquals(lgetxattr(p, "user.3k"), pattern(3000, 1));
        assertEquals(lgetxattr(p, "user.empty"), new Uint8Array(0));
        // Python writes, floe reads.
        py(
          "os.setxattr(H(1), 'user.py', H(2), follow_symlinks=False)\nprint(1)",
          hex(p),
          hex(pattern(200, 9)),
        );
        assertEquals(lgetxattr(p, "user.py"), pattern(200, 9));
        // XATTR_CREATE / XATTR_REPLACE, remove, and ENODATA as NoData.
        assert(
          assertThrows(() => lsetxattr(p, "user.floe", new Uint8Array(1), XATTR.CREATE)) instanceof
            Deno.errors.AlreadyExists,
        );
        assert(
          assertThrows(() => lsetxattr(p, "user.nope", new Uint8Array(1), XATTR.REPLACE)) instanceof NoData,
        );
        lremovexattr(p, "user.floe");
        const e = assertThrows(() => lgetxattr(p, "user.floe"), "ENODATA: no data available: ");
        assert(e instanceof NoData);
        assert(assertThrows(() => lremovexattr(p, "user.floe")) instanceof NoData);
        assertEquals(ours(p), osXattrs(p));
      }
      // getfattr agrees on a plain name (it cannot take a non-UTF-8 path through argv here).
      if (have("getfattr")) {
        Deno.writeFileSync(`${dir}/g`, new Uint8Array(0));
        lsetxattr(`${dir}/g`, "user.hexed", new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
        const out = run("getfattr", ["--absolute-names", "-e", "hex", "-n", "user.hexed", `${dir}/g`]);
        assert(out.includes("user.hexed=0xdeadbeef"), out);
      }
      // The kernel refuses user.* on symlinks: EPERM → PermissionDenied.
      symlinkBytes("f", `${dir}/ln`);
      const pe = assertThrows(() => lsetxattr(`${dir}/ln`, "user.x", new Uint8Array(1)), "EPERM");
      assert(pe instanceof Deno.errors.PermissionDenied);
      // A value over the kernel's 64 KiB limit is E2BIG → TooBig, on every file system.
      assert(assertThrows(() => lsetxattr(f, "user.huge", new Uint8Array(65537))) instanceof TooBig);
    }, base),
  );
}

Deno.test({
  name: "trusted.* xattrs on a symlink itself, not its target (root)",
  ignore: !isRoot,
  fn: withTempDir((dir) => {
    newFile(`${dir}/t`);
    symlinkBytes(bytes("t"), `${dir}/l`);
    lsetxattr(`${dir}/l`, "trusted.floe", pattern(3000, 3));
    assertEquals(lgetxattr(`${dir}/l`, "trusted.floe"), pattern(3000, 3));
    assertEquals(ours(`${dir}/l`), osXattrs(`${dir}/l`));
    assert(!llistxattr(`${dir}/t`).some((n) => dec.decode(n) === "trusted.floe"));
  }),
});

Deno.test("a file system without xattrs: NotSupported (procfs)", () => {
  assert(available());
  assertEquals(llistxattr("/proc/self/comm"), []);
  const e = assertThrows(() => lsetxattr("/proc/self/comm", "user.x", new Uint8Array(1)), "ENOTSUP");
  assert(e instanceof Deno.errors.NotSupported);
});

Deno.test(
  "ext4 without ea_inode keeps a value within one block: ENOSPC for 8 KB (/tmp)",
  withTempDir((dir) => {
    newFile(`${dir}/f`);
    const e = assertThrows(() => lsetxattr(`${dir}/f`, "user.8k", new Uint8Array(8000)));
    assertEquals((e as unknown as { code: string }).code, "ENOSPC");
  }),
);

Deno.test({
  name:
    "64 KiB values, many attributes, on a file, a directory and a symlink (loop-mounted ext4 ea_inode, XFS)",
  ignore: typeof fs("ext4") === "string" && typeof fs("xfs") === "string",
  fn: async (t) => {
    for (const kind of ["ext4", "xfs"] as const) {
      const s = fs(kind);
      await t.step({
        name: `${kind}${typeof s === "string" ? ` skipped: ${s}` : ""}`,
        ignore: typeof s === "string",
        fn: () => {
          const root = (s as Scratch).dir;
          const f = joinBytes(root, bytes("big", [0xff]));
          newFile(f);
          mkdirBytes(`${root}/dir`, 0o755);
          symlinkBytes(bytes([0xff]), `${root}/sym`);
          const sizes = [4096, 4097, 16_384, 65_535, 65_536];
          for (const [i, n] of sizes.entries()) lsetxattr(f, `user.v${n}`, pattern(n, i));
          for (const [i, n] of sizes.entries()) assertEquals(lgetxattr(f, `user.v${n}`), pattern(n, i));
          assertEquals(ours(f), osXattrs(f));
          // Many attributes per inode: XFS has no per-inode limit; ext4 keeps small values together
          // in one block, so fewer there.
          const many = kind === "xfs" ? 400 : 20;
          for (let i = 0; i < many; i++) {
            lsetxattr(
              `${root}/dir`,
              `user.attr-${i}-${"n".repeat(i % 40)}`,
              pattern((kind === "xfs" ? 100 : 10) + i, i),
            );
          }
          const names = llistxattr(`${root}/dir`).map((n) => dec.decode(n)).filter((n) =>
            n.startsWith("user.")
          );
          assertEquals(names.length, many);
          assertEquals(ours(`${root}/dir`), osXattrs(`${root}/dir`));
          lsetxattr(`${root}/sym`, "trusted.big", pattern(65_536, 7));
          assertEquals(lgetxattr(`${root}/sym`, "trusted.big"), pattern(65_536, 7));
          assertEquals(ours(`${root}/sym`), osXattrs(`${root}/sym`));
        },
      });
    }
  },
});

/** `getfacl` output without the header lines (which name the file). */
function getfacl(path: string): string {
  return run("getfacl", ["--absolute-names", "--omit-header", "--numeric", path]);
}

Deno.test({
  name: "POSIX ACLs (with mask and default ACL) round-trip as raw system.posix_acl_* values",
  ignore: !have("setfacl"),
  fn: withTempDir((dir) => {
    Deno.writeFileSync(`${dir}/src`, new Uint8Array(0));
    Deno.mkdirSync(`${dir}/srcdir`);
    run("setfacl", ["-m", "u:1000:rwx,u:1001:r--,g:2000:r-x,g::r--,m::r-x,o::---", `${dir}/src`]);
    run("setfacl", ["-m", "u:1000:rwx,m::rwx", "-d", "-m", "u:1002:r-x,g:2002:rw-,m::rwx", `${dir}/srcdir`]);
    for (const [src, dst] of [["src", "dst"], ["srcdir", "dstdir"]]) {
      const s = `${dir}/${src}`;
      const d = `${dir}/${dst}`;
      if (src === "src") Deno.writeFileSync(d, new Uint8Array(0));
      else Deno.mkdirSync(d);
      let copied = 0;
      for (const [name, value] of lgetxattrs(s)) {
        const n = dec.decode(name);
        if (!n.startsWith("system.posix_acl_")) continue;
        assertEquals(hex(value), osXattrs(s)[hex(name)]);
        lsetxattr(d, name, value);
        assertEquals(lgetxattr(d, name), value);
        copied++;
      }
      assertEquals(copied, src === "src" ? 1 : 2);
      assertEquals(getfacl(d), getfacl(s));
      assert(getfacl(d).includes("mask::"), getfacl(d));
    }
    assert(getfacl(`${dir}/dstdir`).includes("default:user:1002:r-x"));
    // Bytes that are not an ACL are refused by the kernel (EINVAL), not stored.
    const e = assertThrows(() =>
      lsetxattr(`${dir}/dst`, "system.posix_acl_access", new Uint8Array([1, 2, 3]))
    );
    assertEquals((e as unknown as { code: string }).code, "EINVAL");
  }),
});

Deno.test({
  name: "fgetxattrs on an open file gives what lgetxattrs and the OS give by its path (ACL, 3 KiB value)",
  ignore: !available(),
  fn: withTempDir((dir) => {
    const path = `${dir}/f`;
    newFile(path);
    lsetxattr(path, "user.a", enc.encode("1"));
    lsetxattr(path, "user.big", pattern(3000, 5));
    if (have("setfacl")) run("setfacl", ["-m", "u:65534:r", path]);
    const fd = openRead(path);
    try {
      const byFd = Object.fromEntries(fgetxattrs(fd).map(([n, v]) => [hex(n), hex(v)]));
      assertEquals(byFd, ours(path));
      assertEquals(byFd, osXattrs(path));
    } finally {
      closeFd(fd);
    }
  }),
});
