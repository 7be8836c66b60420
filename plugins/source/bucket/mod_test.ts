/**
 * The bucket source on a real Swift all-in-one, through both its APIs (S3 via s3api, native Swift):
 * exotic keys and metadata round trips (S3→S3, Swift→Swift, S3→Swift, and into a directory), SLO / DLO
 * and multipart objects, changes and deletions between runs with the requests they cost, faults
 * through the fault proxy, and the source conformance suite.
 */
import { assert, assertEquals } from "../../../tests/assert.ts";
import {
  sharedSwift,
  stopSharedSwift,
  swiftMissing,
  type SwiftServer,
} from "../../../tests/fixtures/servers/swift.ts";
import { start as startProxy } from "../../../tests/fixtures/fault_proxy.ts";

import { sourceConformance } from "../../../testing/mod.ts";
import { Engine } from "../../../core/engine.ts";
import type { Node } from "../../../core/repository/types.ts";
import type { SourceEntry } from "../../../core/contracts.ts";
import { createHash } from "node:crypto";
import bucket, { type Options, parseBucketLocation, restoreToDirectory } from "./mod.ts";
import { s3Backend } from "./_s3.ts";
import { swiftBackend } from "./_swift.ts";
import type { Backend } from "./_backend.ts";

const missing = swiftMissing();
if (missing) console.warn(`skipping bucket source tests: ${missing}`);
const ignore = !!missing;

const KEYS = [
  "a",
  "a/b",
  "a!c",
  "dir//double",
  "trailing/",
  "x/../y",
  "#hash",
  "a+b=c&d?.txt",
  "pct%20lit.txt",
  "with space.txt",
  "emoji 😀/ünïcödé.txt",
  `long/${"é".repeat(460)}`,
];
const META = {
  "content-type": "text/x-floe",
  "content-disposition": 'attachment; filename="x.txt"',
  "content-language": "fr",
  "cache-control": "max-age=60",
  "content-encoding": "identity",
  "x-meta-owner": "ann",
  "x-meta-color": "blue",
};

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const text = (s: string) => new TextEncoder().encode(s);
let serial = 0;
const fresh = (what: string) => `floe-${what}-${Date.now().toString(36)}-${++serial}`;

function s3Of(swift: SwiftServer, endpoint = swift.s3Endpoint): Options["s3"] {
  return { endpoint, region: swift.region, accessKeyId: swift.accessKey, secretAccessKey: swift.secretKey };
}
const swiftOf = (swift: SwiftServer): Options["swift"] => ({
  authUrl: swift.authUrl,
  user: swift.user,
  key: swift.key,
});
const s3B = (swift: SwiftServer) => s3Backend(s3Of(swift)!, "s3:test");
const swiftB = (swift: SwiftServer) => swiftBackend(swiftOf(swift)!, "swift:test");

/** Every object of a bucket: key → content hash and metadata. */
async function contents(backend: Backend, name: string, prefix = "") {
  const out = new Map<string, { sha: string; meta: Record<string, string> }>();
  const walk = async (p: string) => {
    for await (const l of backend.list(name, p, false)) {
      if (l.prefix) {
        await walk(l.key);
        continue;
      }
      const f = await backend.get(name, l.key, {});
      const bytes = new Uint8Array(await new Response(f.body).arrayBuffer());
      out.set(l.key.slice(prefix.length), { sha: sha(bytes), meta: f.meta });
    }
  };
  await walk(prefix);
  return out;
}

const userAndHeaders = (meta: Record<string, string>) =>
  Object.fromEntries(Object.entries(meta).filter(([k]) => k in META));

async function withEngine<T>(fn: (engine: Engine, dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "floe-bucket-" });
  const engine = await Engine.init({
    location: `${dir}/repo`,
    password: "pw",
    catalogPath: `${dir}/catalog.db`,
  });
  try {
    return await fn(engine, dir);
  } finally {
    await engine.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function nodesOf(engine: Engine, snapshotId: string) {
  const nodes = new Map<string, Node>();
  for await (const { path, node } of engine.ls(engine.resolveSnapshot(snapshotId), "/")) {
    nodes.set(path, node);
  }
  return nodes;
}

const t = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore, sanitizeResources: false, sanitizeOps: false, fn });

