/**
 * Tree format versions: trees written before version 2 (no `version`) still read; a tree of a newer version
 * is refused naming the remedy; the version-2 fields are validated before anything uses them.
 */
import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { IntegrityError } from "../errors.ts";
import { validateTree } from "../trees.ts";
import { NewerFormatError } from "./tree_format.ts";
import type { Node, Tree } from "./types.ts";

const ID = "ab".repeat(32);
const file = (extra: Partial<Node> = {}): Node => ({
  name: "f",
  type: "file",
  mode: 0o644,
  mtime: 1,
  ...extra,
});

Deno.test("a tree without a version (written before version 2) reads as it always did", () => {
  const old: Tree = JSON.parse(
    '{"nodes":[{"name":"a","type":"file","mode":420,"mtime":5,"size":0,"content":[]}]}',
  );
  assertEquals(validateTree(old, ID), old);
});

Deno.test("a version-2 tree with every new field reads", () => {
  const t: Tree = {
    version: 2,
    nodes: [file({
      name: '"a\\xff"',
      nameBytes: "Yf8=",
      mtimeNs: "1700000000123456789",
      atimeNs: "-31535999999999877",
      ctimeNs: "1",
      btimeNs: "2",
      xattrs: [["dXNlci54", ""]],
      flags: 0x10,
    })],
  };
  assertEquals(validateTree(t, ID), t);
});

Deno.test("a tree of a newer version is refused with a message that says to upgrade", () => {
  const e = assertThrows(() => validateTree({ version: 3, nodes: [] }, ID), "format version 3");
  assert(e instanceof NewerFormatError && e.message.includes("upgrade floe"), e.message);
});

Deno.test("malformed version-2 fields are integrity errors", () => {
  const bad: Partial<Node>[] = [
    { name: '"a\\xff"', nameBytes: "YWI=" }, // bytes "ab": not what the quoted name stands for
    { name: '"\\x2f"', nameBytes: "Lw==" }, // a slash
    { name: "f", nameBytes: "!!" },
    { targetBytes: "AA==" }, // a NUL
    { mtimeNs: "1e9" },
    { xattrs: [["dXNlci54"]] as unknown as [string, string][] },
    { flags: -1 },
  ];
  for (const b of bad) {
    const e = assertThrows(() => validateTree({ version: 2, nodes: [file(b)] }, ID), "malformed");
    assert(e instanceof IntegrityError, JSON.stringify(b));
  }
  assert(
    assertThrows(() => validateTree({ version: 0, nodes: [] }, ID), "version") instanceof IntegrityError,
  );
});
