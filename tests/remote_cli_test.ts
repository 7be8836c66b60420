/**
 * The `floe` command line on real remote storage: S3 (Swift's s3api), Swift (tempauth) and SFTP (a
 * private sshd), S3 behind a fault-injecting proxy, a mirror of local + SFTP, bad credentials and
 * locations, and bandwidth limits. One Swift node and one sshd serve the whole file; tests are skipped
 * only when their server packages are missing.
 *
 * @example
 * ```sh
 * deno test --allow-all tests/remote_cli_test.ts
 * ```
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { type CliResult, randomBytes, runCli, scanTree, tempDir } from "./helpers.ts";
import { sharedSwift, stopSharedSwift, swiftMissing } from "./fixtures/servers/swift.ts";
import { type Sshd, sshdMissing, startSshd } from "./fixtures/servers/sshd.ts";
import { start as startFaultProxy } from "./fixtures/fault_proxy.ts";

const swiftWhy = swiftMissing();
const sshdWhy = sshdMissing();
if (swiftWhy) console.warn(`skipping S3/Swift CLI tests: ${swiftWhy}`);
if (sshdWhy) console.warn(`skipping SFTP CLI tests: ${sshdWhy}`);

let sshdPromise: Promise<Sshd> | undefined;
const sharedSshd = () => sshdPromise ??= startSshd();

// The servers outlive single tests; the last test stops them.
const opts = { sanitizeResources: false, sanitizeOps: false };

let unique = 0;
const name = (kind: string) => `floe-${kind}-${Date.now().toString(36)}-${++unique}`;

interface Env {
  dir: string;
  env: Record<string, string>;
  cleanup: () => Promise<void>;
}

async function setup(extra: Record<string, string> = {}): Promise<Env> {
  const d = await tempDir("floe-remote-cli-");
  const p = d.path;
  for (const sub of ["home", "cache"]) Deno.mkdirSync(`${p}/${sub}`);
  return {
    dir: p,
    env: {
      HOME: `${p}/home`,
      XDG_CACHE_HOME: `${p}/home/.cache`,
      XDG_DATA_HOME: `${p}/home/.local/share`,
      XDG_CONFIG_HOME: `${p}/home/.config`,
      FLOE_CACHE_DIR: `${p}/cache`,
      FLOE_PASSWORD: "remote-cli-password",
      ...extra,
    },
    cleanup: d.cleanup,
  };
}

async function s3Env(): Promise<Record<string, string>> {
  const swift = await sharedSwift();
  return {
    AWS_ACCESS_KEY_ID: swift.accessKey,
    AWS_SECRET_ACCESS_KEY: swift.secretKey,
    AWS_REGION: swift.region,
  };
}

async function swiftEnv(): Promise<Record<string, string>> {
  const swift = await sharedSwift();
  return { ST_AUTH: swift.authUrl, ST_USER: swift.user, ST_KEY: swift.key };
}

async function sftpEnv(): Promise<Record<string, string>> {
  const sshd = await sharedSshd();
  return { FLOE_SSH_KEY: sshd.keyPath, FLOE_SSH_KNOWN_HOSTS: sshd.knownHostsPath };
}

async function sftpLocation(path: string): Promise<string> {
  const sshd = await sharedSshd();
  return `sftp://${sshd.user}@${sshd.host}:${sshd.port}/${sshd.root}/${path}`;
}

const lines = (text: string) => text.split("\n").filter((l) => l.length);
const show = (r: CliResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

function ok(r: CliResult): CliResult {
  assertEquals(r.code, 0, show(r));
  return r;
}

/** Exit non-zero, exactly one stderr line naming `parts`, with none of `secrets` and no stack trace. */
function oneLineError(r: CliResult, parts: string[], secrets: string[] = []) {
  assert(r.code !== 0, show(r));
  const err = lines(r.stderr);
  assertEquals(err.length, 1, show(r));
  assert(err[0].startsWith("floe: "), show(r));
  for (const p of parts) assertStringIncludes(err[0], p, show(r));
  for (const s of secrets) assert(!r.stderr.includes(s) && !r.stdout.includes(s), `secret shown: ${show(r)}`);
  assert(!/\n\s+at /.test(r.stderr), `stack trace printed: ${r.stderr}`);
}

