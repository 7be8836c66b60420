/**
 * Tests for the libc FFI layer, on real files in temporary directories (`/tmp` is ext4 here,
 * `/dev/shm` tmpfs). Run with `deno test -A plugins/source/fs/libc_test.ts`.
 *
 * @module
 */
import { assert, assertEquals, assertNotEquals, assertThrows } from "../../tests/assert.ts";
import {
  available,
  chmodBytes,
  closeFd,
  decodeUtf8,
  DIRECT_ALIGN,
  displayPath,
  DT,
  errnoError,
  fallocateFd,
  fchmodFd,
  fchownFd,
  fstatNs,
  fsyncAsync,
  ftruncateFd,
  futimensFd,
  isUtf8,
  joinBytes,
  keepMallocLean,
  lchown,
  linkBytes,
  lstatMs,
  lstatNs,
  makedev,
  mkdirBytes,
  mkfifo,
  mknod,
  openDirect,
  openNew,
  openRead,
  openWrite,
  pwriteAsync,
  quoteName,
  readDirNames,
  readDirRaw,
  readFd,
  readlinkBytes,
  renameBytes,
  rmdirBytes,
  S_IF,
  setTimes,
  splitDev,
  symlinkBytes,
  unavailableReason,
  unlinkBytes,
  writeFd,
} from "./libc.ts";
import { bytes, hex, py } from "./_test_fs.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const isRoot = Deno.uid() === 0;

function withTempDir(fn: (dir: string) => void | Promise<void>, base?: string): () => Promise<void> {
  return async () => {
    const dir = Deno.makeTempDirSync({ prefix: "floe-libc-", dir: base });
    try {
      await fn(dir);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  };
}

function readAll(path: Uint8Array): Uint8Array {
  const fd = openRead(path);
  const parts: Uint8Array[] = [];
  try {
    const buf = new Uint8Array(7); // small on purpose: exercises the read loop
    for (let n; (n = readFd(fd, buf)) > 0;) parts.push(buf.slice(0, n));
  } finally {
    closeFd(fd);
  }
  return bytes(...parts.map((p) => Array.from(p)));
}

Deno.test("available() is true with --allow-ffi on Linux x86_64", () => {
  assert(available(), `unavailable: ${unavailableReason()}`);
  assertEquals(unavailableReason(), undefined);
});

Deno.test("keepMallocLean() sets glibc's mmap threshold once and says so", () => {
  assert(keepMallocLean());
  assert(keepMallocLean());
});

Deno.test("available() is false (and does not throw or prompt) without --allow-ffi", async () => {
  const url = new URL("./libc.ts", import.meta.url).href;
  const xattrUrl = new URL("./xattr.ts", import.meta.url).href;
  const flagsUrl = new URL("./flags.ts", import.meta.url).href;
  const script = `import { available, keepMallocLean, unavailableReason, lstatNs } from ${
    JSON.stringify(url)
  };
import { llistxattr } from ${JSON.stringify(xattrUrl)};
import { lgetflags } from ${JSON.stringify(flagsUrl)};
let threw = "";
for (const f of [() => lstatNs("/"), () => llistxattr("/"), () => lgetflags("/")]) {
  try { f(); } catch (e) { threw += e.message + ";"; }
}
console.log(JSON.stringify({ ok: available(), reason: unavailableReason(), threw, lean: keepMallocLean() }));`;
  // `deno eval` always has all permissions, so run a script file with read access only.
  const file = Deno.makeTempFileSync({ prefix: "floe-libc-noffi-", suffix: ".ts" });
  Deno.writeTextFileSync(file, script);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-check", "--allow-read", file],
    stdout: "piped",
    stderr: "piped",
  }).output().finally(() => Deno.removeSync(file));
  assert(out.success, dec.decode(out.stderr));
  const res = JSON.parse(dec.decode(out.stdout));
  assertEquals(res.ok, false);
  assertEquals(res.lean, false);
  assert(String(res.reason).includes("FFI"), res.reason);
  assertEquals(String(res.threw).split("libc FFI unavailable").length, 4, res.threw);
});

