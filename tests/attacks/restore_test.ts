/**
 * Attacks on a restore: a repository damaged after the backup (one byte flipped inside one data blob, a
 * whole pack deleted, a blob dropped from the index) and a snapshot holding names no file system takes.
 * The restore must go on past each, leave no file under its own name that is not byte-identical to the
 * snapshot (what could be restored of a damaged file only as NAME.floe-partial), list exactly the entries
 * concerned, and the CLI must print them and exit 3. `dump` of a damaged file fails naming it, and never
 * prints zeros in place of the lost data.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { type CliResult, newEngine, randomBytes, runCli, sha256, tempDir } from "../helpers.ts";
import { type Engine, internals } from "../../core/engine.ts";
import { API_VERSION, type SourceEntry, type SourcePlugin } from "../../core/contracts.ts";
import { loadPlugin } from "../../core/registry.ts";
import { packName } from "../../core/repository/repository.ts";
import type { IndexEntry } from "../../core/repository/types.ts";

const MiB = 1024 * 1024;
const PASSWORD = "test-password";
const show = (r: CliResult) => `exit ${r.code}\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr}`;

interface Setup {
  dir: string;
  src: string;
  engine: Engine;
  env: Record<string, string>;
}

/**
 * A tree of several files (three of several MiB, so several chunks and packs each, and more than the
 * 16 MiB from which a restore starts its workers), backed up into a repository with small packs.
 */
async function withBackup(fn: (s: Setup) => Promise<void>): Promise<void> {
  const d = await tempDir("floe-attack-restore-");
  try {
    const src = `${d.path}/src`;
    Deno.mkdirSync(`${src}/docs/deep`, { recursive: true });
    Deno.writeFileSync(`${src}/big-a.bin`, randomBytes(6 * MiB + 1234, 1));
    Deno.writeFileSync(`${src}/big-b.bin`, randomBytes(6 * MiB + 4321, 2));
    Deno.writeFileSync(`${src}/docs/big-c.bin`, randomBytes(5 * MiB, 3));
    Deno.writeFileSync(`${src}/docs/mid.bin`, randomBytes(700 * 1024, 4));
    for (let i = 0; i < 10; i++) {
      Deno.writeTextFileSync(`${src}/docs/deep/n${i}.txt`, `note ${i}\n`.repeat(900));
    }
    Deno.writeFileSync(`${src}/empty`, new Uint8Array(0));
    const engine = await newEngine(d.path, PASSWORD);
    try {
      const r = await engine.backup(await loadPlugin("source", "fs", { paths: [src] }));
      assertEquals(r.warnings, []);
      await fn({
        dir: d.path,
        src,
        engine,
        env: {
          HOME: d.path,
          FLOE_CACHE_DIR: `${d.path}/clicache`,
          FLOE_REPOSITORY: `${d.path}/repo`,
          FLOE_PASSWORD: PASSWORD,
        },
      });
    } finally {
      await engine.close();
    }
  } finally {
    await d.cleanup();
  }
}

/** Relative path → sha256 of every regular file below `root`. */
function hashes(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string, rel: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) walk(`${dir}/${e.name}`, r);
      else if (e.isFile) out.set(r, sha256(Deno.readFileSync(`${dir}/${e.name}`)));
    }
  };
  walk(root, "");
  return out;
}

/** Source files (relative) that use a blob `spoiled` picks. */
async function filesUsing(s: Setup, spoiled: (e: IndexEntry) => boolean): Promise<string[]> {
  const out: string[] = [];
  for await (const { path, node } of s.engine.ls(s.engine.resolveSnapshot("latest"), s.src)) {
    if (node.content?.some((id) => spoiled(internals(s.engine).catalog.lookupBlob(id)!))) {
      out.push(path.slice(s.src.length + 1));
    }
  }
  return out.sort();
}

/** Where blob number `k` of a source file is stored. */
async function blobOf(s: Setup, rel: string, k: number): Promise<IndexEntry> {
  const node = await internals(s.engine).trees.find(
    s.engine.resolveSnapshot("latest").snapshot.tree,
    `${s.src}/${rel}`,
  );
  assert(node!.content!.length > k, `${rel} has ${node!.content!.length} blobs`);
  return internals(s.engine).catalog.lookupBlob(node!.content![k])!;
}

