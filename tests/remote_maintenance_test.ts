/**
 * Maintenance commands through the `floe` command line on real remote storage — S3 (Swift's s3api),
 * Swift (tempauth) and SFTP (a private sshd): three backups spread over days, `forget --keep-last 1
 * --prune`, `check --read-data`, restore, `repair index` after an index object is deleted through the
 * storage, `diff`, `find`, `stats --json`, `unlock`, and a `backup` and a `prune` started at the same
 * time. One Swift node and one sshd serve the whole file; a storage is skipped only when its server
 * packages are missing.
 *
 * @example
 * ```sh
 * deno test --allow-all tests/remote_maintenance_test.ts
 * ```
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { type CliResult, randomBytes, runCli, scanTree, tempDir } from "./helpers.ts";
import { openStorage } from "../core/engine.ts";
import { sharedSwift, stopSharedSwift, swiftMissing } from "./fixtures/servers/swift.ts";
import { type Sshd, sshdMissing, startSshd } from "./fixtures/servers/sshd.ts";

const swiftWhy = swiftMissing();
const sshdWhy = sshdMissing();
if (swiftWhy) console.warn(`skipping S3/Swift maintenance tests: ${swiftWhy}`);
if (sshdWhy) console.warn(`skipping SFTP maintenance tests: ${sshdWhy}`);

let sshdPromise: Promise<Sshd> | undefined;
const sharedSshd = () => sshdPromise ??= startSshd();

// The servers outlive single steps; the test stops them at the end.
const opts = { sanitizeResources: false, sanitizeOps: false };

let unique = 0;
const name = (kind: string) => `floe-maint-${kind}-${Date.now().toString(36)}-${++unique}`;

const lines = (text: string) => text.split("\n").filter((l) => l.length);
const jsonLines = (r: CliResult) => lines(r.stdout).map((l) => JSON.parse(l));

function assertSameTree(want: Map<string, string>, restored: string, label: string) {
  const b = scanTree(restored);
  assertEquals([...b.keys()].sort(), [...want.keys()].sort(), label);
  for (const [k, v] of want) assertEquals(b.get(k), v, `${label}: entry ${k}`);
}

/**
 * Generation `gen` of a small tree: a fixed part (deduplicated across generations) and a changing part —
 * `var/changing.bin` rewritten, `var/data-<gen>.bin` replacing the previous generation's, `notes.txt`
 * edited — so forgetting older snapshots leaves prune whole packs to delete and partly-used ones.
 */
function writeGeneration(root: string, gen: number) {
  if (gen === 1) {
    Deno.mkdirSync(`${root}/keep/deeper`, { recursive: true });
    Deno.mkdirSync(`${root}/var`, { recursive: true });
    Deno.writeTextFileSync(`${root}/keep/readme.txt`, "fixed\n".repeat(500));
    Deno.writeFileSync(`${root}/keep/shared.bin`, randomBytes(700_000, 1));
    Deno.writeFileSync(`${root}/keep/deeper/small.bin`, randomBytes(3_000, 2));
    Deno.symlinkSync("keep/readme.txt", `${root}/link`);
  }
  Deno.writeTextFileSync(`${root}/notes.txt`, `generation ${gen}\n`.repeat(50 + gen));
  Deno.writeFileSync(`${root}/var/changing.bin`, randomBytes(600_000, 100 + gen));
  for (const e of Deno.readDirSync(`${root}/var`)) {
    if (e.name.startsWith("data-")) Deno.removeSync(`${root}/var/${e.name}`);
  }
  Deno.writeFileSync(`${root}/var/data-${gen}.bin`, randomBytes(500_000, 200 + gen));
  Deno.chmodSync(`${root}/var/data-${gen}.bin`, 0o600);
}

interface Case {
  label: string;
  location: string;
  env: Record<string, string>;
}