Deno.test(
  "a file named bad\\xffname: create with openWrite/writeFd, list, lstat and read back",
  withTempDir((dir) => {
    const name = bytes("bad", [0xff], "name");
    const path = joinBytes(dir, name);
    assertEquals(isUtf8(name), false);
    const content = enc.encode("hello from a non-UTF-8 name\n".repeat(3));

    const fd = openWrite(path, 0o640);
    try {
      assertEquals(writeFd(fd, content), content.length);
      assertEquals(fstatNs(fd).size, BigInt(content.length));
    } finally {
      closeFd(fd);
    }

    const entries = readDirRaw(dir);
    assertEquals(entries.length, 1);
    assertEquals(entries[0].name, name);
    assertEquals(entries[0].type, DT.REG);

    const st = lstatNs(joinBytes(dir, entries[0].name));
    assertEquals(st.mode & S_IF.MT, S_IF.REG);
    assertEquals(st.mode & 0o7777 & ~0o640, 0); // 0o640 filtered by the umask
    assertEquals(st.size, BigInt(content.length));
    assertEquals(st.nlink, 1);

    assertEquals(readAll(path), content);
    // readFd/writeFd honour a view's byteOffset.
    const big = new Uint8Array(content.length + 10).fill(7);
    const rfd = openRead(path);
    try {
      assertEquals(readFd(rfd, big.subarray(10)), content.length);
    } finally {
      closeFd(rfd);
    }
    assertEquals(big.subarray(0, 10), new Uint8Array(10).fill(7));
    assertEquals(big.subarray(10), content);
    const copy = joinBytes(dir, bytes("copy", [0xfe]));
    const wfd = openWrite(copy, 0o600);
    try {
      writeFd(wfd, big.subarray(10, 15));
    } finally {
      closeFd(wfd);
    }
    assertEquals(readAll(copy), content.subarray(0, 5));
    unlinkBytes(copy);
    assertEquals(readDirRaw(dir).length, 1);
    // An already NUL-terminated byte path is accepted as is.
    assertEquals(lstatNs(bytes(dir, "/bad", [0xff], "name", [0])).ino, st.ino);
    // Deno's own API only sees a lossy name.
    const lossy = [...Deno.readDirSync(dir)][0].name;
    assert(lossy.includes("\uFFFD"), lossy);
    assertEquals(displayPath(name), lossy);
  }),
);

Deno.test(
  "byte paths for restore: mkdirBytes, symlinkBytes, readlinkBytes with non-UTF-8 bytes",
  withTempDir((dir) => {
    const sub = joinBytes(dir, bytes("d", [0xc3, 0x28])); // invalid 2-byte sequence
    mkdirBytes(sub, 0o750);
    assertEquals(lstatNs(sub).mode & S_IF.MT, S_IF.DIR);
    const target = bytes("../t", [0xfe, 0x80], "x");
    const link = joinBytes(sub, bytes("l", [0xff]));
    symlinkBytes(target, link);
    assertEquals(readlinkBytes(link), target);
    assertEquals(lstatNs(link).mode & S_IF.MT, S_IF.LNK);
    assertEquals(lstatNs(link).size, BigInt(target.length));
    const top = readDirRaw(dir);
    assertEquals(top.map((e) => [e.name, e.type]), [[bytes("d", [0xc3, 0x28]), DT.DIR]]);
    assertEquals(readDirRaw(sub).map((e) => [e.name, e.type]), [[bytes("l", [0xff]), DT.LNK]]);
    // A long target exercises readlink's buffer growth.
    const long = "x/".repeat(700) + "end";
    symlinkBytes(long, `${dir}/long`);
    assertEquals(dec.decode(readlinkBytes(`${dir}/long`)), long);
    assertEquals(Deno.readLinkSync(`${dir}/long`), long);

    // Hard link, chmod, rename, unlink, rmdir on byte paths.
    const f = joinBytes(sub, bytes("f", [0xff]));
    closeFd(openWrite(f, 0o600));
    chmodBytes(f, 0o4751);
    assertEquals(lstatNs(f).mode, S_IF.REG | 0o4751);
    const hard = joinBytes(dir, bytes("h", [0x80]));
    linkBytes(f, hard);
    assertEquals(lstatNs(hard).ino, lstatNs(f).ino);
    assertEquals(lstatNs(f).nlink, 2);
    const moved = joinBytes(dir, bytes("m", [0xfe]));
    renameBytes(hard, moved);
    assert(assertThrows(() => lstatNs(hard)) instanceof Deno.errors.NotFound);
    assertEquals(lstatNs(moved).ino, lstatNs(f).ino);
    unlinkBytes(moved);
    assertEquals(lstatNs(f).nlink, 1);
    assertThrows(() => rmdirBytes(sub), "ENOTEMPTY");
    unlinkBytes(f);
    unlinkBytes(link);
    rmdirBytes(sub);
    assertEquals(readDirRaw(dir).map((e) => dec.decode(e.name)), ["long"]);
  }),
);

