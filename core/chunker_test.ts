import { assert, assertEquals, assertNotEquals, assertThrows } from "../tests/assert.ts";
import { randomBytes, sha256 } from "../tests/helpers.ts";
import { Chunker, type ChunkerParams, DEFAULT_CHUNKER, gearTable } from "./chunker.ts";

const SMALL: ChunkerParams = { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 };
const MiB = 1024 * 1024;
const seedA = new Uint8Array(32).fill(7);
const seedB = new Uint8Array(32).fill(9);

/** Chunk lengths of a whole buffer, handed over at once. */
function chunkAll(chunker: Chunker, data: Uint8Array): number[] {
  const out: number[] = [];
  let start = 0;
  while (start < data.length) {
    const n = chunker.cut(data, start, data.length, true);
    assert(n > 0, `cut returned ${n} at ${start} with eof`);
    out.push(n);
    start += n;
  }
  return out;
}

/** Chunk lengths when the data arrives through a bounded buffer, as the archiver feeds it. */
function chunkStreaming(chunker: Chunker, data: Uint8Array, bufSize: number, step: number): number[] {
  const buf = new Uint8Array(bufSize);
  const out: number[] = [];
  let pos = 0;
  let start = 0;
  let end = 0;
  let eof = false;
  while (true) {
    while (!eof && end < buf.length) {
      const n = Math.min(step, buf.length - end, data.length - pos);
      if (n === 0) eof = true;
      else {
        buf.set(data.subarray(pos, pos + n), end);
        pos += n;
        end += n;
      }
    }
    while (start < end) {
      const len = chunker.cut(buf, start, end, eof);
      if (len < 0) break;
      out.push(len);
      start += len;
    }
    if (eof && start >= end) break;
    buf.copyWithin(0, start, end);
    end -= start;
    start = 0;
  }
  return out;
}

function hashes(data: Uint8Array, lengths: number[]): string[] {
  const out: string[] = [];
  let off = 0;
  for (const n of lengths) {
    out.push(sha256(data.subarray(off, off + n)));
    off += n;
  }
  return out;
}

function insert(data: Uint8Array, at: number, extra: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length + extra.length);
  out.set(data.subarray(0, at));
  out.set(extra, at);
  out.set(data.subarray(at), at + extra.length);
  return out;
}

function checkStableAfterInsert(params: ChunkerParams, size: number, at: number) {
  const chunker = new Chunker(gearTable(seedA), params);
  const data = randomBytes(size, 42);
  const changed = insert(data, at, randomBytes(37, 99));
  const a = hashes(data, chunkAll(chunker, data));
  const b = hashes(changed, chunkAll(chunker, changed));
  assert(a.length > 10, `expected many chunks, got ${a.length}`);
  const known = new Set(a);
  const fresh = b.filter((h) => !known.has(h));
  assert(fresh.length <= 2, `${fresh.length} chunks differ after an insert near the start`);
  // Every chunk from the third on is identical, and in order: the tails of both lists agree.
  const tail = b.slice(2);
  assertEquals(tail, a.slice(a.length - tail.length));
}

Deno.test("chunker: an insert near the start changes at most the first two chunks (small params)", () => {
  checkStableAfterInsert(SMALL, 20 * MiB, 1000);
});

Deno.test("chunker: an insert near the start changes at most the first two chunks (defaults)", () => {
  checkStableAfterInsert(DEFAULT_CHUNKER, 20 * MiB, 5000);
});

Deno.test("chunker: min and max are respected; lengths cover the data", () => {
  const chunker = new Chunker(gearTable(seedA), SMALL);
  const data = randomBytes(8 * MiB, 3);
  const lengths = chunkAll(chunker, data);
  assertEquals(lengths.reduce((a, b) => a + b, 0), data.length);
  lengths.forEach((n, i) => {
    assert(n <= SMALL.max, `chunk ${i} is ${n} > max`);
    if (i < lengths.length - 1) assert(n >= SMALL.min, `chunk ${i} is ${n} < min`);
  });
  const avg = data.length / lengths.length;
  assert(avg > SMALL.avg / 2 && avg < SMALL.avg * 2, `average chunk ${avg} far from ${SMALL.avg}`);
});

Deno.test("chunker: data without any boundary is cut at exactly max", () => {
  // Every gear entry 2^31: the rolling hash keeps its top bit set and never matches a mask.
  const gear = new Uint32Array(256).fill(0x80000000);
  const chunker = new Chunker(gear, SMALL);
  const data = randomBytes(SMALL.max * 3 + 1234, 5);
  assertEquals(chunkAll(chunker, data), [SMALL.max, SMALL.max, SMALL.max, 1234]);
});

