import { assert, assertEquals, assertNotEquals, assertRejects } from "../../tests/assert.ts";
import { randomBytes } from "../../tests/helpers.ts";
import { transformConformance } from "../../testing/mod.ts";
import type { TransformPlugin } from "../../core/contracts.ts";
import zstd from "./zstd/mod.ts";
import gzip from "./gzip/mod.ts";
import none from "./none/mod.ts";
import aes from "./aes-256-gcm/mod.ts";
import chacha from "./chacha20-poly1305/mod.ts";
import * as openssl from "../../core/platform/openssl.ts";

const text = new TextEncoder().encode("floe ".repeat(10_000));
const samples: [string, Uint8Array][] = [
  ["empty", new Uint8Array(0)],
  ["one byte", new Uint8Array([42])],
  ["repetitive", text],
  ["random 1 MiB", randomBytes(1 << 20, 4)],
];

const compressors: [string, () => TransformPlugin][] = [
  ["zstd", () => zstd({ level: 3 })],
  ["gzip", () => gzip({ level: 6 })],
  ["none", () => none()],
];

for (const [name, make] of compressors) {
  Deno.test(`transform ${name}: round trip`, async () => {
    const t = make();
    assertEquals(t.kind, "transform");
    assertEquals(t.id, name);
    assertEquals(t.role, "compression");
    for (const [label, data] of samples) {
      const encoded = await t.encode(data);
      const decoded = await t.decode(encoded);
      assertEquals(new Uint8Array(decoded), data, `${name} ${label}`);
    }
    if (name !== "none") {
      assert((await t.encode(text)).length < text.length / 10, `${name} does not compress`);
    }
  });
}

for (const [name, make] of compressors) {
  Deno.test(`transform ${name}: lent output buffers and length hints`, async () => {
    const t = make();
    // Inputs that are views at odd offsets of a larger buffer, outputs into lent buffers: the result is
    // the same whether the transform uses what it is lent or not.
    const backing = new Uint8Array(3 << 20);
    backing.set(randomBytes(1 << 20, 11), 7);
    backing.set(text, (1 << 20) + 7);
    const inputs = [
      backing.subarray(7, 7 + (1 << 20) + text.length),
      backing.subarray(5, 6),
      text.subarray(3),
    ];
    for (const data of inputs) {
      const into = new Uint8Array(data.length + (data.length >>> 7) + 4096).fill(0xee);
      const encoded = new Uint8Array(await t.encode(data, { into })); // copied: `into` is lent again below
      const plain = await t.encode(data);
      assertEquals(new Uint8Array(await t.decode(plain)), data);
      const out = new Uint8Array(data.length + 1);
      assertEquals(new Uint8Array(await t.decode(encoded, { into: out, outputLength: data.length })), data);
      assertEquals(new Uint8Array(await t.decode(encoded, { outputLength: data.length })), data);
      // A lent buffer too small to use is simply not used.
      assertEquals(new Uint8Array(await t.decode(encoded, { into: new Uint8Array(1) })), data);
    }
  });
}

Deno.test("transform zstd: frames are interchangeable with node:zlib's one-shot calls", async () => {
  const zlib = (await import("node:zlib")).default;
  const t = zstd({ level: 3 });
  for (const [label, data] of samples) {
    const mine = t.encode(data) as Uint8Array;
    assertEquals(new Uint8Array(zlib.zstdDecompressSync(mine)), data, label);
    const theirs = zlib.zstdCompressSync(data);
    assertEquals(new Uint8Array(t.decode(theirs, { outputLength: data.length }) as Uint8Array), data, label);
    assertEquals(new Uint8Array(t.decode(theirs) as Uint8Array), data, label);
  }
});

