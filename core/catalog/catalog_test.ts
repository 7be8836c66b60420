import { assert, assertEquals } from "../../tests/assert.ts";
import { newEngine, randomBytes, tempDir } from "../../tests/helpers.ts";
import { Engine, internals } from "../engine.ts";
import { loadPlugin } from "../registry.ts";
import type { IndexFile, Snapshot } from "../repository/types.ts";
import { Catalog, treeCachePath } from "./catalog.ts";
import { DatabaseSync } from "node:sqlite";
import { syncCatalog } from "./sync.ts";

const snapshot = (time: string, tree: string): Snapshot => ({
  version: 1,
  time,
  host: "h",
  username: "u",
  paths: ["/a", "/b"],
  tags: ["t1"],
  tree,
  source: "fs",
  program_version: "0.1.0",
});

const S1 = "51".repeat(32);
const S2 = "52".repeat(32);

Deno.test("catalog: snapshots, blobs and trees round trip (in memory and on disk)", async () => {
  const dir = await tempDir("floe-catalog-");
  try {
    for (const path of [":memory:", `${dir.path}/sub/catalog.db`]) {
      const c = Catalog.open(path);
      const index: IndexFile = {
        version: 1,
        packs: [{
          id: "aa".repeat(32),
          size: 1000,
          blobs: [
            { id: "01".repeat(32), type: "data", offset: 0, length: 100, rawLength: 80, compressed: false },
            { id: "02".repeat(32), type: "tree", offset: 100, length: 200, rawLength: 500, compressed: true },
          ],
        }],
      };
      c.transaction(() => c.addIndex("ii".repeat(32), index));
      assert(c.hasBlob("01".repeat(32)));
      assert(!c.hasBlob("03".repeat(32)));
      assertEquals(c.lookupBlob("02".repeat(32)), { ...index.packs[0].blobs[1], pack: "aa".repeat(32) });
      assertEquals(c.lookupBlob("03".repeat(32)), undefined);
      // Data blobs only: the tree blob is not counted; unknown packs are left out.
      assertEquals(c.packDataBlobs(["aa".repeat(32), "bb".repeat(32)]), new Map([["aa".repeat(32), 1]]));
      assertEquals(c.indexIds(), new Set(["ii".repeat(32)]));
      assertEquals(c.indexStats(), { blobs: 2, packs: 1, rawBytes: 580, storedBytes: 300 });
      assertEquals([...c.allBlobs()].map((b) => b.id), ["01".repeat(32), "02".repeat(32)]);

      const s1 = snapshot("2024-02-01T10:00:00.000+01:00", "71".repeat(32));
      const s2 = snapshot("2024-01-01T10:00:00.000+01:00", "72".repeat(32));
      c.addSnapshot("s1", s1);
      c.addSnapshot(S1, s1);
      c.addSnapshot(S2, s2);
      // A row that is not a snapshot id is never listed; a sync removes it (the repository lacks it).
      assertEquals(c.invalidSnapshots(), ["s1"]);
      c.removeSnapshot("s1");
      const list = c.snapshots();
      assertEquals(list.map((s) => s.id), [S2, S1], "oldest first");
      assertEquals(list[1].snapshot, s1);
      assertEquals(list[1].timeMs, Date.parse(s1.time));
      c.removeSnapshot(S2);
      assertEquals(c.snapshotIds(), new Set([S1]));

      const tree = JSON.stringify({ nodes: [{ name: "x", type: "file" as const, mode: 0o644, mtime: 5 }] });
      c.putTree("t1", tree);
      assertEquals(c.getTreeJson("t1"), tree);
      c.dropTree("t1");
      assertEquals(c.getTreeJson("t1"), undefined);
      c.setMeta("k", "v");
      assertEquals(c.getMeta("k"), "v");
      c.clearIndex();
      assert(!c.hasBlob("01".repeat(32)));
      c.close();
    }
    // Reopened from disk, the data is still there.
    const c = Catalog.open(`${dir.path}/sub/catalog.db`);
    assertEquals(c.snapshotIds(), new Set([S1]));
    assertEquals(c.getMeta("k"), "v");
    c.close();
  } finally {
    await dir.cleanup();
  }
});

async function backupDir(engine: Engine, path: string) {
  const source = await loadPlugin("source", "fs", { paths: [path] });
  return await engine.backup(source);
}