/** A small tree with several entry kinds: files (empty, small, ~1 MB, executable), dirs, symlinks. */
function makeTree(root: string, seed = 1) {
  Deno.mkdirSync(`${root}/sub/deeper`, { recursive: true });
  Deno.mkdirSync(`${root}/empty-dir`);
  Deno.writeFileSync(`${root}/empty.txt`, new Uint8Array(0));
  Deno.writeTextFileSync(`${root}/hello.txt`, `hello ${seed}\n`);
  Deno.writeFileSync(`${root}/sub/big.bin`, randomBytes(1_200_000, seed));
  Deno.writeFileSync(`${root}/sub/deeper/small.bin`, randomBytes(5_000, seed + 1));
  Deno.writeTextFileSync(`${root}/run.sh`, "#!/bin/sh\necho hi\n");
  Deno.chmodSync(`${root}/run.sh`, 0o755);
  Deno.symlinkSync("hello.txt", `${root}/link-to-hello`);
  Deno.symlinkSync("/nonexistent/target", `${root}/sub/dangling`);
}

function assertSameTree(src: string, restored: string) {
  const a = scanTree(src), b = scanTree(restored);
  assertEquals([...b.keys()].sort(), [...a.keys()].sort());
  for (const [k, v] of a) assertEquals(b.get(k), v, `entry ${k}`);
}

/** init, backup, snapshots --json, restore byte-identical, check --read-data: all through the CLI. */
async function roundTrip(e: Env, repo: string[], label: string, extraBackup: string[] = []) {
  const src = `${e.dir}/src-${label}`;
  Deno.mkdirSync(src);
  makeTree(src, label.length);
  const r = (args: string[]) => runCli([...repo.flatMap((l) => ["--repo", l]), ...args], e.env);
  ok(await r(["init"]));
  const b = ok(await r(["backup", src, "--json", ...extraBackup]));
  const summary = JSON.parse(lines(b.stdout).at(-1)!);
  assert(summary.snapshot_id, show(b));
  const snaps = JSON.parse(ok(await r(["snapshots", "--json"])).stdout);
  assertEquals(snaps.length, 1, label);
  assertEquals(snaps[0].id, summary.snapshot_id);
  assertEquals(snaps[0].paths, [src]);
  const target = `${e.dir}/out-${label}`;
  ok(await r(["restore", `latest:${src}`, "--target", target]));
  assertSameTree(src, target);
  const c = ok(await r(["check", "--read-data"]));
  assertStringIncludes(c.stderr, "no errors", label);
  return { src, summary };
}

Deno.test({
  name: "remote cli: init, backup, snapshots, restore and check on s3, swift and sftp",
  ignore: !!swiftWhy || !!sshdWhy,
  ...opts,
  fn: async () => {
    const swift = await sharedSwift();
    const e = await setup({ ...(await s3Env()), ...(await swiftEnv()), ...(await sftpEnv()) });
    try {
      await Promise.all([
        roundTrip(e, [`s3:${swift.s3Endpoint}/${name("s3")}/host/one`], "s3"),
        roundTrip(e, [`swift:${name("swift")}:/host/one`], "swift"),
        roundTrip(e, [await sftpLocation("nested/repo")], "sftp"),
      ]);
    } finally {
      await e.cleanup();
    }
  },
});

Deno.test({
  name: "remote cli: s3 behind a fault proxy (503s, cut bodies, applied writes answered 500)",
  ignore: !!swiftWhy,
  ...opts,
  fn: async () => {
    const swift = await sharedSwift();
    const proxy = await startFaultProxy({
      target: swift.s3Endpoint,
      seed: 7,
      // Each kind at least once (an entry waits for a request it applies to), then at random.
      schedule: ["unavailable", "truncate", "applied-500", "truncate"],
      // Low enough that six attempts practically never all fail; high enough to hit every kind.
      unavailable: 0.05,
      truncate: 0.1,
      applied500: 0.1,
    });
    const e = await setup(await s3Env());
    try {
      await roundTrip(e, [`s3:${proxy.url}/${name("fault")}/repo`], "fault");
      const s = proxy.stats;
      assert(s.unavailable > 0 && s.truncate > 0 && s["applied-500"] > 0, JSON.stringify(s));
    } finally {
      await proxy.stop();
      await e.cleanup();
    }
  },
});

