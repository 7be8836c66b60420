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
