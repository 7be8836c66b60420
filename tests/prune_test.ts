/**
 * `prune` through the engine: space is reclaimed after `forget`, mostly-unused packs are repacked, and
 * backups running at the same time never lose data (markers, resurrection, the post-backup re-index).
 */
import { assert, assertEquals } from "./assert.ts";
import { hashTree, newEngine, pauseAfter, randomBytes, tempDir, waitFor } from "./helpers.ts";
import { loadPlugin } from "../core/registry.ts";
import { Engine, internals } from "../core/engine.ts";
import { check } from "../core/checker.ts";
import { acquireLock } from "../core/repository/locks.ts";
import { backup as archiverBackup } from "../core/archiver/archiver.ts";
import { indexMarkedBlobs, MARKER_DIR } from "../core/prune.ts";

function sameTree(a: Map<string, string>, b: Map<string, string>, what: string) {
  assertEquals([...a.keys()].sort(), [...b.keys()].sort(), `${what}: file names`);
  for (const [k, v] of a) assertEquals(b.get(k), v, `${what}: content of ${k}`);
}

/** A second engine on the same repository, with a catalog of its own (another machine's). */
function otherEngine(dir: string): Promise<Engine> {
  return Engine.open({
    location: `${dir}/repo`,
    password: "test-password",
    catalogPath: `${dir}/cache-other/catalog.db`,
  });
}

async function snap(engine: Engine, src: string, time?: Date): Promise<string> {
  const source = await loadPlugin("source", "fs", { paths: [src] });
  return (await engine.backup(source, { time })).snapshotId;
}

async function forgetIds(engine: Engine, ids: string[]) {
  for (const id of ids) {
    await internals(engine).repo.storage.delete(`snapshots/${id}`);
    internals(engine).catalog.removeSnapshot(id);
  }
}

async function assertRestores(
  engine: Engine,
  id: string,
  src: string,
  want: Map<string, string>,
  out: string,
) {
  await engine.restore({ snapshot: engine.resolveSnapshot(id), subpath: src, target: out });
  sameTree(want, hashTree(out), `snapshot ${id.slice(0, 8)}`);
}

async function assertClean(engine: Engine) {
  const report = await check(engine, { readData: true });
  assertEquals(report.problems, [], "check --read-data");
}

async function countObjects(engine: Engine, prefix: string): Promise<number> {
  let n = 0;
  for await (const _ of internals(engine).repo.storage.list(prefix)) n++;
  return n;
}

async function names(engine: Engine, prefix: string): Promise<string[]> {
  const out = [];
  for await (const o of internals(engine).repo.storage.list(prefix)) out.push(o.name);
  return out;
}

