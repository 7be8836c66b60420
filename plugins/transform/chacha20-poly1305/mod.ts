/**
 * `chacha20-poly1305`: authenticated encryption of each blob with node:crypto ChaCha20-Poly1305
 * (~1.4 GB/s here; fastest without AES hardware). Output layout: nonce (12) ‖ ciphertext ‖ tag (16).
 *
 * @example
 * ```ts
 * import chacha from "./mod.ts";
 * const t = chacha({ key: crypto.getRandomValues(new Uint8Array(32)) });
 * const sealed = t.encode(new Uint8Array([1, 2, 3]));
 * ```
 * @module
 */
import { createCipheriv, createDecipheriv, randomFillSync } from "node:crypto";
import { API_VERSION, type TransformPlugin } from "../../../core/contracts.ts";

/** Options of the ChaCha20-Poly1305 cipher. */
export interface Options {
  /** The 32-byte key. */
  key: Uint8Array;
}

/** No defaults: a key is required. */
export const defaults: Partial<Options> = {};

/** Builds the ChaCha20-Poly1305 cipher transform. */
export default function chacha20poly1305(options: Options): TransformPlugin {
  if (!(options?.key instanceof Uint8Array) || options.key.length !== 32) {
    throw new TypeError("chacha20-poly1305 needs a 32-byte key");
  }
  const key = options.key;
  return {
    kind: "transform",
    name: "chacha20-poly1305",
    apiVersion: API_VERSION,
    id: "chacha20-poly1305",
    role: "cipher",
    encode(data, context) {
      const out = new Uint8Array(12 + data.length + 16);
      const iv = out.subarray(0, 12);
      randomFillSync(iv);
      const c = createCipheriv("chacha20-poly1305", key, iv, { authTagLength: 16 });
      if (context?.associatedData) c.setAAD(context.associatedData, { plaintextLength: data.length });
      const body = c.update(data);
      out.set(body, 12);
      c.final();
      out.set(c.getAuthTag(), 12 + data.length);
      return out;
    },
    decode(data, context) {
      if (data.length < 28) throw new Error("sealed data too short");
      const n = data.length - 28;
      const d = createDecipheriv("chacha20-poly1305", key, data.subarray(0, 12), { authTagLength: 16 });
      if (context?.associatedData) d.setAAD(context.associatedData, { plaintextLength: n });
      d.setAuthTag(data.subarray(12 + n));
      const out = d.update(data.subarray(12, 12 + n));
      try {
        d.final();
      } catch {
        throw new Error("authentication failed: data was altered or the key is wrong");
      }
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    },
  };
}
