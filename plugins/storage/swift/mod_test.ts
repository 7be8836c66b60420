/**
 * Tests of the swift storage against a real Swift node (tempauth), plus Keystone v3 request and
 * response parsing.
 *
 * @example
 * ```sh
 * deno test --allow-all plugins/storage/swift/mod_test.ts
 * ```
 * @module
 */
import swift, { authSettings, keystoneRequest, type Options, parseKeystoneResponse } from "./mod.ts";
import { parseSwiftLocation } from "./location.ts";
import { parseLocation } from "../location.ts";
import { bytes, storageConformance } from "../../../testing/mod.ts";
import { sharedSwift, stopSharedSwift, swiftMissing } from "../../../tests/fixtures/servers/swift.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../../../tests/assert.ts";
import { StorageError } from "../../../core/contracts.ts";
import retry from "../retry/mod.ts";
import { start as startProxy } from "../../../tests/fixtures/fault_proxy.ts";

const missing = swiftMissing();
if (missing) console.warn(`skipping swift tests: ${missing}`);
const ignore = !!missing;

let containers = 0;
async function storageOn(extra: Partial<Options> = {}) {
  const s = await sharedSwift();
  return swift({
    container: `floe-sw-${Date.now().toString(36)}-${++containers}`,
    prefix: "repo/one",
    authUrl: s.authUrl,
    authVersion: 1,
    user: s.user,
    key: s.key,
    ...extra,
  });
}

const opts = { sanitizeOps: false, sanitizeResources: false, ignore };

Deno.test("swift location parsing", () => {
  assertEquals(parseSwiftLocation("swift:backups:/host1/x/"), {
    storage: "swift",
    options: { container: "backups", prefix: "host1/x" },
  });
  assertEquals(parseLocation("swift:backups"), { storage: "swift", options: { container: "backups" } });
  assertThrows(() => parseSwiftLocation("swift::/x"));
  assertEquals(swift({ container: "c", prefix: "p" }).location, "swift:c:/p");
});

Deno.test("swift: keystone v3 settings, request and catalog parsing", () => {
  const env: Record<string, string> = {
    OS_AUTH_URL: "https://keystone.example:5000/v3",
    OS_USERNAME: "ann",
    OS_PASSWORD: "pw",
    OS_PROJECT_NAME: "proj",
    OS_USER_DOMAIN_NAME: "UD",
    OS_PROJECT_DOMAIN_NAME: "PD",
    OS_REGION_NAME: "RegionTwo",
  };
  const s = authSettings({ container: "c" }, (n) => env[n]);
  assertEquals(s.version, 3);
  assertEquals(s.regionName, "RegionTwo");
  const req = keystoneRequest(s);
  assertEquals(req.url, "https://keystone.example:5000/v3/auth/tokens");
  assertEquals(req.body, {
    auth: {
      identity: {
        methods: ["password"],
        password: { user: { name: "ann", domain: { name: "UD" }, password: "pw" } },
      },
      scope: { project: { name: "proj", domain: { name: "PD" } } },
    },
  });
  // Options override the environment; a URL without /v3 gets it appended.
  const o = authSettings(
    { container: "c", authUrl: "https://ks:5000", username: "bob", projectId: "p1" },
    (n) => env[n],
  );
  assertEquals(o.version, 3);
  assertEquals(keystoneRequest(o).url, "https://ks:5000/v3/auth/tokens");
  assertEquals((keystoneRequest(o).body as { auth: { scope: unknown } }).auth.scope, {
    project: { id: "p1" },
  });
  // v1 wins when ST_AUTH is set.
  assertEquals(
    authSettings({ container: "c" }, (n) => ({ ST_AUTH: "http://h/auth/v1.0", ...env })[n]).version,
    1,
  );

  const body = {
    token: {
      catalog: [
        {
          type: "identity",
          endpoints: [{ interface: "public", region_id: "RegionTwo", url: "https://ks/v3" }],
        },
        {
          type: "object-store",
          name: "swift",
          endpoints: [
            { interface: "internal", region_id: "RegionTwo", url: "http://internal/v1/AUTH_p" },
            { interface: "public", region_id: "RegionOne", url: "https://one/v1/AUTH_p" },
            {
              interface: "public",
              region_id: "RegionTwo",
              region: "RegionTwo",
              url: "https://two/v1/AUTH_p/",
            },
          ],
        },
      ],
    },
  };
  assertEquals(parseKeystoneResponse("tok", body, "RegionTwo", "public"), {
    storageUrl: "https://two/v1/AUTH_p",
    token: "tok",
  });
  assertEquals(
    parseKeystoneResponse("tok", body, undefined, "internal").storageUrl,
    "http://internal/v1/AUTH_p",
  );
  assertEquals(
    (assertThrows(() => parseKeystoneResponse("tok", body, "Nowhere", "public")) as StorageError).code,
    "permanent",
  );
  assertEquals(
    (assertThrows(() => parseKeystoneResponse(null, body, undefined, "public")) as StorageError).code,
    "auth",
  );
  assertThrows(
    () => parseKeystoneResponse("tok", { token: { catalog: [] } }, undefined, "public"),
    "object-store",
  );
});

