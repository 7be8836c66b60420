/**
 * Attacks on prune's deletions: a repository whose `data/` is a symbolic link to a directory outside it,
 * stray files of other names among the packs, and temporary files that interrupted writes left behind.
 */
import { assert, assertEquals } from "../assert.ts";
import { newEngine, randomBytes, runCli, tempDir } from "../helpers.ts";
import { loadPlugin } from "../../core/registry.ts";
import { Engine, internals } from "../../core/engine.ts";
import { check } from "../../core/checker.ts";
import { StorageError } from "../../core/contracts.ts";
import { STALE_MS } from "../../core/repository/locks.ts";

const PASSWORD = "test-password";

/** A repository under `dir/repo` with one backup of a small tree; returns the snapshot id. */
async function setup(dir: string): Promise<{ engine: Engine; src: string; id: string }> {
  const src = `${dir}/src`;
  Deno.mkdirSync(src);
  Deno.writeFileSync(`${src}/a.bin`, randomBytes(300_000, 3));
  Deno.symlinkSync("a.bin", `${src}/link`);
  const engine = await newEngine(dir);
  const id = (await engine.backup(await loadPlugin("source", "fs", { paths: [src] }))).snapshotId;
  return { engine, src, id };
}

function reopen(dir: string): Promise<Engine> {
  return Engine.open({ location: `${dir}/repo`, password: PASSWORD, catalogPath: `${dir}/cache/catalog.db` });
}

const exists = (path: string) => {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
};

async function rejects(fn: () => Promise<unknown>, pattern: RegExp, what: string): Promise<void> {
  let error: unknown;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  assert(error instanceof StorageError && pattern.test(error.message), `${what}: ${error}`);
}

Deno.test("attack: a repository whose data/ is a symbolic link is refused; nothing outside is deleted", async () => {
  const dir = await tempDir("floe-attack-prune-");
  try {
    const { engine, src, id } = await setup(dir.path);
    await internals(engine).repo.storage.delete(`snapshots/${id}`); // every pack unused: prune would delete them all
    internals(engine).catalog.removeSnapshot(id);
    await engine.close();
    // data/ moves out and is replaced by a link; outside, a file named like a pack no index knows.
    const outside = `${dir.path}/outside`;
    Deno.renameSync(`${dir.path}/repo/data`, outside);
    Deno.symlinkSync(outside, `${dir.path}/repo/data`);
    const bait = `${outside}/ab/${"ab".repeat(32)}`;
    Deno.mkdirSync(`${outside}/ab`, { recursive: true });
    Deno.writeTextFileSync(bait, "precious");
    const before = [...Deno.readDirSync(outside)].length;

    const e2 = await reopen(dir.path);
    try {
      await rejects(() => e2.prune(), /repo\/data is a symbolic link: refused/, "prune");
      await rejects(
        async () => e2.backup(await loadPlugin("source", "fs", { paths: [src] })),
        /symbolic link: refused/,
        "backup",
      );
    } finally {
      await e2.close();
    }
    assertEquals(Deno.readTextFileSync(bait), "precious");
    assertEquals([...Deno.readDirSync(outside)].length, before, "nothing deleted outside");
    const r = await runCli(["prune"], {
      HOME: dir.path,
      FLOE_CACHE_DIR: `${dir.path}/clicache`,
      FLOE_REPOSITORY: `${dir.path}/repo`,
      FLOE_PASSWORD: PASSWORD,
    });
    assert(r.code !== 0 && /data is a symbolic link: refused/.test(r.stderr), r.stderr);
    assert(!r.stderr.includes("\n    at "), "one line, no stack trace");
    assertEquals(Deno.readTextFileSync(bait), "precious");
  } finally {
    await dir.cleanup();
  }
});

