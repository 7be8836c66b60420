/**
 * Content read on the calling thread (no workers, or a source whose entries have no local path) goes
 * through one shared buffer: files read one after another must each keep their own bytes.
 */
import { assert, assertEquals } from "../../tests/assert.ts";
import {
  newEngine,
  pauseAfter,
  randomBytes,
  sha256,
  SMALL_REPO,
  tempDir,
  TEST_KDF,
  waitFor,
} from "../../tests/helpers.ts";
import { API_VERSION, type SourcePlugin, type StoragePlugin } from "../contracts.ts";
import { Engine, internals } from "../engine.ts";
import local from "../../plugins/storage/local/mod.ts";
import { loadPlugin } from "../registry.ts";
import { available as libcAvailable } from "../platform/libc.ts";
import { lsetxattr } from "../platform/xattr.ts";

const MiB = 1024 * 1024;

/** Runs `fn` with a new temporary directory and an empty `src/` in it; removes the directory afterwards. */
async function inSrcDir(fn: (dir: string, src: string) => Promise<void>): Promise<void> {
  const dir = await tempDir("floe-archiver-");
  try {
    const src = `${dir.path}/src`;
    Deno.mkdirSync(src);
    await fn(dir.path, src);
  } finally {
    await dir.cleanup();
  }
}

/** The fs source with `localPath` hidden, as a dump command or a bucket would yield entries. */
function withoutLocalPaths(source: SourcePlugin): SourcePlugin {
  return {
    ...source,
    async *scan(context) {
      for await (const e of source.scan(context)) {
        const { localPath: _hidden, ...rest } = e;
        yield rest;
      }
    },
  };
}

Deno.test({
  name: "archiver: many multi-chunk files read on the calling thread each restore to their own bytes",
  sanitizeResources: false,
  fn: async () => {
    await inSrcDir(async (dir, src) => {
      const files = new Map<string, string>();
      for (let i = 0; i < 8; i++) {
        const data = randomBytes(MiB + i * 77_777, 100 + i); // many chunks each (small test chunker)
        Deno.writeFileSync(`${src}/f${i}`, data);
        files.set(`f${i}`, sha256(data));
      }
      const engine = await newEngine(dir);
      try {
        const fs = await loadPlugin("source", "fs", { paths: [src] });
        const runs: [string, SourcePlugin, number][] = [
          ["no workers", fs, 0],
          ["no local paths, workers", withoutLocalPaths(fs), 2],
        ];
        for (const [label, source, workers] of runs) {
          const r = await engine.backup(source, { workers, parent: null });
          assertEquals(r.warnings, [], label);
          const target = `${dir}/out-${workers}`;
          await engine.restore({ snapshot: engine.resolveSnapshot(r.snapshotId), subpath: src, target });
          for (const [name, hash] of files) {
            assertEquals(sha256(Deno.readFileSync(`${target}/${name}`)), hash, `${label}: ${name}`);
          }
        }
      } finally {
        await engine.close();
      }
    });
  },
});

