/**
 * `check --read-data` on a repository large enough for its packs to be verified on worker threads
 * (≥ 16 MiB): a clean repository passes; a flipped byte inside a blob names that pack, the one blob and the
 * file using it; a changed header makes the pack's content not match its name; a pack cut short loses the
 * blobs beyond its end. The results are the same as on the calling thread (a subset under 16 MiB).
 */
import { assert, assertEquals } from "./assert.ts";
import { newEngine, randomBytes, tempDir } from "./helpers.ts";
import { loadPlugin } from "../core/registry.ts";
import { internals } from "../core/engine.ts";
import { check, type CheckProblem } from "../core/checker.ts";
import { packName } from "../core/repository/repository.ts";

function packFile(dir: string, id: string): string {
  return `${dir}/repo/${packName(id)}`;
}

/** The pack problems, by pack id. */
function packProblems(problems: CheckProblem[]): Map<string, CheckProblem> {
  return new Map(problems.filter((p) => p.kind === "pack").map((p) => [p.id, p]));
}

Deno.test("check --read-data on worker threads finds every damaged pack, blob and file", async () => {
  const tmp = await tempDir("floe-check-read-");
  const dir = tmp.path;
  const src = `${dir}/src`;
  Deno.mkdirSync(src);
  // 24 files of 1 MiB: 24 packs of ~1 MiB (SMALL_REPO), 24 MiB in all, over the inline limit.
  for (let i = 0; i < 24; i++) Deno.writeFileSync(`${src}/f${i}`, randomBytes(1 << 20, i + 1));
  const engine = await newEngine(dir);
  try {
    const source = await loadPlugin("source", "fs", { paths: [src] });
    await engine.backup(source);
    const clean = await check(engine, { readData: true });
    assertEquals(clean.problems, []);
    assert(clean.bytesRead >= 24 << 20, `read ${clean.bytesRead} bytes`);
    assertEquals(clean.packsRead, clean.packs);

    // Three data packs, each holding one file's blobs only.
    const packsOf = new Map<string, string[]>();
    for (const p of (await internals(engine).repo.listIds("index"))) {
      for (const pack of (await internals(engine).repo.loadIndex(p)).packs) {
        if (pack.blobs.every((b) => b.type === "data")) {
          packsOf.set(pack.id, pack.blobs.map((b) => b.id));
        }
      }
    }
    const [flipped, header, cut] = [...packsOf.keys()].sort();
    // A byte inside the first blob of `flipped`.
    const f = Deno.readFileSync(packFile(dir, flipped));
    f[100] ^= 0x01;
    Deno.writeFileSync(packFile(dir, flipped), f);
    // A byte of the sealed header (just before its length): the tail no longer hashes to the name.
    const h = Deno.readFileSync(packFile(dir, header));
    h[h.length - 8] ^= 0x01;
    Deno.writeFileSync(packFile(dir, header), h);
    // The last 1,000 bytes gone: the header and the end of the last blob.
    const c = Deno.readFileSync(packFile(dir, cut));
    Deno.writeFileSync(packFile(dir, cut), c.subarray(0, c.length - 1000));

    const report = await check(engine, { readData: true });
    const bad = packProblems(report.problems);
    assertEquals([...bad.keys()].sort(), [flipped, header, cut].sort(), JSON.stringify(report.problems));
    assertEquals(
      bad.get(flipped)!.message,
      `damaged (1 of ${packsOf.get(flipped)!.length} blobs unreadable)`,
    );
    assertEquals(bad.get(flipped)!.filesTotal, 1);
    assert(/^\/.*\/src\/f\d+$/.test(bad.get(flipped)!.files![0].path), JSON.stringify(bad.get(flipped)));
    assert(
      bad.get(header)!.message.startsWith("content does not match its name"),
      bad.get(header)!.message,
    );
    // The truncated pack is caught by size before its data is read.
    assert(bad.get(cut)!.message.startsWith("truncated"), bad.get(cut)!.message);
    // The other packs were read and are sound.
    assertEquals(report.packsRead, report.packs - 1);

    // The same verdicts when the packs are checked on the calling thread (each subset is under 16 MiB).
    const inline = new Map<string, string>();
    for (let part = 1; part <= 4; part++) {
      const r = await check(engine, { readData: true, subset: { part, of: 4 } });
      for (const [id, p] of packProblems(r.problems)) inline.set(id, p.message);
    }
    assertEquals(inline, new Map([...bad].map(([id, p]) => [id, p.message])));
  } finally {
    await engine.close();
    await tmp.cleanup();
  }
});
