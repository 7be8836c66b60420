/**
 * Queries over snapshots, through the CLI on a local repository of real files: `diff` of two snapshots
 * with known changes, `find` across three snapshots, `stats` figures that agree with each other.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { type CliResult, newEngine, randomBytes, runCli, tempDir } from "./helpers.ts";

const PASSWORD = "test-password";
const show = (r: CliResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
const ok = (r: CliResult) => assertEquals(r.code, 0, show(r));
const jsonLines = (r: CliResult) => r.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l));

async function setup() {
  const d = await tempDir("floe-query-");
  await (await newEngine(d.path, PASSWORD)).close();
  const src = `${d.path}/src`;
  const env = {
    HOME: d.path,
    FLOE_CACHE_DIR: `${d.path}/clicache`,
    FLOE_REPOSITORY: `${d.path}/repo`,
    FLOE_PASSWORD: PASSWORD,
  };
  const backup = async (time: string) => {
    const r = await runCli(["backup", src, "--json", "--time", time], env);
    ok(r);
    return jsonLines(r).at(-1).snapshot_id as string;
  };
  return { dir: d.path, src, env, backup, cleanup: d.cleanup };
}

const T0 = new Date("2024-03-01T10:00:00Z");

Deno.test({
  name: "diff: added, removed, modified and metadata-only entries of two snapshots",
  sanitizeResources: false,
  fn: async () => {
    const e = await setup();
    try {
      const s = e.src;
      Deno.mkdirSync(`${s}/keep/sub`, { recursive: true });
      Deno.mkdirSync(`${s}/gone/inner`, { recursive: true });
      Deno.writeTextFileSync(`${s}/keep/same.txt`, "same");
      Deno.writeTextFileSync(`${s}/keep/sub/edit.txt`, "before");
      Deno.writeTextFileSync(`${s}/keep/touch.txt`, "touch");
      Deno.writeTextFileSync(`${s}/keep/chmod.txt`, "chmod");
      Deno.writeTextFileSync(`${s}/gone/inner/x.txt`, "x");
      Deno.writeFileSync(`${s}/big.bin`, randomBytes(300 * 1024, 3));
      Deno.symlinkSync("keep/same.txt", `${s}/link`);
      for (const p of ["keep/same.txt", "keep/sub/edit.txt", "keep/touch.txt", "keep/chmod.txt"]) {
        Deno.utimeSync(`${s}/${p}`, T0, T0);
      }
      const a = await e.backup("2024-03-01T10:00:00Z");

      Deno.writeTextFileSync(`${s}/keep/sub/edit.txt`, "after!"); // content and size
      Deno.utimeSync(`${s}/keep/sub/edit.txt`, T0, T0);
      Deno.utimeSync(`${s}/keep/touch.txt`, new Date(T0.getTime() + 5000), new Date(T0.getTime() + 5000));
      Deno.chmodSync(`${s}/keep/chmod.txt`, 0o600);
      Deno.removeSync(`${s}/gone`, { recursive: true });
      Deno.mkdirSync(`${s}/new`);
      Deno.writeTextFileSync(`${s}/new/n.txt`, "n");
      const big = Deno.readFileSync(`${s}/big.bin`);
      big[1000] ^= 1; // same size, other content
      Deno.writeFileSync(`${s}/big.bin`, big);
      Deno.removeSync(`${s}/link`);
      Deno.symlinkSync("keep/touch.txt", `${s}/link`);
      const b = await e.backup("2024-03-02T10:00:00Z");

      const r = await runCli(["diff", a, b, "--json"], e.env);
      ok(r);
      const lines = jsonLines(r);
      const changes = new Map<string, string>();
      for (const l of lines.filter((l) => l.message_type === "change")) {
        // Ancestors of the backed-up path are recorded too; their mtimes may change between runs.
        if (!l.path.startsWith(s + "/")) continue;
        changes.set(l.path.slice(s.length), l.modifier);
      }
      assertEquals(changes.get("/keep/sub/edit.txt"), "M");
      assertEquals(changes.get("/big.bin"), "M");
      assertEquals(changes.get("/link"), "M");
      assertEquals(changes.get("/keep/touch.txt"), "U");
      assertEquals(changes.get("/keep/chmod.txt"), "U");
      assertEquals(changes.get("/gone/"), "-");
      assertEquals(changes.get("/gone/inner/"), "-");
      assertEquals(changes.get("/gone/inner/x.txt"), "-");
      assertEquals(changes.get("/new/"), "+");
      assertEquals(changes.get("/new/n.txt"), "+");
      assert(!changes.has("/keep/same.txt"), "unchanged file listed");
      // Only these files and their directories (whose mtimes changed) appear.
      for (const [p, m] of changes) {
        if (p.startsWith("/keep/sub/edit") || p === "/big.bin" || p === "/link") continue;
        if (["/keep/touch.txt", "/keep/chmod.txt"].includes(p)) continue;
        if (p.startsWith("/gone") || p.startsWith("/new")) continue;
        assert(m === "U" && p.endsWith("/"), `unexpected change ${m} ${p}`);
      }
      const stats = lines.at(-1);
      assertEquals(stats.message_type, "statistics");
      assertEquals(stats.changed_files, 3);
      assertEquals(stats.added.files, 1);
      assertEquals(stats.removed.files, 1);
      assertEquals(stats.removed.dirs, 2);

      // Text output; identical snapshots give no change.
      const text = await runCli(["diff", a, b], e.env);
      ok(text);
      assertStringIncludes(text.stdout, `M    ${s}/big.bin`);
      assertStringIncludes(text.stdout, `+    ${s}/new/n.txt`);
      const same = await runCli(["diff", b, b], e.env);
      ok(same);
      assertEquals(same.stdout, "");
    } finally {
      await e.cleanup();
    }
  },
});

Deno.test({
  name: "find: patterns on names and paths across three snapshots",
  sanitizeResources: false,
  fn: async () => {
    const e = await setup();
    try {
      const s = e.src;
      Deno.mkdirSync(`${s}/etc/app`, { recursive: true });
      Deno.mkdirSync(`${s}/shared`, { recursive: true });
      Deno.writeTextFileSync(`${s}/etc/app/main.conf`, "one");
      Deno.writeTextFileSync(`${s}/shared/a.txt`, "shared");
      const s1 = await e.backup("2024-01-01T00:00:00Z");
      Deno.writeTextFileSync(`${s}/etc/app/extra.conf`, "two");
      const s2 = await e.backup("2024-01-02T00:00:00Z");
      Deno.removeSync(`${s}/etc/app/main.conf`);
      Deno.writeTextFileSync(`${s}/etc/Other.CONF`, "three");
      const s3 = await e.backup("2024-01-03T00:00:00Z");

      let r = await runCli(["find", "*.conf", "--json"], e.env);
      ok(r);
      const got = jsonLines(r).map((l) => `${l.snapshot.slice(0, 8)} ${l.path.slice(s.length)} ${l.size}`);
      assertEquals(got, [
        `${s1.slice(0, 8)} /etc/app/main.conf 3`,
        `${s2.slice(0, 8)} /etc/app/extra.conf 3`,
        `${s2.slice(0, 8)} /etc/app/main.conf 3`,
        `${s3.slice(0, 8)} /etc/app/extra.conf 3`,
      ]);
      for (const l of jsonLines(r)) assert(!isNaN(Date.parse(l.mtime)));

      // Case-insensitive; several patterns; a full-path pattern; one snapshot only.
      r = await runCli(["find", "-i", "*.conf", "--snapshot", s3, "--json"], e.env);
      assertEquals(jsonLines(r).map((l) => l.path.slice(s.length)), [
        "/etc/Other.CONF",
        "/etc/app/extra.conf",
      ]);
      r = await runCli(["find", `${s}/shared/*`, "app", "--json", "-s", s1, "-s", s2], e.env);
      assertEquals(
        jsonLines(r).map((l) => `${l.snapshot.slice(0, 8)} ${l.path.slice(s.length)} ${l.type}`),
        [
          `${s1.slice(0, 8)} /etc/app dir`,
          `${s1.slice(0, 8)} /shared/a.txt file`,
          `${s2.slice(0, 8)} /etc/app dir`,
          `${s2.slice(0, 8)} /shared/a.txt file`,
        ],
      );
      r = await runCli(["find", "app/*.conf"], e.env);
      ok(r);
      assertEquals(r.stdout.split("\n").filter(Boolean).length, 4);
      assertStringIncludes(r.stdout, `${s3.slice(0, 8)}  `);
      r = await runCli(["find", "nothing-matches"], e.env);
      ok(r);
      assertEquals(r.stdout, "");
    } finally {
      await e.cleanup();
    }
  },
});

Deno.test({
  name: "stats: restore, deduplicated and stored sizes agree",
  sanitizeResources: false,
  fn: async () => {
    const e = await setup();
    try {
      const s = e.src;
      Deno.mkdirSync(s);
      const text = new TextEncoder().encode("compressible line of text 0123456789\n".repeat(60_000)); // 2.2 MB
      Deno.writeFileSync(`${s}/a.txt`, text);
      Deno.writeFileSync(`${s}/copy-of-a.txt`, text); // duplicate content
      Deno.writeFileSync(`${s}/r.bin`, randomBytes(500 * 1024, 5));
      await e.backup("2024-01-01T00:00:00Z");
      Deno.writeTextFileSync(`${s}/small.txt`, "small");
      const last = await e.backup("2024-01-02T00:00:00Z");

      const r = await runCli(["stats", "--json"], e.env);
      ok(r);
      const all = JSON.parse(r.stdout);
      const fileBytes = 2 * text.length + 500 * 1024;
      assertEquals(all.snapshots_count, 2);
      assertEquals(all.total_file_count, 3 + 4);
      assertEquals(all.total_size, 2 * fileBytes + 5);
      assertEquals(all.unique_file_count, 3);
      assertEquals(all.unique_files_size, text.length + 500 * 1024 + 5);
      // Deduplicated ≤ restore size; stored ≤ deduplicated for compressible data; packs hold the stored blobs.
      assert(all.total_uncompressed_size <= all.total_size, JSON.stringify(all));
      assert(all.total_uncompressed_size >= all.unique_files_size, JSON.stringify(all));
      assert(all.total_stored_size < all.total_uncompressed_size, JSON.stringify(all));
      assert(all.compression_ratio > 1, JSON.stringify(all));
      assert(all.space_saving > 0.5 && all.space_saving < 1, JSON.stringify(all));
      assertEquals(all.missing_blob_count, 0);
      assert(all.repository.pack_size >= all.repository.stored_size, JSON.stringify(all));
      assertEquals(all.repository.stored_size, all.total_stored_size); // nothing unreferenced yet
      assertEquals(all.repository.blob_count, all.total_blob_count);

      // One snapshot, one mode.
      const one = JSON.parse(
        (await runCli(["stats", last, "--mode", "restore-size", "--json"], e.env)).stdout,
      );
      assertEquals(one, { snapshots_count: 1, total_file_count: 4, total_size: fileBytes + 5 });
      const raw = JSON.parse((await runCli(["stats", "latest", "--mode", "raw", "--json"], e.env)).stdout);
      assert(raw.total_uncompressed_size <= all.total_uncompressed_size);
      assertEquals(raw.data_blob_count, all.data_blob_count); // the last snapshot holds every file content
      const txt = await runCli(["stats"], e.env);
      ok(txt);
      assertStringIncludes(txt.stdout, "deduplicated size:");
      assertEquals((await runCli(["stats", "--mode", "bogus"], e.env)).code, 2);
    } finally {
      await e.cleanup();
    }
  },
});
