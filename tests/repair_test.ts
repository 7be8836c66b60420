/**
 * Damage and repair, through the CLI on a local repository of real files: `check` names damaged packs,
 * index files and snapshots with the snapshots and files they affect; `repair index` rebuilds a lost
 * index; `repair snapshots` drops what a lost pack held; a backup killed with SIGKILL leaves a
 * repository that `unlock`, `check` and the next backup handle.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { type CliResult, newEngine, randomBytes, runCli, sha256, tempDir } from "./helpers.ts";
import { Engine, internals } from "../core/engine.ts";
import { packName } from "../core/repository/repository.ts";

interface Env {
  dir: string;
  src: string;
  repo: string;
  env: Record<string, string>;
  cleanup: () => Promise<void>;
}

const PASSWORD = "test-password";
const show = (r: CliResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
const ok = (r: CliResult) => assertEquals(r.code, 0, show(r));
const jsonLines = (r: CliResult) => r.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l));

/** A repository with small packs (so files spread over several) and a source tree of real files. */
async function setup(): Promise<Env> {
  const d = await tempDir("floe-repair-");
  const engine = await newEngine(d.path, PASSWORD);
  await engine.close();
  const src = `${d.path}/src`;
  Deno.mkdirSync(`${src}/docs/deep`, { recursive: true });
  Deno.mkdirSync(`${src}/bin`);
  for (let i = 0; i < 6; i++) Deno.writeFileSync(`${src}/bin/f${i}.bin`, randomBytes(400 * 1024, 10 + i));
  for (let i = 0; i < 5; i++) {
    Deno.writeTextFileSync(`${src}/docs/note${i}.txt`, `note ${i}\n`.repeat(2000 + i));
  }
  Deno.writeTextFileSync(`${src}/docs/deep/leaf.txt`, "leaf\n");
  return {
    dir: d.path,
    src,
    repo: `${d.path}/repo`,
    env: {
      HOME: d.path,
      FLOE_CACHE_DIR: `${d.path}/clicache`,
      FLOE_REPOSITORY: `${d.path}/repo`,
      FLOE_PASSWORD: PASSWORD,
    },
    cleanup: d.cleanup,
  };
}

async function backup(e: Env): Promise<string> {
  const r = await runCli(["backup", e.src, "--json"], e.env);
  ok(r);
  return jsonLines(r).at(-1).snapshot_id;
}

/** Opens the repository in-process (own catalog) to find where things are. */
async function open(e: Env): Promise<Engine> {
  return await Engine.open({
    location: e.repo,
    password: PASSWORD,
    catalogPath: `${e.dir}/probe/catalog.db`,
  });
}

/** The pack and entry holding the first content blob of `path` in the latest snapshot. */
async function locate(e: Env, path: string) {
  const engine = await open(e);
  try {
    const snap = engine.resolveSnapshot("latest");
    const node = await internals(engine).trees.find(snap.snapshot.tree, path);
    const entry = internals(engine).catalog.lookupBlob(node!.content![0])!;
    // Every file of the source with a blob in that pack.
    const files: string[] = [];
    for await (const { path: p, node: n } of engine.ls(snap)) {
      if (n.content?.some((c) => internals(engine).catalog.lookupBlob(c)?.pack === entry.pack)) files.push(p);
    }
    return { entry, file: `${e.repo}/${packName(entry.pack)}`, files };
  } finally {
    await engine.close();
  }
}

function flipByte(file: string, offset: number): () => void {
  const bytes = Deno.readFileSync(file);
  const orig = bytes.slice();
  bytes[offset] ^= 0x55;
  Deno.chmodSync(file, 0o644);
  Deno.writeFileSync(file, bytes);
  return () => Deno.writeFileSync(file, orig);
}

function truncate(file: string, length: number): () => void {
  const orig = Deno.readFileSync(file);
  Deno.chmodSync(file, 0o644);
  Deno.writeFileSync(file, orig.subarray(0, length));
  return () => Deno.writeFileSync(file, orig);
}

/** Relative path → sha256 of every file below `root`. */
function hashes(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string, rel: string) => {
    for (const d of Deno.readDirSync(dir)) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory) walk(`${dir}/${d.name}`, r);
      else if (d.isFile) out.set(r, sha256(Deno.readFileSync(`${dir}/${d.name}`)));
    }
  };
  walk(root, "");
  return out;
}