Deno.test(
  "readDirNames gives each name as quoteName shows it, with its bytes only when quoted",
  withTempDir((dir) => {
    const raws = [
      bytes("plain.txt"),
      bytes("bad", [0xff], "name"),
      enc.encode("été"),
      enc.encode('"quoted'),
      enc.encode("tab\there"),
      enc.encode("del\x7f"),
      enc.encode("~ !#$%&'()*+,-.0123456789:;<=>?@AZ[]^_`az{|}"),
    ];
    for (const raw of raws) closeFd(openWrite(joinBytes(dir, raw), 0o600));
    for (let i = 0; i < 3000; i++) {
      Deno.writeFileSync(`${dir}/n-${i}-${"x".repeat(i % 60)}`, new Uint8Array(0));
    }
    const got = readDirNames(dir);
    const want = readDirRaw(dir).map((e) => {
      const name = quoteName(e.name);
      return name.startsWith('"') ? { name, bytes: e.name } : { name };
    });
    assertEquals(got.length, raws.length + 3000);
    assertEquals(got, want);
    assertEquals(got.filter((n) => n.bytes).map((n) => n.name).sort(), [
      '"\\"quoted"',
      '"bad\\xffname"',
      '"del\\x7f"',
      '"tab\\x09here"',
    ]);
  }),
);

Deno.test(
  "readDirRaw agrees with Deno.readDirSync on UTF-8 names and spans several getdents64 buffers",
  withTempDir((dir) => {
    const names = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const n = `entry-${i}-${"é".repeat(i % 20)}-${"x".repeat(i % 50)}`;
      names.add(n);
      Deno.writeFileSync(`${dir}/${n}`, new Uint8Array(0));
    }
    Deno.mkdirSync(`${dir}/a-dir`);
    Deno.symlinkSync("nowhere", `${dir}/a-link`);
    names.add("a-dir").add("a-link");
    const raw = readDirRaw(dir);
    assertEquals(raw.length, names.size);
    const got = new Map(raw.map((e) => [decodeUtf8(e.name), e.type]));
    assert(!got.has(".") && !got.has(".."));
    for (const e of Deno.readDirSync(dir)) {
      const t = got.get(e.name);
      assert(t !== undefined, `missing ${e.name}`);
      assertEquals(t, e.isDirectory ? DT.DIR : e.isSymlink ? DT.LNK : DT.REG);
    }
    assertEquals(readDirRaw(`${dir}/a-dir`), []);
  }),
);

Deno.test(
  "mkfifo creates a FIFO; mknod creates a char device (root)",
  withTempDir((dir) => {
    mkfifo(`${dir}/p`, 0o600);
    const st = Deno.lstatSync(`${dir}/p`);
    assert(st.isFifo);
    assertEquals(lstatNs(`${dir}/p`).mode, S_IF.FIFO | 0o600);
    assertEquals(readDirRaw(dir)[0].type, DT.FIFO);
    const e = assertThrows(() => mkfifo(`${dir}/p`, 0o600), "EEXIST: file exists: ");
    assert(e instanceof Deno.errors.AlreadyExists);

    mknod(`${dir}/p2`, S_IF.FIFO | 0o644, 0);
    assert(Deno.lstatSync(`${dir}/p2`).isFifo);

    if (!isRoot) return console.log("  (not root: mknod char device skipped)");
    try {
      mknod(`${dir}/null`, S_IF.CHR | 0o666, makedev(1, 3));
    } catch (err) {
      if (err instanceof Deno.errors.PermissionDenied) return console.log("  (no CAP_MKNOD: skipped)");
      throw err;
    }
    const dst = Deno.lstatSync(`${dir}/null`);
    assert(dst.isCharDevice);
    assertEquals(lstatNs(`${dir}/null`).rdev, makedev(1, 3));
    assertEquals(BigInt(dst.rdev ?? -1), makedev(1, 3));
    // A big major/minor pair survives the glibc dev_t encoding both ways.
    mknod(`${dir}/blk`, S_IF.BLK | 0o600, makedev(259, 70000));
    assertEquals(splitDev(lstatNs(`${dir}/blk`).rdev), [259, 70000]);
    assert(Deno.lstatSync(`${dir}/blk`).isBlockDevice);
  }),
);

