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
