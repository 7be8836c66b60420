/**
 * Back up a tree holding every kind of entry through the engine, restore it, and compare everything.
 * Runs as root (chown, setuid bits); the tests skip what they cannot do otherwise.
 */
import { assert, assertEquals } from "./assert.ts";
import { newEngine, randomBytes, sha256, tempDir } from "./helpers.ts";
import { loadPlugin } from "../core/registry.ts";
import { API_VERSION, type SourceEntry, type SourcePlugin } from "../core/contracts.ts";
import { type Engine, internals } from "../core/engine.ts";

const isRoot = Deno.uid() === 0;

function run(cmd: string, args: string[]) {
  const out = new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).outputSync();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

function setTimes(path: string, ms: number) {
  const st = Deno.lstatSync(path);
  if (st.isSymlink) run("touch", ["-h", "-m", "-d", new Date(ms).toISOString(), "--", path]);
  else Deno.utimeSync(path, new Date(ms), new Date(ms));
}

interface Info {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size?: number;
  hash?: string;
  target?: string;
  ino: number;
  nlink: number;
  blocks: number;
}

/** Every entry below `root`, keyed by relative path. */
function scan(root: string): Map<string, Info> {
  const out = new Map<string, Info>();
  const walk = (dir: string, rel: string) => {
    for (const d of Deno.readDirSync(dir)) {
      const p = `${dir}/${d.name}`;
      const r = rel ? `${rel}/${d.name}` : d.name;
      const st = Deno.lstatSync(p);
      const type = st.isFile
        ? "file"
        : st.isDirectory
        ? "dir"
        : st.isSymlink
        ? "symlink"
        : st.isFifo
        ? "fifo"
        : "other";
      const info: Info = {
        type,
        mode: st.mode! & 0o7777,
        uid: st.uid!,
        gid: st.gid!,
        mtime: st.mtime!.getTime(),
        ino: st.ino!,
        nlink: st.nlink!,
        blocks: st.blocks!,
      };
      if (type === "file") {
        info.size = st.size;
        info.hash = sha256(Deno.readFileSync(p));
      }
      if (type === "symlink") info.target = Deno.readLinkSync(p);
      out.set(r, info);
      if (type === "dir") walk(p, r);
    }
  };
  walk(root, "");
  return out;
}

const MTIME_BASE = Date.UTC(2021, 5, 7, 8, 9, 10, 0);
const NFC = "\u00e9";
const NFD = "e\u0301";
const NAMES = [
  "with space",
  "new\nline",
  "tab\there",
  "%#\\?*[]~",
  `caf${NFC}`,
  `caf${NFD}`,
  "-leading-dash",
  "n".repeat(255),
];

