import { storageConformance } from "../../../testing/mod.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../../../tests/assert.ts";
import { API_VERSION, type ObjectInfo, StorageError, type StoragePlugin } from "../../../core/contracts.ts";
import local from "../local/mod.ts";
import limit, { parseRate } from "./mod.ts";

storageConformance("limit(local)", async () => {
  const path = await Deno.makeTempDir({ prefix: "floe-limit-" });
  return {
    storage: limit({
      storage: local({ path: `${path}/repo` }),
      connections: 3,
      uploadBytesPerSecond: parseRate("1G"),
      downloadBytesPerSecond: parseRate("1G"),
    }),
    cleanup: () => Deno.remove(path, { recursive: true }),
  };
});

/** An in-memory storage that counts calls in flight; each call takes `delayMs`. */
function fake(delayMs = 5) {
  const objects = new Map<string, Uint8Array>();
  const stats = { inflight: 0, maxInflight: 0 };
  const track = async <T>(fn: () => T): Promise<T> => {
    stats.inflight++;
    stats.maxInflight = Math.max(stats.maxInflight, stats.inflight);
    try {
      await new Promise((r) => setTimeout(r, delayMs));
      return fn();
    } finally {
      stats.inflight--;
    }
  };
  const storage: StoragePlugin = {
    kind: "storage",
    name: "fake",
    apiVersion: API_VERSION,
    location: "memory:",
    capabilities: { maxObjectSize: 1 << 30, atomicCreate: false, concurrency: 16 },
    create: () => track(() => {}),
    put: (name, data) => track(() => void objects.set(name, data)),
    get: (name) =>
      track(() => {
        const d = objects.get(name);
        if (!d) throw new StorageError("not-found", name);
        return d;
      }),
    stat: (name) => track(() => ({ name, size: objects.get(name)?.length ?? 0 })),
    async *list(prefix): AsyncIterable<ObjectInfo> {
      for (const [name, d] of objects) {
        if (name.startsWith(prefix)) yield await track(() => ({ name, size: d.length }));
      }
    },
    delete: (name) => track(() => void objects.delete(name)),
  };
  return { storage, stats, objects };
}

Deno.test("limit: parseRate", () => {
  assertEquals(parseRate("512"), 512);
  assertEquals(parseRate("10K"), 10 * 1024);
  assertEquals(parseRate("120M"), 120 * 1024 * 1024);
  assertEquals(parseRate("1G"), 1024 ** 3);
  assertEquals(parseRate("1.5k"), 1536);
  assertEquals(parseRate("2MiB/s"), 2 * 1024 * 1024);
  assertEquals(parseRate("0"), 0);
  for (const bad of ["", "abc", "10X", "-5", "1 0K", "K"]) assertThrows(() => parseRate(bad), "invalid rate");
  assertThrows(() => parseRate("fast"), "e.g. 512, 10K, 120M, 1G");
});

Deno.test("limit: bad options are refused", () => {
  const { storage } = fake();
  assertThrows(() => limit({ storage, connections: 0 }), "connections");
  assertThrows(() => limit({ storage, uploadBytesPerSecond: -1 }), "uploadBytesPerSecond");
  assertThrows(() => limit({ storage, downloadBytesPerSecond: NaN }), "downloadBytesPerSecond");
});

Deno.test("limit: concurrent calls never exceed the connection bound", async () => {
  const { storage, stats } = fake(3);
  const limited = limit({ storage, connections: 3 });
  assertEquals(limited.capabilities.concurrency, 3);
  await Promise.all(Array.from({ length: 40 }, (_, i) => limited.put(`data/${i}`, new Uint8Array(10))));
  await Promise.all([
    ...Array.from({ length: 40 }, (_, i) => limited.get(`data/${i}`)),
    ...Array.from({ length: 20 }, (_, i) => limited.stat(`data/${i}`)),
    ...Array.from({ length: 20 }, (_, i) => limited.delete(`data/${i + 20}`)),
    (async () => {
      for await (const _ of limited.list("data/")) { /* drain */ }
    })(),
  ]);
  assertEquals(stats.maxInflight, 3);
  assertEquals(stats.inflight, 0);
});

Deno.test("limit: a list holds no slot between entries, so reads inside the loop work", async () => {
  const { storage } = fake(1);
  const limited = limit({ storage, connections: 1 });
  for (let i = 0; i < 3; i++) await limited.put(`s/${i}`, new Uint8Array(i));
  let n = 0;
  for await (const o of limited.list("s/")) n += (await limited.get(o.name)).length;
  assertEquals(n, 3);
});

Deno.test("limit: a waiting call can be aborted", async () => {
  const { storage } = fake(200);
  const limited = limit({ storage, connections: 1 });
  const first = limited.put("a", new Uint8Array(1));
  const ac = new AbortController();
  const second = limited.put("b", new Uint8Array(1), { signal: ac.signal });
  ac.abort();
  await assertRejects(() => second);
  await first;
});

Deno.test("limit: a 2 MiB put at 4 MiB/s takes about half a second", async () => {
  const { storage } = fake(0);
  const limited = limit({ storage, uploadBytesPerSecond: parseRate("4M") });
  const t0 = performance.now();
  await limited.put("big", new Uint8Array(2 * 1024 * 1024));
  const took = (performance.now() - t0) / 1000;
  assert(took >= 0.38 && took < 1.5, `took ${took.toFixed(3)} s`);
});

Deno.test("limit: many puts hold the average upload rate", async () => {
  const { storage } = fake(0);
  const limited = limit({ storage, uploadBytesPerSecond: parseRate("8M"), connections: 4 });
  const t0 = performance.now();
  // 16 × 256 KiB = 4 MiB at 8 MiB/s: about 0.5 s (less the 0.1 s burst).
  await Promise.all(Array.from({ length: 16 }, (_, i) => limited.put(`p${i}`, new Uint8Array(256 * 1024))));
  const took = (performance.now() - t0) / 1000;
  assert(took >= 0.35 && took < 1.5, `took ${took.toFixed(3)} s`);
});

Deno.test("limit: downloads are paced by the bytes received", async () => {
  const { storage } = fake(0);
  const limited = limit({ storage, downloadBytesPerSecond: parseRate("4M") });
  await limited.put("big", new Uint8Array(1024 * 1024));
  const t0 = performance.now();
  await limited.get("big");
  await limited.get("big");
  const took = (performance.now() - t0) / 1000;
  // 2 MiB at 4 MiB/s, less the burst.
  assert(took >= 0.38 && took < 1.5, `took ${took.toFixed(3)} s`);
});
