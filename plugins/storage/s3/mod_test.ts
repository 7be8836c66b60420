/**
 * Tests of the s3 storage against a real S3 API: Swift's s3api on a throw-away Swift node.
 *
 * @example
 * ```sh
 * deno test --allow-all plugins/storage/s3/mod_test.ts
 * ```
 * @module
 */
import s3, { classify, type Options } from "./mod.ts";
import { parseS3Location } from "./location.ts";
import { parseLocation } from "../location.ts";
import { bytes, storageConformance } from "../../../testing/mod.ts";
import { sharedSwift, stopSharedSwift, swiftMissing } from "../../../tests/fixtures/servers/swift.ts";
import { assert, assertEquals, assertRejects } from "../../../tests/assert.ts";
import { StorageError } from "../../../core/contracts.ts";

const missing = swiftMissing();
if (missing) console.warn(`skipping s3 tests against Swift: ${missing}`);
const ignore = !!missing;

let buckets = 0;
async function storageOn(extra: Partial<Options> = {}) {
  const swift = await sharedSwift();
  return s3({
    bucket: `floe-s3-${Date.now().toString(36)}-${++buckets}`,
    prefix: "repo/one",
    endpoint: swift.s3Endpoint,
    region: swift.region,
    accessKeyId: swift.accessKey,
    secretAccessKey: swift.secretKey,
    ...extra,
  });
}

Deno.test("s3 location parsing", () => {
  assertEquals(parseS3Location("s3:http://127.0.0.1:9000/bkt/a/b"), {
    storage: "s3",
    options: { endpoint: "http://127.0.0.1:9000", bucket: "bkt", prefix: "a/b" },
  });
  assertEquals(parseS3Location("s3:https://s3.example.com/bkt"), {
    storage: "s3",
    options: { endpoint: "https://s3.example.com", bucket: "bkt" },
  });
  assertEquals(parseS3Location("s3:bkt/floe/"), {
    storage: "s3",
    options: { bucket: "bkt", prefix: "floe" },
  });
  assertEquals(parseLocation("s3:bkt"), { storage: "s3", options: { bucket: "bkt" } });
  assertEquals(s3({ bucket: "bkt", prefix: "p", endpoint: "http://h:1" }).location, "s3:http://h:1/bkt/p");
});

Deno.test("s3: an invalid bucket name is refused up front, with the rule", () => {
  for (const bad of ["b4", "-abc", "abc-", "a".repeat(64), "my bucket", "a/b"]) {
    let message = "";
    try {
      s3({ bucket: bad, endpoint: "http://127.0.0.1:1", region: "us-east-1" });
    } catch (e) {
      message = (e as Error).message;
    }
    assert(message.includes("invalid bucket name") && message.includes("3 to 63"), `${bad}: ${message}`);
  }
  for (const good of ["abc", "my.backups-2026", "Legacy_Bucket", "a".repeat(63)]) {
    s3({ bucket: good, endpoint: "http://127.0.0.1:1", region: "us-east-1" });
  }
});

Deno.test("s3 error classification", () => {
  assertEquals(classify({ name: "NoSuchKey", $metadata: { httpStatusCode: 404 } }), "not-found");
  assertEquals(classify({ name: "SignatureDoesNotMatch", $metadata: { httpStatusCode: 403 } }), "auth");
  assertEquals(classify({ name: "SlowDown", $metadata: { httpStatusCode: 503 } }), "transient");
  assertEquals(classify({ name: "Unknown", $metadata: { httpStatusCode: 429 } }), "transient");
  assertEquals(classify(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })), "transient");
  assertEquals(classify({ name: "InvalidArgument", $metadata: { httpStatusCode: 400 } }), "permanent");
  assertEquals(
    classify(new TypeError("error sending request for url (https://h/b/): connection reset")),
    "transient",
  );
  // A refused certificate (fetch's TypeError) will not get better by retrying.
  assertEquals(
    classify(new TypeError("client error (Connect): invalid peer certificate: UnknownIssuer")),
    "permanent",
  );
  assertEquals(
    classify(Object.assign(new Error("no data for 300 ms"), { name: "TimeoutError" })),
    "transient",
  );
});

Deno.test({
  name: "s3: start the Swift node",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => void await sharedSwift(),
});

// With the sanitizers on: every response body consumed or cancelled, every timer cleared.
storageConformance("s3 (Swift s3api)", async () => ({ storage: await storageOn() }), {
  ignore,
  sanitizeOps: true,
  sanitizeResources: true,
});

Deno.test({
  name: "s3: multipart upload path, forced with a small threshold",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const storage = await storageOn({ multipartThreshold: 1024 * 1024, partSize: 5 * 1024 * 1024 });
    try {
      await storage.create();
      const data = bytes(11 * 1024 * 1024 + 123, 5);
      await storage.put("data/mp/big", data);
      assertEquals((await storage.stat("data/mp/big")).size, data.length);
      assertEquals(await storage.get("data/mp/big"), data);
      assertEquals(
        await storage.get("data/mp/big", { range: { offset: 5 * 1024 * 1024 - 10, length: 20 } }),
        data.subarray(5 * 1024 * 1024 - 10, 5 * 1024 * 1024 + 10),
      );
      const e = await assertRejects(() => storage.put("data/mp/big", data, { create: true }), StorageError);
      assertEquals(e.code, "exists");
      const listed = [];
      for await (const o of storage.list("data/mp/")) listed.push(o);
      assertEquals(listed, [{ name: "data/mp/big", size: data.length }]);
    } finally {
      await storage.close?.();
    }
  },
});

Deno.test({
  name: "s3: wrong credentials are auth errors without the secret",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const secret = "not-the-right-secret-1234";
    const storage = await storageOn({ secretAccessKey: secret });
    try {
      for (
        const call of [
          () => storage.create(),
          () => storage.put("keys/k", bytes(10)),
          () => storage.get("keys/k"),
        ]
      ) {
        const e = await assertRejects(call, StorageError);
        assertEquals(e.code, "auth", e.message);
        assert(!e.message.includes(secret), e.message);
        assert(e.message.includes(storage.location), e.message);
      }
      const wrongKey = await storageOn({ accessKeyId: "nobody:none", secretAccessKey: secret });
      const e = await assertRejects(() => wrongKey.stat("keys/k"), StorageError);
      assertEquals(e.code, "auth", e.message);
      assert(!e.message.includes(secret), e.message);
      await wrongKey.close?.();
    } finally {
      await storage.close?.();
    }
  },
});

Deno.test({
  name: "s3: a missing bucket is not-found with a clear message",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const storage = await storageOn();
    try {
      const e = await assertRejects(() => storage.get("config"), StorageError);
      assertEquals(e.code, "not-found");
      assert(/bucket|no such object/.test(e.message), e.message);
    } finally {
      await storage.close?.();
    }
  },
});

Deno.test({
  name: "s3: stop the Swift node",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => stopSharedSwift(),
});