/**
 * The restore in `target` holds every source file byte for byte, but `damaged`: those are missing, and
 * may only be there as NAME.floe-partial. Returns the partial copies found.
 */
function assertRestored(s: Setup, target: string, damaged: string[], label: string): string[] {
  const want = hashes(s.src);
  const got = hashes(target);
  const partials: string[] = [];
  for (const [rel, hash] of got) {
    if (rel.endsWith(".floe-partial")) {
      assert(damaged.includes(rel.slice(0, -".floe-partial".length)), `${label}: unexpected ${rel}`);
      partials.push(rel);
      continue;
    }
    assert(!damaged.includes(rel), `${label}: damaged ${rel} is under its own name`);
    assertEquals(hash, want.get(rel), `${label}: ${rel} differs from the snapshot`);
  }
  for (const rel of want.keys()) {
    if (!damaged.includes(rel)) assert(got.has(rel), `${label}: ${rel} was not restored`);
  }
  return partials.sort();
}

/** Restores in-process; checks the result lists exactly `damaged`, and the tree. */
async function restoreChecked(s: Setup, target: string, damaged: string[], workers: number) {
  const label = `workers ${workers}`;
  const r = await s.engine.restore({
    snapshot: s.engine.resolveSnapshot("latest"),
    subpath: s.src,
    target,
    workers,
  });
  assertEquals(r.incomplete.map((e) => e.path).sort(), damaged.map((d) => `${target}/${d}`), label);
  for (const e of r.incomplete) {
    assert(r.warnings.some((w) => w.path === e.path), `${label}: no warning for ${e.path}`);
  }
  const partials = assertRestored(s, target, damaged, label);
  assertEquals(
    r.incomplete.filter((e) => e.partial).map((e) => e.partial!.slice(target.length + 1)).sort(),
    partials,
    label,
  );
  return r;
}

/** Restores through the CLI: exit 3, every damaged file printed, the tree as it must be. */
async function cliChecked(s: Setup, target: string, damaged: string[], extra: Record<string, string> = {}) {
  const r = await runCli(["restore", `latest:${s.src}`, "--target", target], { ...s.env, ...extra });
  assertEquals(r.code, 3, show(r));
  const list = r.stderr.slice(r.stderr.indexOf("could not be restored exactly"));
  assert(list.length < r.stderr.length, show(r));
  for (const d of damaged) assertStringIncludes(list, `${target}/${d}`);
  assertRestored(s, target, damaged, `cli ${JSON.stringify(extra)}`);
}

function flipByte(file: string, offset: number): void {
  const bytes = Deno.readFileSync(file);
  bytes[offset] ^= 0x55;
  Deno.chmodSync(file, 0o644);
  Deno.writeFileSync(file, bytes);
}

