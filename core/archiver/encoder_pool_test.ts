import { assert, assertEquals } from "../../tests/assert.ts";
import { randomBytes, tempDir, TEST_KDF } from "../../tests/helpers.ts";
import local from "../../plugins/storage/local/mod.ts";
import { Repository } from "../repository/repository.ts";
import type { EncodedBlob } from "../repository/repository.ts";
import { EncoderPool } from "./encoder_pool.ts";

async function opened(repo: Repository, blob: EncodedBlob): Promise<Uint8Array> {
  return await repo.decodeBlob(
    { ...blob, pack: "0".repeat(64), offset: 0, length: blob.length },
    blob.sealed,
  );
}

Deno.test("encoder pool: one worker while it keeps up, more once jobs queue behind it, every blob sealed right", async () => {
  const dir = await tempDir("floe-encoder-pool-");
  const repo = await Repository.init(local({ path: `${dir.path}/repo` }), "pw", { kdfParams: TEST_KDF });
  const pool = new EncoderPool(repo, 2);
  try {
    assertEquals(pool.started, 1);
    // One at a time: the first worker is never behind.
    for (let i = 0; i < 20; i++) {
      const plain = randomBytes(1000 + i, i + 1);
      assertEquals(await opened(repo, await pool.encode("data", repo.hasher.id(plain), plain)), plain);
    }
    assertEquals(pool.started, 1);
    // Many at once: the jobs queue behind it, and the second worker takes the rest.
    const plains = Array.from({ length: 40 }, (_, i) => randomBytes(200_000 + i * 1000, 100 + i));
    const blobs = await Promise.all(plains.map((p) => pool.encode("data", repo.hasher.id(p), p)));
    assertEquals(pool.started, 2);
    for (const [i, b] of blobs.entries()) {
      assertEquals(b.rawLength, plains[i].length);
      assertEquals(await opened(repo, b), plains[i]);
    }
    // Never more than asked for.
    await Promise.all(plains.map((p) => pool.encode("data", repo.hasher.id(p), p)));
    assertEquals(pool.started, 2);
  } finally {
    pool.close();
    await dir.cleanup();
  }
});

Deno.test("encoder pool: a pool of one never grows", async () => {
  const dir = await tempDir("floe-encoder-pool-");
  const repo = await Repository.init(local({ path: `${dir.path}/repo` }), "pw", { kdfParams: TEST_KDF });
  const pool = new EncoderPool(repo, 1);
  try {
    const plains = Array.from({ length: 30 }, (_, i) => randomBytes(100_000, i + 1));
    const blobs = await Promise.all(plains.map((p) => pool.encode("data", repo.hasher.id(p), p, false)));
    assertEquals(pool.started, 1);
    for (const [i, b] of blobs.entries()) assert(!b.compressed && b.rawLength === plains[i].length);
  } finally {
    pool.close();
    await dir.cleanup();
  }
});