/** Restores `snapshot` and returns its file hashes, keyed relative to the source directory. */
async function restored(e: Env, snapshot: string, name: string): Promise<Map<string, string>> {
  const target = `${e.dir}/${name}`;
  ok(await runCli(["restore", snapshot, "-t", target], e.env));
  return hashes(`${target}${e.src}`);
}

Deno.test({
  name:
    "check: bit flips and truncations in a pack, an index file and a snapshot are named with what they affect",
  sanitizeResources: false,
  fn: async () => {
    const e = await setup();
    try {
      const a = await backup(e);
      Deno.writeFileSync(`${e.src}/bin/added.bin`, randomBytes(200 * 1024, 99));
      const b = await backup(e);
      ok(await runCli(["check", "--read-data"], e.env));

      // A data pack: one flipped byte inside f2.bin's first blob.
      const { entry, file } = await locate(e, `${e.src}/bin/f2.bin`);
      let undo = flipByte(file, entry.offset + 20);
      let r = await runCli(["check", "--read-data"], e.env);
      assertEquals(r.code, 1, show(r));
      assertStringIncludes(r.stdout, `error: pack ${entry.pack.slice(0, 16)}`);
      assertStringIncludes(r.stdout, "1 of");
      assertStringIncludes(r.stdout, a.slice(0, 8));
      assertStringIncludes(r.stdout, b.slice(0, 8));
      assertStringIncludes(r.stdout, `${e.src}/bin/f2.bin`);
      let report = JSON.parse((await runCli(["check", "--read-data", "--json"], e.env)).stdout);
      const packProblem = report.problems.find((p: { kind: string }) => p.kind === "pack");
      assertEquals(packProblem.id, entry.pack);
      assertEquals(new Set(packProblem.snapshots), new Set([a, b]));
      assertEquals(
        new Set(packProblem.files.map((f: { snapshot: string; path: string }) => `${f.snapshot}:${f.path}`)),
        new Set([`${a}:${e.src}/bin/f2.bin`, `${b}:${e.src}/bin/f2.bin`]),
      );
      assertEquals(packProblem.filesTotal, 2);
      undo();

      // The same pack truncated inside that blob: found without reading data.
      undo = truncate(file, entry.offset + entry.length - 1);
      r = await runCli(["check"], e.env);
      assertEquals(r.code, 1, show(r));
      assertStringIncludes(r.stdout, `error: pack ${entry.pack.slice(0, 16)}: truncated`);
      assertStringIncludes(r.stdout, `${e.src}/bin/f2.bin`);
      undo();

      // The index file of the second backup: flipped, then truncated. Its blobs (added.bin, new trees) are
      // listed nowhere else.
      const engine = await open(e);
      const indexIds = await internals(engine).repo.listIds("index");
      await engine.close();
      const newest = (() => {
        for (const id of indexIds) {
          const s = Deno.statSync(`${e.repo}/index/${id}`);
          if (!indexIds.some((o) => Deno.statSync(`${e.repo}/index/${o}`).mtime! > s.mtime!)) return id;
        }
        throw new Error("no index");
      })();
      for (const damage of [(f: string) => flipByte(f, 40), (f: string) => truncate(f, 30)]) {
        undo = damage(`${e.repo}/index/${newest}`);
        r = await runCli(["check"], e.env);
        assertEquals(r.code, 1, show(r));
        assertStringIncludes(r.stdout, `error: index ${newest.slice(0, 16)}`);
        assertStringIncludes(r.stdout, b.slice(0, 8));
        assertStringIncludes(r.stdout, `${e.src}/bin/added.bin`);
        assert(!r.stdout.includes(a.slice(0, 8)), show(r));
        undo();
      }

      // The first snapshot file: flipped, then truncated.
      for (const damage of [(f: string) => flipByte(f, 100), (f: string) => truncate(f, 50)]) {
        undo = damage(`${e.repo}/snapshots/${a}`);
        r = await runCli(["check"], e.env);
        assertEquals(r.code, 1, show(r));
        assertStringIncludes(r.stdout, `error: snapshot ${a.slice(0, 16)}`);
        assertStringIncludes(r.stdout, `affects snapshot ${a.slice(0, 8)}`);
        undo();
      }
      // A fresh catalog still opens with a damaged snapshot (skipped with a warning) and check reports it.
      undo = flipByte(`${e.repo}/snapshots/${a}`, 100);
      r = await runCli(["check"], { ...e.env, FLOE_CACHE_DIR: `${e.dir}/fresh-cache` });
      assertEquals(r.code, 1, show(r));
      assertStringIncludes(r.stdout, `error: snapshot ${a.slice(0, 16)}`);
      assertStringIncludes(r.stderr, "skipped");
      undo();

      report = JSON.parse((await runCli(["check", "--read-data", "--json"], e.env)).stdout);
      assertEquals(report.problems, []);
    } finally {
      await e.cleanup();
    }
  },
});