Deno.test({
  name: "lchown on a symlink changes the link, not the target (root)",
  ignore: !isRoot,
  fn: withTempDir((dir) => {
    Deno.writeFileSync(`${dir}/target`, enc.encode("t"));
    Deno.symlinkSync("target", `${dir}/link`);
    lchown(`${dir}/link`, 1234, 5678);
    const l = lstatNs(`${dir}/link`);
    assertEquals([l.uid, l.gid], [1234, 5678]);
    const t = Deno.statSync(`${dir}/link`); // follows → the target
    assertEquals([t.uid, t.gid], [0, 0]);
    // -1 leaves a field unchanged.
    lchown(`${dir}/link`, -1, 42);
    const l2 = lstatNs(`${dir}/link`);
    assertEquals([l2.uid, l2.gid], [1234, 42]);
    // Byte paths work too.
    lchown(joinBytes(dir, enc.encode("link")), 7, 7);
    assertEquals(lstatNs(`${dir}/link`).uid, 7);
  }),
});

Deno.test(
  "setTimes with noFollow sets a symlink's own times with ns precision",
  withTempDir((dir) => {
    Deno.writeFileSync(`${dir}/target`, enc.encode("t"));
    Deno.symlinkSync("target", `${dir}/link`);
    const before = lstatNs(`${dir}/target`);
    const atime = 1_600_000_000_123_456_789n;
    const mtime = 1_700_000_000_987_654_321n;
    setTimes(`${dir}/link`, atime, mtime, { noFollow: true });
    const l = lstatNs(`${dir}/link`);
    assertEquals(l.mtimeNs, mtime);
    assertEquals(l.atimeNs, atime);
    const t = lstatNs(`${dir}/target`);
    assertEquals(t.mtimeNs, before.mtimeNs);

    // Without noFollow the target changes.
    setTimes(`${dir}/link`, atime, 1_000_000_001n, { noFollow: false });
    assertEquals(lstatNs(`${dir}/target`).mtimeNs, 1_000_000_001n);
    assertEquals(lstatNs(`${dir}/link`).mtimeNs, mtime);

    // null = UTIME_OMIT; negative (pre-1970) times keep their sub-second part.
    setTimes(`${dir}/target`, null, -1_500_000_000n);
    const t2 = lstatNs(`${dir}/target`);
    assertEquals(t2.atimeNs, atime);
    assertEquals(t2.mtimeNs, -1_500_000_000n);
    assertEquals(Deno.lstatSync(`${dir}/target`).mtime?.getTime(), -1500);

    // Byte path with a non-UTF-8 name.
    const bad = joinBytes(dir, bytes([0xff]));
    closeFd(openWrite(bad, 0o600));
    setTimes(bad, 5n, 999_999_999n, { noFollow: true });
    assertEquals([lstatNs(bad).atimeNs, lstatNs(bad).mtimeNs], [5n, 999_999_999n]);
  }),
);

