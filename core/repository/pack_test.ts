import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { randomBytes, tempDir, TEST_KDF } from "../../tests/helpers.ts";
import { IntegrityError } from "../errors.ts";
import local from "../../plugins/storage/local/mod.ts";
import { decodeHeader, encodeHeader, HEADER_ENTRY, type PackBlob } from "./pack.ts";
import { type EncodedBlob, packName, Repository } from "./repository.ts";
import type { IndexEntry } from "./types.ts";

const ID_A = "ab".repeat(32);
const ID_B = "0f".repeat(32);

Deno.test("pack header: encode/decode round trip with offsets", () => {
  const blobs: PackBlob[] = [
    { id: ID_A, type: "data", length: 40, rawLength: 12, compressed: false },
    { id: ID_B, type: "tree", length: 1000, rawLength: 5000, compressed: true },
    { id: "00".repeat(32), type: "data", length: 0xfffffff0, rawLength: 0xffffffff, compressed: true },
  ];
  const h = encodeHeader(blobs);
  assertEquals(h.length, 3 * HEADER_ENTRY);
  const back = decodeHeader(h);
  assertEquals(back, [
    { ...blobs[0], offset: 0 },
    { ...blobs[1], offset: 40 },
    { ...blobs[2], offset: 1040 },
  ]);
  assertEquals(decodeHeader(encodeHeader([])), []);
  // A view into a larger buffer decodes the same.
  const padded = new Uint8Array(h.length + 7);
  padded.set(h, 7);
  assertEquals(decodeHeader(padded.subarray(7)), back);
});

Deno.test("pack header: malformed headers are refused", () => {
  const h = encodeHeader([{ id: ID_A, type: "data", length: 40, rawLength: 12, compressed: false }]);
  assertThrows(() => decodeHeader(h.subarray(0, HEADER_ENTRY - 1)), "bad length");
  const bad = new Uint8Array(h);
  bad[0] = 2;
  assertThrows(() => decodeHeader(bad), "unknown blob type");
});

async function setup() {
  const dir = await tempDir("floe-pack-");
  const storage = local({ path: `${dir.path}/repo` });
  const repo = await Repository.init(storage, "pw", {
    chunker: { min: 16384, avg: 65536, max: 262144 },
    kdfParams: TEST_KDF,
  });
  const plains = [randomBytes(5000, 1), new TextEncoder().encode("x".repeat(3000)), randomBytes(100, 3)];
  const blobs: EncodedBlob[] = [];
  for (const [i, p] of plains.entries()) {
    blobs.push(await repo.encodeBlob(i === 2 ? "tree" : "data", repo.hasher.id(p), p));
  }
  const pack = await repo.buildPack(blobs);
  await storage.put(packName(pack.id), pack.bytes);
  return { dir, storage, repo, plains, blobs, pack };
}

Deno.test("pack: buildPack + readPackHeader round trip on local storage; loadBlob reads each blob", async () => {
  const { dir, repo, plains, blobs, pack } = await setup();
  try {
    assert(blobs[1].compressed, "a repetitive blob is compressed");
    assert(!blobs[0].compressed, "a random blob is stored as is");
    const header = await repo.readPackHeader(pack.id);
    assertEquals(header, pack.entries);
    assertEquals(header.map((e) => e.id), blobs.map((b) => b.id));
    assertEquals(header.map((e) => e.type), ["data", "data", "tree"]);
    // With the size given, too.
    assertEquals(await repo.readPackHeader(pack.id, pack.bytes.length), pack.entries);
    for (const [i, e] of pack.entries.entries()) {
      assertEquals(e.pack, pack.id);
      assertEquals(new Uint8Array(await repo.loadBlob(e)), plains[i]);
    }
  } finally {
    await dir.cleanup();
  }
});

