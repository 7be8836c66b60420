import { internals } from "../engine.ts";
import { assertEquals } from "../../tests/assert.ts";
import { newEngine, randomBytes, tempDir } from "../../tests/helpers.ts";
import { StorageError, type StoragePlugin } from "../contracts.ts";
import { loadPlugin } from "../registry.ts";
import { Catalog } from "./catalog.ts";
import { syncCatalog } from "./sync.ts";

Deno.test({
  name: "syncCatalog: an index file listed but gone when read (a concurrent prune) makes it list again",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-sync-");
    try {
      Deno.mkdirSync(`${dir.path}/src`);
      Deno.writeFileSync(`${dir.path}/src/f`, randomBytes(100_000, 3));
      const engine = await newEngine(dir.path);
      try {
        await engine.backup(await loadPlugin("source", "fs", { paths: [`${dir.path}/src`] }));
        const storage = internals(engine).repo.storage as StoragePlugin & { get: StoragePlugin["get"] };
        const get = storage.get.bind(storage);
        let vanished = 0;
        storage.get = (name, options) => {
          if (name.startsWith("index/") && vanished++ < 2) {
            return Promise.reject(new StorageError("not-found", `${name}: no such object`));
          }
          return get(name, options);
        };
        const fresh = Catalog.open(`${dir.path}/fresh.db`);
        try {
          const r = await syncCatalog(internals(engine).repo, fresh);
          assertEquals(r.indexAdded, 1);
          assertEquals(r.snapshotsAdded, 1);
          assertEquals(vanished, 3, "two vanished reads, then the real one");
        } finally {
          fresh.close();
          storage.get = get;
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
  name:
    "syncCatalog: after an index file is removed, the index is read anew into staging and swapped in whole",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-sync-");
    try {
      Deno.mkdirSync(`${dir.path}/a`);
      Deno.mkdirSync(`${dir.path}/b`);
      Deno.writeFileSync(`${dir.path}/a/f`, randomBytes(100_000, 4));
      Deno.writeFileSync(`${dir.path}/b/f`, randomBytes(100_000, 5));
      const engine = await newEngine(dir.path);
      try {
        await engine.backup(await loadPlugin("source", "fs", { paths: [`${dir.path}/a`] }));
        const [first] = await internals(engine).repo.listIds("index");
        await engine.backup(await loadPlugin("source", "fs", { paths: [`${dir.path}/b`] }));
        const { repo } = internals(engine);
        const firstBlobs = (await repo.loadIndex(first)).packs.flatMap((p) => p.blobs.map((b) => b.id));
        const fresh = Catalog.open(`${dir.path}/fresh.db`);
        try {
          assertEquals((await syncCatalog(repo, fresh)).indexAdded, 2);
          const storage = repo.storage as StoragePlugin & { get: StoragePlugin["get"] };
          await storage.delete(`index/${first}`);
          // A rebuild that fails half-way leaves the old index as it was.
          const get = storage.get.bind(storage);
          storage.get = (name, options) =>
            name.startsWith("index/")
              ? Promise.reject(new StorageError("permanent", `${name}: refused`))
              : get(name, options);
          let failed = false;
          try {
            await syncCatalog(repo, fresh);
          } catch {
            failed = true;
          } finally {
            storage.get = get;
          }
          assertEquals(failed, true);
          assertEquals(fresh.indexIds().size, 2);
          assertEquals(firstBlobs.every((id) => fresh.hasBlob(id)), true);
          // The next sync rebuilds: the removed file's blobs are gone, the other file's are there.
          const r = await syncCatalog(repo, fresh);
          assertEquals(r.rebuiltIndex, true);
          assertEquals([...fresh.indexIds()].includes(first), false);
          assertEquals(fresh.indexIds().size, 1);
          assertEquals(firstBlobs.some((id) => fresh.hasBlob(id)), false);
          assertEquals(fresh.isEmpty(), false);
        } finally {
          fresh.close();
        }
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});