Deno.test(
  "fchownFd, fchmodFd and futimensFd set owner, mode and ns times on an open file (setuid after chown)",
  withTempDir((dir) => {
    const path = joinBytes(dir, bytes([0x66, 0xfe])); // "f\xfe": no path is looked up by these calls
    const fd = openNew(path, 0o600);
    try {
      writeFd(fd, enc.encode("content"));
      if (isRoot) {
        fchmodFd(fd, 0o6755);
        fchownFd(fd, 1234, 5678); // clears setuid/setgid: the mode goes after the owner
        assertEquals(lstatNs(path).mode & 0o7777, 0o755);
        fchownFd(fd, -1, 42); // -1 leaves a field unchanged
        assertEquals([lstatNs(path).uid, lstatNs(path).gid], [1234, 42]);
      }
      fchmodFd(fd, 0o104750); // type bits are ignored
      futimensFd(fd, 1_600_000_000_123_456_789n, 1_700_000_000_987_654_321n);
      futimensFd(fd, null, -1_500_000_000n); // null = UTIME_OMIT; before 1970 keeps its fraction
    } finally {
      closeFd(fd);
    }
    const st = lstatNs(path);
    assertEquals(st.mode & 0o7777, 0o4750);
    assertEquals([st.atimeNs, st.mtimeNs], [1_600_000_000_123_456_789n, -1_500_000_000n]);
    assertThrows(() => fchmodFd(fd, 0o644), "EBADF");
    assertThrows(() => futimensFd(-1, 1n, 1n), "EBADF");
    assertThrows(() => fchownFd(-1, 0, 0), "EBADF");
  }),
);

for (const base of ["/tmp", "/dev/shm"]) {
  Deno.test(
    `lstatNs agrees with Deno.lstatSync and has sub-second ctime (${base})`,
    withTempDir(async (dir) => {
      let subSecond = 0;
      for (let i = 0; i < 5; i++) {
        Deno.writeFileSync(`${dir}/f${i}`, enc.encode("x".repeat(i * 1000)));
        const ns = lstatNs(`${dir}/f${i}`);
        const d = Deno.lstatSync(`${dir}/f${i}`);
        if (ns.ctimeNs % 1_000_000_000n !== 0n) subSecond++;
        // Deno gives ctime in whole seconds, mtime in ms.
        assertEquals(Number(ns.ctimeNs / 1_000_000_000n) * 1000, d.ctime?.getTime());
        assertEquals(Number(ns.mtimeNs / 1_000_000n), d.mtime?.getTime());
        assertEquals(Number(ns.atimeNs / 1_000_000n), d.atime?.getTime());
        assertEquals(
          [ns.ino, ns.dev, ns.nlink, ns.mode, ns.uid, ns.gid, ns.size, ns.blocks, ns.rdev],
          [d.ino, d.dev, d.nlink, d.mode, d.uid, d.gid, d.size, d.blocks, d.rdev].map((v, j) =>
            j >= 2 && j <= 5 ? v : BigInt(v ?? -1)
          ),
        );
        await new Promise((r) => setTimeout(r, 3));
      }
      assert(subSecond >= 4, `only ${subSecond}/5 ctimes had a sub-second part`);
      // Directories and symlinks too.
      Deno.symlinkSync("f1", `${dir}/ln`);
      assertEquals(lstatNs(`${dir}/ln`).mode & S_IF.MT, S_IF.LNK);
      assertEquals(lstatNs(dir).mode & S_IF.MT, S_IF.DIR);
      assertEquals(lstatNs(dir).nlink, Deno.lstatSync(dir).nlink);
    }, base),
  );
}

Deno.test("errors carry the errno name, the path, and map to Deno.errors classes", () => {
  const missing = bytes("/tmp/floe-definitely-missing-", [0xff]);
  const e = assertThrows(() => lstatNs(missing));
  assert(e instanceof Deno.errors.NotFound);
  assertEquals(e.message, 'ENOENT: no such file or directory: "/tmp/floe-definitely-missing-\\xff"');
  const fields = e as unknown as { code: string; errno: number; syscall: string; path: string };
  assertEquals([fields.code, fields.errno, fields.syscall], ["ENOENT", 2, "statx"]);

  assert(assertThrows(() => readDirRaw("/etc/hostname"), "ENOTDIR") instanceof Deno.errors.NotADirectory);
  assert(assertThrows(() => openRead("/nonexistent/x")) instanceof Deno.errors.NotFound);
  assert(assertThrows(() => mkdirBytes("/tmp")) instanceof Deno.errors.AlreadyExists);
  assert(errnoError(13, "open", "/x") instanceof Deno.errors.PermissionDenied);
  assert(errnoError(1, "open", "/x") instanceof Deno.errors.PermissionDenied);
  assertEquals(errnoError(13, "open", "/x").message, "EACCES: permission denied: /x");
  assertEquals(errnoError(9999, "open", "/x").message, "E9999: errno 9999: /x");
  assertThrows(() => readFd(-1, new Uint8Array(1)), "EBADF");
  // Interior NUL bytes are refused rather than silently truncating the path.
  assert(assertThrows(() => lstatNs("/tmp\0/etc")) instanceof TypeError);
  assert(assertThrows(() => lstatNs(bytes("/tmp", [0], "x"))) instanceof TypeError);
});

