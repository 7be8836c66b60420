/**
 * Content read on the calling thread (no workers, or a source whose entries have no local path) goes
 * through one shared buffer: files read one after another must each keep their own bytes.
 */
import { assertEquals } from "../../tests/assert.ts";
import { newEngine, randomBytes, sha256, tempDir } from "../../tests/helpers.ts";
import type { SourcePlugin } from "../contracts.ts";
import { loadPlugin } from "../registry.ts";

const MiB = 1024 * 1024;

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
    const dir = await tempDir("floe-archiver-");
    try {
      const src = `${dir.path}/src`;
      Deno.mkdirSync(src);
      const files = new Map<string, string>();
      for (let i = 0; i < 8; i++) {
        const data = randomBytes(MiB + i * 77_777, 100 + i); // many chunks each (small test chunker)
        Deno.writeFileSync(`${src}/f${i}`, data);
        files.set(`f${i}`, sha256(data));
      }
      const engine = await newEngine(dir.path);
      try {
        const fs = await loadPlugin("source", "fs", { paths: [src] });
        const runs: [string, SourcePlugin, number][] = [
          ["no workers", fs, 0],
          ["no local paths, workers", withoutLocalPaths(fs), 2],
        ];
        for (const [label, source, workers] of runs) {
          const r = await engine.backup(source, { workers, parent: null });
          assertEquals(r.warnings, [], label);
          const target = `${dir.path}/out-${workers}`;
          await engine.restore({ snapshot: engine.resolveSnapshot(r.snapshotId), subpath: src, target });
          for (const [name, hash] of files) {
            assertEquals(sha256(Deno.readFileSync(`${target}/${name}`)), hash, `${label}: ${name}`);
          }
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
  name: "archiver: index files are written during the run; a run cut short leaves its stored packs indexed",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await tempDir("floe-archiver-");
    try {
      const src = `${dir.path}/src`;
      Deno.mkdirSync(src);
      const files = new Map<string, string>();
      for (let i = 0; i < 24; i++) {
        const data = randomBytes(200_000 + i * 1_000, 300 + i); // 3-4 chunks each; 1 MiB packs
        Deno.writeFileSync(`${src}/f${String(i).padStart(2, "0")}`, data);
        files.set(`f${String(i).padStart(2, "0")}`, sha256(data));
      }
      const { check } = await import("../checker.ts");
      const engine = await newEngine(dir.path);
      try {
        const fs = await loadPlugin("source", "fs", { paths: [src] });
        // Cut short: the run is aborted once an index file is in the repository.
        const ac = new AbortController();
        const cut: SourcePlugin = {
          ...fs,
          async *scan(context) {
            let n = 0;
            for await (const e of fs.scan(context)) {
              yield e;
              // After 16 of 24 files (their packs on their way), wait for the first index file.
              if (++n === 16) {
                for (let t = 0; t < 1500 && !(await engine.repo.listIds("index")).length; t++) {
                  await new Promise((r) => setTimeout(r, 20));
                }
                ac.abort(new Error("cut short"));
                return;
              }
            }
          },
        };
        let aborted = false;
        try {
          await engine.backup(cut, { indexEvery: 8, signal: ac.signal });
        } catch {
          aborted = true;
        }
        assertEquals(aborted, true);
        assertEquals(engine.snapshots().length, 0); // no snapshot from the cut run
        const indexed = (await engine.repo.listIds("index")).length;
        assertEquals(indexed >= 1, true);

        // The next run stores only what the cut run had not indexed, in several index files.
        const whole = await engine.backup(fs, { indexEvery: 8 });
        const fresh = await engine.backup(fs, { indexEvery: 8, parent: null, force: true });
        assertEquals(fresh.snapshot.summary!.data_added, 0);
        assertEquals(whole.snapshot.summary!.files_new, files.size);
        const bytes = [...files.keys()].reduce((n, f) => n + Deno.statSync(`${src}/${f}`).size, 0);
        const added = whole.snapshot.summary!.data_added_raw;
        assertEquals(added > 0 && added < bytes, true, `${added} of ${bytes} bytes added again`);
        assertEquals((await engine.repo.listIds("index")).length > indexed + 1, true);
        const report = await check(engine, { readData: true });
        assertEquals(report.problems, []);
        const target = `${dir.path}/out`;
        await engine.restore({ snapshot: engine.resolveSnapshot(whole.snapshotId), subpath: src, target });
        for (const [name, hash] of files) assertEquals(sha256(Deno.readFileSync(`${target}/${name}`)), hash);
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});
