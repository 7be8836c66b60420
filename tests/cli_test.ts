/**
 * The `floe` command line, run as a subprocess: exit codes, one-line messages, JSON output, and the
 * embedded default repository.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { type CliResult, randomBytes, runCli, sha256, tempDir, TEST_KDF } from "./helpers.ts";
import { Engine } from "../core/engine.ts";
import { loadPlugin } from "../core/registry.ts";

interface Env {
  dir: string;
  env: Record<string, string>;
  cleanup: () => Promise<void>;
}

/** A temp dir with HOME/XDG dirs, a cache dir and a repository location (not created). */
async function setup(): Promise<Env> {
  const d = await tempDir("floe-cli-");
  const p = d.path;
  for (const sub of ["home", "cache", "xdg-data", "xdg-config", "xdg-cache"]) Deno.mkdirSync(`${p}/${sub}`);
  return {
    dir: p,
    env: {
      HOME: `${p}/home`,
      XDG_DATA_HOME: `${p}/xdg-data`,
      XDG_CONFIG_HOME: `${p}/xdg-config`,
      XDG_CACHE_HOME: `${p}/xdg-cache`,
      FLOE_CACHE_DIR: `${p}/cache`,
      FLOE_REPOSITORY: `${p}/repo`,
      FLOE_PASSWORD: "cli-password",
      TZ: "Europe/Berlin",
    },
    cleanup: d.cleanup,
  };
}