Deno.test("isUtf8 / decodeUtf8 are strict", () => {
  assert(isUtf8(new Uint8Array(0)));
  assert(isUtf8(enc.encode("plain-ascii.txt")));
  assert(isUtf8(enc.encode("héllo wörld 日本 🎉")));
  assert(isUtf8(enc.encode("a".repeat(100) + "é")));
  assert(!isUtf8(new Uint8Array([0x62, 0x61, 0x64, 0xff])));
  assert(!isUtf8(new Uint8Array([0xc0, 0xaf]))); // overlong "/"
  assert(!isUtf8(new Uint8Array([0xed, 0xa0, 0x80]))); // UTF-16 surrogate
  assert(!isUtf8(new Uint8Array([0xe6, 0x97]))); // truncated
  assert(!isUtf8(new Uint8Array([0xf4, 0x90, 0x80, 0x80]))); // > U+10FFFF
  assertEquals(decodeUtf8(enc.encode("日本")), "日本");
  assertEquals(decodeUtf8(new Uint8Array([0xff])), null);
  // A BOM is kept, not stripped: names must round-trip exactly.
  assertEquals(decodeUtf8(new Uint8Array([0xef, 0xbb, 0xbf, 0x61])), "\uFEFFa");
});

Deno.test("makedev/splitDev and joinBytes", () => {
  assertEquals(makedev(1, 3), 259n);
  assertEquals(makedev(8, 1), 2049n);
  assertEquals(splitDev(makedev(4095, 255)), [4095, 255]);
  assertEquals(splitDev(makedev(0xfffff, 0xfffff)), [0xfffff, 0xfffff]);
  assertEquals(Number(makedev(...splitDev(Deno.lstatSync("/").dev))), Deno.lstatSync("/").dev);
  assertEquals(joinBytes("/a/", enc.encode("b")), enc.encode("/a/b"));
  assertEquals(joinBytes(enc.encode("/a\0"), enc.encode("b")), enc.encode("/a/b"));
  assertNotEquals(joinBytes("/a", enc.encode("b")), enc.encode("/ab"));
});

Deno.test("lstatMs agrees with Deno.lstatSync and lstatNs (times, sizes, ids)", () => {
  for (const p of ["/etc/hostname", "/etc", "/dev/null", "/bin", Deno.execPath()]) {
    const a = Deno.lstatSync(p);
    const b = lstatMs(p);
    const c = lstatNs(p);
    assertEquals(
      [b.mtimeMs, b.atimeMs, b.size, b.ino, b.dev, b.mode, b.nlink, b.uid, b.gid, b.rdev],
      [a.mtime!.getTime(), a.atime!.getTime(), a.size, a.ino, a.dev, a.mode, a.nlink, a.uid, a.gid, a.rdev],
      p,
    );
    assertEquals(b.ctimeMs, Number(c.ctimeNs / 1000n) / 1000, p);
    assertEquals(
      [b.mtimeNs, b.atimeNs, b.ctimeNs, b.btimeNs],
      [`${c.mtimeNs}`, `${c.atimeNs}`, `${c.ctimeNs}`, c.birthtimeNs === null ? null : `${c.birthtimeNs}`],
      p,
    );
  }
});

