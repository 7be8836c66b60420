/**
 * Large files are chunked in ranges on several workers at once: the chunks are those of one sequential
 * pass (so deduplication does not depend on how many workers ran), and content without cut points is
 * still stored whole.
 */
import { internals } from "../engine.ts";
import { assert, assertEquals } from "../../tests/assert.ts";
import { newEngine, randomBytes, sha256, tempDir } from "../../tests/helpers.ts";
import { loadPlugin } from "../registry.ts";
import { Chunker, gearTable } from "../chunker.ts";
import { splitPoints } from "./split_points.ts";

const MiB = 1024 * 1024;

Deno.test("splitPoints: one range for one part or nothing to read; boundaries rise and lie inside the file", async () => {
  const chunker = new Chunker(gearTable(new Uint8Array(32)), {
    min: 16 << 10,
    avg: 64 << 10,
    max: 256 << 10,
  });
  assertEquals(splitPoints("/dev/null", 0, 1, chunker), [0]);
  assertEquals(splitPoints("/dev/null", 100 * MiB, 4, chunker), [0]); // shorter than it said: no boundary
  const dir = await tempDir("floe-split-");
  try {
    const data = randomBytes(40 * MiB, 7);
    Deno.writeFileSync(`${dir.path}/f`, data);
    const bounds = splitPoints(`${dir.path}/f`, data.length, 4, chunker);
    assertEquals(bounds.length, 4);
    for (let i = 1; i < bounds.length; i++) {
      assert(bounds[i] > bounds[i - 1] && bounds[i] < data.length);
      assert(
        bounds[i] >= (data.length * i) / 4 + (4 << 20),
        "at least the sync span past the nominal offset",
      );
    }
  } finally {
    await dir.cleanup();
  }
});

Deno.test({
  name: "archiver: a large file split across workers gets the chunks of a sequential pass, and restores",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-split-");
    try {
      const src = `${dir.path}/src`;
      Deno.mkdirSync(src);
      // Random data (cut points everywhere) and a long run of zeros (none: every chunk is cut at max).
      const random = randomBytes(70 * MiB + 4321, 42);
      Deno.writeFileSync(`${src}/random.bin`, random);
      const zeros = new Uint8Array(66 * MiB + 7);
      zeros.set(randomBytes(3 * MiB, 43), 20 * MiB); // some content in the middle
      Deno.writeFileSync(`${src}/zeros.bin`, zeros);
      const engine = await newEngine(dir.path);
      try {
        const bounds = splitPoints(`${src}/random.bin`, random.length, 2, internals(engine).repo.chunker);
        assertEquals(bounds.length, 2, "the file is split in two");
        const source = await loadPlugin("source", "fs", { paths: [src] });
        const split = await engine.backup(source, { workers: 2, parent: null });
        const sequential = await engine.backup(source, { workers: 1, parent: null });
        assertEquals(split.warnings, []);
        const node = (id: string, name: string) =>
          internals(engine).trees.find(engine.resolveSnapshot(id).snapshot.tree, `${src}/${name}`);
        const a = (await node(split.snapshotId, "random.bin"))!;
        const b = (await node(sequential.snapshotId, "random.bin"))!;
        assertEquals(a.size, random.length);
        assert(a.content!.length > 100);
        assertEquals(a.content, b.content, "the same chunks as one sequential pass");
        assertEquals((await node(split.snapshotId, "zeros.bin"))!.size, zeros.length);
        for (const workers of [2, 0]) {
          const target = `${dir.path}/out-${workers}`;
          await engine.restore({
            snapshot: engine.resolveSnapshot(split.snapshotId),
            subpath: src,
            target,
            workers,
          });
          assertEquals(sha256(Deno.readFileSync(`${target}/random.bin`)), sha256(random));
          assertEquals(sha256(Deno.readFileSync(`${target}/zeros.bin`)), sha256(zeros));
        }
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});
