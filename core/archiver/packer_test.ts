import { assertEquals } from "../../tests/assert.ts";
import { randomBytes, tempDir, TEST_KDF } from "../../tests/helpers.ts";
import local from "../../plugins/storage/local/mod.ts";
import { Repository } from "../repository/repository.ts";
import { Packer } from "./packer.ts";

Deno.test("packer: packs of many sizes (one blob larger than a pack) hold every blob, each readable", async () => {
  const dir = await tempDir("floe-packer-");
  try {
    const repo = await Repository.init(local({ path: `${dir.path}/repo` }), "pw", {
      packSize: 64 * 1024,
      chunker: { min: 1024, avg: 4096, max: 16384 },
      kdfParams: TEST_KDF,
    });
    const packer = new Packer(repo);
    const plains = [10, 40_000, 3, 30_000, 2_000_000, 20_000, 64 * 1024, 1].map((n, i) =>
      randomBytes(n, i + 1)
    );
    for (const [i, p] of plains.entries()) {
      const type = i % 3 === 2 ? "tree" : "data";
      await packer.add(await repo.encodeBlob(type, repo.hasher.id(p), p, false));
    }
    await packer.flush();
    const stored = new Map<string, { pack: string; offset: number; length: number }>();
    for (const pack of packer.packs) {
      const header = await repo.readPackHeader(pack.id, pack.size);
      assertEquals(header.map((e) => e.id), pack.blobs.map((b) => b.id));
      for (const e of header) stored.set(e.id, e);
    }
    assertEquals(stored.size, plains.length);
    for (const p of plains) {
      const e = (await repo.readPackHeader(stored.get(repo.hasher.id(p))!.pack)).find((x) =>
        x.id === repo.hasher.id(p)
      )!;
      assertEquals(await repo.loadBlob(e), p);
    }
  } finally {
    await dir.cleanup();
  }
});
