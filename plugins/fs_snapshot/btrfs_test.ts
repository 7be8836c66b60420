/**
 * `floe backup --fs-snapshot btrfs` on a real btrfs: a sparse file formatted with mkfs.btrfs, attached
 * with losetup and mounted under a temporary directory (tests/fixtures/btrfs.ts; root only, skipped with
 * the reason otherwise). The loop device is detached and the file removed after every test, whatever
 * happened.
 */
import { assert, assertEquals } from "../../tests/assert.ts";
import { cliCommand, cliResult, denoDir, newEngine, runCli, scanTree, tempDir } from "../../tests/helpers.ts";
import { btrfsMissing, sh, withBtrfs } from "../../tests/fixtures/btrfs.ts";
import { parseSnapshotName, SNAPSHOT_DIR, snapshotName } from "./btrfs.ts";
import { literalGlob } from "./mod.ts";

const MAIN = new URL("../../cli/main.ts", import.meta.url).pathname;

const why = btrfsMissing();
if (why) console.error(`btrfs_test: skipping the loop-device tests: ${why}`);

function env(dir: string): Record<string, string> {
  return {
    DENO_DIR: denoDir(),
    HOME: `${dir}/home`,
    FLOE_CACHE_DIR: `${dir}/cache`,
    FLOE_REPOSITORY: `${dir}/repo`,
    FLOE_PASSWORD: "btrfs-test",
  };
}

async function initRepo(dir: string): Promise<void> {
  await (await newEngine(dir, "btrfs-test")).close();
}

/** `deno task floe …`: the task's narrowed permissions (btrfs must be in its --allow-run). */
async function task(args: string[], e: Record<string, string>) {
  return cliResult(await cliCommand(args, e, { task: true }).output());
}