Deno.test({
  name: "attack/restore: one byte flipped in one data blob spoils only the files using it",
  sanitizeResources: false,
  fn: () =>
    withBackup(async (s) => {
      // Restored whole before the damage: the files are there when the damaged restore runs over them.
      const over = `${s.dir}/over`;
      await restoreChecked(s, over, [], 2);
      const ifChanged = `${s.dir}/if-changed`;
      await restoreChecked(s, ifChanged, [], 0);
      Deno.writeFileSync(`${s.dir}/stale`, new TextEncoder().encode("stale"));

      const blob = await blobOf(s, "big-b.bin", 3);
      flipByte(`${s.dir}/repo/${packName(blob.pack)}`, blob.offset + (blob.length >> 1));
      const damaged = await filesUsing(s, (e) => e.id === blob.id);
      assertEquals(damaged, ["big-b.bin"]);

      for (const workers of [2, 0]) {
        const target = `${s.dir}/out-${workers}`;
        const r = await restoreChecked(s, target, damaged, workers);
        assertStringIncludes(r.incomplete[0].message, "failed authentication (damaged pack)");
        // The partial copy holds the regions that could be restored, and no more than that.
        const partial = Deno.readFileSync(r.incomplete[0].partial!);
        const source = Deno.readFileSync(`${s.src}/big-b.bin`);
        const node = await internals(s.engine).trees.find(
          s.engine.resolveSnapshot("latest").snapshot.tree,
          `${s.src}/big-b.bin`,
        );
        let lost = 0;
        for (let k = 0; k < 3; k++) {
          lost += internals(s.engine).catalog.lookupBlob(node!.content![k])!.rawLength;
        }
        assertEquals(
          sha256(partial.subarray(0, lost)),
          sha256(source.subarray(0, lost)),
          `workers ${workers}`,
        );
      }

      // Over the earlier, whole restore (overwrite always): the old big-b.bin does not stay there.
      await restoreChecked(s, over, damaged, 2);
      // A NAME.floe-partial already there is never replaced: the damaged copy is removed instead.
      const stale = `${s.dir}/stale-target`;
      Deno.mkdirSync(stale);
      Deno.copyFileSync(`${s.dir}/stale`, `${stale}/big-b.bin.floe-partial`);
      const r = await s.engine.restore({
        snapshot: s.engine.resolveSnapshot("latest"),
        subpath: s.src,
        target: stale,
        workers: 0,
      });
      assertEquals(r.incomplete.map((e) => [e.path, e.partial]), [[`${stale}/big-b.bin`, undefined]]);
      assertEquals(Deno.readTextFileSync(`${stale}/big-b.bin.floe-partial`), "stale");
      Deno.removeSync(`${stale}/big-b.bin.floe-partial`);
      assertRestored(s, stale, damaged, "stale partial");

      await cliChecked(s, `${s.dir}/cli`, damaged);
      await cliChecked(s, `${s.dir}/cli-0`, damaged, { FLOE_WORKERS: "0" });
      // --overwrite if-changed over the whole restore: the damaged file must not stay under its name.
      Deno.utimeSync(`${ifChanged}/big-b.bin`, new Date(0), new Date(0)); // looks changed
      const ic = await runCli(
        ["restore", `latest:${s.src}`, "--target", ifChanged, "--overwrite", "if-changed"],
        s.env,
      );
      assertEquals(ic.code, 3, show(ic));
      assertRestored(s, ifChanged, damaged, "if-changed");

      // dump: fails naming the file; what it printed is the content before the damage, never zeros.
      const source = Deno.readFileSync(`${s.src}/big-b.bin`);
      const d = await runCli(["dump", "latest", `${s.src}/big-b.bin`], s.env);
      assertEquals(d.code, 1, show(d));
      assertStringIncludes(d.stderr, `${s.src}/big-b.bin is damaged`);
      assertStringIncludes(d.stderr, "failed authentication");
      assert(d.stdoutBytes.length < source.length, `dump printed ${d.stdoutBytes.length} bytes`);
      assertEquals(sha256(d.stdoutBytes), sha256(source.subarray(0, d.stdoutBytes.length)));
      const tar = await runCli(["dump", "latest", s.src], s.env);
      assertEquals(tar.code, 1, show(tar));
      assertStringIncludes(tar.stderr, "big-b.bin is damaged");
    }),
});

Deno.test({
  name: "attack/restore: a deleted pack spoils only the files with a blob in it",
  sanitizeResources: false,
  fn: () =>
    withBackup(async (s) => {
      // Packs fill in the order encodes end, which depends on the workers' timing: a blob of big-a.bin in a
      // pack without the small note's blob (one CI run in many had them share a pack).
      const note = await blobOf(s, "docs/deep/n0.txt", 0);
      let blob = await blobOf(s, "big-a.bin", 4);
      for (let k = 5; blob.pack === note.pack; k++) blob = await blobOf(s, "big-a.bin", k);
      Deno.removeSync(`${s.dir}/repo/${packName(blob.pack)}`);
      const damaged = await filesUsing(s, (e) => e.pack === blob.pack);
      assert(damaged.includes("big-a.bin"));
      assert(!damaged.includes("docs/deep/n0.txt"), `damaged: ${damaged}`);
      for (const workers of [2, 0]) {
        const r = await restoreChecked(s, `${s.dir}/out-${workers}`, damaged, workers);
        for (const e of r.incomplete) assertStringIncludes(e.message, "is missing");
      }
      await cliChecked(s, `${s.dir}/cli`, damaged);
      await cliChecked(s, `${s.dir}/cli-0`, damaged, { FLOE_WORKERS: "0" });
    }),
});