const lines = (text: string) => text.split("\n").filter((l) => l.length);
const show = (r: CliResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

function oneLineError(r: CliResult, ...parts: string[]) {
  const err = lines(r.stderr);
  assertEquals(err.length, 1, show(r));
  assert(err[0].startsWith("floe: "), show(r));
  for (const p of parts) assertStringIncludes(err[0], p, show(r));
  assert(!/\n\s+at /.test(r.stderr), `stack trace printed: ${r.stderr}`);
}

function ok(r: CliResult) {
  assertEquals(r.code, 0, show(r));
}

const SUMMARY_FIELDS = [
  "snapshot_id",
  "files_new",
  "files_changed",
  "files_unmodified",
  "dirs_new",
  "dirs_changed",
  "dirs_unmodified",
  "data_added",
  "total_files_processed",
  "total_bytes_processed",
  "total_duration",
];

Deno.test({
  name: "cli: usage errors, missing repository, init twice, wrong password",
  sanitizeResources: false,
  fn: async () => {
    const e = await setup();
    try {
      const empty = `${e.dir}/empty`;
      Deno.mkdirSync(empty);
      const [unknownOpt, unknownCmd, noRepo, noRepoFlag] = await Promise.all([
        runCli(["snapshots", "--no-such-option"], e.env),
        runCli(["frobnicate"], e.env),
        runCli(["snapshots"], e.env),
        runCli(["--repo", empty, "snapshots"], e.env),
      ]);
      assertEquals(unknownOpt.code, 2, show(unknownOpt));
      oneLineError(unknownOpt, "--no-such-option");
      assertEquals(unknownCmd.code, 2, show(unknownCmd));
      assertEquals(noRepo.code, 10, show(noRepo));
      oneLineError(noRepo, "no repository");
      assertEquals(noRepoFlag.code, 10, show(noRepoFlag));
      oneLineError(noRepoFlag, empty);

      ok(await runCli(["init"], e.env));
      const again = await runCli(["init"], e.env);
      assert(again.code !== 0, show(again));
      oneLineError(again, "already exists");

      const wrong = await runCli(["snapshots"], { ...e.env, FLOE_PASSWORD: "not-it" });
      assertEquals(wrong.code, 12, show(wrong));
      oneLineError(wrong, "password");
      const missingValue = await runCli(["snapshots", "--repo"], e.env);
      assertEquals(missingValue.code, 2, show(missingValue));
    } finally {
      await e.cleanup();
    }
  },
});

Deno.test({
  name: "cli: backup, snapshots, restore --as-of and subpaths, dump, cat, check",
  sanitizeResources: false,
  fn: async (t) => {
    const e = await setup();
    try {
      const src = `${e.dir}/src`;
      Deno.mkdirSync(`${src}/sub/path`, { recursive: true });
      Deno.writeTextFileSync(`${src}/version.txt`, "v1");
      const blob = randomBytes(500_000, 3);
      Deno.writeFileSync(`${src}/sub/path/data.bin`, blob);
      Deno.writeTextFileSync(`${src}/sub/path/note.txt`, "note");
      ok(await runCli(["init"], e.env));

      let firstId = "";
      await t.step("backup --json ends with a restic-style summary object", async () => {
        const r = await runCli(["backup", src, "--time", "2024-01-01T10:00:00", "--json"], e.env);
        ok(r);
        const last = JSON.parse(lines(r.stdout).at(-1)!);
        for (const f of SUMMARY_FIELDS) assert(f in last, `summary lacks ${f}: ${JSON.stringify(last)}`);
        assertEquals(last.files_new, 3);
        assertEquals(last.total_files_processed, 3);
        assert(/^[0-9a-f]{64}$/.test(last.snapshot_id));
        firstId = last.snapshot_id;
      });

      await t.step("a second backup at a known time (global option before the command)", async () => {
        Deno.writeTextFileSync(`${src}/version.txt`, "v2");
        const r = await runCli(["--json", "backup", src, "--time", "2024-02-01T10:00:00"], e.env);
        ok(r);
        const last = JSON.parse(lines(r.stdout).at(-1)!);
        assertEquals([last.files_new, last.files_changed, last.files_unmodified], [0, 1, 2]);
      });

      await t.step("snapshots --json, with --json before or after the command", async () => {
        const [a, b] = await Promise.all([
          runCli(["--json", "snapshots"], e.env),
          runCli(["snapshots", "--json"], e.env),
        ]);
        ok(a);
        ok(b);
        assertEquals(JSON.parse(a.stdout), JSON.parse(b.stdout));
        const list = JSON.parse(a.stdout);
        assertEquals(list.length, 2);
        for (const s of list) {
          for (const f of ["id", "short_id", "time", "host", "paths", "tags", "parent", "summary"]) {
            assert(f in s, `snapshot lacks ${f}`);
          }
          assertEquals(s.short_id, s.id.slice(0, 8));
          assert(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}$/.test(s.time), s.time);
          assertEquals(s.paths, [src]);
          assert(Array.isArray(s.tags));
        }
        assertEquals(list[0].id, firstId);
        assertEquals(list[0].time, "2024-01-01T10:00:00.000+01:00");
        assertEquals(list[1].parent, firstId);
        assertEquals(list[0].parent, null);
        assertEquals(
          Date.parse(list[1].time),
          Date.parse("2024-02-01T10:00:00+01:00"),
          "local time of the CLI (TZ)",
        );
        // The plain listing works too.
        const plain = await runCli(["snapshots"], e.env);
        ok(plain);
        assertStringIncludes(plain.stdout, firstId.slice(0, 8));
      });

      await t.step("restore --as-of picks the newest snapshot at or before the date", async () => {
        const cases: [string, string | null][] = [
          ["2024-02-01T10:00:00", "v2"],
          ["2024-02-01", "v2"],
          ["2024-01-31", "v1"],
          ["2024-02-01T09:59:59", "v1"],
          ["2024-01-01T10:00:00", "v1"],
          ["2023-12-31", null],
        ];
        const results = await Promise.all(
          cases.map(([date], i) =>
            runCli(["restore", "latest", "--as-of", date, "--target", `${e.dir}/asof-${i}`], e.env)
          ),
        );
        cases.forEach(([date, want], i) => {
          const r = results[i];
          if (want === null) {
            assert(r.code !== 0, show(r));
            oneLineError(r, "2023-12-31");
          } else {
            ok(r);
            assertEquals(Deno.readTextFileSync(`${e.dir}/asof-${i}${src}/version.txt`), want, date);
          }
        });
        const bad = await runCli(
          ["restore", "latest", "--as-of", "2024-13-45", "--target", `${e.dir}/x`],
          e.env,
        );
        assert(bad.code !== 0, show(bad));
        oneLineError(bad, "2024-13-45");
        const bad2 = await runCli(
          ["restore", "latest", "--as-of", "yesterday-ish", "--target", `${e.dir}/x`],
          e.env,
        );
        assert(bad2.code !== 0, show(bad2));
        oneLineError(bad2, "yesterday-ish");
      });

      await t.step("restore latest:/sub/path lands the content directly in the target", async () => {
        const target = `${e.dir}/sub-target`;
        const r = await runCli(["restore", `latest:${src}/sub/path`, "--target", target], e.env);
        ok(r);
        assertEquals([...Deno.readDirSync(target)].map((d) => d.name).sort(), ["data.bin", "note.txt"]);
        assertEquals(Deno.readFileSync(`${target}/data.bin`), blob);
        // With a snapshot id prefix too.
        const target2 = `${e.dir}/sub-target2`;
        ok(await runCli(["restore", `${firstId.slice(0, 8)}:${src}/sub`, "--target", target2], e.env));
        assertEquals(Deno.readTextFileSync(`${target2}/path/note.txt`), "note");
      });

      await t.step("dump: a file's exact bytes; a directory as a tar", async () => {
        const [file, dir] = await Promise.all([
          runCli(["dump", "latest", `${src}/sub/path/data.bin`], e.env),
          runCli(["dump", "latest", `${src}/sub`], e.env),
        ]);
        ok(file);
        assertEquals(sha256(file.stdoutBytes), sha256(blob));
        assertEquals(file.stdoutBytes.length, blob.length);
        ok(dir);
        const tarFile = `${e.dir}/dump.tar`;
        Deno.writeFileSync(tarFile, dir.stdoutBytes);
        const tar = new Deno.Command("tar", { args: ["-tf", tarFile], stdout: "piped", stderr: "piped" })
          .outputSync();
        assert(tar.success, new TextDecoder().decode(tar.stderr));
        const names = lines(new TextDecoder().decode(tar.stdout)).map((n) => n.replace(/\/$/, "")).sort();
        assertEquals(names, ["sub/path", "sub/path/data.bin", "sub/path/note.txt"]);
        const x = new Deno.Command("tar", {
          args: ["-xOf", tarFile, "sub/path/data.bin"],
          stdout: "piped",
        }).outputSync();
        assertEquals(sha256(x.stdout), sha256(blob));
      });

      await t.step("cat config", async () => {
        const r = await runCli(["cat", "config"], e.env);
        ok(r);
        const config = JSON.parse(r.stdout);
        assertEquals(config.format, "floe");
        assertEquals(config.version, 2);
        assert(/^[0-9a-f]{64}$/.test(config.id));
        assert(config.settings?.chunker?.avg > 0, r.stdout);
      });

      await t.step("check --read-data: clean, then a flipped byte in a pack names it", async () => {
        const good = await runCli(["check", "--read-data"], e.env);
        ok(good);
        const packs: string[] = [];
        const walk = (d: string) => {
          for (const x of Deno.readDirSync(d)) {
            if (x.isDirectory) walk(`${d}/${x.name}`);
            else packs.push(`${d}/${x.name}`);
          }
        };
        walk(`${e.dir}/repo/data`);
        assert(packs.length > 0);
        const victim = packs.map((p) => ({ p, size: Deno.statSync(p).size })).sort((a, b) =>
          b.size - a.size
        )[0].p;
        const bytes = Deno.readFileSync(victim);
        bytes[bytes.length >> 1] ^= 0x01;
        Deno.writeFileSync(victim, bytes);
        const packId = victim.slice(victim.lastIndexOf("/") + 1);
        const bad = await runCli(["check", "--read-data"], e.env);
        assert(bad.code !== 0, show(bad));
        assertStringIncludes(bad.stdout + bad.stderr, packId.slice(0, 12));
        // Without --read-data the structure is still fine.
        ok(await runCli(["check"], e.env));
      });
    } finally {
      await e.cleanup();
    }
  },
});