Deno.test("transform zstd: a wrong length hint or a damaged frame never yields the expected bytes", () => {
  const t = zstd({ level: 3 });
  const data = new Uint8Array(text.subarray(0, 20_000));
  const packed = new Uint8Array(t.encode(data) as Uint8Array);
  // A wrong hint: the real content comes back (its length tells the caller), never a padded or cut copy.
  for (const hint of [0, 19_999, 20_001]) {
    assertEquals(new Uint8Array(t.decode(packed, { outputLength: hint }) as Uint8Array), data);
  }
  // A truncated frame: an error or other bytes, and the context keeps working afterwards.
  let out: Uint8Array | null = null;
  try {
    out = t.decode(packed.subarray(0, packed.length - 5), { outputLength: data.length }) as Uint8Array;
  } catch { /* expected */ }
  assert(out === null || out.length !== data.length || out.some((b, i) => b !== data[i]));
  assertEquals(new Uint8Array(t.decode(packed, { outputLength: data.length }) as Uint8Array), data);
});

Deno.test("transform zstd/gzip: out-of-range levels are refused", () => {
  for (const bad of [0, 20, 1.5]) {
    let threw = false;
    try {
      zstd({ level: bad });
    } catch {
      threw = true;
    }
    assert(threw, `zstd level ${bad}`);
  }
  for (const bad of [0, 10]) {
    let threw = false;
    try {
      gzip({ level: bad });
    } catch {
      threw = true;
    }
    assert(threw, `gzip level ${bad}`);
  }
});

// Each cipher on both of its engines: OpenSSL through FFI (the default when it loads, as it does in this
// suite) and the built-in one (WebCrypto, node:crypto).
const ciphers: [string, (key: Uint8Array) => TransformPlugin][] = [
  ["aes-256-gcm", (key) => aes({ key })],
  ["aes-256-gcm (WebCrypto)", (key) => aes({ key, native: false })],
  ["chacha20-poly1305", (key) => chacha({ key })],
  ["chacha20-poly1305 (node:crypto)", (key) => chacha({ key, native: false })],
];

const aad = new TextEncoder().encode("blob aad");

for (const [name, make] of ciphers) {
  const key = randomBytes(32, 77);

  Deno.test(`transform ${name}: round trip, with and without associated data`, async () => {
    const t = make(key);
    assertEquals(t.role, "cipher");
    assertEquals(t.id, name.split(" ")[0]);
    for (const [label, data] of samples) {
      const sealed = await t.encode(data, { associatedData: aad });
      assertEquals(sealed.length, data.length + 28, label);
      assertEquals(new Uint8Array(await t.decode(sealed, { associatedData: aad })), data, label);
      const plainSealed = await t.encode(data);
      assertEquals(new Uint8Array(await t.decode(plainSealed)), data, label);
    }
    // Fresh nonce each time.
    assertNotEquals(await t.encode(text), await t.encode(text));
  });

  Deno.test(`transform ${name}: flipping any single byte of a small sealed blob is detected`, async () => {
    const t = make(key);
    const sealed = await t.encode(randomBytes(100, 5), { associatedData: aad });
    for (let i = 0; i < sealed.length; i++) {
      for (const mask of [0x01, 0x80]) {
        const bad = new Uint8Array(sealed);
        bad[i] ^= mask;
        await assertRejects(() => Promise.resolve().then(() => t.decode(bad, { associatedData: aad })));
      }
    }
  });

  Deno.test(`transform ${name}: flipped bytes at sampled positions of a large sealed blob are detected`, async () => {
    const t = make(key);
    const sealed = await t.encode(randomBytes(4 << 20, 6), { associatedData: aad });
    const positions = [
      0,
      11,
      12,
      13,
      sealed.length >> 1,
      sealed.length - 17,
      sealed.length - 16,
      sealed.length - 1,
    ];
    const rnd = randomBytes(4 * 24, 9);
    const view = new DataView(rnd.buffer);
    for (let k = 0; k < 24; k++) positions.push(view.getUint32(k * 4, true) % sealed.length);
    for (const i of positions) {
      const bad = new Uint8Array(sealed);
      bad[i] ^= 0x20;
      await assertRejects(() => Promise.resolve().then(() => t.decode(bad, { associatedData: aad })));
    }
  });

  Deno.test(`transform ${name}: wrong associated data, wrong key and truncation are detected`, async () => {
    const t = make(key);
    const data = randomBytes(1000, 8);
    const sealed = await t.encode(data, { associatedData: aad });
    const decode = (bytes: Uint8Array, context?: { associatedData?: Uint8Array }, with_ = t) => () =>
      Promise.resolve().then(() => with_.decode(bytes, context));
    // Associated data.
    await assertRejects(decode(sealed, { associatedData: new TextEncoder().encode("blob aaD") }));
    await assertRejects(decode(sealed));
    await assertRejects(decode(sealed, { associatedData: new Uint8Array(0) }));
    const sealedNoAad = await t.encode(data);
    await assertRejects(decode(sealedNoAad, { associatedData: aad }));
    // Key.
    const other = make(randomBytes(32, 78));
    await assertRejects(decode(sealed, { associatedData: aad }, other));
    // Truncation: any shorter prefix, a missing head, an empty input.
    for (const n of [0, 1, 27, 28, 29, sealed.length - 16, sealed.length - 1]) {
      await assertRejects(decode(sealed.subarray(0, n), { associatedData: aad }));
    }
    await assertRejects(decode(sealed.subarray(1), { associatedData: aad }));
    // An appended byte.
    const longer = new Uint8Array(sealed.length + 1);
    longer.set(sealed);
    await assertRejects(decode(longer, { associatedData: aad }));
  });

  Deno.test(`transform ${name}: a key that is not 32 bytes is refused`, () => {
    for (const k of [new Uint8Array(16), new Uint8Array(0), undefined]) {
      let threw = false;
      try {
        make(k as Uint8Array);
      } catch {
        threw = true;
      }
      assert(threw);
    }
  });
}

