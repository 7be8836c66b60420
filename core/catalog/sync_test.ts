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