Deno.test({
  name: "cli: an ambiguous snapshot id prefix is refused",
  sanitizeResources: false,
  fn: async () => {
    const e = await setup();
    try {
      const src = `${e.dir}/src`;
      Deno.mkdirSync(src);
      Deno.writeTextFileSync(`${src}/f`, "x");
      const engine = await Engine.init({
        location: `${e.dir}/repo`,
        password: "cli-password",
        catalogPath: `${e.dir}/engine-cache/catalog.db`,
        kdfParams: TEST_KDF, // made by the library: the CLI's own init keeps the default cost
      });
      const ids: string[] = [];
      try {
        const source = await loadPlugin("source", "fs", { paths: [src] });
        // 20 snapshots: at least two share a first hex digit.
        for (let i = 0; i < 20; i++) {
          ids.push((await engine.backup(source, { time: new Date(Date.UTC(2024, 0, 1 + i)) })).snapshotId);
        }
      } finally {
        await engine.close();
      }
      const counts = new Map<string, number>();
      for (const id of ids) counts.set(id[0], (counts.get(id[0]) ?? 0) + 1);
      const shared = [...counts].find(([, n]) => n > 1)![0];
      // One command first: it builds the catalog (concurrent first opens race, see catalog_test.ts).
      const full = await runCli(["ls", ids.find((id) => id[0] === shared)!], e.env);
      const [ls, restore] = await Promise.all([
        runCli(["ls", shared], e.env),
        runCli(["restore", shared, "--target", `${e.dir}/out`], e.env),
      ]);
      assert(ls.code !== 0, show(ls));
      oneLineError(ls, "ambiguous", `'${shared}'`);
      assert(restore.code !== 0, show(restore));
      oneLineError(restore, "ambiguous");
      ok(full);
      const notHex = await runCli(["ls", "zz"], e.env);
      assert(notHex.code !== 0, show(notHex));
      oneLineError(notHex, "zz");
    } finally {
      await e.cleanup();
    }
  },
});

