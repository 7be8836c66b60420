/**
 * Hashing: SHA-256 for object names, keyed HMAC-SHA-256 for blob ids — on OpenSSL's libcrypto through FFI
 * when it is available (about 3× less time per small blob than node:crypto), else on node:crypto.
 *
 * @example
 * ```ts
 * import { sha256Hex, BlobHasher } from "./hash.ts";
 * sha256Hex(new Uint8Array([1]));
 * new BlobHasher(new Uint8Array(32)).id(new Uint8Array([1])); // 64 hex chars
 * ```
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { encodeHex } from "../encoding.ts";
import * as openssl from "../platform/openssl.ts";

/** SHA-256 of `data`, hex. */
export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * Computes keyed blob ids: HMAC-SHA-256 under the repository's id key, so storage can't test guesses.
 * The key's inner and outer SHA-256 states are computed once and copied per blob (RFC 2104), which costs
 * about half of what a fresh `createHmac` does per call — it matters for many small files.
 */
export class BlobHasher {
  readonly #inner: Hash | null = null;
  readonly #outer: Hash | null = null;
  readonly #native: openssl.HmacSha256 | null = null;
  readonly #digest = new Uint8Array(32);
  /**
   * Build one from the id key (32 bytes; any length works as HMAC allows). `native: false` keeps to
   * node:crypto even when OpenSSL is available (the ids are the same).
   */
  constructor(key: Uint8Array, options: { native?: boolean } = {}) {
    if ((options.native ?? true) && openssl.available()) {
      this.#native = new openssl.HmacSha256(key);
      return;
    }
    const block = new Uint8Array(64);
    block.set(key.length > 64 ? createHash("sha256").update(key).digest() : key);
    const ipad = block.map((b) => b ^ 0x36);
    const opad = block.map((b) => b ^ 0x5c);
    this.#inner = createHash("sha256").update(ipad);
    this.#outer = createHash("sha256").update(opad);
  }
  /** The blob id of `data`, hex. */
  id(data: Uint8Array): string {
    if (this.#native) return encodeHex(this.#native.digest(data, this.#digest));
    const inner = this.#inner!.copy().update(data).digest();
    return this.#outer!.copy().update(inner).digest("hex");
  }
}
