import { assert, assertEquals } from "../../tests/assert.ts";
import type { SourceEntry } from "../contracts.ts";
import type { Node } from "../repository/types.ts";
import { nodeOf, sameAsOld, sameNodes, withAttributes } from "./_nodes.ts";

/** An unchanged file as the fs source gives it (with fidelity). */
function entry(over: Partial<SourceEntry> = {}): SourceEntry {
  return {
    path: "/d/f",
    type: "file",
    size: 10,
    mtime: 1_700_000_000_123,
    ctime: 1_700_000_000_123.456,
    mode: 0o644,
    uid: 1000,
    gid: 1000,
    inode: 42,
    device: 2049,
    links: 1,
    mtimeNs: "1700000000123456789",
    atimeNs: "1700000000999000000",
    ctimeNs: "1700000000123456789",
    btimeNs: "1700000000000000001",
    attributes: () => ({ xattrs: [[new TextEncoder().encode("user.a"), new Uint8Array([1])]] }),
    ...over,
  };
}

/** The node the general way makes for the unchanged `e` with `old` as its parent's node. */
function general(e: SourceEntry, old: Node | undefined): Node {
  const n = nodeOf(e, "f");
  withAttributes(n, e, old, () => {});
  n.content = old?.content ?? ["cc".repeat(32)];
  return n;
}

Deno.test("sameAsOld: true exactly when the general way would make the parent's node again", () => {
  const old = general(entry(), undefined);
  assert(old.xattrs, "the attributes were read");
  assert(sameAsOld(old, entry(), "f"));
  assert(sameNodes([old], new Map([["f", old]])), "the parent's node itself compares at a glance");
  const variants: [string, Partial<SourceEntry>][] = [
    ["atime", { atimeNs: "1700000001000000000" }],
    ["btime", { btimeNs: "1700000000000000002" }],
    ["mode", { mode: 0o600 }],
    ["uid", { uid: 0 }],
    ["gid", { gid: 0 }],
    ["links", { links: 2 }],
    ["device", { device: 1 }],
    ["ctime ns (an attribute written)", { ctimeNs: "1700000000123456790" }],
    ["inode", { inode: 43 }],
    ["no attributes (--no-xattrs)", { attributes: undefined }],
    ["no ns times", { mtimeNs: undefined, atimeNs: undefined, ctimeNs: undefined, btimeNs: undefined }],
    ["a change token", { changeToken: "v1" }],
    ["raw name bytes", { nameBytes: new Uint8Array([0xff]) }],
    ["meta", { meta: { "content-type": "text/plain" } }],
    ["nothing", {}],
  ];
  const differs = ["atime", "btime", "mode", "uid", "gid", "links", "device", "no attributes (--no-xattrs)"];
  for (const [what, over] of variants) {
    const e = entry(over);
    const same = sameAsOld(old, e, "f");
    const again = JSON.stringify(general(e, old));
    // Whenever the parent's node is reused, it is byte for byte the node the general way makes.
    if (same) assertEquals(again, JSON.stringify(old), `${what}: said same, but the node differs`);
    if (what === "nothing") assert(same, "an unchanged entry reuses the parent's node");
    if (differs.includes(what)) {
      assert(!same && again !== JSON.stringify(old), `${what}: the node differs, so it is not reused`);
    }
  }
  // A key the run would not write (a field of another version, say) keeps the general way.
  assert(!sameAsOld({ ...old, rdev: 5 }, entry(), "f"));
  assert(!sameAsOld(old, entry(), "g"), "another name");
});