Deno.test("pack: a flipped byte in a blob is detected by loadBlob (IntegrityError)", async () => {
  const { dir, storage, repo, pack } = await setup();
  try {
    const e = pack.entries[1];
    for (const at of [e.offset, e.offset + 12, e.offset + (e.length >> 1), e.offset + e.length - 1]) {
      const bytes = new Uint8Array(pack.bytes);
      bytes[at] ^= 1;
      await storage.put(packName(pack.id), bytes);
      const err = await assertRejects(() => repo.loadBlob(e), IntegrityError);
      assert(err.message.includes(pack.id.slice(0, 12)), err.message);
      // The neighbours still read.
      await repo.loadBlob(pack.entries[0]);
    }
    // A flipped byte in the header is detected by readPackHeader.
    const bytes = new Uint8Array(pack.bytes);
    bytes[bytes.length - 10] ^= 0x40;
    await storage.put(packName(pack.id), bytes);
    await assertRejects(() => repo.readPackHeader(pack.id), IntegrityError);
    // A bad header length is detected.
    const bytes2 = new Uint8Array(pack.bytes);
    bytes2[bytes2.length - 1] = 0xff;
    await storage.put(packName(pack.id), bytes2);
    await assertRejects(() => repo.readPackHeader(pack.id), IntegrityError);
  } finally {
    await dir.cleanup();
  }
});

Deno.test("pack: an entry naming the wrong blob id or type is refused", async () => {
  const { dir, repo, pack } = await setup();
  try {
    const e = pack.entries[0];
    const wrongType: IndexEntry = { ...e, type: "tree" };
    await assertRejects(() => repo.loadBlob(wrongType), IntegrityError);
    const wrongId: IndexEntry = { ...e, id: ID_A };
    await assertRejects(() => repo.loadBlob(wrongId), IntegrityError);
    // A blob moved under another blob's entry fails authentication.
    const swapped: IndexEntry = { ...pack.entries[1], offset: e.offset, length: e.length };
    await assertRejects(() => repo.loadBlob(swapped), IntegrityError);
  } finally {
    await dir.cleanup();
  }
});

Deno.test("pack: a truncated pack is detected", async () => {
  const { dir, storage, repo, pack } = await setup();
  try {
    const last = pack.entries[pack.entries.length - 1];
    // Cut inside the last blob.
    await storage.put(packName(pack.id), pack.bytes.subarray(0, last.offset + 10));
    const err = await assertRejects(() => repo.loadBlob(last), IntegrityError);
    assert(err.message.includes("truncated"), err.message);
    await assertRejects(() => repo.readPackHeader(pack.id), IntegrityError);
    // Cut only the trailing header: blobs still read, the header does not.
    await storage.put(packName(pack.id), pack.bytes.subarray(0, pack.bytes.length - 3));
    await repo.loadBlob(last);
    await assertRejects(() => repo.readPackHeader(pack.id), IntegrityError);
    // Too short to hold a header at all.
    await storage.put(packName(pack.id), pack.bytes.subarray(0, 20));
    await assertRejects(() => repo.readPackHeader(pack.id), IntegrityError, "truncated");
    // Missing.
    await storage.delete(packName(pack.id));
    await assertRejects(() => repo.loadBlob(last), IntegrityError, "missing");
  } finally {
    await dir.cleanup();
  }
});

Deno.test("pack: encodeBlob writes into lent buffers, and the blobs read back", async () => {
  const { dir, storage, repo } = await setup();
  try {
    const plains = [randomBytes(70_000, 7), new TextEncoder().encode("y".repeat(90_000))];
    const blobs: EncodedBlob[] = [];
    for (const p of plains) {
      const lent = { sealed: new Uint8Array(p.length + 64), compressed: new Uint8Array(p.length + 4096) };
      const blob = await repo.encodeBlob("data", repo.hasher.id(p), p, true, repo.compression, lent);
      assert(blob.sealed.buffer === lent.sealed.buffer, "the built-in cipher seals into the lent buffer");
      blobs.push(blob);
    }
    assert(blobs[1].compressed && !blobs[0].compressed);
    // buildPack copies; the lent buffers may be reused afterwards without harm to the pack.
    const pack = await repo.buildPack(blobs);
    for (const b of blobs) (b.sealed.buffer as ArrayBuffer).transfer(0);
    await storage.put(packName(pack.id), pack.bytes);
    for (const [i, e] of pack.entries.entries()) {
      assertEquals(new Uint8Array(await repo.loadBlob(e)), plains[i]);
    }
  } finally {
    await dir.cleanup();
  }
});
