/**
 * Attacks on the catalog (a SQLite file any process of the user can edit): an edited cached tree must
 * not change what restore writes, nor what `check` reports; hostile blob and snapshot rows must not
 * choose which object is read, how much memory a read takes, nor which tree a snapshot has.
 */
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../assert.ts";
import { newEngine, randomBytes, tempDir } from "../helpers.ts";
import { loadPlugin } from "../../core/registry.ts";
import { Engine, internals } from "../../core/engine.ts";
import { check } from "../../core/checker.ts";
import { treeCachePath } from "../../core/catalog/catalog.ts";
import type { StoragePlugin } from "../../core/contracts.ts";
import type { EngineEvent } from "../../core/events.ts";
import type { Tree } from "../../core/repository/types.ts";
import local from "../../plugins/storage/local/mod.ts";

const PASSWORD = "test-password";

/** A repository holding one backup of `src/` (a file with mode 0755 and a symlink); the engine is closed. */
async function setup(dir: string) {
  const src = `${dir}/src`;
  Deno.mkdirSync(src);
  Deno.writeFileSync(`${src}/tool`, randomBytes(50_000, 7));
  Deno.chmodSync(`${src}/tool`, 0o755);
  Deno.symlinkSync("target-orig", `${src}/link`);
  const engine = await newEngine(dir);
  const id = (await engine.backup(await loadPlugin("source", "fs", { paths: [src] }))).snapshotId;
  const node = await internals(engine).trees.find(engine.resolveSnapshot(id).snapshot.tree, src);
  const treeId = node!.subtree!;
  const toolBlob =
    (await internals(engine).trees.load(treeId)).nodes.find((n) => n.name === "tool")!.content![0];
  await engine.close();
  return { src, id, treeId, toolBlob, catalog: `${dir}/cache/catalog.db` };
}

/** Opens the repository again, collecting events; `storage` replaces the plain local storage. */
function open(dir: string, events: EngineEvent[], storage?: StoragePlugin): Promise<Engine> {
  return Engine.open({
    location: `${dir}/repo`,
    storage,
    password: PASSWORD,
    catalogPath: `${dir}/cache/catalog.db`,
    onEvent: (e) => events.push(e),
  });
}

/** Edits the catalog's files directly, as an attacker would: `trees` is its tree cache's file. */
function edit(path: string, fn: (db: DatabaseSync, trees: DatabaseSync) => void) {
  const db = new DatabaseSync(path);
  const trees = new DatabaseSync(treeCachePath(path));
  try {
    fn(db, trees);
  } finally {
    trees.close();
    db.close();
  }
}

/** Rewrites the cached tree `id`: setuid on `tool`, `link` pointing elsewhere. */
function tamperTree(path: string, id: string) {
  edit(path, (_db, trees) => {
    const row = trees.prepare("SELECT json FROM trees WHERE id = ?").get(id) as { json: string } | undefined;
    assert(row, "the backup cached the tree");
    const tree = JSON.parse(row.json) as Tree;
    for (const n of tree.nodes) {
      if (n.name === "tool") n.mode = 0o4755;
      if (n.name === "link") n.linkTarget = "/etc/evil";
    }
    trees.prepare("UPDATE trees SET json = ? WHERE id = ?").run(JSON.stringify(tree), id);
  });
}

const warnings = (events: EngineEvent[]) =>
  events.flatMap((e) => (e.type === "warning" ? [`${e.path}: ${e.message}`] : []));

Deno.test("attack: an edited cached tree does not change what restore writes; a warning is emitted", async () => {
  const dir = await tempDir("floe-attack-catalog-");
  try {
    const { src, id, treeId, catalog } = await setup(dir.path);
    tamperTree(catalog, treeId);
    const events: EngineEvent[] = [];
    const engine = await open(dir.path, events);
    try {
      const out = `${dir.path}/out`;
      await engine.restore({ snapshot: engine.resolveSnapshot(id), subpath: src, target: out });
      assertEquals(Deno.statSync(`${out}/tool`).mode! & 0o7777, 0o755, "the true mode, without setuid");
      assertEquals(Deno.readLinkSync(`${out}/link`), "target-orig", "the true link target");
      const w = warnings(events);
      assertEquals(w.length, 1, w.join("\n"));
      assert(w[0].includes(treeId.slice(0, 12)) && w[0].includes("does not match its id"), w[0]);
      // The bad entry was replaced by the tree read from the repository: no warning the second time.
      const again = await internals(engine).trees.load(treeId);
      assertEquals(again.nodes.find((n) => n.name === "link")!.linkTarget, "target-orig");
      assertEquals(warnings(events).length, 1);
    } finally {
      await engine.close();
    }
  } finally {
    await dir.cleanup();
  }
});

Deno.test("attack: an edited cached tree read ahead of the key is not reused by the next backup", async () => {
  const dir = await tempDir("floe-attack-catalog-");
  try {
    const { src, treeId, catalog } = await setup(dir.path);
    // Content a backup would take over for the unchanged file, were it to trust the catalog.
    let content: string[] = [];
    edit(catalog, (_db, trees) => {
      const row = trees.prepare("SELECT json FROM trees WHERE id = ?").get(treeId) as { json: string };
      const tree = JSON.parse(row.json) as Tree;
      const tool = tree.nodes.find((n) => n.name === "tool")!;
      content = tool.content!;
      tool.content = ["ee".repeat(32)];
      trees.prepare("UPDATE trees SET json = ? WHERE id = ?").run(JSON.stringify(tree), treeId);
    });
    const events: EngineEvent[] = [];
    // As `floe backup` opens it: the parent's trees are read from the catalog while the key is derived.
    const engine = await Engine.open({
      location: `${dir.path}/repo`,
      password: PASSWORD,
      catalogPath: catalog,
      onEvent: (e) => events.push(e),
      readAheadFor: { host: Deno.hostname(), paths: [src] },
    });
    try {
      const { snapshot } = await engine.backup(await loadPlugin("source", "fs", { paths: [src] }), {
        onEvent: (e) => events.push(e),
      });
      const tree = await internals(engine).trees.load(
        (await internals(engine).trees.find(snapshot.tree, src))!.subtree!,
      );
      assertEquals(tree.nodes.find((n) => n.name === "tool")!.content, content, "the true content");
      const w = warnings(events);
      assertEquals(w.length, 1, w.join("\n"));
      assert(w[0].includes(treeId.slice(0, 12)) && w[0].includes("does not match its id"), w[0]);
    } finally {
      await engine.close();
    }
  } finally {
    await dir.cleanup();
  }
});

