/**
 * Tests of names.ts: strict UTF-8, and the quoted form of names that are not UTF-8 — readable and
 * exactly reversible.
 *
 * @module
 */
import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { FloeError } from "../errors.ts";
import { decodeUtf8, quoteName, unquoteName } from "./names.ts";
import { bytes } from "./_test_fs.ts";

const enc = new TextEncoder();

Deno.test("quoteName leaves plain UTF-8 names alone", () => {
  for (const s of ["a.txt", "été", "日本語 🎉", "with space", "back\\slash", 'mid"quote', "\uFEFFbom", ""]) {
    assertEquals(quoteName(enc.encode(s)), s);
    assertEquals(quoteName(s), s);
    assertEquals(unquoteName(s), enc.encode(s));
  }
});

Deno.test("quoteName quotes names that are not UTF-8, have control characters or begin with a quote", () => {
  assertEquals(quoteName(bytes("bad", [0xff], ".txt")), '"bad\\xff.txt"');
  assertEquals(quoteName(bytes("été", [0xe9])), '"été\\xe9"'); // valid part kept, Latin-1 é escaped
  assertEquals(quoteName(bytes([0xc0, 0xaf])), '"\\xc0\\xaf"'); // overlong "/"
  assertEquals(quoteName(bytes([0xed, 0xa0, 0x80])), '"\\xed\\xa0\\x80"'); // surrogate
  assertEquals(quoteName(bytes([0xf4, 0x90, 0x80, 0x80])), '"\\xf4\\x90\\x80\\x80"'); // > U+10FFFF
  assertEquals(quoteName(bytes([0xe6, 0x97])), '"\\xe6\\x97"'); // truncated
  assertEquals(quoteName("a\nb"), '"a\\x0ab"');
  assertEquals(quoteName("tab\there\x7f"), '"tab\\x09here\\x7f"');
  assertEquals(quoteName('"x"'), '"\\"x\\""');
  assertEquals(quoteName(bytes("a\\b", [0x80])), '"a\\\\b\\x80"');
});

Deno.test("unquoteName inverts quoteName for every byte value and for random byte strings", () => {
  for (let b = 1; b < 256; b++) {
    for (const name of [bytes([b]), bytes("x", [b], "y"), bytes([b, b]), bytes("é", [b])]) {
      const q = quoteName(name);
      assertEquals(unquoteName(q), name, q);
      // The quoted form is valid text with no control characters.
      assert(![...q].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f), q);
    }
  }
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 16;
  for (let i = 0; i < 3000; i++) {
    const len = rand() % 24;
    const name = new Uint8Array(len).map(() => {
      const r = rand() % 4;
      return r === 0 ? 0x80 + rand() % 0x80 : r === 1 ? 0xc0 + rand() % 0x40 : rand() % 256;
    });
    const q = quoteName(name);
    assertEquals(unquoteName(q), name, q);
    // Quoting happens exactly when the plain form would be ambiguous or not the bytes.
    const s = decodeUtf8(name);
    const plain = s !== null && !s.startsWith('"') && ![...s].some((c) => c < "\x20" || c === "\x7f");
    assertEquals(q === s, plain, q);
  }
});

Deno.test("unquoteName rejects malformed quoted forms with a usage error", () => {
  for (const bad of ['"abc', '"', '"a\\q"', '"a\\x4"', '"a\\xzz"', '"a"b"', '"trailing\\"']) {
    const e = assertThrows(() => unquoteName(bad), "not a quoted file name");
    assert(e instanceof FloeError, bad);
  }
  assertEquals(unquoteName('"\\x41\\x4A"'), enc.encode("AJ")); // either case of hex digits
  assertEquals(unquoteName('""'), new Uint8Array(0));
});