Deno.test("catalog: syncCatalog picks up new index and snapshot files and forgets removed ones", async () => {
  const dir = await tempDir("floe-catalog-");
  try {
    const data = `${dir.path}/data`;
    Deno.mkdirSync(data);
    Deno.writeFileSync(`${data}/a.bin`, randomBytes(300_000, 1));
    const writer = await newEngine(dir.path);
    const reader = await Engine.open({
      location: `${dir.path}/repo`,
      password: "test-password",
      catalogPath: `${dir.path}/cache2/catalog.db`,
    });
    try {
      assertEquals(reader.snapshots().length, 0);
      const r1 = await backupDir(writer, data);
      let res = await syncCatalog(internals(reader).repo, internals(reader).catalog);
      assertEquals(res.indexAdded, 1);
      assertEquals(res.snapshotsAdded, 1);
      assertEquals(reader.snapshots().map((s) => s.id), [r1.snapshotId]);
      // Every blob of the writer's catalog is now known to the reader.
      for (const b of internals(writer).catalog.allBlobs()) {
        assertEquals(internals(reader).catalog.lookupBlob(b.id), b);
      }

      // Nothing new: nothing read.
      res = await syncCatalog(internals(reader).repo, internals(reader).catalog);
      assertEquals([res.indexAdded, res.snapshotsAdded, res.snapshotsRemoved], [0, 0, 0]);

      Deno.writeFileSync(`${data}/b.bin`, randomBytes(200_000, 2));
      const r2 = await backupDir(writer, data);
      res = await syncCatalog(internals(reader).repo, internals(reader).catalog);
      assertEquals([res.indexAdded, res.snapshotsAdded], [1, 1]);
      assertEquals(reader.snapshots().map((s) => s.id).sort(), [r1.snapshotId, r2.snapshotId].sort());

      // A snapshot file removed (forget) is forgotten.
      await internals(writer).repo.storage.delete(`snapshots/${r1.snapshotId}`);
      res = await syncCatalog(internals(reader).repo, internals(reader).catalog);
      assertEquals(res.snapshotsRemoved, 1);
      assertEquals(reader.snapshots().map((s) => s.id), [r2.snapshotId]);

      // An index file removed: the index is re-read and its blobs forgotten.
      const indexIds = await internals(writer).repo.listIds("index");
      const second = internals(writer).catalog.indexIds();
      assertEquals(second.size, 2);
      const idx = await internals(writer).repo.loadIndex(indexIds[0]);
      await internals(writer).repo.storage.delete(`index/${indexIds[0]}`);
      res = await syncCatalog(internals(reader).repo, internals(reader).catalog);
      assert(res.rebuiltIndex);
      assertEquals(internals(reader).catalog.indexIds(), new Set([indexIds[1]]));
      for (const p of idx.packs) {
        for (const b of p.blobs) assert(!internals(reader).catalog.hasBlob(b.id), "stale blob survived");
      }
    } finally {
      await writer.close();
      await reader.close();
    }
  } finally {
    await dir.cleanup();
  }
});

Deno.test("catalog: a catalog of another repository is emptied on sync", async () => {
  const dir = await tempDir("floe-catalog-");
  try {
    const catalogPath = `${dir.path}/shared/catalog.db`;
    const data = `${dir.path}/data`;
    Deno.mkdirSync(data);
    Deno.writeTextFileSync(`${data}/f`, "hello");
    const one = await Engine.init({ location: `${dir.path}/r1`, password: "pw", catalogPath });
    await backupDir(one, data);
    await one.close();
    const two = await Engine.init({ location: `${dir.path}/r2`, password: "pw", catalogPath });
    try {
      assertEquals(two.snapshots().length, 0);
      assertEquals(internals(two).catalog.indexStats().blobs, 0);
    } finally {
      await two.close();
    }
  } finally {
    await dir.cleanup();
  }
});

Deno.test("catalog: a deleted catalog is rebuilt by Engine.open; ls and restore still work", async () => {
  const dir = await tempDir("floe-catalog-");
  try {
    const data = `${dir.path}/data`;
    Deno.mkdirSync(`${data}/sub`, { recursive: true });
    const big = randomBytes(700_000, 3);
    Deno.writeFileSync(`${data}/sub/big.bin`, big);
    Deno.writeTextFileSync(`${data}/small.txt`, "small");
    const engine = await newEngine(dir.path);
    const { snapshotId } = await backupDir(engine, data);
    const paths: string[] = [];
    for await (const e of engine.ls(engine.resolveSnapshot("latest"), data)) paths.push(e.path);
    await engine.close();

    for (const suffix of ["", "-wal", "-shm"]) {
      try {
        Deno.removeSync(`${dir.path}/cache/catalog.db${suffix}`);
      } catch { /* not there */ }
    }
    const reopened = await Engine.open({
      location: `${dir.path}/repo`,
      password: "test-password",
      catalogPath: `${dir.path}/cache/catalog.db`,
    });
    try {
      assertEquals(reopened.snapshots().map((s) => s.id), [snapshotId]);
      const snap = reopened.resolveSnapshot(snapshotId.slice(0, 10));
      const again: string[] = [];
      for await (const e of reopened.ls(snap, data)) again.push(e.path);
      assertEquals(again, paths);
      assertEquals(again, [`${data}/small.txt`, `${data}/sub`, `${data}/sub/big.bin`]);
      const target = `${dir.path}/out`;
      await reopened.restore({ snapshot: snap, subpath: data, target });
      assertEquals(Deno.readFileSync(`${target}/sub/big.bin`), big);
      assertEquals(Deno.readTextFileSync(`${target}/small.txt`), "small");
      // rebuildCatalog gives the same result and caches every tree.
      await reopened.rebuildCatalog();
      assertEquals(reopened.snapshots().map((s) => s.id), [snapshotId]);
      const treeCount =
        (internals(reopened).catalog.treesDb.prepare("SELECT count(*) AS n FROM trees").get() as {
          n: number;
        }).n;
      assert(treeCount >= 3, `trees cached: ${treeCount}`);
    } finally {
      await reopened.close();
    }
  } finally {
    await dir.cleanup();
  }
});

