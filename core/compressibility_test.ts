import { assert, assertEquals } from "../tests/assert.ts";
import { compressIfWorth } from "./compressibility.ts";
import zstd from "../plugins/transform/zstd/mod.ts";
import type { TransformPlugin } from "./contracts.ts";

const z = zstd({ level: 3 });
const text = new TextEncoder().encode("backup floe chunk repository snapshot restore ".repeat(40_000));
const random = crypto.getRandomValues(new Uint8Array(60_000)); // getRandomValues caps at 64 KiB
const bigRandom = new Uint8Array(1 << 20);
for (let i = 0; i < bigRandom.length; i += random.length) {
  bigRandom.set(random.subarray(0, Math.min(random.length, bigRandom.length - i)), i);
}
crypto.getRandomValues(bigRandom.subarray(0, 65536));
for (let o = 0; o < bigRandom.length; o += 65536) crypto.getRandomValues(bigRandom.subarray(o, o + 65536));

Deno.test("compressibility: text is compressed, synchronously", () => {
  const r = compressIfWorth(z, text);
  assert(!(r instanceof Promise));
  assert(r.compressed);
  assert(r.body.length < text.length / 10);
  assertEquals(new Uint8Array(z.decode(r.body) as Uint8Array), text);
});

Deno.test("compressibility: random data is stored raw after a small probe", () => {
  const r = compressIfWorth(z, bigRandom);
  assert(!(r instanceof Promise));
  assertEquals(r.compressed, false);
  assert(r.body === bigRandom);
});

Deno.test("compressibility: an async compressor gets a copy, so the caller may reuse its buffer", async () => {
  const slow: TransformPlugin = {
    ...z,
    encode: async (d) => {
      await new Promise((r) => setTimeout(r, 5));
      return z.encode(d) as Uint8Array;
    },
  };
  const buf = text.slice();
  const p = compressIfWorth(slow, buf);
  assert(p instanceof Promise);
  buf.fill(0); // the caller reuses its buffer at once
  const r = await p;
  assert(r.compressed);
  assertEquals(new Uint8Array(z.decode(r.body) as Uint8Array), text);
});
