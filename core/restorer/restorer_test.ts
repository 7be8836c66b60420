/**
 * The restore's content pipeline on worker threads and on the calling thread: the same files, holes,
 * hardlinks, modes and times; a damaged blob or a missing pack spoils only the files using it; a file that
 * cannot be written is a warning for that file alone; an abort stops the workers.
 */
import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { newEngine, randomBytes, sha256, tempDir } from "../../tests/helpers.ts";
import { loadPlugin } from "../registry.ts";
import { type Engine, internals } from "../engine.ts";
import { packName } from "../repository/repository.ts";
import { ContentWriter } from "./contents.ts";
import { isZero } from "./decoder.ts";

const MiB = 1024 * 1024;

/** A tree with shared, repeated, sparse, empty, hardlinked and linked content; returns its files. */
function buildTree(src: string): void {
  Deno.mkdirSync(`${src}/sub/deeper`, { recursive: true });
  const big = randomBytes(3 * MiB + 12345, 1);
  Deno.writeFileSync(`${src}/big.bin`, big);
  Deno.writeFileSync(`${src}/sub/big-copy.bin`, big); // every blob used twice
  const block = randomBytes(300_000, 2);
  const repeated = new Uint8Array(block.length * 5);
  for (let i = 0; i < 5; i++) repeated.set(block, i * block.length);
  Deno.writeFileSync(`${src}/repeated.bin`, repeated); // one blob several times in one file
  const text = new TextEncoder().encode("floe restores this line.\n".repeat(40_000));
  Deno.writeFileSync(`${src}/sub/text.txt`, text);
  Deno.writeFileSync(`${src}/empty`, new Uint8Array(0));
  for (let i = 0; i < 40; i++) {
    Deno.writeFileSync(`${src}/sub/deeper/small-${i}`, randomBytes(100 + i * 997, 10 + i));
  }
  // Sparse: data, a 6 MiB hole, data, a trailing hole.
  const f = Deno.openSync(`${src}/sparse.bin`, { write: true, create: true });
  f.writeSync(randomBytes(200_000, 3));
  f.seekSync(6 * MiB, Deno.SeekMode.Current);
  f.writeSync(randomBytes(100_000, 4));
  f.truncateSync(10 * MiB);
  f.close();
  Deno.writeFileSync(`${src}/hard-a`, randomBytes(70_000, 5));
  Deno.linkSync(`${src}/hard-a`, `${src}/sub/hard-b`);
  Deno.linkSync(`${src}/hard-a`, `${src}/sub/deeper/hard-c`);
  Deno.symlinkSync("../big.bin", `${src}/sub/link`);
  Deno.chmodSync(`${src}/sub/text.txt`, 0o640);
  Deno.chmodSync(`${src}/big.bin`, 0o755);
  Deno.chmodSync(`${src}/sub/big-copy.bin`, 0o400);
  let t = Date.UTC(2021, 4, 6, 7, 8, 9, 500);
  const times = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) times(p);
      if (!e.isSymlink) Deno.utimeSync(p, new Date(t), new Date(t += 61_000));
    }
  };
  times(src);
  Deno.utimeSync(src, new Date(t), new Date(t));
}

interface Entry {
  type: string;
  mode: number;
  mtime: number;
  size: number;
  hash?: string;
  target?: string;
  ino: number;
  nlink: number;
  blocks: number;
}

function scan(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (dir: string, rel: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const p = `${dir}/${e.name}`;
      const r = rel ? `${rel}/${e.name}` : e.name;
      const st = Deno.lstatSync(p);
      out.set(r, {
        type: st.isFile ? "file" : st.isDirectory ? "dir" : st.isSymlink ? "symlink" : "other",
        mode: st.mode! & 0o7777,
        mtime: st.mtime!.getTime(),
        size: st.isFile ? st.size : 0,
        hash: st.isFile ? sha256(Deno.readFileSync(p)) : undefined,
        target: st.isSymlink ? Deno.readLinkSync(p) : undefined,
        ino: st.ino!,
        nlink: st.nlink!,
        blocks: st.blocks!,
      });
      if (st.isDirectory) walk(p, r);
    }
  };
  walk(root, "");
  return out;
}

