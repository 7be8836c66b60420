import { assert, assertEquals } from "../../../tests/assert.ts";
import {
  compareBytes,
  decodeKey,
  decodeSegment,
  encodeKey,
  encodeSegment,
  fsSafeName,
  versionName,
  versionOf,
} from "./_names.ts";

/** The keys issue #23 names, and a few more that tempt a naive mapping. */
const EXOTIC_KEYS = [
  "a",
  "a/b",
  "a!c",
  "dir//double",
  "trailing/",
  "x/../y",
  "x/./z",
  "#hash",
  "a+b=c&d?.txt",
  "pct%20lit.txt",
  "100%",
  "with space.txt",
  " lead and trail ",
  "emoji 😀/ünïcödé.txt",
  "%",
  "%%/%25",
  `long/${"é".repeat(460)}`,
];

Deno.test("bucket names: every key maps to valid names and back", () => {
  for (const key of EXOTIC_KEYS) {
    const names = encodeKey(key);
    for (const n of names) {
      assert(n !== "" && n !== "." && n !== ".." && !n.includes("/") && !n.includes("\0"), `${key}: ${n}`);
    }
    assertEquals(decodeKey(names), key);
  }
  assertEquals(encodeKey("x/../y//z/"), ["x", "..%", "y", "%", "z", "%"]);
  assertEquals(encodeSegment("pct%20lit.txt"), "pct%2520lit.txt");
  // The marker told apart from a literal %: an object renamed beside a same-named "directory".
  assertEquals(decodeSegment(`${encodeSegment("a")}%`), "a");
  assertEquals(decodeSegment(`${encodeSegment("100%")}%`), "100%");
  assertEquals(decodeSegment(`${encodeSegment("")}%`), "");
});

Deno.test("bucket names: versions, file-system names, byte order", () => {
  const v = versionName(encodeSegment("a/b".split("/")[1]), "v/1%x");
  assertEquals(versionOf(v), "v/1%x");
  assertEquals(decodeSegment(v), "b");
  assertEquals(versionOf("b"), undefined);
  const long = "é".repeat(200);
  const safe = fsSafeName(long);
  assert(new TextEncoder().encode(safe).length <= 255);
  assert(safe.includes("%~"));
  assert(fsSafeName(long) !== fsSafeName(`${long}x`));
  assertEquals(fsSafeName("short"), "short");
  assertEquals(compareBytes("\uFFFD", "😀"), -1);
  assertEquals(compareBytes("a/", "a!"), 1);
  assertEquals(compareBytes("a", "a"), 0);
});
