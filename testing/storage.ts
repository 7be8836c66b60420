/**
 * The storage conformance suite: every storage plugin (and every wrapper) must pass it.
 *
 * @example
 * ```ts
 * import { storageConformance } from "./storage.ts";
 * import local from "../plugins/storage/local/mod.ts";
 * storageConformance("local", async () => ({ storage: local({ path: await Deno.makeTempDir() }) }));
 * ```
 * @module
 */
import { assert, assertEquals, assertStorageError, rejection } from "./_assert.ts";
import type { StoragePlugin } from "../core/contracts.ts";

/** What a suite instance needs: a fresh, empty storage and an optional clean-up. */
export interface ConformanceTarget {
  /** A storage on an empty place. */
  storage: StoragePlugin;
  /** Called after the suite. */
  cleanup?: () => Promise<void>;
}

/** Deterministic pseudo-random bytes (xorshift32) for storage tests. */
export function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

async function collect(it: AsyncIterable<{ name: string; size: number }>) {
  const out: { name: string; size: number }[] = [];
  for await (const o of it) out.push({ name: o.name, size: o.size });
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Registers the conformance tests for one storage under `deno test`. */
export function storageConformance(
  name: string,
  make: () => Promise<ConformanceTarget>,
  options: { ignore?: boolean; sanitizeResources?: boolean; sanitizeOps?: boolean } = {},
): void {
  Deno.test({
    name: `storage conformance: ${name}`,
    ignore: options.ignore,
    sanitizeResources: options.sanitizeResources ?? false,
    sanitizeOps: options.sanitizeOps ?? false,
    fn: async (t) => {
      const { storage, cleanup } = await make();
      try {
        await t.step("contract fields", () => {
          assertEquals(storage.kind, "storage");
          assert(storage.capabilities.maxObjectSize > 0);
          assert(storage.capabilities.concurrency >= 1);
          assert(typeof storage.location === "string" && storage.location.length > 0);
        });
        await t.step("create is idempotent", async () => {
          await storage.create();
          await storage.create();
        });
        await t.step("put, get, stat round trip", async () => {
          const data = bytes(100_000);
          await storage.put("data/ab/ab01", data);
          assertEquals(await storage.get("data/ab/ab01"), data);
          assertEquals((await storage.stat("data/ab/ab01")).size, data.length);
          assertEquals((await storage.stat("data/ab/ab01")).name, "data/ab/ab01");
        });
        await t.step("empty object", async () => {
          await storage.put("keys/empty", new Uint8Array(0));
          assertEquals((await storage.get("keys/empty")).length, 0);
          assertEquals((await storage.stat("keys/empty")).size, 0);
        });
        await t.step("range reads", async () => {
          const data = bytes(70_000, 7);
          await storage.put("data/cd/cd01", data);
          assertEquals(
            await storage.get("data/cd/cd01", { range: { offset: 0, length: 10 } }),
            data.subarray(0, 10),
          );
          assertEquals(
            await storage.get("data/cd/cd01", { range: { offset: 12345, length: 20000 } }),
            data.subarray(12345, 32345),
          );
          assertEquals(
            await storage.get("data/cd/cd01", { range: { offset: 69_990, length: 10 } }),
            data.subarray(69_990),
          );
        });
        await t.step("a lent buffer (into) may be used or not; the result is right either way", async () => {
          const data = bytes(70_000, 9);
          await storage.put("data/cd/cd02", data);
          const lent = new Uint8Array(32_768).fill(0xee);
          const part = await storage.get("data/cd/cd02", {
            range: { offset: 100, length: 20_000 },
            into: lent.subarray(0),
          });
          assertEquals(part, data.subarray(100, 20_100));
          // Too small, or detached by an earlier read: ignored.
          assertEquals(await storage.get("data/cd/cd02", { into: new Uint8Array(10) }), data);
          const gone = new Uint8Array(new ArrayBuffer(70_000));
          gone.buffer.transfer(0);
          assertEquals(await storage.get("data/cd/cd02", { into: gone }), data);
          await storage.delete("data/cd/cd02");
        });
        await t.step("missing objects are not-found", async () => {
          assertStorageError(await rejection(() => storage.get("data/ff/nothing")), "not-found");
          assertStorageError(await rejection(() => storage.stat("data/ff/nothing")), "not-found");
        });
        await t.step("list by prefix, nested and flat", async () => {
          await storage.put("snapshots/s1", bytes(10));
          await storage.put("snapshots/s2", bytes(20));
          await storage.put("snapshotsX", bytes(5));
          assertEquals(await collect(storage.list("snapshots/")), [
            { name: "snapshots/s1", size: 10 },
            { name: "snapshots/s2", size: 20 },
          ]);
          const data = await collect(storage.list("data/"));
          assertEquals(data.map((o) => o.name), ["data/ab/ab01", "data/cd/cd01"]);
          assertEquals(await collect(storage.list("index/")), []);
        });
        await t.step("overwrite replaces; create refuses when atomicCreate", async () => {
          await storage.put("locks/l1", bytes(10, 1));
          await storage.put("locks/l1", bytes(12, 2));
          assertEquals(await storage.get("locks/l1"), bytes(12, 2));
          if (storage.capabilities.atomicCreate) {
            assertStorageError(
              await rejection(() => storage.put("locks/l1", bytes(3), { create: true })),
              "exists",
            );
            await storage.put("locks/l2", bytes(3), { create: true });
          }
        });
        await t.step("delete, and delete of a missing object", async () => {
          await storage.delete("snapshots/s1");
          await storage.delete("snapshots/s1");
          assertEquals((await collect(storage.list("snapshots/"))).map((o) => o.name), ["snapshots/s2"]);
        });
        await t.step("a large object (12 MiB)", async () => {
          const data = bytes(12 * 1024 * 1024, 3);
          await storage.put("data/ee/large", data);
          const back = await storage.get("data/ee/large");
          assertEquals(back.length, data.length);
          assertEquals(back, data);
        });
        await t.step("a large object of an odd size (3 MiB + 1234 bytes)", async () => {
          const data = bytes(3 * 1024 * 1024 + 1234, 4);
          await storage.put("data/ee/odd", data);
          assertEquals((await storage.stat("data/ee/odd")).size, data.length);
          assertEquals(await storage.get("data/ee/odd"), data);
          assertEquals(
            await storage.get("data/ee/odd", { range: { offset: data.length - 2000, length: 5000 } }),
            data.subarray(data.length - 2000),
          );
        });
        await t.step("parallel puts and gets", async () => {
          const names = Array.from(
            { length: 24 },
            (_, i) => `data/${(i % 4).toString(16).padStart(2, "0")}/p${i}`,
          );
          await Promise.all(names.map((n, i) => storage.put(n, bytes(1000 + i, i + 10))));
          const back = await Promise.all(names.map((n) => storage.get(n)));
          back.forEach((b, i) => assertEquals(b, bytes(1000 + i, i + 10)));
        });
        await t.step("temporaries: none left by completed writes; listed only when asked for", async () => {
          // Every write above completed: a storage that writes through temporaries left none behind.
          if (!storage.capabilities.temporaries) return;
          assertEquals(await collect(storage.list("", { temporaries: true })), []);
          for await (const o of storage.list("")) {
            assert(!o.name.split("/").pop()!.startsWith(".tmp-"), o.name);
          }
        });
        await t.step("abort signal is honoured", async () => {
          const ac = new AbortController();
          ac.abort();
          await rejection(() => storage.put("data/00/aborted", bytes(10), { signal: ac.signal }));
        });
      } finally {
        await storage.close?.();
        await cleanup?.();
      }
    },
  });
}
