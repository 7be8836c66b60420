import { assertEquals, assertThrows } from "../../../tests/assert.ts";
import type { SourceEntry } from "../../../core/contracts.ts";
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

Deno.test("fs source: an entry copied by spread or rest still opens and reads its attributes; open() off its entry says so", async () => {
  const dir = await Deno.makeTempDir({ prefix: "floe-fs-copy-" });
  try {
    Deno.writeTextFileSync(`${dir}/f.txt`, "hello\n");
    let entry: SourceEntry | undefined;
    for await (const e of fs({ paths: [`${dir}/f.txt`] }).scan({ warn: () => {} })) {
      if (e.path.endsWith("/f.txt")) entry = e;
    }
    const { localPath: _hidden, ...rest } = entry!;
    for (const copy of [{ ...entry! }, rest]) {
      const reader = await copy.open!();
      const buf = new Uint8Array(64);
      const n = await reader.read(buf);
      await reader.close();
      assertEquals(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "hello\n");
      if (copy.attributes) assertEquals(typeof copy.attributes(() => {}), "object");
    }
    const open = entry!.open!;
    assertThrows(() => open(), "called on the entry");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
