import { assert, assertEquals } from "../../tests/assert.ts";
import { tempDir, TEST_KDF } from "../../tests/helpers.ts";
import local from "../../plugins/storage/local/mod.ts";
import { Repository } from "../repository/repository.ts";
import { FilePool } from "./file_pool.ts";

Deno.test("file pool: the bytes a worker reads are reported as it goes, all of them before the job resolves", async () => {
  const dir = await tempDir("floe-file-pool-");
  const repo = await Repository.init(local({ path: `${dir.path}/repo` }), "pw", { kdfParams: TEST_KDF });
  const size = 40 * 1024 * 1024 + 12_345;
  const file = `${dir.path}/big`;
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i += 65_536) crypto.getRandomValues(data.subarray(i, i + 65_536));
  await Deno.writeFile(file, data);
  const reports: number[] = [];
  let resolved = false;
  const pool = new FilePool(repo, {
    size: 1,
    catalogPath: null,
    compress: false,
    onBlobs: () => Promise.resolve(),
    onRead: (bytes) => {
      assert(!resolved, "a report after the job resolved");
      reports.push(bytes);
    },
  });
  try {
    const [outcome] = await pool.read([file], size);
    resolved = true;
    assert("content" in outcome);
    assertEquals(outcome.size, size);
    assertEquals(reports.reduce((a, b) => a + b, 0), size);
    // 16 MiB at a time, then the rest with the job's end: a large file shows progress while it is read.
    assertEquals(reports.length, 3);
    // A file that cannot be opened read nothing.
    const [missing] = await pool.read([`${dir.path}/missing`]);
    assert("error" in missing);
    assertEquals(missing.read, 0);
  } finally {
    pool.close();
    await dir.cleanup();
  }
});