Deno.test({
  name: "archiver: progress shows a file's bytes while it is read; the summary counts the file once read",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-archiver-");
    try {
      const size = 2 * MiB, step = 256 * 1024;
      const data = randomBytes(size, 7);
      // One file read in 8 steps 80 ms apart: progress (every 250 ms at most) comes while it is read.
      const source: SourcePlugin = {
        kind: "source",
        name: "paced",
        apiVersion: API_VERSION,
        paths: ["/p"],
        *scan() {
          yield { path: "/p", type: "dir", size: 0, mtime: 0, mode: 0o755 };
          yield {
            path: "/p/big",
            type: "file",
            size,
            mtime: 0,
            mode: 0o644,
            open: () => {
              let at = 0;
              return {
                read: async (into: Uint8Array) => {
                  await new Promise((r) => setTimeout(r, 80));
                  if (at >= size) return null;
                  const n = Math.min(step, into.length, size - at);
                  into.set(data.subarray(at, at + n));
                  at += n;
                  return n;
                },
                close() {},
              };
            },
          };
        },
      };
      const engine = await newEngine(dir.path);
      try {
        const seen: number[] = [];
        const r = await engine.backup(source, {
          onEvent: (e) => e.type === "progress" && e.message === undefined && seen.push(e.bytes),
        });
        assert(seen.some((b) => b > 0 && b < size), `progress while reading: ${seen}`);
        assert(seen.every((b) => b >= 0 && b <= size), `never more than the file: ${seen}`);
        assertEquals(r.snapshot.summary?.total_bytes_processed, size);
        assertEquals(r.snapshot.summary?.total_files_processed, 1);
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});

/**
 * A backup (index files every 8 blobs) aborted after 16 entries once `ready` holds (while its packs are on
 * their way); whether it failed, as it should.
 */
async function backupCutShort(
  engine: Engine,
  source: SourcePlugin,
  ready: () => boolean | Promise<boolean>,
): Promise<boolean> {
  const ac = new AbortController();
  const cut = pauseAfter(source, 16, async () => {
    await waitFor(ready);
    ac.abort(new Error("cut short"));
    return true;
  });
  return await engine.backup(cut, { indexEvery: 8, signal: ac.signal }).then(() => false, () => true);
}

Deno.test({
  name: "archiver: index files are written during the run; a run cut short leaves its stored packs indexed",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await inSrcDir(async (dir, src) => {
      const files = new Map<string, string>();
      for (let i = 0; i < 24; i++) {
        const data = randomBytes(200_000 + i * 1_000, 300 + i); // 3-4 chunks each; 1 MiB packs
        Deno.writeFileSync(`${src}/f${String(i).padStart(2, "0")}`, data);
        files.set(`f${String(i).padStart(2, "0")}`, sha256(data));
      }
      const { check } = await import("../checker.ts");
      const engine = await newEngine(dir);
      try {
        const fs = await loadPlugin("source", "fs", { paths: [src] });
        // Cut short once an index file is in the repository.
        const failed = await backupCutShort(
          engine,
          fs,
          async () => (await internals(engine).repo.listIds("index")).length > 0,
        );
        assertEquals(failed, true);
        assertEquals(engine.snapshots().length, 0); // no snapshot from the cut run
        const indexed = (await internals(engine).repo.listIds("index")).length;
        assertEquals(indexed >= 1, true);

        // The next run stores only what the cut run had not indexed, in several index files.
        const whole = await engine.backup(fs, { indexEvery: 8 });
        const fresh = await engine.backup(fs, { indexEvery: 8, parent: null, force: true });
        // No content again (a tree may be new: the source's parent directories, e.g. /tmp, change meanwhile).
        assertEquals(fresh.snapshot.summary!.data_blobs, 0);
        assertEquals(whole.snapshot.summary!.files_new, files.size);
        const bytes = [...files.keys()].reduce((n, f) => n + Deno.statSync(`${src}/${f}`).size, 0);
        const added = whole.snapshot.summary!.data_added_raw;
        assertEquals(added > 0 && added < bytes, true, `${added} of ${bytes} bytes added again`);
        assertEquals((await internals(engine).repo.listIds("index")).length > indexed + 1, true);
        const report = await check(engine, { readData: true });
        assertEquals(report.problems, []);
        const target = `${dir}/out`;
        await engine.restore({ snapshot: engine.resolveSnapshot(whole.snapshotId), subpath: src, target });
        for (const [name, hash] of files) assertEquals(sha256(Deno.readFileSync(`${target}/${name}`)), hash);
      } finally {
        await engine.close();
      }
    });
  },
});

Deno.test({
  name: "archiver: a failed run returns only after its pack uploads and index file in flight have ended",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await inSrcDir(async (dir, src) => {
      for (let i = 0; i < 24; i++) Deno.writeFileSync(`${src}/f${i}`, randomBytes(200_000, 500 + i));
      const engine = await newEngine(dir);
      try {
        // Index files are written slowly; the run is aborted while the first one is on its way.
        const storage = internals(engine).repo.storage;
        const put = storage.put.bind(storage);
        let indexStarted = false;
        storage.put = async (name, data, opts) => {
          if (name.startsWith("index/")) {
            indexStarted = true;
            await new Promise((r) => setTimeout(r, 400));
          }
          return await put(name, data, opts);
        };
        const fs = await loadPlugin("source", "fs", { paths: [src] });
        const failed = await backupCutShort(engine, fs, () => indexStarted);
        assertEquals(failed, true);
        assertEquals(indexStarted, true);
        const atReturn = await internals(engine).repo.listIds("index");
        const packNames = async () => {
          const out: string[] = [];
          for await (const o of storage.list("data/")) out.push(o.name);
          return out.sort();
        };
        const packsAtReturn = await packNames();
        await new Promise((r) => setTimeout(r, 800));
        assertEquals(await internals(engine).repo.listIds("index"), atReturn); // nothing written after the run ended
        assertEquals(await packNames(), packsAtReturn);
        assertEquals(atReturn.length, 1);
      } finally {
        await engine.close();
      }
    });
  },
});

