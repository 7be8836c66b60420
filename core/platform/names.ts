/**
 * File names as bytes: strict UTF-8 checks, joining byte paths, and a readable, reversible text form
 * for names that are not UTF-8 (or that would garble a line of output).
 *
 * Linux names are any bytes but NUL and `/`. A name that is valid UTF-8 is stored and shown as a
 * string; one that is not must travel as bytes. {@link quoteName} gives such a name a text form in the
 * manner of git's `core.quotePath`: the name is put in double quotes and every byte that is not part
 * of a valid UTF-8 sequence, every control character (U+0000–U+001F, U+007F), `"` and `\` are
 * escaped (`\xNN`, `\"`, `\\`); valid UTF-8 characters stay as they are. Names that need none of
 * this and do not begin with `"` are shown unchanged. {@link unquoteName} inverts it exactly, so
 * the form can be typed back (e.g. a path to restore).
 *
 * ```text
 * bytes 62 61 64 ff 2e 74 78 74   →  "bad\xff.txt"
 * bytes "été.txt" (valid UTF-8)   →  été.txt
 * a name "x" (quotes in it)       →  "\"x\""
 * a name with a newline           →  "a\x0ab"
 * ```
 *
 * @module
 */
import { FloeError } from "../errors.ts";

const encoder = new TextEncoder();
/** Throws on bytes that are not UTF-8; keeps a BOM (names must round-trip exactly). */
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Strict UTF-8 validity check (a `TextDecoder` with `fatal: true`). A file name for which this is
 * false cannot be handled by Deno's fs API and must go through the byte-path functions here.
 *
 * @example
 * ```ts
 * import { isUtf8 } from "./names.ts";
 * isUtf8(new TextEncoder().encode("héllo")); // true
 * isUtf8(new Uint8Array([0x62, 0x61, 0x64, 0xff])); // false
 * ```
 */
export function isUtf8(bytes: Uint8Array): boolean {
  return decodeUtf8(bytes) !== null;
}

/**
 * Strictly decodes UTF-8: the string, or `null` when `bytes` is not valid UTF-8. Use it instead of
 * {@link isUtf8} followed by a second decode.
 *
 * @example
 * ```ts
 * import { decodeUtf8, readDirRaw } from "./names.ts";
 * for (const e of readDirRaw("/tmp")) {
 *   const name = decodeUtf8(e.name); // null → needs the byte-path API
 *   console.log(name ?? e.name);
 * }
 * ```
 */
export function decodeUtf8(bytes: Uint8Array): string | null {
  // Fast path: pure ASCII needs no decoder and cannot be invalid.
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii && bytes.length < 64) return String.fromCharCode(...bytes);
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * Joins a directory path and an entry name as bytes (`dir + "/" + name`), for walking trees whose
 * names may not be UTF-8.
 *
 * @example
 * ```ts
 * import { joinBytes, lstatNs, readDirRaw } from "./names.ts";
 * for (const e of readDirRaw("/tmp")) lstatNs(joinBytes("/tmp", e.name));
 * ```
 */
export function joinBytes(dir: string | Uint8Array, name: Uint8Array): Uint8Array {
  const d = typeof dir === "string" ? encoder.encode(dir) : dir;
  const dl = d.length > 0 && d[d.length - 1] === 0 ? d.length - 1 : d.length;
  const slash = dl > 0 && d[dl - 1] === 0x2f ? 0 : 1;
  const out = new Uint8Array(dl + slash + name.length);
  out.set(d.subarray(0, dl));
  if (slash) out[dl] = 0x2f;
  out.set(name, dl + slash);
  return out;
}
/**
 * Length of the valid UTF-8 sequence starting at `b[i]`, or 0 when the byte there does not start
 * one (the WHATWG decoder's rules: no overlongs, no surrogates, nothing above U+10FFFF).
 */