function compare(src: Map<string, Entry>, out: Map<string, Entry>, label: string) {
  assertEquals([...out.keys()].sort(), [...src.keys()].sort(), `${label}: names`);
  for (const [rel, a] of src) {
    const b = out.get(rel)!;
    const what = `${label}: ${rel}`;
    assertEquals(b.type, a.type, `type of ${what}`);
    assertEquals(b.size, a.size, `size of ${what}`);
    assertEquals(b.hash, a.hash, `content of ${what}`);
    assertEquals(b.target, a.target, `link target of ${what}`);
    if (a.type !== "symlink") {
      assertEquals(b.mode, a.mode, `mode of ${what}`);
      assertEquals(b.mtime, a.mtime, `mtime of ${what}`);
    }
  }
  // Hardlinks are hardlinks again; the sparse file has its holes.
  assertEquals(out.get("sub/hard-b")!.ino, out.get("hard-a")!.ino, `${label}: hardlink`);
  assertEquals(out.get("sub/deeper/hard-c")!.ino, out.get("hard-a")!.ino, `${label}: hardlink`);
  assertEquals(out.get("hard-a")!.nlink, 3, `${label}: link count`);
  const sparse = out.get("sparse.bin")!;
  assert(sparse.blocks * 512 < 2 * MiB, `${label}: sparse file uses ${sparse.blocks * 512} bytes`);
}

async function backup(engine: Engine, src: string): Promise<string> {
  const source = await loadPlugin("source", "fs", { paths: [src] });
  const r = await engine.backup(source);
  assertEquals(r.warnings, []);
  return r.snapshotId;
}

/** The pack file of the first blob of `path` in the latest snapshot, and that blob's offset in it. */
async function firstBlob(
  engine: Engine,
  dir: string,
  path: string,
): Promise<{ file: string; offset: number }> {
  const node = await internals(engine).trees.find(engine.resolveSnapshot("latest").snapshot.tree, path);
  const entry = internals(engine).catalog.lookupBlob(node!.content![0])!;
  return { file: `${dir}/repo/${packName(entry.pack)}`, offset: entry.offset };
}

/** Runs `fn` on the test tree at `src`, backed up into a new repository; everything is removed after. */
async function withBackup(
  fn: (t: { dir: { path: string }; src: string; engine: Engine; id: string }) => Promise<void>,
): Promise<void> {
  const dir = await tempDir("floe-restorer-");
  try {
    const src = `${dir.path}/src`;
    buildTree(src);
    const engine = await newEngine(dir.path);
    try {
      await fn({ dir, src, engine, id: await backup(engine, src) });
    } finally {
      await engine.close();
    }
  } finally {
    await dir.cleanup();
  }
}

Deno.test({
  name: "restorer: worker threads and the calling thread restore the same tree",
  sanitizeResources: false,
  fn: () =>
    withBackup(async ({ dir, src, engine, id }) => {
      const before = scan(src);
      assert(before.get("sparse.bin")!.blocks * 512 < 2 * MiB, "the source file is sparse");
      for (const workers of [2, 1, 0, undefined]) {
        const target = `${dir.path}/out-${workers}`;
        const r = await engine.restore({
          snapshot: engine.resolveSnapshot(id),
          subpath: src,
          target,
          workers,
        });
        assertEquals(r.warnings, [], `workers ${workers}`);
        assertEquals(r.files, [...before.values()].filter((e) => e.type === "file").length);
        compare(before, scan(target), `workers ${workers}`);
      }
      // Restoring into a target that already holds the tree replaces every file (no fresh directory).
      const again = `${dir.path}/out-2`;
      Deno.writeFileSync(`${again}/big.bin`, new Uint8Array(10));
      await engine.restore({
        snapshot: engine.resolveSnapshot(id),
        subpath: src,
        target: again,
        workers: 2,
      });
      compare(before, scan(again), "over an existing tree");
    }),
});