Deno.test("chunker: eof handling", () => {
  const chunker = new Chunker(gearTable(seedA), SMALL);
  const data = randomBytes(SMALL.max * 2, 11);
  // Up to min bytes: undecidable without eof, the whole rest with it.
  assertEquals(chunker.cut(data, 0, SMALL.min, false), -1);
  assertEquals(chunker.cut(data, 0, 100, true), 100);
  assertEquals(chunker.cut(data, 0, SMALL.min, true), SMALL.min);
  assertEquals(chunker.cut(data, 0, 0, true), 0);
  // No boundary in a window shorter than max: -1 without eof, the window with eof.
  const noCut = new Chunker(new Uint32Array(256).fill(0x80000000), SMALL);
  assertEquals(noCut.cut(data, 0, SMALL.max - 1, false), -1);
  assertEquals(noCut.cut(data, 0, SMALL.max - 1, true), SMALL.max - 1);
  assertEquals(noCut.cut(data, 0, SMALL.max * 2, false), SMALL.max);
  // A boundary found without eof is the same as with it.
  const whole = chunker.cut(data, 0, data.length, true);
  assertEquals(chunker.cut(data, 0, data.length, false), whole);
  // Offsets other than 0 work the same.
  const shifted = new Uint8Array(data.length + 500);
  shifted.set(data, 500);
  assertEquals(chunker.cut(shifted, 500, shifted.length, true), whole);
});

Deno.test("chunker: streaming through a small buffer finds the same boundaries", () => {
  const chunker = new Chunker(gearTable(seedA), SMALL);
  const data = randomBytes(6 * MiB + 777, 21);
  const whole = chunkAll(chunker, data);
  assertEquals(chunkStreaming(chunker, data, SMALL.max * 2, 100_000), whole);
  assertEquals(chunkStreaming(chunker, data, SMALL.max + 1, 4096), whole);
});

Deno.test("chunker: deterministic per gear seed, different for another seed", () => {
  assertEquals(gearTable(seedA), gearTable(seedA));
  assertNotEquals(gearTable(seedA), gearTable(seedB));
  const data = randomBytes(8 * MiB, 8);
  const a1 = chunkAll(new Chunker(gearTable(seedA), SMALL), data);
  const a2 = chunkAll(new Chunker(gearTable(new Uint8Array(seedA)), SMALL), data);
  const b = chunkAll(new Chunker(gearTable(seedB), SMALL), data);
  assertEquals(a1, a2);
  assertNotEquals(a1, b);
});

Deno.test("chunker: invalid sizes are refused", () => {
  const gear = gearTable(seedA);
  assertThrows(() => new Chunker(gear, { min: 0, avg: 10, max: 20 }));
  assertThrows(() => new Chunker(gear, { min: 30, avg: 10, max: 20 }));
  assertThrows(() => new Chunker(gear, { min: 1, avg: 30, max: 20 }));
});

Deno.test("chunker: data in the chunker's own buffer (WebAssembly loop) is cut exactly as elsewhere", () => {
  for (const params of [DEFAULT_CHUNKER, { min: 16 << 10, avg: 64 << 10, max: 256 << 10 }]) {
    const seed = new Uint8Array(32).fill(params.min & 0xff);
    const chunker = new Chunker(gearTable(seed), params);
    const size = 12 * params.max + 12345;
    const wasmBuf = chunker.buffer(size);
    // Random data, a run of zeros (cut only at max), then text-like repeats.
    const data = new Uint8Array(size);
    data.set(randomBytes(size >> 1, 9));
    for (let i = Math.floor(size * 0.75); i < size; i++) data[i] = "floe chunk "[i % 11].charCodeAt(0);
    wasmBuf.set(data);
    for (const eof of [true, false]) {
      let a = 0;
      let b = 0;
      const cutsPlain: number[] = [];
      const cutsWasm: number[] = [];
      while (a < size) {
        const n = chunker.cut(data, a, size, eof);
        if (n < 0) break;
        cutsPlain.push(n);
        a += n;
      }
      while (b < size) {
        const n = chunker.cut(wasmBuf, b, size, eof);
        if (n < 0) break;
        cutsWasm.push(n);
        b += n;
      }
      assertEquals(cutsWasm, cutsPlain, `${JSON.stringify(params)} eof=${eof}`);
      assert(cutsPlain.length > 10);
    }
    // The same buffer again for a size it holds; a view elsewhere in it takes the plain loop.
    assertEquals(chunker.buffer(size).byteOffset, wasmBuf.byteOffset);
    assertEquals(
      chunker.cut(wasmBuf.subarray(1), 0, size - 1, true),
      chunker.cut(data.subarray(1), 0, size - 1, true),
    );
  }
});