/** Object names under `prefix` on the repository's storage, seen directly through the plugin. */
async function listObjects(location: string, prefix: string): Promise<string[]> {
  const storage = await openStorage(location);
  try {
    const out: string[] = [];
    for await (const o of storage.list(prefix)) out.push(o.name);
    return out.sort();
  } finally {
    await storage.close?.();
  }
}

async function maintenance(c: Case, dir: string): Promise<string[]> {
  const notes: string[] = [];
  const show = (r: CliResult) => `[${c.label}] exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  const ok = (r: CliResult) => {
    assertEquals(r.code, 0, show(r));
    return r;
  };
  const cli = (args: string[], env: Record<string, string> = {}) =>
    runCli(["--repo", c.location, ...args], { ...c.env, ...env });
  const clean = async () => assertStringIncludes(ok(await cli(["check", "--read-data"])).stderr, "no errors");
  let outs = 0;
  const restoreLatest = async (want: Map<string, string>, what: string) => {
    const target = `${dir}/out-${++outs}`;
    ok(await cli(["restore", `latest:${src}`, "--target", target]));
    assertSameTree(want, target, `[${c.label}] ${what}`);
  };
  const day = (d: number) => new Date(Date.UTC(2024, 2, d, 12)).toISOString();

  const src = `${dir}/src`;
  ok(await cli(["init"]));

  // Three backups over three days, with changes between them.
  const ids: string[] = [];
  const trees: Map<string, string>[] = [];
  for (let gen = 1; gen <= 3; gen++) {
    writeGeneration(src, gen);
    trees.push(scanTree(src));
    const b = ok(await cli(["backup", src, "--json", "--time", day(gen)]));
    ids.push(jsonLines(b).at(-1).snapshot_id);
  }
  let snaps = JSON.parse(ok(await cli(["snapshots", "--json"])).stdout);
  assertEquals(snaps.map((s: { id: string }) => s.id).sort(), [...ids].sort(), c.label);

  // diff: the first against the last snapshot.
  const d = ok(await cli(["diff", ids[0], ids[2]]));
  const changes = lines(d.stdout);
  const has = (mod: string, path: string) =>
    assert(
      changes.some((l) => l.startsWith(mod) && l.trimEnd().endsWith(path)),
      `${mod} ${path}: ${show(d)}`,
    );
  has("-", `${src}/var/data-1.bin`);
  has("+", `${src}/var/data-3.bin`);
  has("M", `${src}/var/changing.bin`);
  has("M", `${src}/notes.txt`);
  assert(!changes.some((l) => l.includes("keep/shared.bin")), show(d));
  const dj = jsonLines(ok(await cli(["--json", "diff", ids[0], ids[2]])));
  const stat = dj.find((m) => m.message_type === "statistics");
  assertEquals(stat.changed_files, 2, JSON.stringify(stat));
  assertEquals(stat.added.files, 1, JSON.stringify(stat));
  assertEquals(stat.removed.files, 1, JSON.stringify(stat));

  // find: across every snapshot, then one.
  const f = ok(await cli(["find", "data-*.bin"]));
  const found = lines(f.stdout);
  assertEquals(found.length, 3, show(f));
  for (let gen = 1; gen <= 3; gen++) {
    assert(found.some((l) => l.endsWith(`${src}/var/data-${gen}.bin`)), show(f));
  }
  assertStringIncludes(f.stderr, "3 match(es) in 3 of 3 snapshot(s)", show(f));
  const fj = jsonLines(ok(await cli(["--json", "find", "changing.bin", "-s", ids[1]])));
  assertEquals(fj.length, 1, JSON.stringify(fj));
  assertEquals(fj[0].snapshot, ids[1]);
  assertEquals(fj[0].size, 600_000);

  // forget --keep-last 1 --prune: two snapshots gone, packs deleted, the rest checks clean and restores.
  const packsBefore = await listObjects(c.location, "data/");
  ok(await cli(["forget", "--keep-last", "1", "--prune"]));
  snaps = JSON.parse(ok(await cli(["snapshots", "--json"])).stdout);
  assertEquals(snaps.map((s: { id: string }) => s.id), [ids[2]], c.label);
  const packsAfter = await listObjects(c.location, "data/");
  assert(
    packsAfter.some((p) => !packsBefore.includes(p)) || packsAfter.length < packsBefore.length,
    `[${c.label}] prune changed no pack: ${packsBefore.length} → ${packsAfter.length}`,
  );
  assert(packsBefore.some((p) => !packsAfter.includes(p)), `[${c.label}] prune deleted no pack`);
  notes.push(`packs ${packsBefore.length} → ${packsAfter.length}`);
  await clean();
  await restoreLatest(trees[2], "after forget --prune");

  // stats --json on the one snapshot left.
  const st = JSON.parse(ok(await cli(["--json", "stats"])).stdout);
  assertEquals(st.snapshots_count, 1, JSON.stringify(st));
  const files = [...trees[2].values()].filter((v) => v.startsWith("file "));
  const bytes = files.reduce((n, v) => n + Number(v.split(" ")[2]), 0);
  assertEquals(st.total_file_count, files.length, JSON.stringify(st));
  assertEquals(st.total_size, bytes, JSON.stringify(st));
  const raw = JSON.parse(ok(await cli(["--json", "stats", "--mode", "raw"])).stdout);
  assert(raw.total_stored_size > 0 && raw.missing_blob_count === 0, JSON.stringify(raw));

  // repair index after one index object is deleted through the storage.
  const index = await listObjects(c.location, "index/");
  assert(index.length >= 1, `[${c.label}] no index objects`);
  {
    const storage = await openStorage(c.location);
    try {
      await storage.delete(index[0]);
    } finally {
      await storage.close?.();
    }
  }
  notes.push(`index objects ${index.length}, deleted ${index[0]}`);
  const broken = await cli(["check"]);
  assertEquals(broken.code, 1, show(broken));
  assertStringIncludes(broken.stdout, "not in the index", show(broken));
  ok(await cli(["repair", "index"]));
  await clean();
  await restoreLatest(trees[2], "after repair index");

  // unlock: nothing to remove, then an unreadable lock object (stale) put through the storage.
  assertStringIncludes(ok(await cli(["unlock"])).stdout, "removed 0 locks");
  {
    const storage = await openStorage(c.location);
    try {
      await storage.put(`locks/${"ab".repeat(16)}`, new TextEncoder().encode("not a lock"));
    } finally {
      await storage.close?.();
    }
  }
  assertEquals((await listObjects(c.location, "locks/")).length, 1, c.label);
  assertStringIncludes(ok(await cli(["unlock"])).stdout, "removed 1 lock");
  assertEquals(await listObjects(c.location, "locks/"), [], c.label);

  // A fourth backup adds an index object; repair index again, now with only one of several lost.
  writeGeneration(src, 4);
  const gen4 = scanTree(src);
  ok(await cli(["backup", src, "--time", day(4)]));
  const several = await listObjects(c.location, "index/");
  assert(several.length >= 2, `[${c.label}] expected several index objects: ${several}`);
  {
    const storage = await openStorage(c.location);
    try {
      await storage.delete(several[0]);
    } finally {
      await storage.close?.();
    }
  }
  notes.push(`then ${several.length} index objects, one deleted`);
  const partly = await cli(["check"]);
  assertEquals(partly.code, 1, show(partly));
  assertStringIncludes(partly.stdout, "not in the index", show(partly));
  ok(await cli(["repair", "index"]));
  await clean();
  await restoreLatest(gen4, "after the second repair index");

  // A backup and a prune at the same time: the fourth generation was just forgotten, so the prune has
  // packs to delete while the backup writes new ones.
  ok(await cli(["forget", "--keep-last", "1"]));
  writeGeneration(src, 5);
  const gen5 = scanTree(src);
  const [b5, p] = await Promise.all([
    cli(["backup", src, "--json", "--time", day(5)]),
    cli(["--json", "prune"]),
  ]);
  ok(b5);
  ok(p);
  const pj = JSON.parse(p.stdout);
  assert(pj.deleted.packs + pj.marked.packs > 0, `[${c.label}] the prune had nothing to do: ${p.stdout}`);
  notes.push(`concurrent prune: deleted ${pj.deleted.packs}, marked ${pj.marked.packs}`);
  await clean();
  await restoreLatest(gen5, "after concurrent backup and prune");
  // A second prune finishes what the first deferred; still clean.
  const second = JSON.parse(ok(await cli(["--json", "prune"])).stdout);
  assertEquals(second.markers.pending, 0, `[${c.label}] ${JSON.stringify(second)}`);
  notes.push(`second prune: deleted ${second.deleted.packs}`);
  await clean();
  snaps = JSON.parse(ok(await cli(["snapshots", "--json"])).stdout);
  assertEquals(snaps.length, 2, c.label);
  await restoreLatest(gen5, "after the second prune");
  return notes;
}

Deno.test({
  name: "remote maintenance: forget --prune, check, repair index, diff, find, stats, unlock, " +
    "backup during prune — on s3, swift and sftp",
  ignore: !!swiftWhy && !!sshdWhy,
  ...opts,
  fn: async () => {
    const d = await tempDir("floe-remote-maint-");
    try {
      for (const sub of ["home", "cache"]) Deno.mkdirSync(`${d.path}/${sub}`);
      const base: Record<string, string> = {
        HOME: `${d.path}/home`,
        XDG_CACHE_HOME: `${d.path}/home/.cache`,
        FLOE_PASSWORD: "remote-maintenance-password",
      };
      const creds: Record<string, string> = {};
      const cases: Case[] = [];
      if (!swiftWhy) {
        const swift = await sharedSwift();
        Object.assign(creds, {
          AWS_ACCESS_KEY_ID: swift.accessKey,
          AWS_SECRET_ACCESS_KEY: swift.secretKey,
          AWS_REGION: swift.region,
          ST_AUTH: swift.authUrl,
          ST_USER: swift.user,
          ST_KEY: swift.key,
        });
        cases.push({ label: "s3", location: `s3:${swift.s3Endpoint}/${name("s3")}/host/repo`, env: {} });
        cases.push({ label: "swift", location: `swift:${name("swift")}:/host/repo`, env: {} });
      }
      if (!sshdWhy) {
        const sshd = await sharedSshd();
        Object.assign(creds, { FLOE_SSH_KEY: sshd.keyPath, FLOE_SSH_KNOWN_HOSTS: sshd.knownHostsPath });
        cases.push({
          label: "sftp",
          location: `sftp://${sshd.user}@${sshd.host}:${sshd.port}/${sshd.root}/maint-${++unique}`,
          env: {},
        });
      }
      // The storage plugins opened in this process (openStorage) read their credentials from its env.
      for (const [k, v] of Object.entries(creds)) Deno.env.set(k, v);
      const results = await Promise.allSettled(cases.map((c) => {
        const dir = `${d.path}/${c.label}`;
        Deno.mkdirSync(dir);
        c.env = { ...base, ...creds, FLOE_CACHE_DIR: `${dir}/cache` };
        return maintenance(c, dir);
      }));
      const failed: string[] = [];
      for (const [i, r] of results.entries()) {
        if (r.status === "fulfilled") console.log(`  ${cases[i].label}: ${r.value.join("; ")}`);
        else failed.push(`${cases[i].label}: ${r.reason?.stack ?? r.reason}`);
      }
      assertEquals(failed, [], failed.join("\n\n"));
    } finally {
      await d.cleanup();
      await stopSharedSwift();
      if (sshdPromise) await (await sshdPromise.catch(() => null))?.stop();
    }
  },
});