Deno.test({
  name: "attack/restore: a blob missing from the index spoils only the files using it",
  sanitizeResources: false,
  fn: () =>
    withBackup(async (s) => {
      const blob = await blobOf(s, "docs/big-c.bin", 2);
      internals(s.engine).catalog.db.prepare("DELETE FROM blobs WHERE id = ?").run(blob.id);
      const damaged = ["docs/big-c.bin"];
      for (const workers of [2, 0]) {
        const r = await restoreChecked(s, `${s.dir}/out-${workers}`, damaged, workers);
        assertStringIncludes(r.incomplete[0].message, "is not in the index");
        // What comes before the missing blob is kept.
        assertEquals(r.incomplete[0].partial, `${s.dir}/out-${workers}/docs/big-c.bin.floe-partial`);
      }
    }),
});

Deno.test({
  name: "attack/restore: names too long for the file system are skipped with a warning, the rest restored",
  sanitizeResources: false,
  fn: async () => {
    const d = await tempDir("floe-attack-restore-");
    try {
      const enc = new TextEncoder();
      const file = (path: string, content: string): SourceEntry => ({
        path,
        type: "file",
        size: content.length,
        mtime: 1000,
        mode: 0o644,
        open() {
          let done = false;
          return {
            read(into: Uint8Array) {
              if (done) return null;
              done = true;
              into.set(enc.encode(content));
              return content.length;
            },
            close() {},
          };
        },
      });
      const dir = (path: string): SourceEntry => ({ path, type: "dir", size: 0, mtime: 1000, mode: 0o755 });
      const long = "L".repeat(300); // over NAME_MAX (255 bytes)
      const link = "S".repeat(300);
      // Components that fit, in a path longer than PATH_MAX (4096 bytes).
      const deep = Array.from({ length: 22 }, (_, i) => `${i}`.padStart(200, "d"));
      const source: SourcePlugin = {
        kind: "source",
        name: "long-names",
        apiVersion: API_VERSION,
        paths: ["/v"],
        *scan() {
          yield dir("/");
          yield dir("/v");
          yield file(`/v/${long}`, "long name");
          yield { path: `/v/${link}`, type: "symlink", size: 0, mtime: 1000, mode: 0o777, linkTarget: "a" };
          yield file("/v/a", "aaa");
          let p = "/v/deep";
          yield dir(p);
          for (const c of deep) yield dir(p = `${p}/${c}`);
          yield file(`${p}/bottom`, "too deep");
          yield file("/v/z", "zzz");
        },
      };
      const engine = await newEngine(d.path, PASSWORD);
      try {
        await engine.backup(source);
        const target = `${d.path}/out`;
        const r = await engine.restore({ snapshot: engine.resolveSnapshot("latest"), subpath: "/v", target });
        const paths = r.incomplete.map((e) => e.path);
        assertEquals(paths.length, 3, JSON.stringify(paths));
        assert(paths.includes(`${target}/${long}`));
        assert(paths.includes(`${target}/${link}`));
        const tooDeep = paths.find((p) => p.startsWith(`${target}/deep/`))!;
        assert(enc.encode(tooDeep).length > 4096 - 256, `${tooDeep.length}`);
        for (const e of r.incomplete) assert(r.warnings.some((w) => w.path === e.path));
        assertEquals(Deno.readTextFileSync(`${target}/a`), "aaa");
        assertEquals(Deno.readTextFileSync(`${target}/z`), "zzz");
        assertEquals([...Deno.readDirSync(target)].map((e) => e.name).sort(), ["a", "deep", "z"]);

        const cli = await runCli(["restore", "latest:/v", "--target", `${d.path}/cli`], {
          HOME: d.path,
          FLOE_CACHE_DIR: `${d.path}/clicache`,
          FLOE_REPOSITORY: `${d.path}/repo`,
          FLOE_PASSWORD: PASSWORD,
        });
        assertEquals(cli.code, 3, show(cli));
        assertStringIncludes(cli.stderr, "3 entries could not be restored exactly");
        assertStringIncludes(cli.stderr, `${d.path}/cli/${long}`);
        assertEquals(Deno.readTextFileSync(`${d.path}/cli/a`), "aaa");
        assertEquals(Deno.readTextFileSync(`${d.path}/cli/z`), "zzz");
      } finally {
        await engine.close();
      }
    } finally {
      await d.cleanup();
    }
  },
});
