/**
 * Entries stamped with a `changeToken` (bucket objects): an unchanged stamp reuses the parent's content
 * and metadata without opening the entry; a changed stamp, size or mtime reads it again; `meta` set
 * during `open()` is recorded; stamped entries are opened ahead of their turn and read back in order.
 */
import { assert, assertEquals } from "../../tests/assert.ts";
import { newEngine, tempDir } from "../../tests/helpers.ts";
import type { ContentReader, SourceEntry, SourcePlugin } from "../contracts.ts";

interface Obj {
  data: string;
  token: string;
  mtime: number;
}

/** A source over an in-memory "bucket" that counts opens and fills `meta` when opened. */
function bucketLike(objects: Map<string, Obj>, opened: string[]): SourcePlugin {
  return {
    kind: "source",
    name: "memory",
    apiVersion: 1,
    paths: ["/b"],
    *scan() {
      yield { path: "/b", type: "dir", size: 0, mtime: 0, mode: 0o755, meta: { kind: "bucket" } };
      for (const [name, o] of [...objects].sort(([a], [b]) => a < b ? -1 : 1)) {
        const bytes = new TextEncoder().encode(o.data);
        const entry: SourceEntry & { meta?: Record<string, string> } = {
          path: `/b/${name}`,
          type: "file",
          size: bytes.length,
          mtime: o.mtime,
          mode: 0o644,
          changeToken: o.token,
          open(): ContentReader {
            opened.push(name);
            entry.meta = { "content-type": `text/${o.token}` };
            let done = false;
            return {
              read(into) {
                if (done) return null;
                done = true;
                into.set(bytes);
                return bytes.length;
              },
              close() {},
            };
          },
        };
        yield entry;
      }
    },
  };
}

Deno.test({
  name: "archiver: a matching change token reuses content and meta without open(); a new one reads",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-token-");
    try {
      const engine = await newEngine(dir.path);
      try {
        const objects = new Map<string, Obj>();
        for (let i = 0; i < 20; i++) {
          objects.set(`o${i}`, { data: `object ${i}`, token: `e${i}`, mtime: 1000 });
        }
        const opened: string[] = [];
        const first = await engine.backup(bucketLike(objects, opened));
        assertEquals(first.warnings, []);
        assertEquals(opened.length, 20);
        assertEquals(opened, [...objects.keys()].sort(), "read in scan order");

        objects.set("o3", { data: "object 3", token: "e3-changed", mtime: 1000 }); // same size and mtime
        objects.set("o4", { data: "object 4!", token: "e4", mtime: 1000 }); // same token, other size
        objects.set("o5", { data: "object 5", token: "e5", mtime: 2000 }); // same token, other mtime
        objects.delete("o6");
        opened.length = 0;
        const second = await engine.backup(bucketLike(objects, opened));
        assertEquals(opened.sort(), ["o3", "o4", "o5"]);
        assertEquals(second.snapshot.summary!.files_unmodified, 16);
        assertEquals(second.snapshot.summary!.files_changed, 3);

        const nodes = new Map<string, { meta?: Record<string, string>; changeToken?: string }>();
        for await (const { path, node } of engine.ls(engine.resolveSnapshot(second.snapshotId), "/")) {
          nodes.set(path, node);
        }
        assertEquals(nodes.get("/b")?.meta, { kind: "bucket" });
        assertEquals(nodes.get("/b/o1")?.meta, { "content-type": "text/e1" }, "kept from the parent");
        assertEquals(nodes.get("/b/o1")?.changeToken, "e1");
        assertEquals(nodes.get("/b/o3")?.meta, { "content-type": "text/e3-changed" }, "read again");
        assert(!nodes.has("/b/o6"), "a deleted object is gone");
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});
