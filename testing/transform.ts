/**
 * The transform conformance suite: every compression and cipher transform, built-in or third-party, must
 * pass it.
 *
 * @example
 * ```ts
 * import { transformConformance } from "./transform.ts";
 * import zstd from "../plugins/transform/zstd/mod.ts";
 * transformConformance("zstd", () => zstd({ level: 3 }));
 * ```
 * @module
 */
import { assert, assertEquals, rejection } from "./_assert.ts";
import type { TransformPlugin } from "../core/contracts.ts";
import { bytes } from "./storage.ts";

const text = new TextEncoder().encode("floe conformance ".repeat(8_000));
const SAMPLES: [string, Uint8Array][] = [
  ["empty", new Uint8Array(0)],
  ["one byte", new Uint8Array([42])],
  ["repetitive text", text],
  ["random 1 MiB", bytes(1 << 20, 4)],
];

/**
 * Registers the conformance tests of one transform under `deno test`. `make` builds a fresh instance with
 * the options a repository would give it (ciphers: a 32-byte `key`).
 */
export function transformConformance(
  name: string,
  make: () => TransformPlugin | Promise<TransformPlugin>,
  options: { ignore?: boolean } = {},
): void {
  Deno.test({
    name: `transform conformance: ${name}`,
    ignore: options.ignore,
    fn: async (t) => {
      const transform = await make();
      const aad = transform.role === "cipher" ? new TextEncoder().encode("conformance") : undefined;
      const encode = (data: Uint8Array, into?: Uint8Array) =>
        Promise.resolve(transform.encode(data, { associatedData: aad, into }));
      const decode = (data: Uint8Array, ctx: { into?: Uint8Array; outputLength?: number } = {}) =>
        Promise.resolve(transform.decode(data, { associatedData: aad, ...ctx }));

      await t.step("contract fields", () => {
        assertEquals(transform.kind, "transform");
        assert(typeof transform.id === "string" && /^[a-z0-9][a-z0-9._-]*$/.test(transform.id), transform.id);
        assert(transform.role === "compression" || transform.role === "cipher", String(transform.role));
      });

      await t.step("round trip of empty, tiny, compressible and random data", async () => {
        for (const [label, data] of SAMPLES) {
          const encoded = new Uint8Array(await encode(data));
          assertEquals(new Uint8Array(await decode(encoded)), data, label);
        }
      });

      await t.step("the input may be reused as soon as encode returns", async () => {
        const data = bytes(200_000, 5);
        const copy = data.slice();
        const pending = encode(data);
        data.fill(0); // the caller reuses its buffer at once
        const encoded = new Uint8Array(await pending);
        assertEquals(new Uint8Array(await decode(encoded)), copy);
      });

      await t.step("lent output buffers and length hints give the same result", async () => {
        const backing = new Uint8Array(1 << 20);
        backing.set(bytes(300_000, 6), 3);
        const data = backing.subarray(3, 300_003); // a view at an odd offset
        const into = new Uint8Array(400_000).fill(0xee);
        const encoded = new Uint8Array(await encode(data, into)); // copied: `into` is lent again below
        const out = new Uint8Array(300_001).fill(0xee);
        assertEquals(new Uint8Array(await decode(encoded, { into: out, outputLength: data.length })), data);
        // Too small a lent buffer is ignored, not overrun.
        assertEquals(new Uint8Array(await decode(encoded, { into: new Uint8Array(10) })), data);
      });

      if (transform.role === "compression") {
        await t.step("compression: decode of garbage fails or differs, never hangs", async () => {
          const garbage = bytes(1000, 8);
          try {
            await decode(garbage);
          } catch { /* refusing is right */ }
        });
      }

      if (transform.role === "cipher") {
        await t.step("cipher: the same data seals differently each time (nonces)", async () => {
          const a = new Uint8Array(await encode(text));
          const b = new Uint8Array(await encode(text));
          assert(a.length > text.length, "no room for a nonce and a tag");
          assert(a.some((x, i) => x !== b[i]), "two seals of the same data are identical");
        });
        await t.step("cipher: altered data, other associated data and truncation are refused", async () => {
          const sealed = new Uint8Array(await encode(text));
          for (const at of [0, sealed.length >> 1, sealed.length - 1]) {
            const bad = sealed.slice();
            bad[at] ^= 0x40;
            await rejection(() => decode(bad), `byte ${at} changed and accepted`);
          }
          await rejection(() => decode(sealed.subarray(0, sealed.length - 1)), "truncated and accepted");
          await rejection(
            () => transform.decode(sealed, { associatedData: new TextEncoder().encode("other") }),
            "other associated data accepted",
          );
        });
      }
    },
  });
}
