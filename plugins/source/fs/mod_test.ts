import { assertEquals } from "../../../tests/assert.ts";
import { sourceConformance } from "../../../testing/mod.ts";
import fs from "./mod.ts";

sourceConformance("fs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "floe-fs-source-" });
  Deno.mkdirSync(`${dir}/b/deep`, { recursive: true });
  Deno.mkdirSync(`${dir}/a`);
  Deno.writeTextFileSync(`${dir}/a/one.txt`, "one\n");
  Deno.writeFileSync(`${dir}/b/deep/big.bin`, new Uint8Array(3 << 20).map((_, i) => (i * 7919) >>> 5));
  Deno.writeTextFileSync(`${dir}/b/z.txt`, "");
  Deno.writeTextFileSync(`${dir}/c.txt`, "c".repeat(10_000));
  Deno.symlinkSync("a/one.txt", `${dir}/link`);
  return {
    source: fs({ paths: [`${dir}/b`, `${dir}/a`, `${dir}/c.txt`, `${dir}/link`] }),
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
});

Deno.test("fs source: paths sorted by segment, so a sibling named like a prefix keeps pre-order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "floe-fs-order-" });
  try {
    Deno.mkdirSync(`${dir}/a`);
    Deno.mkdirSync(`${dir}/a-b`);
    Deno.writeTextFileSync(`${dir}/a/c`, "c");
    const seen: string[] = [];
    const source = fs({ paths: [`${dir}/a-b`, `${dir}/a/c`] });
    for await (const e of source.scan({ warn: () => {} })) seen.push(e.path.slice(dir.length));
    assertEquals(seen.filter((p) => p), ["/a", "/a/c", "/a-b"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
