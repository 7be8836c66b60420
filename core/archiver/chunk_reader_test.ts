import { assertEquals } from "../../tests/assert.ts";
import { randomBytes } from "../../tests/helpers.ts";
import { Chunker, gearTable } from "../chunker.ts";
import { readChunks } from "./chunk_reader.ts";

Deno.test("readChunks: the same chunks whatever the read sizes, sync or async readers", async () => {
  const chunker = new Chunker(gearTable(new Uint8Array(32)), { min: 2048, avg: 8192, max: 32768 });
  const data = randomBytes(300_000, 7);
  const lengths = async (step: number, async: boolean) => {
    let pos = 0;
    const read = (into: Uint8Array) => {
      const n = Math.min(step, into.length, data.length - pos);
      into.set(data.subarray(pos, pos + n));
      pos += n;
      return async ? Promise.resolve(n || null) : n || null;
    };
    const out: number[] = [];
    const joined: number[] = [];
    for await (const c of readChunks(read, new Uint8Array(65536), chunker)) {
      out.push(c.length);
      joined.push(c[0], c[c.length - 1]);
    }
    return { out, joined };
  };
  const expected = await lengths(1 << 30, false);
  assertEquals(expected.out.reduce((a, b) => a + b, 0), data.length);
  for (const [step, async] of [[1000, false], [4097, true], [65536, true]] as const) {
    assertEquals(await lengths(step, async), expected);
  }
});
