/**
 * Third-party plugins driven from the CLI by path, as a user would: the example storage (its scheme given
 * to --repo), transform (named as the compression at init, needed again to open) and source (--source).
 * Also: an unclaimed location scheme is refused and creates nothing; `floe key` alone lists its
 * subcommands; `floe version`.
 */
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { hashTree, randomBytes, runCli, tempDir } from "./helpers.ts";

const examples = new URL("../examples/plugins/", import.meta.url).pathname;
const env = (dir: string) => ({ FLOE_PASSWORD: "plugin-pw", FLOE_CACHE_DIR: `${dir}/cache`, HOME: dir });

Deno.test("plugins from the CLI: a storage claims its scheme, a transform is named by id, a source by path", async () => {
  const t = await tempDir("floe-plugins-cli-");
  try {
    const src = `${t.path}/src`;
    Deno.mkdirSync(`${src}/d`, { recursive: true });
    Deno.writeFileSync(`${src}/d/a.bin`, randomBytes(200_000, 3));
    Deno.writeTextFileSync(`${src}/b.txt`, "hello\n".repeat(1000));
    const e = env(t.path);

    // Storage: flat_storage claims flat:, loaded with --plugin.
    const flat = ["--plugin", `${examples}flat_storage.ts`, "--repo", `flat:${t.path}/flat`];
    for (const args of [["init"], ["backup", src], ["check", "--read-data"]]) {
      const r = await runCli([...flat, ...args], e);
      assertEquals(r.code, 0, `${args}: ${r.stderr}`);
    }
    let r = await runCli([...flat, "restore", "latest", "--target", `${t.path}/out1`], e);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(hashTree(`${t.path}/out1${src}`), hashTree(src));
    assert([...Deno.readDirSync(`${t.path}/flat`)].some((f) => f.name.startsWith("data%2F")), "not flat");
    // Without the plugin the scheme is unknown: a usage error that creates nothing.
    r = await runCli(["--repo", `flat:${t.path}/flat`, "snapshots"], e);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, "unknown location scheme");

    // Transform: brotli, named at init; opening the repository needs the plugin again.
    const repo = ["--repo", `${t.path}/brotli-repo`];
    const brotli = ["--plugin", `${examples}brotli.ts`];
    r = await runCli([...brotli, ...repo, "init", "--compression", "brotli"], e);
    assertEquals(r.code, 0, r.stderr);
    r = await runCli([...brotli, ...repo, "backup", src], e);
    assertEquals(r.code, 0, r.stderr);
    r = await runCli([...brotli, ...repo, "cat", "config"], e);
    assertEquals(JSON.parse(r.stdout).settings.compression, "brotli");
    r = await runCli([...brotli, ...repo, "restore", "latest", "--target", `${t.path}/out2`], e);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(hashTree(`${t.path}/out2${src}`), hashTree(src));
    r = await runCli([...repo, "snapshots"], e);
    assertEquals(r.code, 1, r.stderr);
    assertStringIncludes(r.stderr, "'brotli' is not built-in");

    // Source: sqlite_source by path; its positional argument becomes `paths`.
    const db = `${t.path}/app.db`;
    const conn = new DatabaseSync(db);
    conn.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
    for (let i = 0; i < 500; i++) conn.prepare("INSERT INTO t(v) VALUES (?)").run(`row ${i}`);
    conn.close();
    r = await runCli([...repo, ...brotli, "backup", "--source", `${examples}sqlite_source.ts`, db], e);
    assertEquals(r.code, 0, r.stderr);
    r = await runCli([...repo, ...brotli, "restore", "latest:/sqlite", "--target", `${t.path}/out3`], e);
    assertEquals(r.code, 0, r.stderr);
    const back = new DatabaseSync(`${t.path}/out3/app.db`, { readOnly: true });
    assertEquals((back.prepare("SELECT count(*) AS n FROM t").get() as { n: number }).n, 500);
    back.close();
  } finally {
    await t.cleanup();
  }
});

Deno.test("CLI: an unclaimed location scheme is refused and creates nothing; key alone; version", async () => {
  const t = await tempDir("floe-schemes-");
  try {
    const r = await runCli(["--repo", "gs:bucket/x", "init"], env(t.path), { cwd: t.path });
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, "unknown location scheme");
    for (const s of ["s3:", "swift:", "sftp:"]) assertStringIncludes(r.stderr, s);
    assertEquals([...Deno.readDirSync(t.path)].map((e) => e.name).filter((n) => n !== "cache"), []);
    const key = await runCli(["key"], env(t.path), { cwd: t.path });
    assertEquals(key.code, 2);
    for (const sub of ["list", "add", "remove", "passwd"]) assertStringIncludes(key.stdout + key.stderr, sub);
    const v = await runCli(["version"], env(t.path));
    assertEquals([v.code, v.stdout.trim()], [0, "floe 0.1.0"]);
  } finally {
    await t.cleanup();
  }
});