Deno.test({
  name: "repair index: after every index file is deleted, the index is rebuilt from pack headers",
  sanitizeResources: false,
  fn: async () => {
    const e = await setup();
    try {
      await backup(e);
      // Add (not change) a file: every blob of both snapshots stays in the source, so the backup after the
      // lost pack below can bring all of them back, whichever pack they were packed into.
      Deno.writeTextFileSync(`${e.src}/docs/added.txt`, "added\n");
      const b = await backup(e);
      const before = hashes(e.src);
      for (const d of Deno.readDirSync(`${e.repo}/index`)) Deno.removeSync(`${e.repo}/index/${d.name}`);
      let r = await runCli(["check"], e.env);
      assertEquals(r.code, 1, show(r));
      assertStringIncludes(r.stdout, "not in the index");

      r = await runCli(["repair", "index", "--json"], e.env);
      ok(r);
      const out = JSON.parse(r.stdout);
      assertEquals(out.unreadable, []);
      assertEquals(out.packsIndexed, out.packs);
      assertEquals(out.written.length, 1);
      ok(await runCli(["check", "--read-data"], e.env));
      // A truncated pack is reported and left out.
      const { file, entry } = await locate(e, `${e.src}/bin/f1.bin`);
      truncate(file, 100);
      r = await runCli(["repair", "index", "--json"], e.env);
      ok(r);
      const again = JSON.parse(r.stdout);
      assertEquals(again.unreadable.map((u: { pack: string }) => u.pack), [entry.pack]);
      assertEquals(again.removed, out.written);
      assertEquals(again.packsIndexed, again.packs - 1);
      Deno.removeSync(file);
      // Put the pack back (from a fresh backup of the same data) and rebuild once more.
      Deno.removeSync(`${e.dir}/clicache`, { recursive: true });
      const c = await backup(e); // re-uploads the lost blobs (the index no longer names them)
      ok(await runCli(["repair", "index"], e.env));
      ok(await runCli(["check", "--read-data"], e.env));
      assertEquals(await restored(e, c, "restore-c"), before);
      // Snapshot b's blobs are all back too.
      assertEquals(await restored(e, b, "restore-b"), before);
    } finally {
      await e.cleanup();
    }
  },
});