Deno.test({
  name: "remote cli: a mirror of local + sftp — divergence reported by check, reads fall back, sync repairs",
  ignore: !!sshdWhy,
  ...opts,
  fn: async () => {
    const sshd = await sharedSshd();
    const e = await setup(await sftpEnv());
    try {
      const local = `${e.dir}/local-repo`;
      const remotePath = `${sshd.root}/mirror-${++unique}`;
      const remote = await sftpLocation(`mirror-${unique}`);
      const repos = ["--repo", local, "--repo", remote];
      const { src } = await roundTrip(e, [local, remote], "mirror");

      // Both storages hold the same objects.
      const packs = (root: string) => {
        const out: string[] = [];
        for (const d of Deno.readDirSync(`${root}/data`)) {
          for (const f of Deno.readDirSync(`${root}/data/${d.name}`)) out.push(`data/${d.name}/${f.name}`);
        }
        return out.sort();
      };
      const names = packs(local);
      assertEquals(packs(remotePath), names);
      assert(names.length >= 2, `expected at least two packs, got ${names}`);

      // One pack gone from each side: check names both, restore falls back to the other copy.
      Deno.removeSync(`${local}/${names[0]}`);
      Deno.removeSync(`${remotePath}/${names[1]}`);
      const c = await runCli([...repos, "check"], e.env);
      assertEquals(c.code, 1, show(c));
      const errors = lines(c.stdout).filter((l) => l.startsWith("error: mirror "));
      assertEquals(errors.length, 2, show(c));
      const byName = (n: string) => errors.find((l) => l.includes(n)) ?? "";
      assertStringIncludes(byName(names[0]), `missing on ${local} (present on `, show(c));
      assertStringIncludes(byName(names[1]), `missing on sftp://`, show(c));
      const target = `${e.dir}/out-fallback`;
      ok(await runCli([...repos, "restore", `latest:${src}`, "--target", target], e.env));
      assertSameTree(src, target);

      // init refuses clearly when only some storages hold the repository.
      const empty = `${e.dir}/empty-member`;
      const init = await runCli(["--repo", local, "--repo", empty, "init"], e.env);
      oneLineError(init, [`exists at ${local} but not at ${empty}`, "mirror sync"]);

      // mirror sync copies what each side lacks (and fills a new, empty member).
      ok(await runCli([...repos, "--repo", empty, "mirror", "sync"], e.env));
      assertEquals(packs(local), names);
      assertEquals(packs(remotePath), names);
      assertEquals(packs(empty), names);
      const again = ok(await runCli([...repos, "--repo", empty, "check", "--read-data"], e.env));
      assertStringIncludes(again.stderr, "no errors");
      // FLOE_REPOSITORY with several locations (" , ") is a mirror too; each member alone is whole.
      const viaEnv = await runCli(["snapshots", "--json"], {
        ...e.env,
        FLOE_REPOSITORY: `${remote} , ${empty}`,
      });
      assertEquals(JSON.parse(ok(viaEnv).stdout).length, 1);
      const alone = `${e.dir}/out-alone`;
      ok(await runCli(["--repo", empty, "restore", `latest:${src}`, "--target", alone], e.env));
      assertSameTree(src, alone);
    } finally {
      await e.cleanup();
    }
  },
});