Deno.test({
  name: "cli: key add, list and remove with --new-password-file",
  sanitizeResources: false,
  fn: async () => {
    const e = await setup();
    try {
      ok(await runCli(["init"], e.env));
      const pwFile = `${e.dir}/second-password`;
      Deno.writeTextFileSync(pwFile, "second-password\n");
      const added = await runCli(["key", "add", "--new-password-file", pwFile], e.env);
      ok(added);
      const second = { ...e.env, FLOE_PASSWORD: "second-password" };
      const list = await runCli(["key", "list", "--json"], second);
      ok(list);
      const keys = JSON.parse(list.stdout) as { id: string; current: boolean }[];
      assertEquals(keys.length, 2);
      const current = keys.find((k) => k.current)!;
      const other = keys.find((k) => !k.current)!;
      assertStringIncludes(added.stdout, current.id.slice(0, 8));
      // The key in use cannot be removed; the other one can.
      const refused = await runCli(["key", "remove", current.id.slice(0, 10)], second);
      assert(refused.code !== 0, show(refused));
      oneLineError(refused, "in use");
      ok(await runCli(["key", "remove", other.id.slice(0, 10)], second));
      const gone = await runCli(["snapshots"], e.env);
      assertEquals(gone.code, 12, show(gone));
      const plain = await runCli(["key", "list"], second);
      ok(plain);
      assertEquals(lines(plain.stdout).length, 1);
      // --password-file works as the password too.
      const viaFile = await runCli(["snapshots", "--password-file", pwFile], { ...e.env, FLOE_PASSWORD: "" });
      ok(viaFile);
    } finally {
      await e.cleanup();
    }
  },
});

Deno.test({
  name: "cli: the embedded default repository is created on first backup and found afterwards",
  sanitizeResources: false,
  fn: async () => {
    const e = await setup();
    try {
      const env = { ...e.env };
      delete (env as Record<string, string>).FLOE_REPOSITORY;
      delete (env as Record<string, string>).FLOE_PASSWORD;
      const src = `${e.dir}/docs`;
      Deno.mkdirSync(src);
      Deno.writeTextFileSync(`${src}/a.txt`, "embedded");
      const r = await runCli(["backup", src], env);
      ok(r);
      const repo = `${env.XDG_DATA_HOME}/floe/repository`;
      const key = `${env.XDG_CONFIG_HOME}/floe/key`;
      assert(Deno.statSync(`${repo}/config`).isFile, "repository created under XDG_DATA_HOME");
      assertEquals(Deno.statSync(key).mode! & 0o777, 0o600);
      assert(Deno.readTextFileSync(key).trim().length >= 32);
      assertStringIncludes(r.stderr, repo);
      assertStringIncludes(r.stderr, key);
      const list = await runCli(["snapshots", "--json"], env);
      ok(list);
      const snaps = JSON.parse(list.stdout);
      assertEquals(snaps.length, 1);
      assertEquals(snaps[0].paths, [src]);
      // Nothing was made under HOME's defaults: the XDG dirs were used.
      assertEquals([...Deno.readDirSync(env.HOME)].map((d) => d.name), []);
      // A second backup uses the same repository and says nothing about creating one.
      const again = await runCli(["backup", src], env);
      ok(again);
      assert(!again.stderr.includes("created repository"), again.stderr);
    } finally {
      await e.cleanup();
    }
  },
});