Deno.test("direct I/O: openDirect, pwriteAsync, fallocateFd, ftruncateFd, fsyncAsync", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/direct`;
    const fd = openDirect(path, 0o600);
    assert(fd !== null, "ext4 does O_DIRECT");
    try {
      assert(fallocateFd(fd, 3 * DIRECT_ALIGN));
      assertEquals(Deno.statSync(path).size, 3 * DIRECT_ALIGN);
      const raw = new Uint8Array(3 * DIRECT_ALIGN);
      const at = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(raw)));
      const skip = (DIRECT_ALIGN - (at % DIRECT_ALIGN)) % DIRECT_ALIGN;
      const block = raw.subarray(skip, skip + DIRECT_ALIGN).fill(7);
      await pwriteAsync(fd, block, DIRECT_ALIGN);
      ftruncateFd(fd, DIRECT_ALIGN + 10);
      await fsyncAsync(fd);
    } finally {
      closeFd(fd);
    }
    const back = Deno.readFileSync(path);
    assertEquals(back.length, DIRECT_ALIGN + 10);
    assert(back.subarray(0, DIRECT_ALIGN).every((b) => b === 0));
    assert(back.subarray(DIRECT_ALIGN).every((b) => b === 7));
    assert(assertThrows(() => openDirect(path, 0o600)) instanceof Deno.errors.AlreadyExists);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** Every byte value but NUL and "/" — 0x01–0x2e and 0x30–0xff — alone and inside a longer name. */
function everyByteName(): Uint8Array[] {
  const names: Uint8Array[] = [];
  for (let b = 1; b < 256; b++) {
    if (b === 0x2f || b === 0x2e) continue; // "." alone is the directory itself
    names.push(bytes([b]));
  }
  for (let b = 1; b < 256; b++) if (b !== 0x2f) names.push(bytes("n", [b], "-", [b, b]));
  names.push(bytes([0x2e, 0x2e, 0x2e]), bytes("all", [0x80, 0xff, 0xfe, 0xc0, 0xaf, 0xed, 0xa0, 0x80]));
  return names;
}

Deno.test(
  "names of every byte value: made by Python, listed, stat'ed and read by floe; made by floe, seen by Python",
  withTempDir((dir) => {
    const names = everyByteName();
    const key = (b: Uint8Array) => hex(b);
    // Python creates each file with its own name as content.
    py(
      "d = H(1)\nfor h in sys.argv[2:]:\n  n = bytes.fromhex(h)\n  open(os.path.join(d, n), 'wb').write(n)\nprint(1)",
      hex(dir),
      ...names.map(key),
    );
    const listed = readDirRaw(dir);
    assertEquals(listed.map((e) => key(e.name)).sort(), names.map(key).sort());
    const osIno = new Map(
      py<[string, number][]>(
        "d = H(1)\nprint(json.dumps([[n.hex(), os.lstat(os.path.join(d, n)).st_ino] for n in os.listdir(d)]))",
        hex(dir),
      ),
    );
    const buf = new Uint8Array(3); // reused, smaller than most files: exercises the read loop
    for (const e of listed) {
      assertEquals(e.type, DT.REG);
      const path = joinBytes(dir, e.name);
      assertEquals(lstatNs(path).ino, BigInt(osIno.get(key(e.name))!));
      const fd = openRead(path, { noFollow: true });
      const got: number[] = [];
      try {
        for (let n; (n = readFd(fd, buf)) > 0;) got.push(...buf.subarray(0, n));
      } finally {
        closeFd(fd);
      }
      assertEquals(new Uint8Array(got), e.name);
    }

    // floe creates them (file, directory, symlink with a byte target) in a second directory.
    const out = `${dir}/${"o".repeat(3)}`;
    mkdirBytes(out, 0o755);
    for (const [i, n] of names.entries()) {
      const p = joinBytes(out, n);
      if (i % 3 === 0) {
        const fd = openNew(p, 0o600);
        try {
          writeFd(fd, n);
        } finally {
          closeFd(fd);
        }
        assert(assertThrows(() => openNew(p, 0o600)) instanceof Deno.errors.AlreadyExists);
      } else if (i % 3 === 1) mkdirBytes(p, 0o700);
      else symlinkBytes(bytes("../", n), p);
    }
    const seen = py<[string, string, string][]>(
      `d = H(1)
def kind(p):
  if os.path.islink(p): return "l:" + os.readlink(p).hex()
  if os.path.isdir(p): return "d:"
  return "f:" + open(p, "rb").read().hex()
print(json.dumps([[n.hex(), kind(os.path.join(d, n))] for n in os.listdir(d)]))`,
      hex(out),
    );
    const want = names.map((
      n,
      i,
    ) => [hex(n), i % 3 === 0 ? `f:${hex(n)}` : i % 3 === 1 ? "d:" : `l:${hex(bytes("../", n))}`]);
    assertEquals(seen.map(([n, k]) => [n, k]).sort(), want.sort());
    for (const [i, n] of names.entries()) {
      if (i % 3 === 2) assertEquals(readlinkBytes(joinBytes(out, n)), bytes("../", n));
    }
  }),
);

Deno.test(
  "nanosecond times of files, directories and symlinks agree with Python's st_*time_ns, set and read",
  withTempDir((dir) => {
    closeFd(openNew(`${dir}/f`, 0o600));
    mkdirBytes(`${dir}/d`, 0o700);
    symlinkBytes("f", `${dir}/l`);
    const bad = joinBytes(dir, bytes("x", [0xff]));
    closeFd(openNew(bad, 0o600));
    const times: [Uint8Array | string, bigint, bigint][] = [
      [`${dir}/f`, 1_234_567_890_123_456_789n, 1_700_000_000_000_000_001n],
      [`${dir}/d`, 1n, 1_699_999_999_999_999_999n],
      [`${dir}/l`, 2_000_000_000_999_999_999n, 1_600_000_000_100_000_007n],
      [bad, -1n, -1_000_000_000_000_000_001n], // before 1970, odd ns
    ];
    for (const [p, a, m] of times) setTimes(p, a, m, { noFollow: true });
    const os = py<[string, string, string, string][]>(
      "print(json.dumps([[str(s.st_atime_ns), str(s.st_mtime_ns), str(s.st_ctime_ns), h] for h in sys.argv[1:] for s in [os.lstat(bytes.fromhex(h))]]))",
      ...times.map(([p]) => hex(p)),
    );
    for (const [i, [p, a, m]] of times.entries()) {
      const st = lstatNs(p);
      assertEquals([st.atimeNs, st.mtimeNs], [a, m], String(p));
      assertEquals([st.atimeNs, st.mtimeNs, st.ctimeNs].map(String), os[i].slice(0, 3), String(p));
      // 2^53 ns is only 104 days: a JS number could not hold these.
      assert(m > BigInt(Number.MAX_SAFE_INTEGER) || m < -BigInt(Number.MAX_SAFE_INTEGER));
    }
    // The symlink's target kept its own times.
    assertEquals(lstatNs(`${dir}/f`).mtimeNs, 1_700_000_000_000_000_001n);
    // Birth time is reported on ext4/tmpfs, with nanoseconds.
    const b = lstatNs(`${dir}/f`).birthtimeNs;
    assert(b === null || b > 0n);
  }),
);

Deno.test(
  "readDirRaw leaves the directory's access time as it was (O_NOATIME), where a plain listing moves it",
  withTempDir((dir) => {
    const d = `${dir}/d`;
    Deno.mkdirSync(d);
    Deno.writeTextFileSync(`${d}/f`, "x");
    // atime before mtime: under relatime (and strictatime) a listing would update it.
    const atime = 1_000_000_000_123_456_789n;
    setTimes(d, atime, 1_500_000_000_000_000_000n);
    assertEquals(readDirRaw(d).length, 1);
    assertEquals(lstatNs(d).atimeNs, atime);
    // The control: Deno's listing does move it, unless the file system records no atimes at all.
    [...Deno.readDirSync(d)];
    const mount = Deno.readTextFileSync("/proc/mounts").includes("noatime");
    if (!mount) assertNotEquals(lstatNs(d).atimeNs, atime);
  }),
);

Deno.test("niceThisThread() lowers the priority of the calling thread only", async () => {
  const niceOf = (stat: string) => Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
  const before = niceOf(Deno.readTextFileSync("/proc/self/stat"));
  const worker = new Worker(new URL("../../tests/fixtures/nice_worker.ts", import.meta.url), {
    type: "module",
  });
  try {
    const got = await new Promise<{ ok: boolean; mine: number; process: number }>((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => reject(e.error ?? e.message);
    });
    assertEquals(got, { ok: true, mine: 7, process: before });
    assertEquals(niceOf(Deno.readTextFileSync("/proc/self/stat")), before, "the main thread keeps its own");
  } finally {
    worker.terminate();
  }
});
