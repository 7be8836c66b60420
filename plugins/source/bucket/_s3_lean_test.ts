/**
 * The lean S3 backend on the real Swift's s3api: the same listings (pages, versions, delete markers) and
 * object metadata as the SDK backend, and the same failures (missing bucket or key, refused
 * credentials, a changed object); which credentials take the lean path.
 */
import { assert, assertEquals } from "../../../tests/assert.ts";
import { sharedSwift, stopSharedSwift, swiftMissing } from "../../../tests/fixtures/servers/swift.ts";
import { isStorageError } from "../../../core/contracts.ts";
import { retrying } from "../../storage/retry/mod.ts";
import { connectS3 } from "../../storage/s3/_client.ts";
import { ObjectChangedError } from "./_backend.ts";
import type { Backend, Listed } from "./_backend.ts";
import { s3Backend, sdkS3Backend } from "./_s3.ts";
import { leanCredentials } from "./_s3_lean.ts";

const ignore = !!swiftMissing();
const text = (s: string) => new TextEncoder().encode(s);
const t = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore, sanitizeOps: false, sanitizeResources: false, fn });

async function all(backend: Backend, bucket: string, prefix: string, versions: boolean): Promise<Listed[]> {
  const out: Listed[] = [];
  for await (const l of backend.list(bucket, prefix, versions)) out.push(l);
  return out;
}

async function caught(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a failure");
}

Deno.test("s3 lean: explicit keys take the lean path; a profile or none keep the SDK", () => {
  const saved = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"]
    .map((k) => [k, Deno.env.get(k)] as const);
  try {
    for (const [k] of saved) Deno.env.delete(k);
    assertEquals(leanCredentials({}), undefined);
    assertEquals(leanCredentials({ accessKeyId: "AK", secretAccessKey: "SK", profile: "p" }), {
      accessKeyId: "AK",
      secretAccessKey: "SK",
    });
    Deno.env.set("AWS_ACCESS_KEY_ID", "EK");
    Deno.env.set("AWS_SECRET_ACCESS_KEY", "ES");
    Deno.env.set("AWS_SESSION_TOKEN", "ET");
    assertEquals(leanCredentials({}), { accessKeyId: "EK", secretAccessKey: "ES", sessionToken: "ET" });
    assertEquals(leanCredentials({ profile: "p" }), undefined);
    Deno.env.set("AWS_PROFILE", "p");
    assertEquals(leanCredentials({}), undefined);
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
});

/** The local Swift's S3 API with explicit keys (the lean path). */
function optionsOf(swift: Awaited<ReturnType<typeof sharedSwift>>) {
  return {
    endpoint: swift.s3Endpoint,
    region: swift.region,
    accessKeyId: swift.accessKey,
    secretAccessKey: swift.secretKey,
  };
}

t("s3 lean: listings and metadata equal the SDK backend's, pages and versions included", async () => {
  const options = optionsOf(await sharedSwift());
  const lean = s3Backend(options, "s3:test");
  const sdk = sdkS3Backend(options, "s3:test", retrying());
  const name = `floe-lean-${Date.now().toString(36)}`;
  const c = connectS3(options, "s3:test");
  try {
    await lean.createBucket(name);
    // More than one page (1 000 keys) in one level, exotic keys, a sub-level.
    const keys = Array.from({ length: 1010 }, (_, i) => `p/${String(i).padStart(4, "0")}`);
    keys.push("p/a+b=c&d?.txt", "p/<&>\"'", "p/sp ace/x", "p/😀", "p/x/../y", "p/%20");
    for (let i = 0; i < keys.length; i += 32) {
      await Promise.all(keys.slice(i, i + 32).map((k) => lean.put(name, k, text(k), {})));
    }
    const meta = {
      "content-type": "text/x-floe",
      "content-disposition": 'attachment;  filename="a  b.txt"',
      "cache-control": "no-cache",
      "x-meta-colour": "blue",
    };
    await lean.put(name, "m", text("with metadata"), meta);
    const leanPage = await all(lean, name, "p/", false);
    assertEquals(leanPage.length, 1010 + 5 + 1);
    assertEquals(leanPage, await all(sdk, name, "p/", false));
    assertEquals(await all(lean, name, "", false), await all(sdk, name, "", false));
    const a = await lean.get(name, "m", {});
    const b = await sdk.get(name, "m", {});
    assertEquals(await new Response(a.body).text(), "with metadata");
    await b.body.cancel();
    assertEquals([a.meta, a.length, a.etag], [b.meta, b.length, b.etag]);
    for (const [k, v] of Object.entries(meta)) assertEquals(a.meta[k], v);
    assertEquals(await lean.head(name, "m"), await sdk.head(name, "m"));
    assertEquals(await lean.head(name, "absent"), null);
    // A range resumes; If-Match refuses a changed object.
    const r = await lean.get(name, "m", { offset: 5, ifMatch: a.etag });
    assertEquals([await new Response(r.body).text(), r.length], ["metadata", 8]);
    assert((await caught(lean.get(name, "m", { ifMatch: "0123" }))) instanceof ObjectChangedError);

    // Versions and a delete marker.
    const { sdk: api, client } = await c.load();
    await client.send(
      new api.PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: "Enabled" } }),
    );
    await lean.put(name, "v/k", text("one"), {});
    await lean.put(name, "v/k", text("two"), {});
    await client.send(new api.DeleteObjectCommand({ Bucket: name, Key: "v/k" }));
    const versions = await all(lean, name, "v/", true);
    assertEquals(versions.map((v) => [v.deleteMarker ?? false, v.latest]), [[true, true], [false, false], [
      false,
      false,
    ]]);
    assertEquals(versions, await all(sdk, name, "v/", true));
    const old = versions[2];
    const got = await lean.get(name, "v/k", { versionId: old.versionId });
    assertEquals([await new Response(got.body).text(), got.meta["version-id"]], ["one", old.versionId]);
  } finally {
    await c.close();
    await lean.close();
    await sdk.close();
  }
});

t("s3 lean: a missing bucket or key and refused credentials fail as the SDK path does", async () => {
  const options = optionsOf(await sharedSwift());
  const lean = s3Backend(options, "s3:test");
  const sdk = sdkS3Backend(options, "s3:test", retrying({ maxAttempts: 1 }));
  const bad = s3Backend({ ...options, secretAccessKey: "not-the-secret-key" }, "s3:test");
  const name = `floe-lean-missing-${Date.now().toString(36)}`;
  try {
    for (const backend of [lean, sdk]) {
      const e = await caught(all(backend, name, "", false));
      assert(isStorageError(e) && e.code === "not-found", String(e));
      assertEquals(e.message, `s3:test: bucket "${name}" does not exist (list ${name}/)`);
    }
    await lean.createBucket(name);
    const [x, y] = [await caught(lean.get(name, "k", {})), await caught(sdk.get(name, "k", {}))];
    assertEquals([x.message, (x as { code?: string }).code], [y.message, (y as { code?: string }).code]);
    const e = await caught(all(bad, name, "", false));
    assert(isStorageError(e) && e.code === "auth", String(e));
    assert(!e.message.includes("not-the-secret-key"), e.message);
    const names: string[] = [];
    for await (const n of lean.buckets()) names.push(n);
    assert(names.includes(name));
  } finally {
    await lean.close();
    await sdk.close();
    await bad.close();
  }
});

t("s3 lean: stop the Swift node", () => stopSharedSwift());
