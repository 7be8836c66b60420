/**
 * Small byte encodings used across the repository format.
 *
 * @example
 * ```ts
 * import { encodeHex, decodeHex } from "./encoding.ts";
 * decodeHex(encodeHex(new Uint8Array([1, 255]))); // Uint8Array [1, 255]
 * ```
 * @module
 */
import { Buffer } from "node:buffer";

/** Bytes to lowercase hex. */
export function encodeHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Hex to bytes; throws on malformed input. */
export function decodeHex(hex: string): Uint8Array {
  if (hex.length % 2 || !/^[0-9a-f]*$/i.test(hex)) {
    throw new Error(`malformed hex ${JSON.stringify(hex.slice(0, 16))}`);
  }
  return new Uint8Array(Buffer.from(hex, "hex"));
}

/** Bytes to standard base64. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** Standard base64 to bytes. */
export function decodeBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "base64"));
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** UTF-8 encode. */
export function utf8(text: string): Uint8Array {
  return enc.encode(text);
}

/** UTF-8 decode (lossy). */
export function fromUtf8(bytes: Uint8Array): string {
  return dec.decode(bytes);
}