/** Builds the tree with every entry kind; returns the hardlink pair and deep path. */
function buildTree(src: string) {
  Deno.mkdirSync(`${src}/dir/nested/more`, { recursive: true });
  Deno.mkdirSync(`${src}/empty-dir`);
  Deno.writeFileSync(`${src}/empty.txt`, new Uint8Array(0));
  Deno.writeTextFileSync(`${src}/small.txt`, "hello floe\n");
  Deno.writeFileSync(`${src}/dir/multi.bin`, randomBytes(3 * 1024 * 1024, 17));
  Deno.writeTextFileSync(`${src}/dir/nested/more/leaf.txt`, "leaf");
  let deep = src;
  for (let i = 0; i < 40; i++) deep += `/level-${String(i).padStart(2, "0")}`;
  Deno.mkdirSync(deep, { recursive: true });
  Deno.writeTextFileSync(`${deep}/bottom.txt`, "bottom");
  Deno.mkdirSync(`${src}/names`);
  NAMES.forEach((n, i) => Deno.writeTextFileSync(`${src}/names/${n}`, `name ${i}`));
  // Symlinks.
  Deno.symlinkSync("small.txt", `${src}/link-relative`);
  Deno.symlinkSync(`${src}/dir/multi.bin`, `${src}/link-absolute`);
  Deno.symlinkSync("does/not/exist", `${src}/link-dangling`);
  Deno.symlinkSync("dir", `${src}/link-to-dir`);
  // Hardlinks, across directories.
  Deno.writeTextFileSync(`${src}/hard-a`, "shared content");
  Deno.linkSync(`${src}/hard-a`, `${src}/dir/hard-b`);
  Deno.linkSync(`${src}/hard-a`, `${src}/dir/nested/hard-c`);
  // FIFO.
  run("mkfifo", ["--", `${src}/fifo`]);
  // Sparse: 10 MiB with a few bytes in the middle.
  const f = Deno.openSync(`${src}/sparse.bin`, { write: true, create: true });
  f.seekSync(5 * 1024 * 1024 + 17, Deno.SeekMode.Start);
  f.writeSync(new TextEncoder().encode("in the middle"));
  f.truncateSync(10 * 1024 * 1024);
  f.close();
  // Owners (as root), then special bits (chown clears setuid).
  Deno.writeTextFileSync(`${src}/setuid`, "#!/bin/sh\n");
  Deno.writeTextFileSync(`${src}/setgid`, "#!/bin/sh\n");
  Deno.mkdirSync(`${src}/sticky`);
  Deno.writeTextFileSync(`${src}/owned`, "owned");
  if (isRoot) {
    Deno.chownSync(`${src}/owned`, 1234, 5678);
    Deno.chownSync(`${src}/setuid`, 1234, 5678);
    Deno.chownSync(`${src}/sticky`, 1234, 5678);
    Deno.chownSync(`${src}/fifo`, 1234, 5678);
    run("chown", ["-h", "1234:5678", `${src}/link-relative`]);
  }
  Deno.chmodSync(`${src}/setuid`, 0o4755);
  Deno.chmodSync(`${src}/setgid`, 0o2750);
  Deno.chmodSync(`${src}/sticky`, 0o1777);
  Deno.chmodSync(`${src}/owned`, 0o640);
  Deno.chmodSync(`${src}/fifo`, 0o620);
  Deno.chmodSync(`${src}/dir/nested`, 0o700);
  // Distinct mtimes with milliseconds, directories last and deepest first.
  const all = [...scan(src).keys()].sort((a, b) => b.split("/").length - a.split("/").length);
  all.forEach((rel, i) => setTimes(`${src}/${rel}`, MTIME_BASE + i * 1001 + 7));
  return { deep: deep.slice(src.length + 1) };
}

async function backup(
  engine: Engine,
  paths: string[],
  options: Record<string, unknown> = {},
  backupOptions = {},
) {
  const source = await loadPlugin("source", "fs", { paths, ...options });
  return await engine.backup(source, backupOptions);
}

function compareTrees(src: Map<string, Info>, out: Map<string, Info>) {
  assertEquals([...out.keys()].sort(), [...src.keys()].sort());
  for (const [rel, a] of src) {
    const b = out.get(rel)!;
    const what = JSON.stringify(rel);
    assertEquals(b.type, a.type, `type of ${what}`);
    assertEquals(b.mode, a.mode, `mode of ${what}`);
    if (isRoot) {
      assertEquals(b.uid, a.uid, `uid of ${what}`);
      assertEquals(b.gid, a.gid, `gid of ${what}`);
    }
    assertEquals(b.mtime, a.mtime, `mtime of ${what}`);
    assertEquals(b.size, a.size, `size of ${what}`);
    assertEquals(b.hash, a.hash, `content of ${what}`);
    assertEquals(b.target, a.target, `link target of ${what}`);
  }
}

