/**
 * `floe prune` as separate processes: three backups and a prune at the same time into one repository,
 * and a prune killed with SIGKILL at several points. Afterwards `check --read-data` is clean and every
 * snapshot restores identical.
 */
import { assert, assertEquals } from "./assert.ts";
import { type CliResult, hashTree, newEngine, randomBytes, runCli, tempDir } from "./helpers.ts";
import { Engine, internals } from "../core/engine.ts";
import { loadPlugin } from "../core/registry.ts";

/** Object names below `repo/sub`, recursively (temporary files left out). */
function objects(repo: string, sub: string): Set<string> {
  const out = new Set<string>();
  const walk = (dir: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory) walk(`${dir}/${e.name}`);
      else if (!e.name.startsWith(".tmp-")) out.add(e.name);
    }
  };
  walk(`${repo}/${sub}`);
  return out;
}

const MAIN = new URL("../cli/main.ts", import.meta.url).pathname;
const show = (r: CliResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

function cliEnv(dir: string, repo: string, cache: string): Record<string, string> {
  return {
    HOME: `${dir}/home`,
    FLOE_REPOSITORY: repo,
    FLOE_PASSWORD: "test-password",
    FLOE_CACHE_DIR: `${dir}/${cache}`,
  };
}

function fillDir(path: string, files: number, size: number, seed: number) {
  Deno.mkdirSync(path, { recursive: true });
  for (let i = 0; i < files; i++) Deno.writeFileSync(`${path}/f${i}.bin`, randomBytes(size, seed * 1000 + i));
}

/** Opens the repository with a fresh catalog and checks every snapshot against `expect` (by paths). */
async function verifyAll(
  repo: string,
  scratch: string,
  expect: Map<string, Map<string, string>>,
): Promise<number> {
  const engine = await Engine.open({
    location: repo,
    password: "test-password",
    catalogPath: `${scratch}/catalog.db`,
  });
  try {
    let n = 0;
    for (const s of engine.snapshots()) {
      const path = s.snapshot.paths[0];
      const want = expect.get(s.id) ?? expect.get(path);
      assert(want, `unexpected snapshot ${s.id} of ${path}`);
      const out = `${scratch}/out-${n++}`;
      await engine.restore({ snapshot: s, subpath: path, target: out });
      const got = hashTree(out);
      assertEquals([...got.keys()].sort(), [...want.keys()].sort(), `files of ${s.id.slice(0, 8)}`);
      for (const [k, v] of want) assertEquals(got.get(k), v, `${k} in ${s.id.slice(0, 8)}`);
    }
    return n;
  } finally {
    await engine.close();
  }
}

/** A repository with several snapshots, half of them forgotten: prune has packs to delete and repack. */
async function buildRepo(dir: string): Promise<Map<string, Map<string, string>>> {
  const expect = new Map<string, Map<string, string>>();
  const engine = await newEngine(dir);
  try {
    const src = `${dir}/src`;
    fillDir(`${src}/shared`, 4, 1_000_000, 1);
    const forget: string[] = [];
    for (let i = 0; i < 6; i++) {
      try {
        Deno.removeSync(`${src}/var`, { recursive: true });
      } catch { /* first */ }
      // Files of 10 small chunks: forgetting every other snapshot leaves partly-used packs.
      fillDir(`${src}/var`, 3, 1_200_000, 10 + i);
      const source = await loadPlugin("source", "fs", { paths: [src] });
      const r = await engine.backup(source, { time: new Date(Date.UTC(2024, 0, 1 + i)) });
      if (i % 2 === 0) forget.push(r.snapshotId);
      else expect.set(r.snapshotId, hashTree(src));
    }
    for (const id of forget) await internals(engine).repo.storage.delete(`snapshots/${id}`);
  } finally {
    await engine.close();
  }
  return expect;
}

Deno.test({
  name: "prune cli: three backups and a prune at the same time, then check --read-data and restores",
  sanitizeResources: false,
  fn: async () => {
    const d = await tempDir("floe-prune-mp-");
    try {
      const dir = d.path;
      Deno.mkdirSync(`${dir}/home`);
      const expect = await buildRepo(dir);
      const repo = `${dir}/repo`;
      for (let i = 0; i < 3; i++) fillDir(`${dir}/b${i}`, 3, 1_500_000, 50 + i);
      // Every new backup also holds a copy of a file of a forgotten snapshot: it deduplicates against
      // packs the prune drops, when its catalog sees them.
      for (let i = 0; i < 3; i++) {
        Deno.writeFileSync(`${dir}/b${i}/old.bin`, randomBytes(1_200_000, 10 * 1000));
      }
      const runs = await Promise.all([
        ...[0, 1, 2].map((i) => runCli(["backup", `${dir}/b${i}`], cliEnv(dir, repo, `cache-b${i}`))),
        runCli(["prune", "--json"], cliEnv(dir, repo, "cache-p")),
      ]);
      for (const r of runs) assertEquals(r.code, 0, show(r));
      const first = JSON.parse(runs[3].stdout);
      for (let i = 0; i < 3; i++) expect.set(`${dir}/b${i}`, hashTree(`${dir}/b${i}`));

      const check = await runCli(["check", "--read-data"], cliEnv(dir, repo, "cache-c"));
      assertEquals(check.code, 0, show(check));
      assertEquals(await verifyAll(repo, `${dir}/v1`, expect), 6);

      // A second prune finishes what the first deferred; everything still restores.
      const second = await runCli(["prune", "--json"], cliEnv(dir, repo, "cache-p"));
      assertEquals(second.code, 0, show(second));
      const s = JSON.parse(second.stdout);
      assertEquals(s.markers.pending, 0, second.stdout);
      const check2 = await runCli(["check", "--read-data"], cliEnv(dir, repo, "cache-c"));
      assertEquals(check2.code, 0, show(check2));
      assertEquals(await verifyAll(repo, `${dir}/v2`, expect), 6);
      console.log(
        `  first prune: deleted ${first.deleted.packs}, marked ${first.marked.packs}, locks seen ` +
          `${first.other_locks.length}; second: deleted ${s.deleted.packs}, resurrected ${s.resurrected.packs}`,
      );
    } finally {
      await d.cleanup();
    }
  },
});

Deno.test({
  name: "prune cli: a prune killed with SIGKILL leaves a usable repository",
  sanitizeResources: false,
  fn: async () => {
    const d = await tempDir("floe-prune-kill-");
    try {
      const dir = d.path;
      Deno.mkdirSync(`${dir}/home`);
      const expect = await buildRepo(dir);
      const copy = (name: string) => {
        const out = new Deno.Command("cp", { args: ["-a", `${dir}/repo`, `${dir}/${name}`] }).outputSync();
        assert(out.success);
        return `${dir}/${name}`;
      };
      const packs0 = objects(`${dir}/repo`, "data");
      const index0 = objects(`${dir}/repo`, "index");
      // Kill points, observed on the repository (file system events): the prune lock is written;
      // repacking wrote a pack; a new index file is written; an old index file is gone; an old pack is gone.
      const base = (p: string) => p.slice(p.lastIndexOf("/") + 1);
      const exists = (p: string) => {
        try {
          Deno.statSync(p);
          return true;
        } catch {
          return false;
        }
      };
      const fresh = (p: string, dir: string, old: Set<string>) =>
        p.includes(`/${dir}/`) && !base(p).startsWith(".tmp-") && !old.has(base(p)) && exists(p);
      const points: [string, (path: string) => boolean][] = [
        ["lock written", (p) => fresh(p, "locks", new Set())],
        ["repacked pack written", (p) => fresh(p, "data", packs0)],
        ["new index written", (p) => fresh(p, "index", index0)],
        ["old index deleted", (p) => index0.has(base(p)) && !exists(p)],
        ["old pack deleted", (p) => packs0.has(base(p)) && !exists(p)],
      ];
      const repos = points.map((_, i) => copy(`repo-k${i}`));
      const outcomes: string[] = [];
      for (const [i, repo] of repos.entries()) {
        const watcher = Deno.watchFs(repo, { recursive: true });
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "--quiet", MAIN, "prune"],
          env: { ...cliEnv(dir, repo, `cache-k${i}`), PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
          stdout: "null",
          stderr: "null",
        }).spawn();
        const status = child.status.finally(() => watcher.close());
        for await (const ev of watcher) {
          if (ev.paths.some(points[i][1])) {
            try {
              child.kill("SIGKILL");
            } catch { /* already done */ }
            break;
          }
        }
        const st = await status;
        outcomes.push(`${points[i][0]}: ${st.signal === "SIGKILL" ? "killed" : `exit ${st.code}`}`);
      }

      await Promise.all(repos.map(async (repo, i) => {
        const env = cliEnv(dir, repo, `cache-after${i}`);
        const unlock = await runCli(["unlock", "--remove-all"], env);
        assertEquals(unlock.code, 0, show(unlock));
        const c1 = await runCli(["check", "--read-data"], env);
        assertEquals(c1.code, 0, `after kill (${outcomes[i]}): ${show(c1)}`);
        const mine = new Map(expect);
        assertEquals(await verifyAll(repo, `${dir}/v-k${i}`, mine), 3);
        fillDir(`${dir}/new${i}`, 2, 500_000, 90 + i);
        const b = await runCli(["backup", `${dir}/new${i}`], env);
        assertEquals(b.code, 0, show(b));
        const p = await runCli(["prune"], env);
        assertEquals(p.code, 0, show(p));
        const c2 = await runCli(["check", "--read-data"], env);
        assertEquals(c2.code, 0, show(c2));
        mine.set(`${dir}/new${i}`, hashTree(`${dir}/new${i}`));
        assertEquals(await verifyAll(repo, `${dir}/v2-k${i}`, mine), 4);
        const left = await runCli(["prune", "--json", "--dry-run"], env);
        assertEquals(JSON.parse(left.stdout).deleted.packs, 0, `after the follow-up prune: ${left.stdout}`);
      }));
      console.log(`  ${outcomes.join("; ")}`);
    } finally {
      await d.cleanup();
    }
  },
});