Deno.test({
  name: "prune: forgetting half the snapshots shrinks the repository; the rest restore identical",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-prune-");
    try {
      const engine = await newEngine(dir.path);
      try {
        const src = `${dir.path}/src`;
        Deno.mkdirSync(`${src}/shared`, { recursive: true });
        Deno.writeFileSync(`${src}/shared/a.bin`, randomBytes(1_500_000, 1));
        Deno.writeFileSync(`${src}/shared/b.txt`, new TextEncoder().encode("hello ".repeat(50_000)));
        const snaps: { id: string; want: Map<string, string> }[] = [];
        for (let i = 0; i < 6; i++) {
          try {
            Deno.removeSync(`${src}/unique`, { recursive: true });
          } catch { /* first round */ }
          Deno.mkdirSync(`${src}/unique`);
          Deno.writeFileSync(`${src}/unique/u${i}.bin`, randomBytes(800_000 + i * 1000, 100 + i));
          const id = await snap(engine, src, new Date(Date.UTC(2024, 0, 1 + i)));
          snaps.push({ id, want: hashTree(src) });
        }
        const forgotten = snaps.filter((_, i) => i % 2 === 0);
        const kept = snaps.filter((_, i) => i % 2 === 1);
        await forgetIds(engine, forgotten.map((s) => s.id));

        const dry = await engine.prune({ dryRun: true });
        assert(dry.dryRun && dry.deleted.packs > 0 && dry.sizeAfter < dry.sizeBefore, JSON.stringify(dry));
        assertEquals(await countObjects(engine, "locks/"), 0, "a dry run takes no lock");

        const r = await engine.prune();
        assert(r.deleted.packs > 0, JSON.stringify(r));
        assertEquals(r.marked.packs, 0);
        assertEquals(r.markers.written, 0);
        // About 3 × 0.8 MB of unique data (plus trees) was freed.
        assert(r.sizeBefore - r.sizeAfter > 2_000_000, `freed ${r.sizeBefore - r.sizeAfter}`);
        assert(
          Math.abs(r.sizeAfter - (dry.sizeAfter)) < 200_000,
          `dry run estimate ${dry.sizeAfter} vs ${r.sizeAfter}`,
        );
        assertEquals(await countObjects(engine, "locks/"), 0);
        assertEquals(await countObjects(engine, `${MARKER_DIR}/`), 0);
        await assertClean(engine);
        for (const [i, s] of kept.entries()) {
          await assertRestores(engine, s.id, src, s.want, `${dir.path}/out${i}`);
        }

        // A second prune finds nothing to do; a fresh catalog agrees with the repository.
        const again = await engine.prune();
        assertEquals([again.deleted.packs, again.repacked.packs, again.marked.packs], [0, 0, 0]);
        const fresh = await Engine.open({
          location: `${dir.path}/repo`,
          password: "test-password",
          catalogPath: `${dir.path}/cache2/catalog.db`,
        });
        try {
          assertEquals(internals(fresh).catalog.indexStats(), internals(engine).catalog.indexStats());
          await assertClean(fresh);
        } finally {
          await fresh.close();
        }
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});

Deno.test({
  name: "prune: a 90%-unused pack is repacked; --max-unused 100% repacks nothing",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-prune-");
    try {
      const engine = await newEngine(dir.path);
      try {
        const src = `${dir.path}/src`;
        Deno.mkdirSync(src);
        // One backup of 0.9 MB + 0.1 MB: one data pack (1 MiB packs). Then only the 0.1 MB file stays.
        Deno.writeFileSync(`${src}/big.bin`, randomBytes(900_000, 7));
        Deno.writeFileSync(`${src}/small.bin`, randomBytes(100_000, 8));
        const first = await snap(engine, src);
        Deno.removeSync(`${src}/big.bin`);
        const second = await snap(engine, src);
        const want = hashTree(src);
        await forgetIds(engine, [first]);

        const lazy = await engine.prune({ maxUnused: 1 });
        assertEquals(lazy.repacked.packs, 0, JSON.stringify(lazy));
        assert(lazy.unusedBytesAfter > 700_000, JSON.stringify(lazy));
        await assertClean(engine);

        const dry = await engine.prune({ dryRun: true });
        assertEquals(dry.repacked.packs, 1, JSON.stringify(dry));
        const r = await engine.prune();
        assertEquals(r.repacked.packs, 1, JSON.stringify(r));
        assertEquals(r.repackedInto.packs, 1);
        assert(r.repacked.blobs >= 1);
        assert(r.sizeBefore - r.sizeAfter > 700_000, `freed ${r.sizeBefore - r.sizeAfter}`);
        assert(r.unusedBytesAfter < 0.05 * r.sizeAfter, JSON.stringify(r));
        await assertClean(engine);
        await assertRestores(engine, second, src, want, `${dir.path}/out`);
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});

Deno.test({
  name: "prune: with another writer's lock it marks; a backup that deduplicated against a marked pack " +
    "resurrects it; later prunes delete the rest",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-prune-");
    try {
      const engine = await newEngine(dir.path);
      const other = await otherEngine(dir.path);
      try {
        const src = `${dir.path}/src`;
        Deno.mkdirSync(src);
        Deno.writeFileSync(`${src}/keep.bin`, randomBytes(600_000, 11));
        Deno.writeFileSync(`${src}/gone.bin`, randomBytes(1_200_000, 12));
        const first = await snap(engine, src);
        const wantFirst = hashTree(src);
        Deno.removeSync(`${src}/gone.bin`);
        await snap(engine, src);
        await forgetIds(engine, [first]);

        // A "running backup": its catalog was synced before prune, and it holds a shared lock.
        const { syncCatalog } = await import("../core/catalog/sync.ts");
        await syncCatalog(internals(other).repo, internals(other).catalog);
        const lock = await acquireLock(internals(other).repo, { exclusive: false, purpose: "backup" });
        const packsBefore = await names(engine, "data/");
        const r1 = await engine.prune();
        assert(r1.marked.packs > 0, JSON.stringify(r1));
        assertEquals(r1.deleted.packs, 0);
        assertEquals(r1.markers.written, 1);
        assertEquals(r1.otherLocks, [lock.name]);
        const packsAfter = new Set(await names(engine, "data/"));
        assert(packsBefore.every((p) => packsAfter.has(p)), "nothing deleted while a writer runs");
        await assertClean(engine);

        // The running backup now deduplicates gone.bin against the marked pack (its old catalog).
        Deno.writeFileSync(`${src}/gone.bin`, randomBytes(1_200_000, 12));
        const source = await loadPlugin("source", "fs", { paths: [src] });
        const b = await archiverBackup({
          repo: internals(other).repo,
          catalog: internals(other).catalog,
          source,
          parent: null,
        });
        assertEquals(b.snapshot.summary!.data_blobs, 0, "everything deduplicated");
        // A prune while the lock is still held: the marker is not ripe, but the new snapshot's blobs
        // are indexed again at once (resurrection of referenced marked packs).
        await lock.release();

        const r2 = await engine.prune();
        assert(r2.resurrected.packs >= 1, JSON.stringify(r2));
        assertEquals(r2.markers.processed, 1);
        assertEquals(r2.markers.pending, 0);
        assert(r2.deletedFromMarkers.packs > 0, JSON.stringify(r2)); // old tree packs, the repacked one
        assertEquals(await countObjects(engine, `${MARKER_DIR}/`), 0);
        await assertClean(engine);
        await assertRestores(engine, b.snapshotId, src, wantFirst, `${dir.path}/out1`);

        // Without other locks, dropped packs go in the same run.
        await forgetIds(engine, [b.snapshotId]);
        const r3 = await engine.prune();
        assert(r3.deleted.packs > 0 && r3.marked.packs === 0, JSON.stringify(r3));
        await assertClean(engine);
      } finally {
        await other.close();
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});

Deno.test({
  name: "prune: a backup finishing after prune marked re-indexes the marked packs it used at once",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-prune-");
    try {
      const engine = await newEngine(dir.path);
      const other = await otherEngine(dir.path);
      try {
        const src = `${dir.path}/src`;
        Deno.mkdirSync(src);
        Deno.writeFileSync(`${src}/x.bin`, randomBytes(700_000, 21));
        const first = await snap(engine, src);
        const want = hashTree(src);
        Deno.removeSync(`${src}/x.bin`);
        Deno.writeFileSync(`${src}/y.bin`, randomBytes(300_000, 22));
        await snap(engine, src);
        await forgetIds(engine, [first]);
        const { syncCatalog } = await import("../core/catalog/sync.ts");
        await syncCatalog(internals(other).repo, internals(other).catalog);
        const lock = await acquireLock(internals(other).repo, { exclusive: false, purpose: "backup" });
        try {
          const r1 = await engine.prune();
          assert(r1.marked.packs > 0, JSON.stringify(r1));
          Deno.removeSync(`${src}/y.bin`);
          Deno.writeFileSync(`${src}/x.bin`, randomBytes(700_000, 21));
          const source = await loadPlugin("source", "fs", { paths: [src] });
          const b = await archiverBackup({
            repo: internals(other).repo,
            catalog: internals(other).catalog,
            source,
            parent: null,
          });
          // What Engine.backup does after writing the snapshot, under its lock:
          const n = await indexMarkedBlobs(internals(other).repo, internals(other).catalog, [
            b.snapshot.tree,
          ]);
          assert(n >= 1, `re-indexed ${n}`);
          const { syncCatalog: s2 } = await import("../core/catalog/sync.ts");
          await s2(internals(engine).repo, internals(engine).catalog);
          await assertClean(engine);
          await assertRestores(engine, b.snapshotId, src, want, `${dir.path}/out`);
        } finally {
          await lock.release();
        }
        const r2 = await engine.prune();
        assertEquals(r2.markers.processed, 1);
        await assertClean(engine);
      } finally {
        await other.close();
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});

Deno.test({
  name: "prune: a prune while a backup runs drops the backup's mid-run index; the backup indexes again " +
    "what its snapshot needs",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await tempDir("floe-prune-");
    try {
      const engine = await newEngine(dir.path);
      const other = await otherEngine(dir.path);
      try {
        const src = `${dir.path}/src`;
        Deno.mkdirSync(src);
        for (let i = 0; i < 32; i++) Deno.writeFileSync(`${src}/f${i}`, randomBytes(200_000, 40 + i));
        const want = hashTree(src);
        const fs = await loadPlugin("source", "fs", { paths: [src] });
        let pruned: Awaited<ReturnType<Engine["prune"]>> | undefined;
        // After 24 of 32 files, once the backup has written an index file (no snapshot names its packs
        // yet), prune runs.
        const source = pauseAfter(fs, 24, async () => {
          await waitFor(async () => (await internals(engine).repo.listIds("index")).length > 0);
          pruned = await other.prune();
        });
        const b = await engine.backup(source, { indexEvery: 6 });
        assert(pruned, "prune ran during the backup");
        assert(pruned.marked.packs > 0, JSON.stringify(pruned)); // the backup's lock: marked, not deleted
        await assertClean(engine);
        await assertRestores(engine, b.snapshotId, src, want, `${dir.path}/out1`);
        // Once the backup's lock is gone, a later prune processes the marker and keeps what the snapshot needs.
        const r2 = await other.prune();
        assertEquals(r2.markers.processed, 1);
        await assertClean(other);
        await assertRestores(other, b.snapshotId, src, want, `${dir.path}/out2`);
      } finally {
        await other.close();
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});