Deno.test({
  name: "roundtrip: every entry kind survives backup and restore",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-rt-");
    try {
      const src = `${dir.path}/src`;
      Deno.mkdirSync(src);
      const { deep } = buildTree(src);
      const before = scan(src);
      // Sanity of the fixture itself.
      assert(before.has(`names/caf${NFC}`) && before.has(`names/caf${NFD}`), "NFC and NFD side by side");
      assertEquals(before.get("setuid")!.mode, 0o4755);
      assert(before.get("sparse.bin")!.blocks * 512 < 1024 * 1024, "the source file is sparse");
      if (isRoot) {
        assertEquals([before.get("owned")!.uid, before.get("owned")!.gid], [1234, 5678]);
        assertEquals(before.get("link-relative")!.uid, 1234);
      }
      assertEquals(before.get("sticky")!.mode, 0o1777);
      assertEquals(before.get("fifo")!.type, "fifo");
      assert(before.get("dir/nested")!.mtime < Date.UTC(2022, 0, 1), "directory mtimes were set");

      const engine = await newEngine(dir.path);
      try {
        const r = await backup(engine, [src]);
        assertEquals(r.warnings.length, 0);
        assertEquals(r.warnings, []);
        const target = `${dir.path}/out`;
        await engine.restore({ snapshot: engine.resolveSnapshot(r.snapshotId), subpath: src, target });
        const after = scan(target);
        compareTrees(before, after);
        assert(after.has(`${deep}/bottom.txt`));
        // Hardlinks are restored as hardlinks.
        const ino = after.get("hard-a")!.ino;
        assertEquals(after.get("dir/hard-b")!.ino, ino);
        assertEquals(after.get("dir/nested/hard-c")!.ino, ino);
        assertEquals(after.get("hard-a")!.nlink, 3);
        assert(after.get("small.txt")!.ino !== ino);
        // The sparse file is sparse again.
        const sparse = after.get("sparse.bin")!;
        assertEquals(sparse.size, 10 * 1024 * 1024);
        assert(sparse.blocks * 512 < 1024 * 1024, `restored sparse file uses ${sparse.blocks * 512} bytes`);
        // The whole snapshot restored elsewhere holds the path from the root.
        const full = `${dir.path}/full`;
        await engine.restore({ snapshot: engine.resolveSnapshot("latest"), target: full });
        assertEquals(Deno.readTextFileSync(`${full}${src}/small.txt`), "hello floe\n");
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});

Deno.test({
  name: "roundtrip: incremental backups detect unmodified, changed and forced files",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-rt-");
    try {
      const src = `${dir.path}/src`;
      Deno.mkdirSync(`${src}/sub`, { recursive: true });
      for (let i = 0; i < 5; i++) Deno.writeFileSync(`${src}/f${i}`, randomBytes(20_000 + i, i + 1));
      Deno.writeFileSync(`${src}/sub/big`, randomBytes(600_000, 9));
      const engine = await newEngine(dir.path);
      try {
        const first = await backup(engine, [src]);
        const s1 = first.snapshot.summary!;
        assertEquals([s1.files_new, s1.files_changed, s1.files_unmodified], [6, 0, 0]);

        const second = await backup(engine, [src]);
        const s2 = second.snapshot.summary!;
        assertEquals(second.snapshot.parent, first.snapshotId);
        assertEquals([s2.files_new, s2.files_changed, s2.files_unmodified], [0, 0, 6]);
        assertEquals(s2.data_blobs, 0);
        // The backed-up directory's tree is the same. (Its ancestors, such as /tmp, are recorded too and
        // may change under parallel tests, so dirs_changed and the root tree are not compared.)
        // The first backup's reads moved the files' access times (relatime), which version-2 trees record: the
        // tree is stable from the second backup on.
        const srcTree = async (tree: string) => (await internals(engine).trees.find(tree, src))!.subtree;
        const settled = await backup(engine, [src]);
        assertEquals(settled.snapshot.summary!.tree_blobs <= 2, true); // the root and /tmp at most
        assertEquals(await srcTree(settled.snapshot.tree), await srcTree(second.snapshot.tree));

        const later = new Date(Date.now() + 5000);
        Deno.utimeSync(`${src}/f3`, later, later);
        const third = await backup(engine, [src]);
        const s3 = third.snapshot.summary!;
        assertEquals([s3.files_new, s3.files_changed, s3.files_unmodified], [0, 1, 5]);

        Deno.writeTextFileSync(`${src}/sub/new.txt`, "new");
        const fourth = await backup(engine, [src]);
        const s4 = fourth.snapshot.summary!;
        assertEquals([s4.files_new, s4.files_changed, s4.files_unmodified], [1, 0, 6]);

        const forced = await backup(engine, [src], {}, { force: true });
        const s5 = forced.snapshot.summary!;
        assertEquals(s5.files_unmodified, 0);
        assertEquals(s5.files_new + s5.files_changed, 7);
        assertEquals(s5.total_files_processed, 7);
        assertEquals(s5.data_blobs, 0, "forced re-read still deduplicates");
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});

Deno.test({
  name: "roundtrip: exclude patterns and excludeIfPresent",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-rt-");
    try {
      const src = `${dir.path}/src`;
      for (const d of ["keep", "skipme", "deep/skipme", "marked/inner"]) {
        Deno.mkdirSync(`${src}/${d}`, { recursive: true });
      }
      Deno.writeTextFileSync(`${src}/a.txt`, "a");
      Deno.writeTextFileSync(`${src}/a.tmp`, "tmp");
      Deno.writeTextFileSync(`${src}/keep/b.tmp`, "tmp");
      Deno.writeTextFileSync(`${src}/keep/b.txt`, "b");
      Deno.writeTextFileSync(`${src}/skipme/c.txt`, "c");
      Deno.writeTextFileSync(`${src}/deep/skipme/d.txt`, "d: same name, other place");
      Deno.writeTextFileSync(`${src}/marked/.nobackup`, "");
      Deno.writeTextFileSync(`${src}/marked/inner/e.txt`, "e");
      const engine = await newEngine(dir.path);
      try {
        await backup(engine, [src], { exclude: ["*.tmp", `${src}/skipme`], excludeIfPresent: [".nobackup"] });
        const paths: string[] = [];
        for await (const e of engine.ls(engine.resolveSnapshot("latest"), src)) {
          paths.push(e.path.slice(src.length + 1));
        }
        assertEquals(paths, [
          "a.txt",
          "deep",
          "deep/skipme",
          "deep/skipme/d.txt",
          "keep",
          "keep/b.txt",
          "marked",
        ]);
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});

Deno.test({
  name: "roundtrip: restore with subpath, include/exclude filters and overwrite modes",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-rt-");
    try {
      const src = `${dir.path}/src`;
      Deno.mkdirSync(`${src}/docs/old`, { recursive: true });
      Deno.mkdirSync(`${src}/img`);
      Deno.writeTextFileSync(`${src}/docs/a.txt`, "A");
      Deno.writeTextFileSync(`${src}/docs/old/b.txt`, "B");
      Deno.writeTextFileSync(`${src}/docs/c.md`, "C");
      Deno.writeTextFileSync(`${src}/img/p.png`, "P");
      Deno.writeTextFileSync(`${src}/top.txt`, "T");
      const engine = await newEngine(dir.path);
      try {
        await backup(engine, [src]);
        const snapshot = engine.resolveSnapshot("latest");
        const list = (root: string) => [...scan(root).keys()].sort();

        // subpath: the content lands directly in the target.
        await engine.restore({ snapshot, subpath: `${src}/docs`, target: `${dir.path}/t1` });
        assertEquals(list(`${dir.path}/t1`), ["a.txt", "c.md", "old", "old/b.txt"]);
        // A file as subpath lands in the target under its name.
        await engine.restore({ snapshot, subpath: `${src}/top.txt`, target: `${dir.path}/t1b` });
        assertEquals(list(`${dir.path}/t1b`), ["top.txt"]);

        // include: only matches, their parents and what is beneath them.
        await engine.restore({ snapshot, subpath: src, target: `${dir.path}/t2`, include: ["*.txt"] });
        assertEquals(list(`${dir.path}/t2`), ["docs", "docs/a.txt", "docs/old", "docs/old/b.txt", "top.txt"]);
        await engine.restore({ snapshot, subpath: src, target: `${dir.path}/t3`, include: [`${src}/img`] });
        assertEquals(list(`${dir.path}/t3`), ["img", "img/p.png"]);

        // exclude: a name anywhere, and an anchored directory.
        await engine.restore({
          snapshot,
          subpath: src,
          target: `${dir.path}/t4`,
          exclude: ["*.md", `${src}/docs/old`],
        });
        assertEquals(list(`${dir.path}/t4`), ["docs", "docs/a.txt", "img", "img/p.png", "top.txt"]);

        // Overwrite modes.
        const t = `${dir.path}/t5`;
        await engine.restore({ snapshot, subpath: src, target: t });
        const file = `${t}/docs/a.txt`;
        const mtime = Deno.statSync(file).mtime!;
        // Same size and mtime, other content: if-changed leaves it, always replaces it.
        Deno.writeTextFileSync(file, "X");
        Deno.utimeSync(file, mtime, mtime);
        let r = await engine.restore({ snapshot, subpath: src, target: t, overwrite: "if-changed" });
        assertEquals(Deno.readTextFileSync(file), "X");
        assert(r.skipped >= 1);
        r = await engine.restore({ snapshot, subpath: src, target: t, overwrite: "never" });
        assertEquals(Deno.readTextFileSync(file), "X");
        r = await engine.restore({ snapshot, subpath: src, target: t, overwrite: "always" });
        assertEquals(Deno.readTextFileSync(file), "A");
        assertEquals(r.skipped, 0);
        // Other size: if-changed replaces, never keeps.
        Deno.writeTextFileSync(file, "longer");
        await engine.restore({ snapshot, subpath: src, target: t, overwrite: "never" });
        assertEquals(Deno.readTextFileSync(file), "longer");
        await engine.restore({ snapshot, subpath: src, target: t, overwrite: "if-changed" });
        assertEquals(Deno.readTextFileSync(file), "A");
        // A file not in the target is restored in every mode.
        Deno.removeSync(`${t}/top.txt`);
        await engine.restore({ snapshot, subpath: src, target: t, overwrite: "never" });
        assertEquals(Deno.readTextFileSync(`${t}/top.txt`), "T");
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});

Deno.test({
  name: "roundtrip: a name that is not valid UTF-8 is backed up as bytes, shown quoted, restored exactly",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-rt-");
    try {
      const src = `${dir.path}/src`;
      Deno.mkdirSync(src);
      Deno.writeTextFileSync(`${src}/good.txt`, "good");
      const py = new Deno.Command("python3", {
        args: ["-c", "import sys; open(sys.argv[1].encode() + b'/bad\\xffname', 'w').write('x')", src],
      }).outputSync();
      assert(py.success, new TextDecoder().decode(py.stderr));
      const engine = await newEngine(dir.path);
      try {
        // With libc (FFI granted here) the name is recorded as bytes, listed in its quoted form, restored exactly;
        // without it the entry is a warning naming it (exit code 3), as the fs source documents.
        const r = await backup(engine, [src]);
        assertEquals(r.warnings.length, 0);
        const paths: string[] = [];
        for await (const e of engine.ls(engine.resolveSnapshot(r.snapshotId), src)) paths.push(e.path);
        assertEquals(paths, [`${src}/"bad\\xffname"`, `${src}/good.txt`]);
        const out = `${dir.path}/out`;
        const restored = await engine.restore({
          snapshot: engine.resolveSnapshot(r.snapshotId),
          target: out,
        });
        assertEquals(restored.warnings, []);
        const names = new Deno.Command("python3", {
          args: [
            "-c",
            "import os, sys; print(sorted(n.hex() for n in os.listdir(sys.argv[1].encode())))",
            `${out}${src}`,
          ],
          stdout: "piped",
        }).outputSync();
        assertEquals(
          new TextDecoder().decode(names.stdout).trim(),
          "['626164ff6e616d65', '676f6f642e747874']",
        );
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});

// An unreadable file cannot be made with the fs source while running as root (mode 000 does not stop
// root), so a source whose entry fails to open stands in for it: the archiver's handling is the same.
Deno.test({
  name: "roundtrip: an entry that cannot be read is a warning, exit code 3, other files backed up",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-rt-");
    try {
      const enc = new TextEncoder();
      const fileEntry = (path: string, content: string | null): SourceEntry => ({
        path,
        type: "file",
        size: content?.length ?? 10,
        mtime: 1000,
        mode: 0o644,
        open() {
          if (content === null) throw new Error("permission denied");
          let done = false;
          return {
            read(into: Uint8Array) {
              if (done) return null;
              done = true;
              into.set(enc.encode(content));
              return content.length;
            },
            close() {},
          };
        },
      });
      const source: SourcePlugin = {
        kind: "source",
        name: "test",
        apiVersion: API_VERSION,
        paths: ["/v"],
        *scan() {
          yield { path: "/", type: "dir", size: 0, mtime: 0, mode: 0o755 };
          yield { path: "/v", type: "dir", size: 0, mtime: 0, mode: 0o755 };
          yield fileEntry("/v/a", "aaa");
          yield fileEntry("/v/locked", null);
          yield fileEntry("/v/z", "zzz");
        },
      };
      const engine = await newEngine(dir.path);
      try {
        const r = await engine.backup(source);
        assert(r.warnings.length > 0);
        assertEquals(r.warnings.map((w) => w.path), ["/v/locked"]);
        assert(r.warnings[0].message.includes("permission denied"));
        const paths: string[] = [];
        for await (const e of engine.ls(engine.resolveSnapshot(r.snapshotId), "/v")) paths.push(e.path);
        assertEquals(paths, ["/v/a", "/v/z"]);
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});