Deno.test("attack: check reads index, snapshots and trees from the repository, not the edited catalog", async () => {
  const dir = await tempDir("floe-attack-catalog-");
  try {
    const { treeId, toolBlob, catalog } = await setup(dir.path);
    // A catalog that lies every way check could be misled: a cached tree naming content that does not
    // exist (re-hashed would not help: the attacker has no id key), a blob missing from its index, a
    // snapshot (well-formed) whose tree does not exist.
    edit(catalog, (db, trees) => {
      const row = trees.prepare("SELECT json FROM trees WHERE id = ?").get(treeId) as { json: string };
      const tree = JSON.parse(row.json) as Tree;
      tree.nodes.find((n) => n.name === "tool")!.content = ["ee".repeat(32)];
      trees.prepare("UPDATE trees SET json = ? WHERE id = ?").run(JSON.stringify(tree), treeId);
      db.prepare("DELETE FROM blobs WHERE id = ?").run(toolBlob);
    });
    // Counts the ranged reads (tree blobs; check reads index files, snapshots and whole packs unranged).
    let ranged = 0;
    const inner = local({ path: `${dir.path}/repo` });
    const counting: StoragePlugin = {
      ...inner,
      get(name, opts) {
        if (opts?.range) ranged++;
        return inner.get(name, opts);
      },
    };
    const events: EngineEvent[] = [];
    const engine = await open(dir.path, events, counting);
    try {
      const trees = [...internals(engine).catalog.allBlobs()].filter((b) => b.type === "tree").length;
      assert(trees >= 2, "a root tree and the trees down to src");
      for (const readData of [false, true]) {
        ranged = 0;
        const report = await check(engine, { readData });
        assertEquals(report.problems, [], `check${readData ? " --read-data" : ""}`);
        assertEquals(report.snapshots, 1);
        // With --read-data, each pack read also has its header (its tail) read once more.
        assertEquals(ranged, trees + report.packsRead, "every tree read from the repository");
        if (readData) assert(report.packsRead >= 2, "data and tree packs read");
      }
    } finally {
      await engine.close();
    }
  } finally {
    await dir.cleanup();
  }
});

Deno.test("attack: hostile blob rows stop with a clear error before any read or allocation", async () => {
  const dir = await tempDir("floe-attack-catalog-");
  try {
    const { src, id, toolBlob, catalog } = await setup(dir.path);
    const rows: [string, string | number][] = [
      ["length", 2 ** 40], // a 1 TiB read
      ["raw_length", 2 ** 40], // a 1 TiB decompression buffer
      ["offset", -5],
      ["pack", "../../../../etc/passwd"],
    ];
    for (const [column, value] of rows) {
      let before: Record<string, unknown> | undefined;
      edit(catalog, (db) => {
        before = db.prepare("SELECT * FROM blobs WHERE id = ?").get(toolBlob) as Record<string, unknown>;
        db.prepare(`UPDATE blobs SET ${column} = ? WHERE id = ?`).run(value, toolBlob);
      });
      const engine = await open(dir.path, []);
      try {
        let error: unknown;
        try {
          await engine.restore({
            snapshot: engine.resolveSnapshot(id),
            subpath: src,
            target: `${dir.path}/out-${column}`,
          });
        } catch (e) {
          error = e;
        }
        assert(
          error instanceof Error && /catalog.*invalid.*floe catalog rebuild/.test(error.message),
          `${column}: ${error}`,
        );
      } finally {
        await engine.close();
      }
      edit(
        catalog,
        (db) =>
          db.prepare(`UPDATE blobs SET ${column} = ? WHERE id = ?`).run(before![column] as number, toolBlob),
      );
    }
  } finally {
    await dir.cleanup();
  }
});

Deno.test("attack: a malformed snapshot row is read again from the repository, with a warning", async () => {
  const dir = await tempDir("floe-attack-catalog-");
  try {
    const { id, catalog } = await setup(dir.path);
    let tree = "";
    edit(catalog, (db) => {
      const row = db.prepare("SELECT json FROM snapshots WHERE id = ?").get(id) as { json: string };
      const s = JSON.parse(row.json);
      tree = s.tree;
      s.tree = "../../elsewhere";
      s.paths = ["/x\0y"];
      db.prepare("UPDATE snapshots SET json = ?, tree = ? WHERE id = ?").run(JSON.stringify(s), s.tree, id);
    });
    const events: EngineEvent[] = [];
    const engine = await open(dir.path, events);
    try {
      const w = warnings(events);
      assert(w.some((m) => m.includes(id.slice(0, 12)) && m.includes("malformed")), w.join("\n"));
      assertEquals(engine.resolveSnapshot(id).snapshot.tree, tree);
      assertEquals(internals(engine).catalog.invalidSnapshots(), []);
    } finally {
      await engine.close();
    }
  } finally {
    await dir.cleanup();
  }
});