storageConformance("swift (tempauth)", async () => ({ storage: await storageOn() }), { ignore });

Deno.test({
  name: "swift: SLO path, forced with a small max object size",
  ...opts,
  fn: async () => {
    const storage = await storageOn({ maxObjectSize: 256 * 1024, segmentSize: 100 * 1024 });
    try {
      await storage.create();
      const data = bytes(1024 * 1024 + 17, 9);
      await storage.put("data/slo/big", data);
      assertEquals((await storage.stat("data/slo/big")).size, data.length);
      assertEquals(await storage.get("data/slo/big"), data);
      assertEquals(
        await storage.get("data/slo/big", { range: { offset: 100 * 1024 - 5, length: 300_000 } }),
        data.subarray(100 * 1024 - 5, 100 * 1024 - 5 + 300_000),
      );
      const listed = [];
      for await (const o of storage.list("data/slo/")) listed.push(o);
      assertEquals(listed, [{ name: "data/slo/big", size: data.length }]);
      const e = await assertRejects(() => storage.put("data/slo/big", data, { create: true }), StorageError);
      assertEquals(e.code, "exists");
      // Delete removes the segments too.
      const s = await sharedSwift();
      const auth = await fetch(s.authUrl, { headers: { "X-Auth-User": s.user, "X-Auth-Key": s.key } });
      await auth.body?.cancel();
      const segs = async () => {
        const r = await fetch(
          `${auth.headers.get("x-storage-url")}/${storage.location.split(":")[1]}_segments`,
          {
            headers: { "X-Auth-Token": auth.headers.get("x-auth-token")! },
          },
        );
        return (await r.text()).split("\n").filter(Boolean).length;
      };
      assertEquals(await segs(), 11);
      await storage.delete("data/slo/big");
      assertEquals(await segs(), 0);
      await assertRejects(() => storage.stat("data/slo/big"), StorageError);
    } finally {
      await storage.close?.();
    }
  },
});

Deno.test({
  name: "swift: an expired token is renewed once",
  ...opts,
  fn: async () => {
    const storage = await storageOn();
    await storage.create();
    await storage.put("keys/a", bytes(10));
    await (await sharedSwift()).flushTokens();
    assertEquals(await storage.get("keys/a"), bytes(10));
  },
});

Deno.test({
  name: "swift: wrong credentials are auth errors without the secret",
  ...opts,
  fn: async () => {
    const secret = "wrong-key-5678";
    const storage = await storageOn({ key: secret });
    for (const call of [() => storage.create(), () => storage.get("keys/k")]) {
      const e = await assertRejects(call, StorageError);
      assertEquals(e.code, "auth", e.message);
      assert(!e.message.includes(secret), e.message);
      assert(e.message.includes(storage.location), e.message);
    }
  },
});

Deno.test({
  name: "swift: a missing container is not-found",
  ...opts,
  fn: async () => {
    const storage = await storageOn();
    const e = await assertRejects(() => storage.get("config"), StorageError);
    assertEquals(e.code, "not-found");
    const l = await assertRejects(async () => {
      for await (const _ of storage.list("")) { /* nothing */ }
    }, StorageError);
    assertEquals(l.code, "not-found");
    assert(l.message.includes("does not exist"), l.message);
  },
});

Deno.test({
  name:
    "swift: cut bodies and 503s behind a fault proxy are retried; reads come back whole, into a lent buffer",
  ...opts,
  fn: async () => {
    const s = await sharedSwift();
    const auth = await fetch(s.authUrl, { headers: { "X-Auth-User": s.user, "X-Auth-Key": s.key } });
    await auth.body?.cancel();
    const real = new URL(auth.headers.get("x-storage-url")!);
    const proxy = await startProxy({ target: real.origin });
    // Object requests go through the proxy (auth does not): the storage URL points at it.
    const inner = await storageOn({ storageUrl: `${proxy.url}${real.pathname}` });
    const storage = retry({ storage: inner, baseDelayMs: 1 });
    try {
      await storage.create();
      const data = bytes(3 << 20);
      await storage.put("data/p1", data);
      proxy.inject("truncate", "unavailable", "truncate");
      assertEquals(await storage.get("data/p1"), data);
      assertEquals(proxy.stats.truncate, 2);
      assertEquals(proxy.stats.unavailable, 1);
      proxy.inject("truncate");
      const lent = new Uint8Array(2 << 20);
      const part = await storage.get("data/p1", { range: { offset: 1000, length: 1 << 20 }, into: lent });
      assertEquals(part, data.subarray(1000, 1000 + (1 << 20)));
      assertEquals(proxy.stats.truncate, 3);
      // Without the retry wrapper, a cut body is a transient error (never short bytes).
      proxy.inject("truncate");
      const e = await assertRejects(() => inner.get("data/p1"), StorageError);
      assertEquals(e.code, "transient", e.message);
    } finally {
      await storage.close?.();
      await proxy.stop();
    }
  },
});

Deno.test({ name: "swift: stop the Swift node", ...opts, fn: () => stopSharedSwift() });