Deno.test("bucket locations", () => {
  assertEquals(parseBucketLocation("s3:http://127.0.0.1:9000/"), {
    scheme: "s3",
    endpoint: "http://127.0.0.1:9000",
    prefix: "",
  });
  assertEquals(parseBucketLocation("s3:http://h:1/b/p/q"), {
    scheme: "s3",
    endpoint: "http://h:1",
    bucket: "b",
    prefix: "p/q",
  });
  assertEquals(parseBucketLocation("s3:b"), { scheme: "s3", endpoint: undefined, bucket: "b", prefix: "" });
  assertEquals(parseBucketLocation("swift:c:/p"), { scheme: "swift", bucket: "c", prefix: "p" });
  assertEquals(parseBucketLocation("swift:"), { scheme: "swift", prefix: "" });
  assertEquals(bucket({ locations: ["swift:c:/p", "s3:http://h:1/a"] }).paths, ["/a", "/c/p"]);
});

t("bucket: exotic keys and metadata, S3 → snapshot → S3, Swift and a directory", async () => {
  const swift = await sharedSwift();
  const s3 = s3B(swift);
  const sw = swiftB(swift);
  const src = fresh("src");
  try {
    await s3.createBucket(src);
    for (const [i, key] of KEYS.entries()) await s3.put(src, key, text(`content of ${i}`), META);
    await withEngine(async (engine, dir) => {
      const source = bucket({ locations: [`s3:${swift.s3Endpoint}/${src}`], s3: s3Of(swift) });
      const r = await engine.backup(source);
      assertEquals(r.warnings, []);
      const nodes = await nodesOf(engine, r.snapshotId);
      // `a` is both an object and a "directory": the directory keeps the name, the object is `a%`.
      assertEquals(nodes.get(`/${src}/a`)?.type, "dir");
      assertEquals(nodes.get(`/${src}/a%`)?.type, "file");
      assertEquals(nodes.get(`/${src}/x/..%/y`)?.type, "file");
      assertEquals(nodes.get(`/${src}/trailing/%`)?.type, "file");
      const meta = nodes.get(`/${src}/pct%2520lit.txt`)?.meta ?? {};
      assertEquals(userAndHeaders(meta), META);
      assert(meta.etag && meta["last-modified"], JSON.stringify(meta));

      const before = await contents(s3, src);
      assertEquals([...before.keys()].sort(), [...KEYS].sort());
      const snapshot = engine.resolveSnapshot(r.snapshotId);
      // S3 → S3, under a prefix.
      const s3Target = fresh("s3dst");
      await bucket({ locations: [`s3:${swift.s3Endpoint}/${s3Target}/restored`], s3: s3Of(swift) })
        .restore!(engine.restoreEntries(snapshot, `/${src}`), { warn: (w) => assert(false, w.message) });
      const s3After = await contents(s3, s3Target, "restored/");
      assertEquals([...s3After.keys()].sort(), [...KEYS].sort());
      for (const [k, v] of before) {
        assertEquals(s3After.get(k)?.sha, v.sha, k);
        assertEquals(userAndHeaders(s3After.get(k)!.meta), META, k);
      }
      // S3 → Swift.
      const swTarget = fresh("swdst");
      await bucket({ locations: [`swift:${swTarget}`], swift: swiftOf(swift) })
        .restore!(engine.restoreEntries(snapshot, `/${src}`), { warn: (w) => assert(false, w.message) });
      const swAfter = await contents(sw, swTarget);
      assertEquals([...swAfter.keys()].sort(), [...KEYS].sort());
      for (const [k, v] of before) {
        assertEquals(swAfter.get(k)?.sha, v.sha, k);
        assertEquals(userAndHeaders(swAfter.get(k)!.meta), META, k);
      }
      // overwrite=never leaves an object alone; if-changed only rewrites what differs.
      await s3.put(swTarget, "a", text("local edit"), {});
      await bucket({ locations: [`swift:${swTarget}`], swift: swiftOf(swift), overwrite: "never" })
        .restore!(engine.restoreEntries(snapshot, `/${src}`), { warn: () => {} });
      assertEquals((await contents(sw, swTarget)).get("a")?.sha, sha(text("local edit")));
      await bucket({ locations: [`swift:${swTarget}`], swift: swiftOf(swift), overwrite: "if-changed" })
        .restore!(engine.restoreEntries(snapshot, `/${src}`), { warn: () => {} });
      assertEquals((await contents(sw, swTarget)).get("a")?.sha, before.get("a")?.sha);

      // Into a directory: files plus a manifest with the full keys and metadata.
      const out = `${dir}/out`;
      const count = await restoreToDirectory(engine.restoreEntries(snapshot, "/"), out);
      assertEquals(count, KEYS.length);
      const lines = Deno.readTextFileSync(`${out}/.floe-bucket-meta.jsonl`).trim().split("\n").map((l) =>
        JSON.parse(l)
      );
      assertEquals(lines.map((l) => l.key).sort(), [...KEYS].sort());
      for (const l of lines) {
        assertEquals(sha(Deno.readFileSync(`${out}/${l.file}`)), before.get(l.key)?.sha, l.key);
        assertEquals(userAndHeaders(l.meta), META);
      }
    });
  } finally {
    await s3.close();
    await sw.close();
  }
});

