/**
 * The command line as users run it: through `deno task floe` (deno.json's narrowed permissions, no
 * prompt, started from another directory, so relative paths are the caller's) and into a pipe whose
 * reader closes early.
 *
 * @example
 * ```sh
 * deno test --allow-all tests/cli_hygiene_test.ts
 * ```
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import {
  cliCommand,
  type CliResult,
  cliResult,
  denoDir,
  hashTree,
  randomBytes,
  runCli,
  tempDir,
} from "./helpers.ts";
import { sharedSwift, stopSharedSwift, swiftMissing } from "./fixtures/servers/swift.ts";
import { sshdMissing, startSshd } from "./fixtures/servers/sshd.ts";

const MAIN = new URL("../cli/main.ts", import.meta.url).pathname;
const show = (r: CliResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

async function setup() {
  const d = await tempDir("floe-hygiene-");
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
      FLOE_REPOSITORY: `${p}/repo`,
      FLOE_PASSWORD: "hygiene-password",
    },
    cleanup: d.cleanup,
  };
}

/** `deno task --config …/deno.json floe ARGS` from `cwd`: the task's own flags, INIT_CWD set by deno task. */
async function task(args: string[], env: Record<string, string>, cwd: string): Promise<CliResult> {
  return cliResult(await cliCommand(args, env, { cwd, task: true }).output());
}

Deno.test({
  name: "hygiene: deno task floe from another directory backs up '.', restores to a relative target there",
  sanitizeResources: false,
  fn: async () => {
    const e = await setup();
    try {
      const src = `${e.dir}/work`;
      Deno.mkdirSync(`${src}/sub`, { recursive: true });
      Deno.writeTextFileSync(`${src}/a.txt`, "alpha\n");
      Deno.writeFileSync(`${src}/sub/b.bin`, randomBytes(300_000, 7));
      Deno.writeTextFileSync(`${src}/excludes`, "*.skip\n");
      Deno.writeTextFileSync(`${src}/c.skip`, "left out\n");
      Deno.writeTextFileSync(`${src}/pw`, "hygiene-password\n");
      const env = { ...e.env, FLOE_PASSWORD: "" };
      const init = await task(["-p", "pw", "init"], env, src);
      assertEquals(init.code, 0, show(init));
      const backup = await task(
        ["-p", "pw", "backup", ".", "--exclude-file", "excludes", "--json"],
        env,
        src,
      );
      assertEquals(backup.code, 0, show(backup));
      const snaps = await task(["-p", "pw", "snapshots", "--json"], env, src);
      assertEquals(snaps.code, 0, show(snaps));
      assertEquals(JSON.parse(snaps.stdout)[0].paths, [Deno.realPathSync(src)]);
      const caller = `${e.dir}/caller`;
      Deno.mkdirSync(caller);
      const restore = await task(["-p", "../work/pw", "restore", "latest", "--target", "rel"], env, caller);
      assertEquals(restore.code, 0, show(restore));
      const restored = `${caller}/rel${Deno.realPathSync(src)}`;
      const want = hashTree(src);
      want.delete("c.skip");
      assertEquals(hashTree(restored), want);
      assert(!/prompt|Requires .* access|NotCapable/i.test(backup.stderr + restore.stderr), show(restore));
      const check = await task(["-p", "pw", "check", "--read-data"], env, src);
      assertEquals(check.code, 0, show(check));
      assertStringIncludes(check.stderr, "no errors");
    } finally {
      await e.cleanup();
    }
  },
});

Deno.test({
  name: "hygiene: a reader that closes after one line ends the listing quietly",
  sanitizeResources: false,
  fn: async () => {
    const e = await setup();
    try {
      const src = `${e.dir}/many`;
      Deno.mkdirSync(src);
      // ~200 KB of listing: more than a pipe holds, so floe is still writing when the reader leaves.
      for (let i = 0; i < 3000; i++) {
        Deno.writeTextFileSync(`${src}/file-with-a-longish-name-${i}.txt`, `${i}`);
      }
      assertEquals((await runCli(["init"], e.env)).code, 0);
      assertEquals((await runCli(["backup", src], e.env)).code, 0);
      for (const cmd of [["ls", "latest"], ["find", "*"]]) {
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "--quiet", MAIN, ...cmd],
          env: {
            PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
            NO_COLOR: "1",
            DENO_DIR: denoDir(),
            ...e.env,
          },
          clearEnv: true,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const reader = child.stdout.getReader();
        const first = await reader.read();
        assert(!first.done && first.value.length > 0);
        await reader.cancel(); // the reader goes away, like `head -1`
        const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
        assert(!/broken pipe/i.test(stderr), `${cmd.join(" ")}: ${stderr}`);
        assert(!/^floe: /m.test(stderr), `${cmd.join(" ")}: ${stderr}`);
        assertEquals(status.code, 0, `${cmd.join(" ")}: ${stderr}`);
      }
    } finally {
      await e.cleanup();
    }
  },
});

const swiftWhy = swiftMissing();
const sshdWhy = sshdMissing();

Deno.test({
  name: "hygiene: deno task floe (narrowed permissions) backs up to and restores from S3, Swift and SFTP",
  ignore: !!swiftWhy || !!sshdWhy,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const swift = await sharedSwift();
    const sshd = await startSshd();
    const e = await setup();
    try {
      const src = `${e.dir}/src`;
      Deno.mkdirSync(src);
      Deno.writeFileSync(`${src}/data.bin`, randomBytes(500_000, 3));
      const env = {
        ...e.env,
        AWS_ACCESS_KEY_ID: swift.accessKey,
        AWS_SECRET_ACCESS_KEY: swift.secretKey,
        AWS_REGION: swift.region,
        ST_AUTH: swift.authUrl,
        ST_USER: swift.user,
        ST_KEY: swift.key,
        FLOE_SSH_KEY: sshd.keyPath,
        FLOE_SSH_KNOWN_HOSTS: sshd.knownHostsPath,
      };
      const stamp = Date.now().toString(36);
      for (
        const loc of [
          `s3:${swift.s3Endpoint}/floe-task-${stamp}/r`,
          `swift:floe-task-sw-${stamp}:/r`,
          `sftp://${sshd.user}@${sshd.host}:${sshd.port}/${sshd.root}/task-repo`,
        ]
      ) {
        for (const args of [["init"], ["backup", "."], ["check", "--read-data"]]) {
          const r = await task(["-r", loc, ...args], env, src);
          assertEquals(r.code, 0, `${loc} ${args.join(" ")}: ${show(r)}`);
        }
        const r = await task(["-r", loc, "restore", "latest", "--target", "out"], env, e.dir);
        assertEquals(r.code, 0, show(r));
        assertEquals(hashTree(`${e.dir}/out${Deno.realPathSync(src)}`), hashTree(src));
        Deno.removeSync(`${e.dir}/out`, { recursive: true });
      }
    } finally {
      await e.cleanup();
      await stopSharedSwift();
      await sshd.stop();
    }
  },
});
