/**
 * Tests of flags.ts against `chattr`/`lsattr`, on `/tmp` (ext4) and `/dev/shm` (tmpfs, which keeps
 * only a, A, d, i). Setting i and a needs CAP_LINUX_IMMUTABLE: those steps run as root only.
 *
 * @module
 */
import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { closeFd, joinBytes, openNew, openRead, symlinkBytes, writeFd } from "./libc.ts";
import { FS_FL, getflagsFd, lgetflags, lsetflags, RESTORABLE_FLAGS, setflagsFd } from "./flags.ts";
import { bytes, have, run, withTempDir } from "./_test_fs.ts";

const isRoot = Deno.uid() === 0;
const LETTERS: [string, number][] = [
  ["a", FS_FL.APPEND],
  ["A", FS_FL.NOATIME],
  ["d", FS_FL.NODUMP],
  ["i", FS_FL.IMMUTABLE],
  ["S", FS_FL.SYNC],
  ["e", FS_FL.EXTENT],
];

/** The flags `lsattr` shows for `path`, as bits (only the letters of {@link LETTERS}). */
function lsattr(path: string): number {
  const field = run("lsattr", ["-d", path]).split(" ")[0];
  return LETTERS.reduce((f, [letter, bit]) => field.includes(letter) ? f | bit : f, 0);
}
const known = LETTERS.reduce((m, [, bit]) => m | bit, 0);

Deno.test({
  name: "flags on ext4 (/tmp): read and set agree with lsattr/chattr; other flags kept; i blocks writes",
  ignore: !have("lsattr"),
  fn: withTempDir((dir) => {
    const f = `${dir}/f`;
    closeFd(openNew(f, 0o644));
    const initial = lgetflags(f)!;
    assert((initial & FS_FL.EXTENT) !== 0, "ext4 files have extents");
    assertEquals(initial & known, lsattr(f));
    run("chattr", ["+dA", f]);
    assertEquals(lgetflags(f)! & known, FS_FL.NODUMP | FS_FL.NOATIME | FS_FL.EXTENT);
    lsetflags(f, FS_FL.SYNC | FS_FL.NODUMP | FS_FL.EXTENT /* not restorable: ignored */);
    assertEquals(lsattr(f), FS_FL.SYNC | FS_FL.NODUMP | FS_FL.EXTENT);
    lsetflags(f, 0); // clears the restorable flags, keeps extents
    assertEquals(lgetflags(f), initial);
    // Directories, and a non-UTF-8 name.
    const dx = `${dir}/dx`;
    Deno.mkdirSync(dx);
    lsetflags(dx, FS_FL.NODUMP | FS_FL.DIRSYNC);
    assertEquals(lgetflags(dx)! & (FS_FL.NODUMP | FS_FL.DIRSYNC), FS_FL.NODUMP | FS_FL.DIRSYNC);
    assert(run("lsattr", ["-d", dx]).split(" ")[0].includes("D"));
    const bad = joinBytes(dir, bytes("b", [0xff]));
    closeFd(openNew(bad, 0o600));
    lsetflags(bad, FS_FL.NODUMP);
    assertEquals(lgetflags(bad)! & FS_FL.NODUMP, FS_FL.NODUMP);
    // A symlink has no flags and is not followed.
    symlinkBytes("f", `${dir}/ln`);
    assert(assertThrows(() => lgetflags(`${dir}/ln`), "ELOOP") instanceof Deno.errors.FilesystemLoop);
    // On an open fd.
    const fd = openRead(f);
    try {
      setflagsFd(fd, FS_FL.NOATIME);
      assertEquals(getflagsFd(fd)! & known, FS_FL.NOATIME | FS_FL.EXTENT);
    } finally {
      closeFd(fd);
    }
    if (!isRoot) return console.log("  (not root: immutable/append-only skipped)");
    lsetflags(f, FS_FL.IMMUTABLE | FS_FL.APPEND);
    try {
      assertEquals(lsattr(f) & (FS_FL.IMMUTABLE | FS_FL.APPEND), FS_FL.IMMUTABLE | FS_FL.APPEND);
      assert(
        assertThrows(() => Deno.writeFileSync(f, new Uint8Array(1))) instanceof Deno.errors.PermissionDenied,
      );
      assert(assertThrows(() => Deno.removeSync(f)) instanceof Deno.errors.PermissionDenied);
    } finally {
      lsetflags(f, 0);
    }
    lsetflags(f, FS_FL.APPEND);
    try {
      assertThrows(() => Deno.writeFileSync(f, new Uint8Array(1))); // O_TRUNC without O_APPEND
      const afd = Deno.openSync(f, { append: true });
      afd.writeSync(new Uint8Array([1, 2]));
      afd.close();
    } finally {
      lsetflags(f, 0);
    }
    assertEquals(Deno.readFileSync(f), new Uint8Array([1, 2]));
  }),
});

Deno.test({
  name: "flags on tmpfs (/dev/shm): d and A kept, others refused with NotSupported",
  ignore: !have("lsattr"),
  fn: withTempDir((dir) => {
    const f = `${dir}/f`;
    const fd = openNew(f, 0o644);
    writeFd(fd, new Uint8Array(10));
    closeFd(fd);
    assertEquals(lgetflags(f), 0);
    lsetflags(f, FS_FL.NODUMP | FS_FL.NOATIME);
    assertEquals(lsattr(f), FS_FL.NODUMP | FS_FL.NOATIME);
    const e = assertThrows(() => lsetflags(f, FS_FL.SYNC));
    assert(e instanceof Deno.errors.NotSupported, e.message);
    assertEquals(lgetflags(f), FS_FL.NODUMP | FS_FL.NOATIME);
    lsetflags(f, 0);
    assertEquals(lgetflags(f), 0);
  }, "/dev/shm"),
});

Deno.test("flags where the file system has none: null, and setting nothing is a no-op (procfs)", () => {
  assertEquals(lgetflags("/proc/self/status"), null);
  lsetflags("/proc/self/status", 0);
  assert(
    assertThrows(() => lsetflags("/proc/self/status", FS_FL.NODUMP)) instanceof Deno.errors.NotSupported,
  );
  assertEquals(RESTORABLE_FLAGS & (FS_FL.EXTENT | FS_FL.INLINE_DATA | FS_FL.INDEX | FS_FL.CASEFOLD), 0);
});