Deno.test({
  name: "repair snapshots: after a pack is deleted, the repaired snapshot restores everything else",
  sanitizeResources: false,
  fn: async () => {
    const e = await setup();
    try {
      const a = await backup(e);
      const before = hashes(e.src);
      const { entry, file, files } = await locate(e, `${e.src}/bin/f3.bin`);
      assert(files.length >= 1 && files.length < before.size, `lost files: ${files}`);
      Deno.removeSync(file);

      let r = await runCli(["check"], e.env);
      assertEquals(r.code, 1, show(r));
      assertStringIncludes(r.stdout, `error: pack ${entry.pack.slice(0, 16)}: missing from storage`);
      for (const f of files) assertStringIncludes(r.stdout, f);

      // Dry run: reports, writes nothing.
      r = await runCli(["repair", "snapshots", "-n", "--json"], e.env);
      ok(r);
      let out = JSON.parse(r.stdout);
      assertEquals(out.snapshots[0].status, "repaired");
      assertEquals(new Set(out.snapshots[0].removed), new Set(files));
      assertEquals(Deno.readDirSync(`${e.repo}/snapshots`).toArray().length, 1);

      r = await runCli(["repair", "snapshots", "--json"], e.env);
      ok(r);
      out = JSON.parse(r.stdout);
      const repaired = out.snapshots[0].newId as string;
      assert(repaired && repaired !== a);
      const list = JSON.parse((await runCli(["snapshots", "--json"], e.env)).stdout);
      const snap = list.find((s: { id: string }) => s.id === repaired);
      assertEquals(snap.tags, ["repaired"]);
      const raw = JSON.parse((await runCli(["cat", "snapshot", repaired], e.env)).stdout);
      assertEquals(raw.original, a);

      const got = await restored(e, repaired, "restore-repaired");
      const expected = new Map(before);
      for (const f of files) expected.delete(f.slice(e.src.length + 1));
      assertEquals(got, expected);

      // Running it again finds the same damage but keeps the copy already written.
      out = JSON.parse((await runCli(["repair", "snapshots", "--json"], e.env)).stdout);
      assertEquals(out.snapshots.find((s: { id: string }) => s.id === a).newId, repaired);

      // Drop the lost pack from the index, forget the damaged original: the repository checks clean.
      ok(await runCli(["repair", "index"], e.env));
      r = await runCli(["repair", "snapshots", "--forget"], e.env);
      ok(r);
      assertStringIncludes(r.stdout, "original removed");
      ok(await runCli(["check", "--read-data"], e.env));
      const ids = JSON.parse((await runCli(["snapshots", "--json"], e.env)).stdout).map((s: { id: string }) =>
        s.id
      );
      assertEquals(ids, [repaired]);
      // A backup after the repair stores the lost data again and restores completely.
      const next = await backup(e);
      ok(await runCli(["check", "--read-data"], e.env));
      assertEquals(await restored(e, next, "restore-next"), before);
    } finally {
      await e.cleanup();
    }
  },
});

/** Writes a ~`mb` MB tree of mixed files (half random, half compressible). */
function generate(root: string, mb: number) {
  let n = 0;
  for (let d = 0; n < mb * 1024 * 1024; d++) {
    const dir = `${root}/d${d}`;
    Deno.mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 20 && n < mb * 1024 * 1024; f++) {
      const size = 256 * 1024 + ((d * 37 + f * 101) % 8) * 256 * 1024;
      const data = f % 2 ? randomBytes(size, d * 100 + f + 1) : new TextEncoder().encode(
        `line ${d}/${f}\n`.repeat(Math.ceil(size / 12)),
      ).subarray(0, size);
      Deno.writeFileSync(`${dir}/file${f}`, data);
      n += size;
    }
  }
}

Deno.test({
  name: "kill -9 during backup: unlock, check clean, next backup and restore complete",
  sanitizeResources: false,
  fn: async () => {
    const e = await setup();
    try {
      // A repository with the default (16 MiB) packs, so a killed run leaves whole packs behind.
      ok(await runCli(["--repo", `${e.dir}/big`, "init"], e.env));
      const env = { ...e.env, FLOE_REPOSITORY: `${e.dir}/big` };
      const data = `${e.dir}/data`;
      generate(data, 200);
      const main = new URL("../cli/main.ts", import.meta.url).pathname;
      for (const delay of [300, 1500, 4000]) {
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "--quiet", main, "backup", data],
          env,
          stdout: "null",
          stderr: "null",
        }).spawn();
        await new Promise((res) => setTimeout(res, delay));
        try {
          child.kill("SIGKILL");
        } catch { /* already done */ }
        await child.status;
        let r = await runCli(["unlock"], env);
        ok(r);
        r = await runCli(["check"], env);
        ok(r);
        // The dead process's lock is gone (its pid no longer runs on this host).
        let locks: string[] = [];
        try {
          locks = [...Deno.readDirSync(`${e.dir}/big/locks`)].map((d) => d.name);
        } catch { /* never created */ }
        assertEquals(locks, [], show(r));
      }
      const r = await runCli(["backup", data, "--json"], env);
      ok(r);
      const snap = jsonLines(r).at(-1).snapshot_id;
      ok(await runCli(["check", "--read-data"], env));
      const target = `${e.dir}/restore-big`;
      ok(await runCli(["restore", snap, "-t", target], env));
      assertEquals(hashes(`${target}${data}`), hashes(data));
    } finally {
      await e.cleanup();
    }
  },
});