Deno.test("transform ciphers: OpenSSL is in use here, and its bytes and the built-in engine's are interchangeable", async () => {
  assert(openssl.available(), `OpenSSL should load in this suite: ${openssl.unavailableReason()}`);
  const key = randomBytes(32, 90);
  const pairs: [string, TransformPlugin, TransformPlugin][] = [
    ["aes-256-gcm", aes({ key }), aes({ key, native: false })],
    ["chacha20-poly1305", chacha({ key }), chacha({ key, native: false })],
  ];
  for (const [name, fast, builtin] of pairs) {
    for (const [label, data] of [...samples, ["4 MiB + 3", randomBytes((4 << 20) + 3, 91)] as const]) {
      for (const [from, to] of [[fast, builtin], [builtin, fast]]) {
        const sealed = new Uint8Array(await from.encode(data, { associatedData: aad }));
        assertEquals(
          new Uint8Array(await to.decode(sealed, { associatedData: aad })),
          data,
          `${name} ${label}`,
        );
        if (sealed.length > 28) {
          sealed[20] ^= 4;
          await assertRejects(() => Promise.resolve().then(() => to.decode(sealed, { associatedData: aad })));
        }
      }
    }
  }
});

Deno.test("transform ciphers: lent buffers are written in place, and a forgery leaves nothing readable in them", async () => {
  const key = randomBytes(32, 92);
  for (const t of [aes({ key }), chacha({ key }), chacha({ key, native: false })]) {
    const data = randomBytes(70_000, 93);
    const into = new Uint8Array(data.length + 100).fill(0xee);
    const sealed = await t.encode(data, { associatedData: aad, into });
    assertEquals(sealed.buffer, into.buffer, `${t.id} seals into the lent buffer`);
    const copy = new Uint8Array(sealed);
    const out = new Uint8Array(data.length).fill(0xee);
    const plain = await t.decode(copy, { associatedData: aad, into: out });
    assertEquals(plain.buffer, out.buffer, `${t.id} opens into the lent buffer`);
    assertEquals(new Uint8Array(plain), data);
    copy[copy.length - 1] ^= 1;
    out.fill(0xee);
    await assertRejects(() =>
      Promise.resolve().then(() => t.decode(copy, { associatedData: aad, into: out }))
    );
    assert(
      out.every((b) => b === 0 || b === 0xee),
      `${t.id}: plaintext of a forgery left in the lent buffer`,
    );
  }
});

transformConformance("zstd", () => zstd({ level: 3 }));
transformConformance("gzip", () => gzip({ level: 6 }));
transformConformance("none", () => none());
transformConformance("aes-256-gcm", () => aes({ key: randomBytes(32, 21) }));
transformConformance("chacha20-poly1305", () => chacha({ key: randomBytes(32, 22) }));