Deno.test({
  name: "restorer: a damaged blob or a missing pack spoils only the files using it, on any thread",
  sanitizeResources: false,
  fn: () =>
    withBackup(async ({ dir, src, engine }) => {
      const snapshot = engine.resolveSnapshot("latest");
      const { file, offset } = await firstBlob(engine, dir.path, `${src}/sub/text.txt`);
      const good = Deno.readFileSync(file);
      const bad = good.slice();
      bad[offset + 40] ^= 0x20;
      Deno.writeFileSync(file, bad);
      const others = (out: string) => {
        const got = scan(out);
        for (const [rel, e] of scan(src)) {
          if (e.type === "file" && rel !== "sub/text.txt") assertEquals(got.get(rel)?.hash, e.hash, rel);
        }
        return got;
      };
      for (const workers of [2, 0]) {
        const target = `${dir.path}/bad-${workers}`;
        const r = await engine.restore({ snapshot, subpath: src, target, workers });
        assertEquals(r.incomplete.map((e) => e.path), [`${target}/sub/text.txt`], `workers ${workers}`);
        assert(r.incomplete[0].message.includes("failed authentication (damaged pack)"));
        assertEquals(r.incomplete[0].partial, `${target}/sub/text.txt.floe-partial`);
        const got = others(target);
        assert(!got.has("sub/text.txt"), "the damaged file is not under its name");
        assert(got.has("sub/text.txt.floe-partial"));
      }
      Deno.removeSync(file);
      for (const workers of [2, 0]) {
        const target = `${dir.path}/gone-${workers}`;
        const r = await engine.restore({ snapshot, subpath: src, target, workers });
        assert(
          r.incomplete.some((e) => e.path === `${target}/sub/text.txt` && e.message.includes("is missing")),
        );
        const got = scan(target);
        for (const e of r.incomplete) assert(!got.has(e.path.slice(target.length + 1)), e.path);
        for (const [rel, e] of scan(src)) {
          if (e.type === "file" && !r.incomplete.some((i) => i.path === `${target}/${rel}`)) {
            assertEquals(got.get(rel)?.hash, e.hash, rel);
          }
        }
      }
      Deno.writeFileSync(file, good);
      await engine.restore({ snapshot, subpath: src, target: `${dir.path}/fine`, workers: 2 });
      compare(scan(src), scan(`${dir.path}/fine`), "after the pack is back");
    }),
});

Deno.test({
  name: "restorer: a file that cannot be created or written is a warning for it alone",
  sanitizeResources: false,
  fn: () =>
    withBackup(async ({ dir, src, engine }) => {
      const tree = engine.resolveSnapshot("latest").snapshot.tree;
      const names = ["big.bin", "sub/big-copy.bin", "repeated.bin", "sub/text.txt", "sparse.bin", "empty"];
      const nodes = await Promise.all(names.map((n) => internals(engine).trees.find(tree, `${src}/${n}`)));
      for (const workers of [2, 0]) {
        const out = `${dir.path}/w-${workers}`;
        Deno.mkdirSync(out);
        const warnings: string[] = [];
        const done: number[] = [];
        const w = new ContentWriter(internals(engine).repo, internals(engine).catalog, {
          workers,
          warn: (path) => warnings.push(path),
          onFileDone: (n) => {
            done.push(n);
            // The empty file is done once every file exists, before any content is written: now
            // file 2 goes away, a directory in its place, so writing it fails.
            if (n === 5) {
              Deno.removeSync(`${out}/2`);
              Deno.mkdirSync(`${out}/2`);
            }
          },
        });
        const numbers = nodes.map((node, i) => w.add(`${out}/${i}`, node!.content));
        assertEquals(numbers, [0, 1, 2, 3, 4, 5]);
        // Cannot be created: its directory does not exist (reported at once, or by the worker that tried).
        const missing = w.add(`${out}/missing/x`, nodes[0]!.content);
        assert(missing === -1 || missing === 6, `number ${missing}`);
        const bytes = await w.run();
        assertEquals(warnings.sort(), [`${out}/2`, `${out}/missing/x`], `workers ${workers}`);
        assertEquals(done.sort(), [0, 1, 3, 4, 5], `workers ${workers}`);
        for (const i of [0, 1, 3, 4, 5]) {
          assertEquals(
            sha256(Deno.readFileSync(`${out}/${i}`)),
            sha256(Deno.readFileSync(`${src}/${names[i]}`)),
          );
        }
        assert(bytes > 16 * MiB, `bytes written: ${bytes}`);
      }
    }),
});

Deno.test({
  name: "restorer: writing starts while files are added; a blob met again after its segment is read again",
  sanitizeResources: false,
  fn: () =>
    withBackup(async ({ dir, src, engine }) => {
      const tree = engine.resolveSnapshot("latest").snapshot.tree;
      // big-copy.bin uses every blob of big.bin, repeated.bin one blob several times, empty none.
      const names = ["big.bin", "empty", "sub/big-copy.bin", "repeated.bin", "sparse.bin", "sub/text.txt"];
      const nodes = await Promise.all(names.map((n) => internals(engine).trees.find(tree, `${src}/${n}`)));
      for (const workers of [2, 0]) {
        const out = `${dir.path}/seg-${workers}`;
        Deno.mkdirSync(out);
        const done: number[] = [];
        let firstBytes = -1;
        const w = new ContentWriter(internals(engine).repo, internals(engine).catalog, {
          workers,
          segmentBytes: 1, // every file with content seals a segment of its own
          onFileDone: (n) => done.push(n),
          onBytes: (b) => firstBytes < 0 && (firstBytes = b),
        });
        for (let i = 0; i < nodes.length; i++) {
          assertEquals(w.add(`${out}/${i}`, nodes[i]!.content), i);
          await w.pause();
          await new Promise((r) => setTimeout(r, 20)); // as a slow walk would: the readers go on
        }
        // Without run: the sealed segments are written all the same (once the workers have loaded).
        for (let t = 0; firstBytes < 0 && t < 500; t++) await new Promise((r) => setTimeout(r, 20));
        assert(firstBytes > 0, `nothing written before run (workers ${workers})`);
        const bytes = await w.run();
        assertEquals(done.sort(), [0, 1, 2, 3, 4, 5], `workers ${workers}`);
        for (let i = 0; i < names.length; i++) {
          assertEquals(
            sha256(Deno.readFileSync(`${out}/${i}`)),
            sha256(Deno.readFileSync(`${src}/${names[i]}`)),
            `${names[i]}, workers ${workers}`,
          );
          assertEquals(Deno.statSync(`${out}/${i}`).size, Deno.statSync(`${src}/${names[i]}`).size);
        }
        assert(bytes > 16 * MiB, `bytes written: ${bytes}`);
      }
    }),
});

