/**
 * Tests of the retry wrapper: the s3 storage on a real Swift node, behind a fault-injecting proxy.
 *
 * @example
 * ```sh
 * deno test --allow-all plugins/storage/retry/mod_test.ts
 * ```
 * @module
 */
import retry, { isRetryable } from "./mod.ts";
import s3 from "../s3/mod.ts";
import { storageConformance } from "../../../testing/mod.ts";
import { sharedSwift, stopSharedSwift, swiftMissing } from "../../../tests/fixtures/servers/swift.ts";
import { type FaultProxy, start as startProxy } from "../../../tests/fixtures/fault_proxy.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../../tests/assert.ts";
import { StorageError } from "../../../core/contracts.ts";

const missing = swiftMissing();
if (missing) console.warn(`skipping retry tests against Swift: ${missing}`);
const ignore = !!missing;
const opts = { sanitizeOps: false, sanitizeResources: false, ignore };

let buckets = 0;
async function s3Behind(proxy: FaultProxy, extra: Record<string, unknown> = {}) {
  const swift = await sharedSwift();
  return s3({
    bucket: `floe-rt-${Date.now().toString(36)}-${++buckets}`,
    endpoint: proxy.url,
    region: swift.region,
    accessKeyId: swift.accessKey,
    secretAccessKey: swift.secretKey,
    ...extra,
  });
}

Deno.test("retry: what is retryable", () => {
  assert(isRetryable(new StorageError("transient", "x")));
  assert(isRetryable(new TypeError("network")));
  for (const code of ["not-found", "auth", "permanent", "exists"] as const) {
    assert(!isRetryable(new StorageError(code, "x")));
  }
});

const proxies: FaultProxy[] = [];

storageConformance("retry(s3 through a fault proxy)", async () => {
  const swift = await sharedSwift();
  const proxy = await startProxy({
    target: swift.s3Endpoint,
    // One of each kind first (so each is surely met, whatever order parallel requests take), then by chance.
    schedule: ["unavailable", "truncate", "applied-500"],
    seed: 7,
    unavailable: 0.08,
    truncate: 0.08,
    applied500: 0.08,
  });
  proxies.push(proxy);
  const storage = retry({ storage: await s3Behind(proxy), maxAttempts: 12, baseDelayMs: 2, maxDelayMs: 50 });
  return {
    storage,
    cleanup: async () => {
      const s = proxy.stats;
      console.log(`  fault proxy: ${JSON.stringify(s)}`);
      assert(s.unavailable > 0 && s.truncate > 0 && s["applied-500"] > 0, "every kind of fault was injected");
      await proxy.stop();
    },
  };
}, { ignore });

Deno.test({
  name: "retry: a create put answered 500 after being applied succeeds when the bytes match",
  ...opts,
  fn: async () => {
    const swift = await sharedSwift();
    const proxy = await startProxy({ target: swift.s3Endpoint });
    // Check-then-put create (Swift s3api has no conditional PUT): the retry's check sees our object.
    const storage = retry({ storage: await s3Behind(proxy, { conditionalWrites: false }), baseDelayMs: 1 });
    try {
      await storage.create();
      const data = new TextEncoder().encode("lock v1");
      // The create put is applied, then answered 500; the retry finds the object and compares bytes.
      const before = proxy.stats.requests;
      proxy.inject("applied-500");
      await storage.put("locks/a", data, { create: true });
      assertEquals(proxy.stats["applied-500"], 1);
      assertEquals(await storage.get("locks/a"), data);
      assert(proxy.stats.requests - before >= 3);
      // Someone else's different bytes stay an `exists`.
      const e = await assertRejects(() =>
        storage.put("locks/a", new TextEncoder().encode("other"), { create: true })
      );
      assertEquals((e as StorageError).code, "exists");
    } finally {
      await storage.close?.();
      await proxy.stop();
    }
  },
});

Deno.test({
  name: "retry: gives up after its attempt bound, and never retries not-found or auth",
  ...opts,
  fn: async () => {
    const swift = await sharedSwift();
    const proxy = await startProxy({ target: swift.s3Endpoint, unavailable: 1 });
    const storage = retry({ storage: await s3Behind(proxy), maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 5 });
    try {
      const e = await assertRejects(() => storage.stat("data/x"), StorageError);
      assertEquals(e.code, "transient");
      assertStringIncludes(e.message, "gave up after 4 attempt(s)");
      assertEquals(proxy.stats.unavailable, 4);

      proxy.pause(true);
      const before = proxy.stats.requests;
      const nf = await assertRejects(() => storage.get("data/none"), StorageError);
      assertEquals(nf.code, "not-found");
      assertEquals(proxy.stats.requests - before, 1);

      const bad = retry({
        storage: await s3Behind(proxy, { secretAccessKey: "wrong-secret" }),
        baseDelayMs: 1,
      });
      const b0 = proxy.stats.requests;
      const au = await assertRejects(() => bad.stat("data/x"), StorageError);
      assertEquals(au.code, "auth");
      assertEquals(proxy.stats.requests - b0, 1);
      await bad.close?.();
    } finally {
      await storage.close?.();
      await proxy.stop();
    }
  },
});

Deno.test({
  name: "retry: gives up after its time bound",
  ...opts,
  fn: async () => {
    const swift = await sharedSwift();
    const proxy = await startProxy({ target: swift.s3Endpoint, unavailable: 1 });
    const storage = retry({
      storage: await s3Behind(proxy),
      maxAttempts: 1000,
      baseDelayMs: 20,
      maxDelayMs: 100,
      maxElapsedMs: 400,
      random: () => 1,
    });
    try {
      const t0 = Date.now();
      const e = await assertRejects(() => storage.get("data/x"), StorageError);
      const took = Date.now() - t0;
      assertEquals(e.code, "transient");
      assert(took < 1500, `took ${took} ms`);
      assert(proxy.stats.unavailable >= 3 && proxy.stats.unavailable < 20, JSON.stringify(proxy.stats));
    } finally {
      await storage.close?.();
      await proxy.stop();
    }
  },
});

Deno.test({ name: "retry: stop the Swift node", ...opts, fn: () => stopSharedSwift() });
