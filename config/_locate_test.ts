/**
 * Tests for config/_locate.ts: the forms of TOML whose keys it must find.
 *
 * @module
 */
import { assertEquals } from "../tests/assert.ts";
import { locateKeys, pathKey, positionOf } from "./_locate.ts";

Deno.test("headers, dotted and quoted keys, inline tables, arrays, multi-line strings, comments", () => {
  const text = [
    '# a = "not a key"', // 1
    'title = """', // 2
    "[not.a.header]", // 3
    'x = 1"""', // 4
    '[jobs."my job"]  # comment', // 5
    "keep.daily = 7", // 6
    'hooks = { before = "a, }", after = "b" }', // 7
    "paths = [", // 8
    '  "/a", # first', // 9
    '  "/b",', // 10
    "]", // 11
    "[[list]]", // 12
    "v = 1", // 13
    "[[list]]", // 14
    "v = 'it''s'", // 15
  ].join("\n");
  const at = locateKeys(text);
  const line = (...p: (string | number)[]) => at.get(pathKey(p))?.line;
  assertEquals(line("title"), 2);
  assertEquals(line("not"), undefined);
  assertEquals(line("jobs", "my job"), 5);
  assertEquals(line("jobs", "my job", "keep", "daily"), 6);
  assertEquals(at.get(pathKey(["jobs", "my job", "hooks", "after"])), { line: 7, column: 28 });
  assertEquals(line("jobs", "my job", "paths", 1), 10);
  assertEquals(line("list", 0, "v"), 13);
  assertEquals(line("list", 1, "v"), 15);
  // A key that is not written falls back to its nearest written ancestor.
  assertEquals(positionOf(at, ["jobs", "my job", "schedule"])?.line, 5);
});