Deno.test({
  name: "archiver: content seen again after its index file was written is not stored twice",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await tempDir("floe-archiver-");
    try {
      const src = `${dir.path}/src`;
      Deno.mkdirSync(`${src}/a`, { recursive: true });
      Deno.mkdirSync(`${src}/z`);
      let unique = 0;
      for (let i = 0; i < 12; i++) {
        const data = randomBytes(400_000, 700 + i);
        unique += data.length;
        Deno.writeFileSync(`${src}/a/f${i}`, data);
        Deno.writeFileSync(`${src}/z/f${i}`, data); // the copies come after the originals in the scan
      }
      const engine = await newEngine(dir.path);
      try {
        const fs = await loadPlugin("source", "fs", { paths: [src] });
        // Before the copies are scanned, the originals' first packs are indexed (every 4 blobs).
        const copies: SourcePlugin = {
          ...fs,
          async *scan(context) {
            for await (const e of fs.scan(context)) {
              if (e.path.endsWith("/z")) {
                await waitFor(async () => (await internals(engine).repo.listIds("index")).length > 0);
              }
              yield e;
            }
          },
        };
        for (const workers of [2, 0]) {
          const r = await engine.backup(copies, { indexEvery: 4, workers, parent: null, force: true });
          const s = r.snapshot.summary!;
          assertEquals(s.files_new, 24, `workers ${workers}`);
          // The first run stores each content once (plus its few trees); the second (no workers) nothing new.
          const data = s.data_added_raw - (workers === 2 ? unique : 0);
          assertEquals(
            data >= 0 && data < 64 * 1024,
            true,
            `workers ${workers}: ${s.data_added_raw} bytes added`,
          );
        }
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});

Deno.test({
  name:
    "archiver: a remote source keeps one pack upload in flight, a local one as many as the storage allows",
  sanitizeResources: false,
  fn: async () => {
    await inSrcDir(async (dir, src) => {
      for (let i = 0; i < 6; i++) Deno.writeFileSync(`${src}/f${i}`, randomBytes(2 * MiB, 300 + i));
      let now = 0;
      let most = 0;
      const base = local({ path: `${dir}/repo`, concurrency: 2 });
      const storage: StoragePlugin = {
        ...base,
        async put(name, data, options) {
          const pack = name.startsWith("data/");
          if (pack) most = Math.max(most, ++now);
          try {
            if (pack) await new Promise((r) => setTimeout(r, 50)); // slow enough for uploads to overlap
            return await base.put(name, data, options);
          } finally {
            if (pack) now--;
          }
        },
      };
      const engine = await Engine.init({
        storage,
        password: "pw",
        catalogPath: `${dir}/cache/catalog.db`,
        kdfParams: TEST_KDF,
        ...SMALL_REPO,
      });
      try {
        const fs = withoutLocalPaths(await loadPlugin("source", "fs", { paths: [src] }));
        for (const [remote, expected] of [[false, 2], [true, 1]] as const) {
          most = 0;
          await engine.backup({ ...fs, capabilities: { remote } }, {
            parent: null,
            force: true,
            noCompression: true,
          });
          assertEquals(most, expected, `remote ${remote}`);
        }
      } finally {
        await engine.close();
      }
    });
  },
});

Deno.test({
  name:
    "archiver: attributes read by a file worker on the open file equal those read by path; the source's filter applies",
  ignore: !libcAvailable(),
  sanitizeResources: false,
  fn: async () => {
    await inSrcDir(async (dir, src) => {
      for (const [name, size] of [["small", 1000], ["large", 600_000]] as const) {
        Deno.writeFileSync(`${src}/${name}`, randomBytes(size, size));
        lsetxattr(`${src}/${name}`, "user.keep", new TextEncoder().encode(`k-${name}`));
        lsetxattr(`${src}/${name}`, "user.drop", new TextEncoder().encode("d"));
      }
      Deno.writeFileSync(`${src}/plain`, randomBytes(10, 3));
      const engine = await newEngine(dir);
      try {
        const fs = await loadPlugin("source", "fs", { paths: [src], xattrExclude: ["user.drop"] });
        const seen: Record<string, unknown>[] = [];
        for (const workers of [2, 0]) { // on the workers' open files, then by path on this thread
          const r = await engine.backup(fs, { workers, parent: null });
          assertEquals(r.warnings, []);
          const nodes: Record<string, unknown> = {};
          for (const name of ["small", "large", "plain"]) {
            nodes[name] = (await internals(engine).trees.find(r.snapshot.tree, `${src}/${name}`))?.xattrs;
          }
          seen.push(nodes);
        }
        const b64 = (s: string) => btoa(s);
        assertEquals(seen[0], {
          small: [[b64("user.keep"), b64("k-small")]],
          large: [[b64("user.keep"), b64("k-large")]],
          plain: undefined,
        });
        assertEquals(seen[1], seen[0]);
      } finally {
        await engine.close();
      }
    });
  },
});