// Regression: several processes creating the same new catalog at once (cron and a user) used to
// interleave their schema scripts ("table meta already exists"); the schema is now made in one
// IMMEDIATE transaction with a re-check.
Deno.test({
  name: "catalog: processes opening the same new catalog at once all succeed",
  fn: async () => {
    const dir = await tempDir("floe-catalog-race-");
    try {
      const script = new URL("../../tests/fixtures/catalog_open.ts", import.meta.url).pathname;
      const failures: string[] = [];
      for (let round = 0; round < 3; round++) {
        const at = Date.now() + 2000;
        const outs = await Promise.all(Array.from({ length: 6 }, () =>
          new Deno.Command(Deno.execPath(), {
            args: ["run", "-A", "--quiet", script, `${dir.path}/r${round}/catalog.db`, String(at)],
            stdout: "piped",
            stderr: "piped",
          }).output()));
        for (const o of outs) {
          const text = new TextDecoder().decode(o.stdout).trim();
          if (text !== "ok") failures.push(text || new TextDecoder().decode(o.stderr));
        }
      }
      assertEquals(failures, []);
    } finally {
      await dir.cleanup();
    }
  },
});

Deno.test("catalog: missingBlobs answers for a whole list; complete-tree marks are forgotten with the index", () => {
  const c = Catalog.open(":memory:");
  try {
    const a = "aa".repeat(32);
    const b = "bb".repeat(32);
    assert(c.isEmpty());
    c.transaction(() =>
      c.addIndex("i1", {
        version: 1,
        packs: [{
          id: "p1",
          size: 100,
          blobs: [{ id: a, type: "data", offset: 0, length: 50, rawLength: 40, compressed: false }],
        }],
      })
    );
    assert(!c.isEmpty());
    assertEquals([...c.missingBlobs([a, b, b])], [b]);
    assertEquals(c.missingBlobs([]).size, 0);
    c.transaction(() => c.markComplete(["t1"]));
    assert(c.isComplete("t1") && !c.isComplete("t2"));
    c.transaction(() => c.clearIndex()); // blobs may have left: no tree is known complete any more
    assert(!c.isComplete("t1"));
  } finally {
    c.close();
  }
});

Deno.test("catalog: the tree cache is a private file of 64 KiB pages; a schema-2 catalog keeps its index", async () => {
  const dir = await tempDir("floe-catalog-trees-");
  try {
    // A catalog as schema 2 left it: the same tables, and the tree cache a table of the catalog's own file.
    const path = `${dir.path}/catalog.db`;
    Catalog.open(path).close();
    Deno.removeSync(treeCachePath(path));
    const old = new DatabaseSync(path);
    old.exec(`
      CREATE TABLE trees (id TEXT PRIMARY KEY, json TEXT NOT NULL) WITHOUT ROWID;
      INSERT INTO blobs VALUES ('${"01".repeat(32)}', 0, '${"aa".repeat(32)}', 0, 10, 10, 0);
      INSERT INTO trees VALUES ('t0', '{"nodes":[]}');
      PRAGMA user_version = 2;
    `);
    old.close();
    const c = Catalog.open(path);
    try {
      assert(c.hasBlob("01".repeat(32)), "the index is kept");
      assertEquals(c.getTreeJson("t0"), undefined, "the old tree cache is dropped");
      const left = c.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'trees'").get() as {
        n: number;
      };
      assertEquals(left.n, 0, "no trees table left in the catalog's file");
      assertEquals(treeCachePath(path), `${dir.path}/catalog-trees.db`);
      assertEquals(Deno.statSync(treeCachePath(path)).mode! & 0o777, 0o600);
      assertEquals((c.treesDb.prepare("PRAGMA page_size").get() as { page_size: number }).page_size, 65536);
      // Trees cached in a transaction that fails are not kept; in one that commits, they are.
      try {
        c.transaction(() => {
          c.putTree("t1", "{}");
          throw new Error("failed");
        });
      } catch { /* expected */ }
      assertEquals(c.getTreeJson("t1"), undefined);
      c.transaction(() => c.putTree("t2", "{}"));
      assertEquals(c.getTreeJson("t2"), "{}");
    } finally {
      c.close();
    }
  } finally {
    await dir.cleanup();
  }
});
