import { assertEquals, assertThrows } from "../tests/assert.ts";
import { IntegrityError } from "./errors.ts";
import type { Tree } from "./repository/types.ts";
import { validateTree } from "./trees.ts";

const tree = (...names: string[]): Tree => ({
  nodes: names.map((name) => ({ name, type: "file" as const, mode: 0o644, mtime: 0 })),
});

Deno.test("validateTree: a name twice is refused in any order; sorted and unsorted unique names pass", () => {
  for (
    const names of [["a", "a"], ["a", "b", "a"], ["b", "a", "b"], ["c", "b", "a", "c"], ["a", "c", "b", "b"]]
  ) {
    const e = assertThrows(() => validateTree(tree(...names), "00".repeat(32)), "twice");
    assertEquals(e instanceof IntegrityError, true, names.join(","));
  }
  for (const names of [[], ["a"], ["a", "b", "c"], ["c", "a", "b"], ["a", "c", "b"]]) {
    assertEquals(validateTree(tree(...names), "00".repeat(32)).nodes.length, names.length);
  }
});