Deno.test({
  name: "restorer: sealing segment by segment reads packs in no more pieces than one plan does",
  sanitizeResources: false,
  fn: () =>
    withBackup(async ({ dir, src, engine }) => {
      const tree = engine.resolveSnapshot("latest").snapshot.tree;
      // No blob is shared between these files, so none is needed again after it was sealed; the small
      // files share packs.
      const small = Array.from({ length: 12 }, (_, i) => `sub/deeper/small-${i}`);
      const names = ["big.bin", "empty", ...small, "repeated.bin", "sparse.bin", "sub/text.txt"];
      const nodes = await Promise.all(names.map((n) => internals(engine).trees.find(tree, `${src}/${n}`)));
      const storage = internals(engine).repo.storage;
      const get = storage.get.bind(storage);
      const reads: string[] = [];
      storage.get = (name, options) => {
        if (name.startsWith("data/")) {
          reads.push(`${name} ${options?.range?.offset} ${options?.range?.length}`);
        }
        return get(name, options);
      };
      const readsWith = async (segmentBytes: number) => {
        reads.length = 0;
        const out = `${dir.path}/pieces-${segmentBytes}`;
        Deno.mkdirSync(out);
        const w = new ContentWriter(internals(engine).repo, internals(engine).catalog, {
          workers: 0,
          segmentBytes,
        });
        for (let i = 0; i < nodes.length; i++) {
          w.add(`${out}/${i}`, nodes[i]!.content);
          await w.pause();
        }
        await w.run();
        return [...reads].sort();
      };
      try {
        const single = await readsWith(2 ** 40);
        assert(single.length > 1, `reads: ${single.length}`);
        assertEquals(await readsWith(1), single);
      } finally {
        storage.get = get;
      }
    }),
});

Deno.test({
  name: "restorer: an abort stops the restore and its workers",
  sanitizeResources: false,
  fn: () =>
    withBackup(async ({ dir, src, engine }) => {
      const ac = new AbortController();
      const target = `${dir.path}/out`;
      const w = new ContentWriter(internals(engine).repo, internals(engine).catalog, {
        workers: 2,
        signal: ac.signal,
        onBytes: () => ac.abort(new Error("enough")),
      });
      Deno.mkdirSync(target);
      const tree = engine.resolveSnapshot("latest").snapshot.tree;
      for (const n of ["big.bin", "sub/big-copy.bin", "repeated.bin", "sparse.bin"]) {
        w.add(
          `${target}/${n.replace("/", "-")}`,
          (await internals(engine).trees.find(tree, `${src}/${n}`))!.content,
        );
      }
      await assertRejects(() => w.run(), Error, "enough");
      // What was not complete when it stopped left its name.
      for (const n of ["big.bin", "sub/big-copy.bin", "repeated.bin", "sparse.bin"]) {
        const out = `${target}/${n.replace("/", "-")}`;
        try {
          assertEquals(sha256(Deno.readFileSync(out)), sha256(Deno.readFileSync(`${src}/${n}`)), n);
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        }
      }
    }),
});

Deno.test("restorer: isZero", () => {
  const a = new Uint8Array(64 * 1024 + 3);
  assert(isZero(a) && isZero(a.subarray(1)) && isZero(a.subarray(0, 0)));
  for (const i of [0, 1, 4, 65535, a.length - 1]) {
    a[i] = 1;
    assert(!isZero(a), `byte ${i}`);
    assert(!isZero(a.subarray(i === 0 ? 0 : 1)), `byte ${i}, unaligned`);
    a[i] = 0;
  }
});