function seqLen(b: Uint8Array, i: number): number {
  const b0 = b[i];
  if (b0 < 0x80) return 1;
  const cont = (j: number, lo = 0x80, hi = 0xbf) => i + j < b.length && b[i + j] >= lo && b[i + j] <= hi;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const ok = b0 === 0xe0 ? cont(1, 0xa0) : b0 === 0xed ? cont(1, 0x80, 0x9f) : cont(1);
    return ok && cont(2) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const ok = b0 === 0xf0 ? cont(1, 0x90) : b0 === 0xf4 ? cont(1, 0x80, 0x8f) : cont(1);
    return ok && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

const HEX = "0123456789abcdef";

/** Whether the valid UTF-8 name `s` can be shown as it is. */
function plain(s: string): boolean {
  if (s.charCodeAt(0) === 0x22) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

/**
 * The readable, reversible text form of a file name or path (see the module doc): unchanged when it
 * is valid UTF-8 without control characters and does not begin with `"`, else double-quoted with
 * `\xNN`, `\"` and `\\` escapes. {@link unquoteName} gives the bytes back.
 *
 * @example
 * ```ts
 * import { quoteName } from "./names.ts";
 * quoteName(new Uint8Array([0x62, 0x61, 0x64, 0xff])); // '"bad\\xff"'
 * quoteName(new TextEncoder().encode("été")); // "été"
 * ```
 */
export function quoteName(name: Uint8Array | string): string {
  const s = typeof name === "string" ? name : decodeUtf8(name);
  if (s !== null && plain(s)) return s;
  const b = typeof name === "string" ? encoder.encode(name) : name;
  let out = '"';
  for (let i = 0; i < b.length;) {
    const n = seqLen(b, i);
    const c = b[i];
    if (n === 0 || c < 0x20 || c === 0x7f) {
      out += "\\x" + HEX[c >> 4] + HEX[c & 15];
      i++;
    } else if (c === 0x22 || c === 0x5c) {
      out += "\\" + String.fromCharCode(c);
      i++;
    } else {
      out += strictDecoder.decode(b.subarray(i, i + n));
      i += n;
    }
  }
  return out + '"';
}

/**
 * The bytes of a name in the form {@link quoteName} gives. Throws a {@link FloeError} (usage) on a
 * quoted form that is not well made: no closing quote, an unknown escape, a bad `\x` digit.
 *
 * @example
 * ```ts
 * import { quoteName, unquoteName } from "./names.ts";
 * const bytes = new Uint8Array([0x62, 0xff]);
 * unquoteName(quoteName(bytes)); // Uint8Array [0x62, 0xff]
 * unquoteName("plain.txt"); // the UTF-8 bytes of "plain.txt"
 * ```
 */
export function unquoteName(text: string): Uint8Array {
  if (!text.startsWith('"')) return encoder.encode(text);
  const bad = (why: string) =>
    new FloeError(`not a quoted file name (${why}): ${JSON.stringify(text)}`, "usage");
  if (text.length < 2 || !text.endsWith('"')) throw bad("no closing quote");
  const out: number[] = [];
  const body = text.slice(1, -1);
  for (let i = 0; i < body.length;) {
    const ch = body[i];
    if (ch === '"') throw bad("unescaped quote");
    if (ch !== "\\") {
      const cp = body.codePointAt(i)!;
      const len = cp > 0xffff ? 2 : 1;
      out.push(...encoder.encode(body.slice(i, i + len)));
      i += len;
      continue;
    }
    const e = body[i + 1];
    if (e === "\\" || e === '"') {
      out.push(e.charCodeAt(0));
      i += 2;
    } else if (e === "x" && /^[0-9a-fA-F]{2}$/.test(body.slice(i + 2, i + 4))) {
      out.push(parseInt(body.slice(i + 2, i + 4), 16));
      i += 4;
    } else {
      throw bad(e === undefined ? "trailing backslash" : `unknown escape \\${e}`);
    }
  }
  return new Uint8Array(out);
}
