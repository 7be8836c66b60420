/**
 * No secret floe knows is printed, in any mode (`-v` stacks and retry notices included), and messages
 * stay readable: a wrong password, a password file, credentials in a location, S3 keys in the
 * environment, and the listings (`cat config`, `key list --json`).
 *
 * @example
 * ```sh
 * deno test --allow-all tests/attacks/secrets_test.ts
 * ```
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { type CliResult, runCli, tempDir } from "../helpers.ts";

const PASSWORD = "the-right-password-1234";
const show = (r: CliResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

function hidden(r: CliResult, ...secrets: string[]) {
  for (const s of secrets) {
    assert(!r.stdout.includes(s) && !r.stderr.includes(s), `secret ${JSON.stringify(s)} shown:\n${show(r)}`);
  }
}

async function setup() {
  const d = await tempDir("floe-secrets-");
  const p = d.path;
  for (const sub of ["home", "cache"]) Deno.mkdirSync(`${p}/${sub}`);
  const env = {
    HOME: `${p}/home`,
    XDG_CACHE_HOME: `${p}/home/.cache`,
    XDG_DATA_HOME: `${p}/home/.local/share`,
    XDG_CONFIG_HOME: `${p}/home/.config`,
    FLOE_CACHE_DIR: `${p}/cache`,
    FLOE_REPOSITORY: `${p}/repo`,
  };
  const r = await runCli(["init"], { ...env, FLOE_PASSWORD: PASSWORD });
  assertEquals(r.code, 0, show(r));
  return { dir: p, env, cleanup: d.cleanup };
}

function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("secrets: a wrong password exits 12 with a readable message, never shown, also with -v", async () => {
  const e = await setup();
  try {
    const short = await runCli(["snapshots"], { ...e.env, FLOE_PASSWORD: "wrong" });
    assertEquals(short.code, 12, show(short));
    assertEquals(short.stderr.trim(), "floe: wrong password: no key of this repository opens with it");
    const long = "not-the-right-password-42";
    for (const v of [[], ["-v"]]) {
      const r = await runCli([...v, "snapshots"], { ...e.env, FLOE_PASSWORD: long });
      assertEquals(r.code, 12, show(r));
      assertStringIncludes(r.stderr, "floe: wrong password: no key of this repository opens with it");
      assert(!r.stderr.includes("***"), show(r));
      hidden(r, long);
      if (v.length) assertStringIncludes(r.stderr, "at ", "-v prints the stack");
    }
  } finally {
    await e.cleanup();
  }
});

Deno.test("secrets: a password file's content is never printed, even in a -v error that quotes it", async () => {
  const e = await setup();
  try {
    const file = `${e.dir}/pw`;
    Deno.writeTextFileSync(file, `${PASSWORD}\n`);
    // A message that would contain the password: a repository path the user typed it into.
    const r = await runCli(["-v", "-p", file, "-r", `${e.dir}/${PASSWORD}`, "snapshots"], e.env);
    assertEquals(r.code, 10, show(r));
    hidden(r, PASSWORD);
    assertStringIncludes(r.stderr, `floe: no repository at ${e.dir}/***`);
    assertStringIncludes(r.stderr, "at ", "-v prints the stack");
    // The same for a prompt-less new password file of `key add`.
    const newFile = `${e.dir}/new`;
    const fresh = "a-brand-new-password-77";
    Deno.writeTextFileSync(newFile, fresh);
    const added = await runCli(["-v", "-p", file, "key", "add", "--new-password-file", newFile], e.env);
    assertEquals(added.code, 0, show(added));
    hidden(added, PASSWORD, fresh);
  } finally {
    await e.cleanup();
  }
});

Deno.test("secrets: credentials written into a location are masked, also in -v", async () => {
  const e = await setup();
  try {
    const secret = "location-secret-9876";
    const port = closedPort();
    for (
      const loc of [
        `s3:https://user:${secret}@127.0.0.1:${port}/bucket`,
        `s3:https://user:${secret.slice(0, 9)}/${secret.slice(9)}@127.0.0.1:${port}/bucket`,
        `sftp://user:${secret}@127.0.0.1:${port}//srv/repo`,
        `sftp:user:${secret}@127.0.0.1:/srv/repo`,
      ]
    ) {
      const r = await runCli(["-v", "-r", loc, "snapshots"], { ...e.env, FLOE_PASSWORD: PASSWORD });
      assert(r.code !== 0, show(r));
      hidden(r, secret, secret.slice(9));
      assertStringIncludes(r.stderr, "user:***@", show(r));
    }
  } finally {
    await e.cleanup();
  }
});

Deno.test("secrets: S3 keys from the environment are not printed with -v when the store is unreachable", async () => {
  const e = await setup();
  try {
    const secret = "aws-secret-access-key-0123456789";
    const token = "aws-session-token-abcdefghij";
    const port = closedPort();
    const r = await runCli(
      ["-v", "--repo", `s3:http://127.0.0.1:${port}/bucket/p`, "snapshots"],
      {
        ...e.env,
        FLOE_PASSWORD: PASSWORD,
        AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY: secret,
        AWS_SESSION_TOKEN: token,
        AWS_REGION: "us-east-1",
      },
    );
    assert(r.code !== 0, show(r));
    assertStringIncludes(r.stderr, `s3:http://127.0.0.1:${port}/bucket/p`);
    hidden(r, secret, token, PASSWORD);
  } finally {
    await e.cleanup();
  }
});

Deno.test("secrets: cat config, cat key and key list --json hold no secret", async () => {
  const e = await setup();
  try {
    const env = { ...e.env, FLOE_PASSWORD: PASSWORD };
    const config = await runCli(["-v", "cat", "config"], env);
    assertEquals(config.code, 0, show(config));
    hidden(config, PASSWORD);
    const keys = await runCli(["--json", "key", "list"], env);
    assertEquals(keys.code, 0, show(keys));
    hidden(keys, PASSWORD);
    const id = JSON.parse(keys.stdout)[0].id as string;
    const key = await runCli(["cat", "key", id], env);
    assertEquals(key.code, 0, show(key));
    hidden(key, PASSWORD);
    assertEquals(JSON.parse(key.stdout).data, "(sealed)");
  } finally {
    await e.cleanup();
  }
});
