/**
 * `floe backup` through the real CLI: `--hook-before/-after/-on-failure/-finally` (environment, output on
 * stderr, a failing before makes no snapshot, a failing after keeps it, a timeout), `--stdin
 * --stdin-filename` (content back byte for byte, refused combinations, an empty input, a backup stopped
 * while its input stalls) and `--source command` with repeated `command=`/`path=` options.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { cliCommand, randomBytes, runCli, sha256, tempDir } from "./helpers.ts";

const PASSWORD = "hooks-cli-password";

async function setup() {
  const t = await tempDir("floe-hooks-cli-");
  const env = {
    FLOE_PASSWORD: PASSWORD,
    FLOE_REPOSITORY: `${t.path}/repo`,
    FLOE_CACHE_DIR: `${t.path}/cache`,
    HOME: t.path,
  };
  const init = await runCli(["init"], env);
  assertEquals(init.code, 0, init.stderr);
  Deno.mkdirSync(`${t.path}/src`);
  Deno.writeTextFileSync(`${t.path}/src/a.txt`, "hello\n");
  return { dir: t.path, env, cleanup: t.cleanup };
}

async function snapshotIds(env: Record<string, string>): Promise<string[]> {
  const r = await runCli(["snapshots", "--json"], env);
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).map((s: { id: string }) => s.id);
}

Deno.test("backup hooks from the CLI: environment, stderr, before stops, after keeps the snapshot", async () => {
  const { dir, env, cleanup } = await setup();
  try {
    const src = `${dir}/src`;
    // A successful run: before, after and finally see the run's facts; their output goes to stderr.
    let r = await runCli([
      "backup",
      src,
      "--hook-before",
      `echo "before:$FLOE_JOB:$FLOE_PATHS"; echo to-stderr >&2; touch ${dir}/before-ran`,
      "--hook-after",
      `printf '%s|%s|%s|%s' "$FLOE_SNAPSHOT_ID" "$FLOE_EXIT_CODE" "$FLOE_REPOSITORY" "$FLOE_PATHS" > ${dir}/after.env`,
      "--hook-finally",
      `echo "finally:$FLOE_EXIT_CODE:\${FLOE_ERROR-unset}:\${FLOE_PASSWORD-withheld}"`,
    ], env);
    assertEquals(r.code, 0, r.stderr);
    let ids = await snapshotIds(env);
    assertEquals(ids.length, 1);
    assertEquals(Deno.readTextFileSync(`${dir}/after.env`), `${ids[0]}|0|${dir}/repo|${src}`);
    assertStringIncludes(r.stderr, `[before] before::${src}`); // FLOE_JOB is empty on the CLI
    assertStringIncludes(r.stderr, "[before] to-stderr");
    assertStringIncludes(r.stderr, "[finally] finally:0:unset:withheld"); // the password is not handed on
    assert(!r.stdout.includes("[before]"), "hook output stays off stdout");
    assertStringIncludes(r.stdout, `snapshot ${ids[0].slice(0, 8)} saved`);

    // With --json, stdout holds the summary alone (hooks write to stderr), also under -q.
    r = await runCli(["--json", "-q", "backup", src, "--hook-before", "echo noisy"], env);
    assertEquals(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(lines.at(-1).message_type, "summary");
    assertStringIncludes(r.stderr, "[before] noisy");
    ids = await snapshotIds(env);
    assertEquals(ids.length, 2);

    // A failing before: no backup, exit 1, on-failure and finally told why.
    r = await runCli([
      "backup",
      src,
      "--hook-before",
      "exit 7",
      "--hook-on-failure",
      `echo "failed:$FLOE_ERROR:$FLOE_EXIT_CODE"`,
      "--hook-finally",
      `echo "finally:$FLOE_EXIT_CODE"`,
      "--hook-after",
      `touch ${dir}/after-ran`,
    ], env);
    assertEquals(r.code, 1, r.stderr);
    assertStringIncludes(r.stderr, "floe: before hook exited with 7");
    assertStringIncludes(r.stderr, "[on-failure] failed:before hook exited with 7:1");
    assertStringIncludes(r.stderr, "[finally] finally:1");
    assertEquals((await snapshotIds(env)).length, 2, "no snapshot after a failing before hook");
    assert(!(await exists(`${dir}/after-ran`)));

    // A failing after: exit 1, the snapshot stays.
    r = await runCli(["backup", src, "--hook-after", "echo sad >&2; exit 5"], env);
    assertEquals(r.code, 1, r.stderr);
    assertStringIncludes(r.stderr, "[after] sad");
    assertStringIncludes(r.stderr, "floe: after hook exited with 5");
    ids = await snapshotIds(env);
    assertEquals(ids.length, 3, "the snapshot made before the failing after hook is kept");
    assertStringIncludes(r.stdout, `snapshot ${ids[2].slice(0, 8)} saved`);

    // A failing backup runs on-failure with the error and the exit code.
    r = await runCli([
      "backup",
      `${dir}/missing`,
      "--hook-on-failure",
      `echo "failed:$FLOE_ERROR:$FLOE_EXIT_CODE"`,
    ], env);
    assertEquals(r.code, 1, r.stderr);
    assertStringIncludes(r.stderr, `[on-failure] failed:${dir}/missing: no such file or directory:1`);

    // A hook that outlives --hook-timeout is stopped.
    const started = Date.now();
    r = await runCli(["backup", src, "--hook-before", "sleep 30", "--hook-timeout", "1s"], env);
    assertEquals(r.code, 1, r.stderr);
    assertStringIncludes(r.stderr, "before hook timed out after 1000 ms");
    assert(Date.now() - started < 20_000, "the hook was stopped at its timeout");
    r = await runCli(["backup", src, "--hook-timeout", "1s"], env);
    assertEquals(r.code, 2, r.stderr);
    assertEquals((await snapshotIds(env)).length, 3);
  } finally {
    await cleanup();
  }
});

Deno.test("backup hooks from the CLI: FLOE_REPOSITORY has its password masked, and nothing prints it", async () => {
  const { dir, env, cleanup } = await setup();
  try {
    const secret = "hunter2-very-secret";
    // The before hook runs before the repository opens: it fails, so nothing connects anywhere.
    const r = await runCli([
      "--repo",
      `sftp://ann:${secret}@127.0.0.1:1//srv/backup`,
      "backup",
      `${dir}/src`,
      "--hook-before",
      `printf %s "$FLOE_REPOSITORY" > ${dir}/repo.env; echo "$FLOE_REPOSITORY"; exit 1`,
    ], env);
    assertEquals(r.code, 1, r.stderr);
    const seen = Deno.readTextFileSync(`${dir}/repo.env`);
    assert(!seen.includes(secret), seen);
    assertStringIncludes(seen, "sftp://ann:");
    assertStringIncludes(seen, "@127.0.0.1:1//srv/backup");
    assert(!r.stdout.includes(secret) && !r.stderr.includes(secret), r.stderr);
  } finally {
    await cleanup();
  }
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("backup --stdin: one file from standard input; refused combinations; empty input; a stalled input cancelled", async () => {
  const { dir, env, cleanup } = await setup();
  try {
    const data = randomBytes(3_000_000, 11);
    let r = await runCli(["backup", "--stdin", "--stdin-filename", "db/shop.sql"], env, { input: data });
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(r.stderr, "processed 1 files, 2.86 MiB"); // the bytes read, not the 0 announced
    r = await runCli(["snapshots", "--json"], env);
    assertEquals(JSON.parse(r.stdout)[0].paths, ["/db/shop.sql"]);
    r = await runCli(["dump", "latest", "/db/shop.sql"], env);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(sha256(r.stdoutBytes), sha256(data));
    // restic's default name.
    r = await runCli(["backup", "--stdin"], env, { input: new TextEncoder().encode("x\n") });
    assertEquals(r.code, 0, r.stderr);
    r = await runCli(["ls", "latest"], env);
    assertEquals(r.stdout.trim(), "/stdin");

    // What does not go with it is a usage error, before anything is read or written.
    const before = (await snapshotIds(env)).length;
    for (
      const [args, message] of [
        [["--stdin", `${dir}/src`], "give no paths with it"],
        [["--stdin", "--source", "mysql"], "no --source or --source-option"],
        [["--stdin-filename", "x", `${dir}/src`], "--stdin-filename goes with --stdin"],
        [[], "give the paths to back up"],
      ] as const
    ) {
      r = await runCli(["backup", ...args], env, { input: data.subarray(0, 10) });
      assertEquals(r.code, 2, `${args}: ${r.stderr}`);
      assertStringIncludes(r.stderr, message);
    }
    assertEquals((await snapshotIds(env)).length, before);

    // An empty input makes an empty file, and says so.
    r = await runCli(["backup", "--stdin", "--stdin-filename", "empty"], env);
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(r.stderr, "warning: standard input was empty: /empty is an empty file");
    r = await runCli(["dump", "latest", "/empty"], env);
    assertEquals(r.stdoutBytes.length, 0);

    // A writer that stalls: SIGTERM stops the backup at once, with no snapshot.
    const count = (await snapshotIds(env)).length;
    const child = cliCommand(["backup", "--stdin"], env, { stdin: "piped" }).spawn();
    const w = child.stdin.getWriter();
    await w.write(randomBytes(2_000_000, 12));
    await new Promise((res) => setTimeout(res, 1_500)); // read and stored while the writer stalls
    child.kill("SIGTERM");
    const out = await child.output();
    await w.close().catch(() => {});
    assert(out.code !== 0, "a cancelled backup fails");
    assertStringIncludes(
      new TextDecoder().decode(out.stderr),
      "backup cancelled; nothing partial was recorded",
    );
    assertEquals((await snapshotIds(env)).length, count, "no snapshot from a cancelled --stdin");
  } finally {
    await cleanup();
  }
});

Deno.test("backup --source command from the CLI: command=/path= pairs, a failing command makes no snapshot", async () => {
  const { env, cleanup } = await setup();
  try {
    let r = await runCli([
      "backup",
      "--source",
      "command",
      "--source-option",
      "command=printf 'one\\n'",
      "--source-option",
      "path=/dumps/one.txt",
      "--source-option",
      "command=seq 1 50000",
      "--source-option",
      "path=/dumps/seq.txt",
    ], env);
    assertEquals(r.code, 0, r.stderr);
    r = await runCli(["dump", "latest", "/dumps/one.txt"], env);
    assertEquals(r.stdout, "one\n");
    r = await runCli(["dump", "latest", "/dumps/seq.txt"], env);
    assertEquals(r.stdout.split("\n").length, 50_001);

    r = await runCli([
      "backup",
      "--source",
      "command",
      "--source-option",
      "command=echo partial; echo broken >&2; exit 3",
      "--source-option",
      "path=/dumps/bad",
    ], env);
    assertEquals(r.code, 1, r.stderr);
    assertStringIncludes(r.stderr, "failed (exit 3): broken");
    assertEquals((await snapshotIds(env)).length, 1);
  } finally {
    await cleanup();
  }
});
