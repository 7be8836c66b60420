/**
 * Tests of the shared body reader of the HTTP storages.
 *
 * @example
 * ```sh
 * deno test --allow-all plugins/storage/read_body_test.ts
 * ```
 * @module
 */
import { readBody } from "./read_body.ts";
import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { StorageError } from "../../core/contracts.ts";

/** A byte stream that delivers `pieces` (as fetch's and the downloader's bodies are byte streams). */
function body(...pieces: number[][]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    type: "bytes",
    pull(c) {
      if (i < pieces.length) c.enqueue(new Uint8Array(pieces[i++]));
      else {
        c.close();
        c.byobRequest?.respond(0); // a BYOB read pending at the close settles as done
      }
    },
  });
}

Deno.test("readBody: a sized body lands in the lent buffer, which the reads transfer", async () => {
  const lent = new Uint8Array(8);
  const got = await readBody(body([1, 2], [3], [4, 5]), 5, "t: x", { into: lent });
  assertEquals(got, new Uint8Array([1, 2, 3, 4, 5]));
  assertEquals(got.buffer.byteLength, 8); // the lent memory, not a fresh buffer
  assert(lent.buffer.detached);
});

Deno.test("readBody: a lent buffer too small, or a view into the middle, is not used", async () => {
  const small = new Uint8Array(2);
  assertEquals(await readBody(body([1, 2, 3]), 3, "t: x", { into: small }), new Uint8Array([1, 2, 3]));
  assert(!small.buffer.detached);
  const inner = new Uint8Array(16).subarray(4);
  assertEquals(await readBody(body([7]), 1, "t: x", { into: inner }), new Uint8Array([7]));
  assert(!inner.buffer.detached);
});

Deno.test("readBody: short and long bodies are transient errors naming the object", async () => {
  const short = await assertRejects(() => readBody(body([1, 2]), 4, "loc: data/p"), StorageError);
  assertEquals(short.code, "transient");
  assertEquals(short.message, "loc: data/p: short body (2 of 4 bytes)");
  const long = await assertRejects(() => readBody(body([1, 2, 3]), 2, "loc: data/p"), StorageError);
  assertEquals(long.code, "transient");
  assert(long.message.includes("longer than 2 bytes"), long.message);
});

Deno.test("readBody: without a length the pieces are collected; a failing read comes through", async () => {
  let ticks = 0;
  const got = await readBody(body([1], [2, 3]), undefined, "t: x", { tick: () => ticks++ });
  assertEquals(got, new Uint8Array([1, 2, 3]));
  assert(ticks >= 2);
  assertEquals(await readBody(body(), 0, "t: x"), new Uint8Array(0));
  const failing = new ReadableStream<Uint8Array>({
    type: "bytes",
    pull() {
      throw new TypeError("connection reset");
    },
  });
  await assertRejects(() => readBody(failing, 10, "t: x"), TypeError, "connection reset");
});
