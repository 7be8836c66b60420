import { assertEquals } from "../../tests/assert.ts";
import { randomBytes, tempDir, TEST_KDF } from "../../tests/helpers.ts";
import local from "../../plugins/storage/local/mod.ts";
import { Repository } from "../repository/repository.ts";
import { Packer } from "./packer.ts";

/** A repository of 64 KiB packs, so that a few blobs fill several. */
function smallPackRepo(dir: string): Promise<Repository> {
  return Repository.init(local({ path: `${dir}/repo` }), "pw", {
    packSize: 64 * 1024,
    chunker: { min: 1024, avg: 4096, max: 16384 },
    kdfParams: TEST_KDF,
  });
}

Deno.test("packer: packs of many sizes (one blob larger than a pack) hold every blob, each readable", async () => {
  const dir = await tempDir("floe-packer-");
  try {
    const repo = await smallPackRepo(dir.path);
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

Deno.test("packer: adds made at once take turns: every blob lands once, in the order added, readable", async () => {
  const dir = await tempDir("floe-packer-");
  try {
    const repo = await smallPackRepo(dir.path);
    const packer = new Packer(repo, { concurrency: 1 });
    const plains = Array.from({ length: 60 }, (_, i) => randomBytes(5_000 + 997 * i, i + 1));
    const blobs = await Promise.all(plains.map((p) => repo.encodeBlob("data", repo.hasher.id(p), p, false)));
    await Promise.all(blobs.map((b) => packer.add(b)));
    await packer.flush();
    // Taking turns, the blobs land in the order they were added, each once (one upload at a time: the
    // packs are stored in order).
    assertEquals(packer.packs.flatMap((p) => p.blobs.map((b) => b.id)), blobs.map((b) => b.id));
    for (const pack of packer.packs) {
      const header = await repo.readPackHeader(pack.id, pack.size);
      for (const e of header) {
        assertEquals(await repo.loadBlob(e), plains[blobs.findIndex((b) => b.id === e.id)]);
      }
    }
  } finally {
    await dir.cleanup();
  }
});

Deno.test("packer: a tree pack's buffer grows as trees come; every tree lands in one pack, readable", async () => {
  const dir = await tempDir("floe-packer-");
  try {
    // 4 MiB packs: a tree pack starts at 1 MiB and grows twice for 3.6 MB of trees.
    const repo = await Repository.init(local({ path: `${dir.path}/repo` }), "pw", {
      packSize: 4 << 20,
      kdfParams: TEST_KDF,
    });
    const packer = new Packer(repo);
    const trees = Array.from({ length: 12 }, (_, i) => randomBytes(300_000, 100 + i));
    const data = Array.from({ length: 12 }, (_, i) => randomBytes(500_000, 200 + i));
    for (let i = 0; i < trees.length; i++) {
      await packer.add(await repo.encodeBlob("tree", repo.hasher.id(trees[i]), trees[i], false));
      await packer.add(await repo.encodeBlob("data", repo.hasher.id(data[i]), data[i], false));
    }
    await packer.flush();
    const treePacks = packer.packs.filter((p) => p.blobs.some((b) => b.type === "tree"));
    assertEquals(treePacks.length, 1);
    assertEquals(treePacks[0].blobs.map((b) => b.id), trees.map((t) => repo.hasher.id(t)));
    for (const pack of packer.packs) {
      for (const e of await repo.readPackHeader(pack.id, pack.size)) {
        const plain = [...trees, ...data].find((p) => repo.hasher.id(p) === e.id);
        assertEquals(await repo.loadBlob(e), plain);
      }
    }
  } finally {
    await dir.cleanup();
  }
});