function snapshotsIn(vol: string): string[] {
  try {
    return [...Deno.readDirSync(`${vol}/${SNAPSHOT_DIR}`)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** A backup as a child process, to signal or kill while it runs. */
function spawnBackup(args: string[], e: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, "backup", "--fs-snapshot", "btrfs", ...args],
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", NO_COLOR: "1", ...e },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function waitForSnapshot(vol: string): Promise<string> {
  for (let i = 0; i < 3000; i++) {
    const s = snapshotsIn(vol).find((n) => n.startsWith("floe-") && !n.endsWith(".lock"));
    if (s) return s;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("no snapshot appeared within 30 s");
}

function bigFile(path: string, mib: number): void {
  const f = Deno.openSync(path, { write: true, create: true });
  const block = new Uint8Array(1 << 20);
  for (let i = 0; i < mib; i++) {
    for (let o = 0; o < block.length; o += 65536) crypto.getRandomValues(block.subarray(o, o + 65536));
    f.writeSync(block);
  }
  f.close();
}

const content = (i: number) => `entry ${i} `.repeat(100 + (i % 50));

Deno.test("btrfs: snapshot names record host, pid and start time; others are not floe's", () => {
  const name = snapshotName({ host: "db-1.example", pid: 4242, start: "1796620295123" });
  assertEquals(name, "floe-db_1.example-4242-1796620295123");
  assertEquals(parseSnapshotName(name), { host: "db_1.example", pid: 4242, start: "1796620295123" });
  assertEquals(parseSnapshotName(`${name}.lock`), null);
  assertEquals(parseSnapshotName("floe-host-12"), null);
  assertEquals(parseSnapshotName("daily-2024-01-01"), null);
  assertEquals(parseSnapshotName("floe-../x-1-2"), null);
  assertEquals(literalGlob("/srv/a[1]/*"), "/srv/a\\[1\\]/\\*");
});

Deno.test({
  name:
    "btrfs: backup from a snapshot while a writer changes the subvolume; original paths; snapshot deleted",
  ignore: !!why,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withBtrfs(async (vol, dir) => {
      await initRepo(dir);
      const data = `${vol}/data`;
      Deno.mkdirSync(`${data}/files`, { recursive: true });
      await sh("btrfs", ["subvolume", "create", `${data}/nested`]);
      Deno.writeTextFileSync(`${data}/nested/inner.txt`, "in a nested subvolume");
      bigFile(`${data}/big.bin`, 12); // with --limit-upload, keeps the backup busy for seconds
      let stop = false;
      let written = 0;
      let failure: unknown;
      const writer = (async () => {
        while (!stop && written < 5000) {
          written++;
          Deno.writeTextFileSync(`${data}/files/${written}`, content(written));
          Deno.writeTextFileSync(`${data}/journal`, `${written}\n`, { append: true });
          if (written % 20 === 0) await new Promise((r) => setTimeout(r, 1));
        }
      })().catch((e) => failure = e);
      let r, atSnapshot: Map<string, string>, nestedAtSnapshot: Map<string, string>;
      try {
        await new Promise((r) => setTimeout(r, 200));
        const running = task(["--limit-upload", "2M", "backup", "--fs-snapshot", "btrfs", data], env(dir));
        // The snapshots as the backup reads them (they are read-only: this is the state at snapshot time).
        const snap = await waitForSnapshot(vol);
        const nestedSnap = await waitForSnapshot(`${data}/nested`);
        atSnapshot = scanTree(`${vol}/${SNAPSHOT_DIR}/${snap}/data`);
        nestedAtSnapshot = scanTree(`${data}/nested/${SNAPSHOT_DIR}/${nestedSnap}`);
        r = await running;
      } finally {
        stop = true;
        await writer;
      }
      assertEquals(failure, undefined);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(snapshotsIn(vol), [], "the snapshot is deleted afterwards");
      assertEquals(snapshotsIn(`${data}/nested`), []);

      const snaps = JSON.parse((await runCli(["snapshots", "--json"], env(dir))).stdout);
      assertEquals(snaps.length, 1);
      assertEquals(snaps[0].paths, [data]);
      const ls = await runCli(["ls", "latest"], env(dir));
      assert(ls.stdout.includes(`${data}/files/1\n`), ls.stdout.slice(0, 500));
      assert(!ls.stdout.includes(SNAPSHOT_DIR), "no snapshot path recorded");

      const target = `${dir}/restore`;
      const rr = await runCli(["restore", "latest", "--target", target], env(dir));
      assertEquals(rr.code, 0, rr.stderr);
      const got = `${target}${data}`;
      const restored = scanTree(got);
      const expected = new Map([...atSnapshot].filter(([k]) => k !== "nested"));
      for (const [k, v] of nestedAtSnapshot) {
        if (!k.startsWith(SNAPSHOT_DIR)) expected.set(`nested/${k}`, v); // the run's lock file, hidden
      }
      restored.delete("nested");
      assertEquals(restored, expected);
      const n = Number(Deno.readTextFileSync(`${got}/journal`).trim().split("\n").at(-1));
      assert(n > 0 && n < written, `the snapshot holds ${n} of ${written} writes`);
      assertEquals(Deno.readTextFileSync(`${got}/nested/inner.txt`), "in a nested subvolume");
      assertEquals(Deno.statSync(`${got}/big.bin`).size, 12 << 20);
      assertEquals(snapshotsIn(`${data}/nested`), []);
    });
  },
});

Deno.test({
  name: "btrfs: a failing backup, SIGTERM and SIGINT delete the snapshot; after kill -9 the next run does",
  ignore: !!why,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withBtrfs(async (vol, dir) => {
      const data = `${vol}/data`;
      Deno.mkdirSync(data);
      bigFile(`${data}/big.bin`, 96);

      // No repository there: the run fails after the snapshot was taken.
      const failed = await runCli(["backup", "--fs-snapshot", "btrfs", data], {
        ...env(dir),
        FLOE_REPOSITORY: `${dir}/no/such/repo`,
      });
      assert(failed.code !== 0, failed.stderr);
      assertEquals(snapshotsIn(vol), []);

      await initRepo(dir);
      for (const signal of ["SIGTERM", "SIGINT"] as const) {
        const child = spawnBackup([data], env(dir));
        await waitForSnapshot(vol);
        child.kill(signal);
        const out = await child.output();
        assert(out.code !== 0, `${signal}: exit ${out.code}`);
        assertEquals(snapshotsIn(vol), [], `${signal}: snapshot deleted`);
      }

      const killed = spawnBackup([data], env(dir));
      const left = await waitForSnapshot(vol);
      killed.kill("SIGKILL");
      await killed.output();
      assertEquals(snapshotsIn(vol), [left, `${left}.lock`], "kill -9 leaves the snapshot");
      assertEquals(parseSnapshotName(left)?.pid, killed.pid);

      const next = await runCli(["backup", "--fs-snapshot", "btrfs", data], env(dir));
      assertEquals(next.code, 0, next.stderr);
      assert(next.stderr.includes(`removed the btrfs snapshot ${vol}/${SNAPSHOT_DIR}/${left}`), next.stderr);
      assertEquals(snapshotsIn(vol), []);
      const snaps = JSON.parse((await runCli(["snapshots", "--json"], env(dir))).stdout);
      assertEquals(snaps.length, 1, "only the finished run made a snapshot");
    });
  },
});

Deno.test({
  name: "btrfs: a path not on btrfs is one line, exit 2, and nothing is made",
  ignore: !!why,
  async fn() {
    const d = await tempDir("floe-btrfs-no-");
    try {
      Deno.mkdirSync(`${d.path}/src`);
      Deno.writeTextFileSync(`${d.path}/src/a`, "a");
      const fsType = (await sh("stat", ["-f", "-c", "%T", d.path])).trim();
      if (fsType === "btrfs") return; // the temp dir is on btrfs here: nothing to show
      const r = await runCli(["backup", "--fs-snapshot", "btrfs", `${d.path}/src`], env(d.path));
      assertEquals(r.code, 2, r.stderr);
      assertEquals(r.stderr, `floe: ${d.path}/src: not on btrfs (--fs-snapshot btrfs)\n`);
      assertEquals([...Deno.readDirSync(d.path)].map((e) => e.name), ["src"]);
      assertEquals([...Deno.readDirSync(`${d.path}/src`)].map((e) => e.name), ["a"]);
      const lvm = await runCli(["backup", "--fs-snapshot", "lvm", `${d.path}/src`], env(d.path));
      assertEquals(lvm.code, 2);
      assertEquals(lvm.stderr, "floe: --fs-snapshot: unknown kind 'lvm' (known: btrfs)\n");
    } finally {
      await d.cleanup();
    }
  },
});