t("bucket: changes between runs cost a request each; unchanged objects none", async () => {
  const swift = await sharedSwift();
  const s3 = s3B(swift);
  const name = fresh("inc");
  const proxy = await startProxy({ target: swift.proxyUrl });
  try {
    await s3.createBucket(name);
    for (let i = 0; i < 312; i += 16) {
      await Promise.all(
        Array.from(
          { length: Math.min(16, 312 - i) },
          (_, j) => s3.put(name, `d${(i + j) % 4}/o${i + j}`, text(`object ${i + j}`), {}),
        ),
      );
    }
    await withEngine(async (engine) => {
      const source = () => bucket({ locations: [`s3:${proxy.url}/${name}`], s3: s3Of(swift, proxy.url) });
      const first = await engine.backup(source());
      assertEquals(first.snapshot.summary!.files_new, 312);
      let requests = proxy.stats.requests;
      const unchanged = await engine.backup(source());
      const listing = proxy.stats.requests - requests;
      assertEquals(unchanged.snapshot.summary!.files_unmodified, 312);
      assert(listing <= 6, `${listing} requests for an unchanged bucket of 312 objects`);

      await s3.put(name, "d0/o0", text("changed!"), {});
      await s3.put(name, "d1/new", text("new"), {});
      await deleteS3(swift, name, "d2/o2");
      requests = proxy.stats.requests;
      const second = await engine.backup(source());
      const cost = proxy.stats.requests - requests;
      assert(cost <= listing + 2, `${cost} requests for 3 changes (listing alone: ${listing})`);
      const s = second.snapshot.summary!;
      assertEquals([s.files_new, s.files_changed, s.files_unmodified], [1, 1, 310]);
      const nodes = await nodesOf(engine, second.snapshotId);
      assert(!nodes.has(`/${name}/d2/o2`), "a deleted object is gone");
      const changed = nodes.get(`/${name}/d0/o0`)!;
      const bytes = [];
      for await (const b of engine.readFile(changed)) bytes.push(...b);
      assertEquals(new TextDecoder().decode(new Uint8Array(bytes)), "changed!");
    });
  } finally {
    await proxy.stop();
    await s3.close();
  }
});

async function deleteS3(swift: SwiftServer, name: string, key: string) {
  const { connectS3 } = await import("../../storage/s3/_client.ts");
  const c = connectS3(s3Of(swift)!, "s3:test");
  const { sdk, client } = await c.load();
  await client.send(new sdk.DeleteObjectCommand({ Bucket: name, Key: key }));
  await c.close();
}