function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test({
  name:
    "remote cli: wrong credentials, missing bucket, unreachable host, unknown host key — one line, no secret",
  ignore: !!swiftWhy || !!sshdWhy,
  ...opts,
  fn: async (t) => {
    const swift = await sharedSwift();
    const sshd = await sharedSshd();
    const e = await setup({ ...(await s3Env()), ...(await swiftEnv()), ...(await sftpEnv()) });
    try {
      const badSecret = "not-the-secret-0123456789";
      const badKey = "not-the-swift-key-98765";
      const s3Loc = `s3:${swift.s3Endpoint}/${name("bad")}/p`;
      const swiftLoc = `swift:${name("bad")}:/p`;
      const sftpLoc = await sftpLocation("hostkey-repo");
      const emptyKnownHosts = `${e.dir}/empty_known_hosts`;
      Deno.writeTextFileSync(emptyKnownHosts, "");
      const port = closedPort();
      const missingBucket = `s3:${swift.s3Endpoint}/${name("missing")}/p`;
      const [s3Bad, swiftBad, sftpBad, restoreMissing, unreachable, sftpClosed] = await Promise.all([
        runCli(["--repo", s3Loc, "init"], { ...e.env, AWS_SECRET_ACCESS_KEY: badSecret }),
        runCli(["--repo", swiftLoc, "init"], { ...e.env, ST_KEY: badKey }),
        runCli(["--repo", sftpLoc, "init"], { ...e.env, FLOE_SSH_KNOWN_HOSTS: emptyKnownHosts }),
        runCli(["--repo", missingBucket, "restore", "latest", "--target", `${e.dir}/x`], e.env),
        runCli(["--repo", `s3:http://127.0.0.1:${port}/bucket/p`, "snapshots"], e.env),
        runCli(["--repo", `sftp://${sshd.user}@127.0.0.1:${port}//srv/repo`, "snapshots"], e.env),
      ]);
      await t.step("wrong S3 secret", () => {
        oneLineError(s3Bad, [s3Loc, "access refused"], [badSecret, swift.secretKey]);
      });
      await t.step("wrong Swift key", () => {
        oneLineError(swiftBad, [swiftLoc, "credentials refused"], [badKey, swift.key]);
      });
      await t.step("unknown host key (empty known_hosts)", () => {
        oneLineError(sftpBad, [`127.0.0.1:${sshd.port}`, "unknown host key"]);
      });
      await t.step("missing bucket on restore", () => {
        assertEquals(restoreMissing.code, 10, show(restoreMissing));
        oneLineError(restoreMissing, [missingBucket], [swift.secretKey]);
      });
      await t.step("unreachable host (closed port)", () => {
        oneLineError(unreachable, [`s3:http://127.0.0.1:${port}/bucket/p`], [swift.secretKey]);
        oneLineError(sftpClosed, [`127.0.0.1:${port}`, "connection refused"]);
      });
      await t.step(
        "after each failed init, a correct init succeeds and the repository checks clean",
        async () => {
          const results = await Promise.all([s3Loc, swiftLoc, sftpLoc].map(async (loc) => {
            ok(await runCli(["--repo", loc, "init"], e.env));
            return await runCli(["--repo", loc, "check"], e.env);
          }));
          for (const r of results) assertStringIncludes(ok(r).stderr, "no errors");
        },
      );
      await t.step(
        "a backup that fails (pack uploads refused) leaves a repository that checks clean",
        async () => {
          const loc = `${name("failed")}/repo`;
          const src = `${e.dir}/src-failed`;
          Deno.mkdirSync(src);
          makeTree(src, 5);
          ok(await runCli(["--repo", `s3:${swift.s3Endpoint}/${loc}`, "init"], e.env));
          const proxy = await startFaultProxy({
            target: swift.s3Endpoint,
            unavailable: 1,
            pathFilter: /\/data\//,
          });
          try {
            const failed = await runCli(["--repo", `s3:${proxy.url}/${loc}`, "backup", src], e.env);
            oneLineError(failed, [`s3:${proxy.url}/${loc}`], [swift.secretKey]);
          } finally {
            await proxy.stop();
          }
          const direct = ["--repo", `s3:${swift.s3Endpoint}/${loc}`];
          assertStringIncludes(
            ok(await runCli([...direct, "check", "--read-data"], e.env)).stderr,
            "no errors",
          );
          assertEquals(JSON.parse(ok(await runCli([...direct, "snapshots", "--json"], e.env)).stdout), []);
          ok(await runCli([...direct, "backup", src], e.env));
          assertStringIncludes(
            ok(await runCli([...direct, "check", "--read-data"], e.env)).stderr,
            "no errors",
          );
        },
      );
    } finally {
      await e.cleanup();
    }
  },
});

Deno.test({
  name: "remote cli: --limit-upload 2M paces a ~4 MiB backup; bad limit values are usage errors",
  ignore: !!swiftWhy,
  ...opts,
  fn: async () => {
    const swift = await sharedSwift();
    const e = await setup(await s3Env());
    try {
      const src = `${e.dir}/src`;
      Deno.mkdirSync(src);
      Deno.writeFileSync(`${src}/four.bin`, randomBytes(4 * 1024 * 1024, 11));
      const loc = `s3:${swift.s3Endpoint}/${name("limit")}/repo`;
      ok(await runCli(["--repo", loc, "init"], e.env));
      const b = ok(
        await runCli(
          ["--repo", loc, "--limit-upload", "2M", "--connections", "2", "backup", src, "--json"],
          e.env,
        ),
      );
      const seconds = JSON.parse(lines(b.stdout).at(-1)!).total_duration;
      assert(seconds >= 1.5, `a 4 MiB backup at 2 MiB/s took only ${seconds} s`);
      const alias = await runCli(["--repo", loc, "--download-limit", "100M", "check", "--read-data"], e.env);
      assertStringIncludes(ok(alias).stderr, "no errors");
      for (const bad of [["--limit-upload", "fast"], ["--connections", "0"], ["--limit-download", "-1M"]]) {
        const r = await runCli(["--repo", loc, ...bad, "snapshots"], e.env);
        assertEquals(r.code, 2, show(r));
        oneLineError(r, [bad[0]]);
      }
    } finally {
      await e.cleanup();
      // The last test of the file stops the shared servers.
      await stopSharedSwift();
      if (sshdPromise) await (await sshdPromise.catch(() => null))?.stop();
    }
  },
});
