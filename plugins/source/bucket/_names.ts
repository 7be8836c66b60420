/**
 * How object keys become snapshot paths and back, losslessly.
 *
 * An object `key` of bucket `b` is the file `/b/<n1>/<n2>/…/<nk>` where `key` split on `/` gives the
 * segments `s1 … sk` and each name `ni` is `encodeSegment(si)`:
 *
 * - a `%` of the key is written `%25` and a NUL `%00`; nothing else is escaped (spaces, `#`, `?`, `+`,
 *   `&`, `=`, emoji, and names longer than 255 bytes stay as they are);
 * - a bare `%` at the end of a name is a marker that decodes to nothing: it makes names that a tree
 *   cannot hold valid (the empty segment of `dir//double` or `trailing/` is `%`, `.` is `.%`, `..` is
 *   `..%`), and it tells apart an object from a "directory" of the same name (objects `a` and `a/b`:
 *   `a` is the directory, the object `a` is the file `a%`);
 * - with `versions=all`, a version that is not the latest is the file `<name>%@<escaped version id>`
 *   beside the latest one; a delete marker is an empty file whose `meta.kind` is `delete-marker`.
 *
 * Decoding drops the `%@…` suffix, then the trailing markers, then turns `%XX` back into its character.
 *
 * Restored to a directory, a name longer than 255 UTF-8 bytes is cut to 200 bytes and ends with
 * `%~` and 16 hex digits of the SHA-256 of the full name ({@link fsSafeName}); the metadata manifest
 * keeps the full key.
 *
 * @example
 * ```ts
 * import { decodeKey, encodeKey } from "./_names.ts";
 * encodeKey("x/../y//z/"); // ["x", "..%", "y", "%", "z", "%"]
 * decodeKey(["x", "..%", "y", "%", "z", "%"]); // "x/../y//z/"
 * ```
 * @module
 */
import { createHash } from "node:crypto";

/**
 * The tree name of one key segment.
 *
 * @example
 * ```ts
 * import { encodeSegment } from "./_names.ts";
 * encodeSegment("pct%20lit.txt"); // "pct%2520lit.txt"
 * ```
 */
export function encodeSegment(segment: string): string {
  const escaped = segment.replace(/[%\0]/g, (c) => (c === "%" ? "%25" : "%00"));
  return escaped === "" || escaped === "." || escaped === ".." ? `${escaped}%` : escaped;
}

/**
 * The key segment of a tree name (see the module's rules).
 *
 * @example
 * ```ts
 * import { decodeSegment } from "./_names.ts";
 * decodeSegment("a%"); // "a"
 * ```
 */
export function decodeSegment(name: string): string {
  const at = name.indexOf("%@");
  const base = (at < 0 ? name : name.slice(0, at)).replace(/%+$/, "");
  return base.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * The names of a key's segments.
 *
 * @example
 * ```ts
 * import { encodeKey } from "./_names.ts";
 * encodeKey("a/b"); // ["a", "b"]
 * ```
 */
export function encodeKey(key: string): string[] {
  return key.split("/").map(encodeSegment);
}

/**
 * The key of a path's names (relative to the bucket).
 *
 * @example
 * ```ts
 * import { decodeKey } from "./_names.ts";
 * decodeKey(["dir", "%", "double"]); // "dir//double"
 * ```
 */
export function decodeKey(names: readonly string[]): string {
  return names.map(decodeSegment).join("/");
}

/**
 * The file name of a version that is not the latest one.
 *
 * @example
 * ```ts
 * import { versionName } from "./_names.ts";
 * versionName("a.txt", "3HL4kqtJlcpXroDTDmJ"); // "a.txt%@3HL4kqtJlcpXroDTDmJ"
 * ```
 */
export function versionName(name: string, versionId: string): string {
  return `${name}%@${
    versionId.replace(/[%/\0]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`)
  }`;
}

/**
 * The version id in a name made by {@link versionName}, if any.
 *
 * @example
 * ```ts
 * import { versionOf } from "./_names.ts";
 * versionOf("a.txt%@v1"); // "v1"
 * ```
 */
export function versionOf(name: string): string | undefined {
  const at = name.indexOf("%@");
  if (at < 0) return undefined;
  return name.slice(at + 2).replace(
    /%([0-9A-Fa-f]{2})/g,
    (_, h: string) => String.fromCharCode(parseInt(h, 16)),
  );
}

const encoder = new TextEncoder();

/**
 * A name a file system takes (at most 255 UTF-8 bytes): longer ones are cut at 200 bytes (on a
 * character boundary) and end with `%~` and 16 hex digits of the SHA-256 of the whole name.
 *
 * @example
 * ```ts
 * import { fsSafeName } from "./_names.ts";
 * fsSafeName("x".repeat(300)).length; // 218
 * ```
 */
export function fsSafeName(name: string): string {
  if (encoder.encode(name).length <= 255) return name;
  let cut = "";
  let bytes = 0;
  for (const ch of name) {
    const n = encoder.encode(ch).length;
    if (bytes + n > 200) break;
    cut += ch;
    bytes += n;
  }
  return `${cut}%~${createHash("sha256").update(name).digest("hex").slice(0, 16)}`;
}

/**
 * Compares two strings in UTF-8 byte order (the order of S3 and Swift listings), which differs from
 * JavaScript's UTF-16 order for characters above U+FFFF.
 *
 * @example
 * ```ts
 * import { compareBytes } from "./_names.ts";
 * compareBytes("\uFFFD", "😀"); // -1
 * ```
 */
export function compareBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (0xD800–0xDFFF) stand for code points above every BMP character.
    const sx = x >= 0xd800 && x <= 0xdfff ? x + 0x10000 : x;
    const sy = y >= 0xd800 && y <= 0xdfff ? y + 0x10000 : y;
    return sx < sy ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}