t("bucket: Swift SLO and DLO as their logical objects, restored as SLO; S3 multipart", async () => {
  const swift = await sharedSwift();
  const sw = swiftB(swift);
  const s3 = s3B(swift);
  const name = fresh("large");
  const { connectSwift } = await import("../../storage/swift/_client.ts");
  const raw = connectSwift(swiftOf(swift)!, "swift:test");
  try {
    await sw.createBucket(name);
    await sw.createBucket(`${name}_segs`);
    const seg = (i: number) => new Uint8Array(1024 * 1024 + i).fill(65 + i);
    for (let i = 0; i < 3; i++) await sw.put(`${name}_segs`, `s/${i}`, seg(i), {});
    const manifest = [0, 1, 2].map((i) => ({ path: `/${name}_segs/s/${i}` }));
    let res = await raw.request("PUT", `${name}/slo.bin`, {
      query: "multipart-manifest=put",
      headers: { "X-Object-Meta-Owner": "ann", "Content-Type": "application/x-slo" },
      body: JSON.stringify(manifest),
    });
    assertEquals(res.status, 201, await res.text());
    res = await raw.request("PUT", `${name}/dlo.bin`, {
      headers: { "X-Object-Manifest": `${name}_segs/s/` },
      body: new Uint8Array(0),
    });
    assertEquals(res.status, 201, await res.text());
    await sw.put(name, "small", text("small"), {});
    const big = new Uint8Array(11 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
    await sw.put(name, "big.bin", big, { "x-meta-size": "11M" });
    const logical = sha(new Uint8Array([...seg(0), ...seg(1), ...seg(2)]));

    await withEngine(async (engine) => {
      const r = await engine.backup(
        bucket({ locations: [`swift:${name}`], swift: swiftOf(swift), memory: "4M" }),
      );
      assertEquals(r.warnings, []);
      const nodes = await nodesOf(engine, r.snapshotId);
      const slo = nodes.get(`/${name}/slo.bin`)!;
      assertEquals(slo.meta?.kind, "slo");
      assertEquals(slo.meta?.["x-meta-owner"], "ann");
      assertEquals(slo.size, 3 * 1024 * 1024 + 3);
      assertEquals(nodes.get(`/${name}/dlo.bin`)?.meta?.kind, "dlo");
      assertEquals(nodes.get(`/${name}/dlo.bin`)?.size, 3 * 1024 * 1024 + 3);
      const snapshot = engine.resolveSnapshot(r.snapshotId);

      const swTarget = fresh("slo-dst");
      await bucket({ locations: [`swift:${swTarget}`], swift: swiftOf(swift), partSize: 1024 * 1024 })
        .restore!(engine.restoreEntries(snapshot, `/${name}`), { warn: (w) => assert(false, w.message) });
      const after = await contents(sw, swTarget);
      assertEquals(after.get("slo.bin")?.sha, logical);
      assertEquals(after.get("dlo.bin")?.sha, logical);
      assertEquals(after.get("slo.bin")?.meta.kind, "slo");
      assertEquals(after.get("slo.bin")?.meta["x-meta-owner"], "ann");
      assertEquals(after.get("slo.bin")?.meta["content-type"], "application/x-slo");

      const s3Target = fresh("mp-dst");
      await bucket({
        locations: [`s3:${swift.s3Endpoint}/${s3Target}`],
        s3: s3Of(swift),
        partSize: 1024 * 1024,
      })
        .restore!(engine.restoreEntries(snapshot, `/${name}`), { warn: (w) => assert(false, w.message) });
      const mp = await contents(s3, s3Target);
      assertEquals(mp.get("slo.bin")?.sha, logical);
      assertEquals(mp.get("big.bin")?.sha, sha(big));
      assertEquals(mp.get("big.bin")?.meta["x-meta-size"], "11M");
      assert(
        /-3$/.test(mp.get("big.bin")?.meta.etag ?? ""),
        `multipart ETag ${mp.get("big.bin")?.meta.etag}`,
      );
      assertEquals(mp.get("small")?.sha, sha(text("small")));
    });
  } finally {
    raw.close();
    await sw.close();
    await s3.close();
  }
});

t(
  "bucket: faults (503s, cut bodies) through the fault proxy are retried; the snapshot is whole",
  async () => {
    const swift = await sharedSwift();
    const s3 = s3B(swift);
    const name = fresh("faults");
    const proxy = await startProxy({ target: swift.proxyUrl, seed: 7, unavailable: 0.15, truncate: 0.2 });
    try {
      await s3.createBucket(name);
      const expected = new Map<string, string>();
      for (let i = 0; i < 40; i++) {
        const data = new Uint8Array(i === 0 ? 3 * 1024 * 1024 : 1000 + i * 37).fill(i);
        await s3.put(name, `k/${i}`, data, {});
        expected.set(`/${name}/k/${i}`, sha(data));
      }
      await withEngine(async (engine) => {
        const r = await engine.backup(
          bucket({
            locations: [`s3:${proxy.url}/${name}`],
            s3: s3Of(swift, proxy.url),
            memory: "2M", // the 3 MiB object is streamed, and resumed when cut
            retry: { baseDelayMs: 1, maxDelayMs: 5 },
          }),
        );
        assertEquals(r.warnings, []);
        assert(proxy.stats.unavailable > 0 && proxy.stats.truncate > 0, JSON.stringify(proxy.stats));
        for await (const { path, node } of engine.ls(engine.resolveSnapshot(r.snapshotId), `/${name}/k`)) {
          const h = createHash("sha256");
          for await (const b of engine.readFile(node)) h.update(b);
          assertEquals(h.digest("hex"), expected.get(path), path);
        }
      });
    } finally {
      await proxy.stop();
      await s3.close();
    }
  },
);

t(
  "bucket: an object replaced after the listing is read as it is now; one replaced mid-stream is reported",
  async () => {
    const swift = await sharedSwift();
    const s3 = s3B(swift);
    const name = fresh("race");
    try {
      await s3.createBucket(name);
      await s3.put(name, "small", text("before"), {});
      await s3.put(name, "large", new Uint8Array(3 * 1024 * 1024).fill(1), {});
      const source = bucket({ locations: [`s3:${swift.s3Endpoint}/${name}`], s3: s3Of(swift), memory: "2M" });
      const entries = new Map<string, SourceEntry>();
      for await (const e of source.scan({ warn: () => {} })) entries.set(e.path, e);
      await s3.put(name, "small", text("after!"), { "content-type": "text/after" });
      const small = entries.get(`/${name}/small`)!;
      const reader = await small.open!();
      const buf = new Uint8Array(100);
      const n = await reader.read(buf);
      await reader.close();
      assertEquals(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "after!");
      assertEquals(small.meta?.["content-type"], "text/after", "the metadata of what was read");

      // The large object through the proxy: its body is cut half-way, and the object replaced before the
      // reader resumes: the range request pinned to the old ETag is refused and the read fails.
      const proxy = await startProxy({ target: swift.proxyUrl });
      try {
        const viaProxy = bucket({
          locations: [`s3:${proxy.url}/${name}`],
          s3: s3Of(swift, proxy.url),
          memory: "2M",
        });
        let entry: SourceEntry | undefined;
        for await (const e of viaProxy.scan({ warn: () => {} })) if (e.path.endsWith("/large")) entry = e;
        proxy.inject("truncate");
        const large = await entry!.open!();
        assert((await large.read(new Uint8Array(64 * 1024)))! > 0);
        await s3.put(name, "large", new Uint8Array(3 * 1024 * 1024).fill(2), {});
        let failed: unknown;
        try {
          while ((await large.read(new Uint8Array(1024 * 1024))) !== null);
        } catch (e) {
          failed = e;
        }
        await large.close();
        assertEquals(proxy.stats.truncate, 1);
        assert(/changed while being read/.test(String(failed)), String(failed));
      } finally {
        await proxy.stop();
      }
    } finally {
      await s3.close();
    }
  },
);

t(
  "bucket: versions=all backs up every version and delete marker; a restore gives the bucket as it is",
  async () => {
    const swift = await sharedSwift();
    const s3 = s3B(swift);
    const name = fresh("versions");
    const { connectS3 } = await import("../../storage/s3/_client.ts");
    const c = connectS3(s3Of(swift)!, "s3:test");
    try {
      await s3.createBucket(name);
      const { sdk, client } = await c.load();
      await client.send(
        new sdk.PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: "Enabled" } }),
      );
      await s3.put(name, "k", text("one"), { "content-type": "text/one" });
      await s3.put(name, "k", text("two"), { "content-type": "text/two" });
      await client.send(new sdk.DeleteObjectCommand({ Bucket: name, Key: "k" }));
      await s3.put(name, "j", text("jay"), {});
      await withEngine(async (engine) => {
        const r = await engine.backup(
          bucket({ locations: [`s3:${swift.s3Endpoint}/${name}`], s3: s3Of(swift), versions: "all" }),
        );
        assertEquals(r.warnings, []);
        const nodes = await nodesOf(engine, r.snapshotId);
        const files = [...nodes].filter(([, n]) => n.type === "file");
        const read = async (n: Node) => {
          const parts: number[] = [];
          for await (const b of engine.readFile(n)) parts.push(...b);
          return new TextDecoder().decode(new Uint8Array(parts));
        };
        assertEquals(nodes.get(`/${name}/k`)?.meta?.kind, "delete-marker");
        const older = files.filter(([p]) => p.startsWith(`/${name}/k%@`));
        assertEquals(older.length, 2);
        const bodies = await Promise.all(older.map(([, n]) => read(n)));
        assertEquals(bodies.sort(), ["one", "two"]);
        for (const [, n] of older) assert(n.meta?.["version-id"], JSON.stringify(n.meta));
        assertEquals(await read(nodes.get(`/${name}/j`)!), "jay");

        const target = fresh("versions-dst");
        await bucket({ locations: [`s3:${swift.s3Endpoint}/${target}`], s3: s3Of(swift) })
          .restore!(engine.restoreEntries(engine.resolveSnapshot(r.snapshotId), `/${name}`), {
            warn: (w) => assert(false, w.message),
          });
        assertEquals([...(await contents(s3, target)).keys()], ["j"]);
      });
    } finally {
      await c.close();
      await s3.close();
    }
  },
);

sourceConformance("bucket (s3 API)", async () => {
  const swift = await sharedSwift();
  const s3 = s3B(swift);
  const conformanceBucket = fresh("conf");
  await s3.createBucket(conformanceBucket);
  for (const key of ["a.txt", "dir/b.txt", "dir/sub/c.bin", "dir-x", "e"]) {
    await s3.put(conformanceBucket, key, text(key), {});
  }
  await s3.close();
  return {
    source: bucket({ locations: [`s3:${swift.s3Endpoint}/${conformanceBucket}`], s3: s3Of(swift) }),
  };
}, { ignore });

t("bucket: stop the Swift node", async () => {
  await stopSharedSwift();
});
