/**
 * Pack files: many sealed blobs in one object, with a sealed header at the end.
 *
 * Layout: `blob₀ ‖ blob₁ ‖ … ‖ sealed header ‖ u32le(length of sealed header)`.
 * Header plaintext: per blob 42 bytes — type u8 (0 data, 1 tree), flags u8 (bit 0: compressed),
 * sealed length u32le, plaintext length u32le, id (32 bytes); offsets follow from the order.
 *
 * @example
 * ```ts
 * import { encodeHeader, decodeHeader } from "./pack.ts";
 * const h = encodeHeader([{ id: "00".repeat(32), type: "data", length: 40, rawLength: 12, compressed: false }]);
 * decodeHeader(h)[0].offset; // 0
 * ```
 * @module
 */
import { decodeHex, encodeHex } from "../encoding.ts";
import { sha256Hex } from "../crypto/hash.ts";
import type { BlobType, IndexEntry } from "./types.ts";

/** Bytes per header entry. */
export const HEADER_ENTRY = 42;

/** A blob as recorded in a pack header. */
export type PackBlob = Omit<IndexEntry, "pack" | "offset">;

/**
 * The associated data a blob is sealed with: its type byte (0 data, 1 tree) and its 32-byte id, so a
 * sealed blob cannot be swapped for another, nor a tree for data.
 */
export function blobAad(type: BlobType, id: string): Uint8Array {
  const out = new Uint8Array(33);
  out[0] = type === "tree" ? 1 : 0;
  out.set(decodeHex(id), 1);
  return out;
}

/** Serializes a pack header (plaintext). */
export function encodeHeader(blobs: PackBlob[]): Uint8Array {
  const out = new Uint8Array(blobs.length * HEADER_ENTRY);
  const view = new DataView(out.buffer);
  blobs.forEach((b, i) => {
    const o = i * HEADER_ENTRY;
    out[o] = b.type === "tree" ? 1 : 0;
    out[o + 1] = b.compressed ? 1 : 0;
    view.setUint32(o + 2, b.length, true);
    view.setUint32(o + 6, b.rawLength, true);
    out.set(decodeHex(b.id), o + 10);
  });
  return out;
}

/** Parses a pack header (plaintext) into entries with offsets. */
export function decodeHeader(header: Uint8Array): Omit<IndexEntry, "pack">[] {
  if (header.length % HEADER_ENTRY) throw new Error("pack header has a bad length");
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const out: Omit<IndexEntry, "pack">[] = [];
  let offset = 0;
  for (let o = 0; o < header.length; o += HEADER_ENTRY) {
    const typeByte = header[o];
    if (typeByte > 1) throw new Error("pack header has an unknown blob type");
    const type: BlobType = typeByte === 1 ? "tree" : "data";
    const length = view.getUint32(o + 2, true);
    out.push({
      id: encodeHex(header.subarray(o + 10, o + 42)),
      type,
      compressed: (header[o + 1] & 1) === 1,
      offset,
      length,
      rawLength: view.getUint32(o + 6, true),
    });
    offset += length;
  }
  return out;
}

/**
 * A pack's id: the SHA-256 of its tail — the sealed header and its u32 length. The header holds every
 * blob's id, type and lengths under an AEAD tag, and each blob is sealed with its type and id as
 * associated data, so the tail commits to the whole pack without hashing all of its bytes (1.3 CPU-s per
 * 1.6 GB saved here). `sealedHeaderLength` is the header's sealed length.
 *
 * @example
 * ```ts
 * import { packId } from "./pack.ts";
 * const pack = new Uint8Array([9, 9, 1, 2, 3, 3, 0, 0, 0]); // two blob bytes, a 3-byte "header", its length
 * packId(pack, 3).length; // 64
 * ```
 */
export function packId(bytes: Uint8Array, sealedHeaderLength: number): string {
  return sha256Hex(bytes.subarray(bytes.length - sealedHeaderLength - 4));
}

/**
 * Whether `bytes` are the pack named `id`: its tail hashes to `id` (see {@link packId}), or, for packs
 * written before tail ids, all of its bytes do.
 *
 * @example
 * ```ts
 * import { isPackNamed } from "./pack.ts";
 * isPackNamed(new Uint8Array(8), "00".repeat(32)); // false
 * ```
 */
export function isPackNamed(bytes: Uint8Array, id: string): boolean {
  if (bytes.length >= 4) {
    const hlen = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(
      bytes.length - 4,
      true,
    );
    if (hlen + 4 <= bytes.length && packId(bytes, hlen) === id) return true;
  }
  return sha256Hex(bytes) === id;
}