Deno.test("attack: a linked data/xx is not followed; stray names among the packs are never deleted", async () => {
  const dir = await tempDir("floe-attack-prune-");
  try {
    const { engine, id } = await setup(dir.path);
    const data = `${dir.path}/repo/data`;
    const packsBefore = [...Deno.readDirSync(data)].length;
    assert(packsBefore >= 2);
    const strays = [`${data}/ab/notes.txt`, `${data}/ab/abcdef`, `${data}/ab/${"cd".repeat(32)}`];
    Deno.mkdirSync(`${data}/ab`, { recursive: true });
    for (const f of strays) Deno.writeTextFileSync(f, "keep me");
    await internals(engine).repo.storage.delete(`snapshots/${id}`);
    internals(engine).catalog.removeSnapshot(id);
    const result = await engine.prune();
    assert(result.deleted.packs >= 2, "the backup's packs went");
    for (const f of strays) assert(exists(f), `${f} kept`);

    // A link among the pack directories: listing refuses it rather than following it.
    const outside = `${dir.path}/outside`;
    Deno.mkdirSync(outside);
    const bait = `${outside}/${"ef".repeat(32)}`;
    Deno.writeTextFileSync(bait, "precious");
    Deno.symlinkSync(outside, `${data}/ef`);
    await rejects(() => engine.prune(), /data\/ef is a symbolic link: refused/, "prune");
    await rejects(
      () => internals(engine).repo.storage.delete(`data/ef/${"ef".repeat(32)}`),
      /data\/ef is a symbolic link/,
      "delete",
    );
    assertEquals(Deno.readTextFileSync(bait), "precious");
    await engine.close();
  } finally {
    await dir.cleanup();
  }
});

Deno.test("attack: temporary files of interrupted writes: check reports them, prune removes only old ones", async () => {
  const dir = await tempDir("floe-attack-prune-");
  try {
    const { engine } = await setup(dir.path);
    const repo = `${dir.path}/repo`;
    Deno.mkdirSync(`${repo}/data/ab`, { recursive: true });
    const old = `data/ab/.tmp-4242-7-${"ab".repeat(32)}`;
    const fresh = `index/.tmp-4243-1-${"12".repeat(32)}`;
    Deno.writeFileSync(`${repo}/${old}`, randomBytes(1000, 5));
    Deno.writeFileSync(`${repo}/${fresh}`, randomBytes(10, 6));
    const longAgo = new Date(Date.now() - STALE_MS - 60_000);
    Deno.utimeSync(`${repo}/${old}`, longAgo, longAgo);

    const report = await check(engine);
    assertEquals(report.problems, [], "temporaries are not problems");
    assertEquals(report.temporaries.stale.map((t) => t.name), [old]);
    assertEquals(report.temporaries.stale[0].size, 1000);
    assertEquals(report.temporaries.fresh.map((t) => t.name), [fresh]);
    // Never listed as objects.
    for await (const o of internals(engine).repo.storage.list("")) assert(!o.name.includes(".tmp-"), o.name);

    const dry = await engine.prune({ dryRun: true });
    assertEquals(dry.temporaries, { removed: 1, bytes: 1000, kept: 1 });
    assert(exists(`${repo}/${old}`), "a dry run removes nothing");
    const result = await engine.prune();
    assertEquals(result.temporaries, { removed: 1, bytes: 1000, kept: 1 });
    assert(!exists(`${repo}/${old}`), "the old one is gone");
    assert(exists(`${repo}/${fresh}`), "the young one (a backup may be writing it) is kept");
    await engine.close();

    const r = await runCli(["check"], {
      HOME: dir.path,
      FLOE_CACHE_DIR: `${dir.path}/clicache`,
      FLOE_REPOSITORY: repo,
      FLOE_PASSWORD: PASSWORD,
    });
    assertEquals(r.code, 0, r.stderr);
    assert(r.stderr.includes("warning: 1 temporary file(s) of interrupted writes"), r.stderr);
    assert(r.stderr.includes(fresh), r.stderr);
  } finally {
    await dir.cleanup();
  }
});
