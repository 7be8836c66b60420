/**
 * Hostile snapshots cannot make restore write outside its target; a pre-existing symlink in the target
 * is never written through; an interrupted backup leaves nothing visible and a clean repository.
 */
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { newEngine, randomBytes, tempDir } from "./helpers.ts";
import { IntegrityError } from "../core/errors.ts";
import { utf8 } from "../core/encoding.ts";
import { packName } from "../core/repository/repository.ts";
import type { IndexFile, Node, Snapshot, Tree } from "../core/repository/types.ts";
import type { EncodedBlob } from "../core/repository/repository.ts";
import { syncCatalog } from "../core/catalog/sync.ts";
import { check } from "../core/checker.ts";
import { loadPlugin } from "../core/registry.ts";
import { type Engine, internals } from "../core/engine.ts";
import type { SourcePlugin } from "../core/contracts.ts";

/** Writes the given trees (root last) and a data blob straight into the repository; returns the snapshot id. */
async function craftSnapshot(engine: Engine, build: (file: Node) => Tree[]): Promise<string> {
  const repo = internals(engine).repo;
  const content = utf8("evil");
  const dataId = repo.hasher.id(content);
  const file: Node = { name: "escape.txt", type: "file", mode: 0o644, mtime: 0, size: 4, content: [dataId] };
  const blobs: EncodedBlob[] = [await repo.encodeBlob("data", dataId, content)];
  const trees = build(file);
  let root = "";
  const ids: string[] = [];
  for (const t of trees) {
    // A tree may refer to the previous one as "$prev".
    const json = JSON.stringify(t).replaceAll('"$prev"', JSON.stringify(ids[ids.length - 1] ?? ""));
    const bytes = utf8(json);
    const id = repo.hasher.id(bytes);
    ids.push(id);
    blobs.push(await repo.encodeBlob("tree", id, bytes));
    root = id;
  }
  const pack = await repo.buildPack(blobs);
  await repo.storage.put(packName(pack.id), pack.bytes);
  const index: IndexFile = {
    version: 1,
    packs: [{ id: pack.id, size: pack.bytes.length, blobs: pack.entries.map(({ pack: _p, ...b }) => b) }],
  };
  await repo.saveJson("index", index);
  const snapshot: Snapshot = {
    version: 1,
    time: new Date().toISOString(),
    host: "evil",
    username: "evil",
    paths: ["/"],
    tags: [],
    tree: root,
    source: "fs",
    program_version: "0.1.0",
  };
  const id = await repo.saveJson("snapshots", snapshot);
  await syncCatalog(repo, internals(engine).catalog);
  return id;
}

const dirNode = (name: string): Node => ({ name, type: "dir", mode: 0o755, mtime: 0, subtree: "$prev" });

function listAll(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      out.push(`${d}/${e.name}`);
      if (e.isDirectory) walk(`${d}/${e.name}`);
    }
  };
  walk(root);
  return out.sort();
}

Deno.test({
  name: "safety: trees holding '..', 'a/b', an absolute name, '.', '' or NUL cannot escape the target",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-safety-");
    const absolute = `${dir.path}/abs-escape`;
    try {
      const engine = await newEngine(dir.path);
      try {
        const cases: [string, (file: Node) => Tree[]][] = [
          ["dir named ..", (f) => [{ nodes: [f] }, { nodes: [dirNode("..")] }]],
          [
            "nested dir named ..",
            (f) => [{ nodes: [f] }, { nodes: [dirNode("..")] }, { nodes: [dirNode("ok")] }],
          ],
          ["file named ..", (f) => [{ nodes: [{ ...f, name: ".." }] }]],
          ["file named ../escape.txt", (f) => [{ nodes: [{ ...f, name: "../escape.txt" }] }]],
          ["file named a/b", (f) => [{ nodes: [{ ...f, name: "a/b" }] }]],
          ["absolute file name", (f) => [{ nodes: [{ ...f, name: absolute }] }]],
          ["absolute dir name", (f) => [{ nodes: [f] }, { nodes: [dirNode(`${dir.path}/abs-dir`)] }]],
          [
            "symlink named ..",
            () => [{ nodes: [{ name: "..", type: "symlink", mode: 0o777, mtime: 0, linkTarget: "/" }] }],
          ],
          ["dir named .", (f) => [{ nodes: [f] }, { nodes: [dirNode(".")] }]],
          ["empty name", (f) => [{ nodes: [{ ...f, name: "" }] }]],
          ["name with NUL", (f) => [{ nodes: [{ ...f, name: "a\0b" }] }]],
          ["the same name twice", (f) => [{ nodes: [f, f] }]],
          ["a safe name first, then ..", (f) => [
            { nodes: [f] },
            { nodes: [{ ...f, name: "aaa.txt" }, dirNode("..")] },
          ]],
        ];
        const area = `${dir.path}/area`;
        Deno.mkdirSync(area);
        const before = listAll(dir.path);
        for (const [label, build] of cases) {
          const id = await craftSnapshot(engine, build);
          const target = `${area}/target`;
          // Refused outright, or (a restore goes on past damage) the hostile tree's entries are reported as
          // not restored — never written.
          let message: string;
          try {
            const r = await engine.restore({ snapshot: engine.resolveSnapshot(id), target });
            assert(r.incomplete.length > 0, `${label}: a hostile tree was restored without a word`);
            message = r.incomplete.map((x) => x.message).join("; ");
          } catch (e) {
            if (!(e instanceof IntegrityError)) throw e;
            message = e.message;
          }
          assert(message.includes("tree"), `${label}: ${message}`);
          // Nothing outside the target: everything new is beneath it (or in the repository/catalog).
          const now = listAll(dir.path).filter((p) =>
            !p.startsWith(`${dir.path}/repo/`) && !p.startsWith(`${dir.path}/cache/`) &&
            !p.startsWith(`${target}`)
          );
          assertEquals(
            now,
            before.filter((p) => !p.startsWith(`${dir.path}/repo/`) && !p.startsWith(`${dir.path}/cache/`)),
            label,
          );
          for (const p of [`${area}/escape.txt`, `${dir.path}/escape.txt`, absolute, `${dir.path}/abs-dir`]) {
            assertEquals(exists(p), false, `${label}: ${p} was written`);
          }
          Deno.removeSync(target, { recursive: true });
        }
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});

function exists(p: string): boolean {
  try {
    Deno.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "safety: a pre-existing symlink in the target is never written through",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-safety-");
    try {
      const src = `${dir.path}/src`;
      Deno.mkdirSync(`${src}/sub`, { recursive: true });
      Deno.writeTextFileSync(`${src}/sub/x.txt`, "from the snapshot");
      Deno.writeTextFileSync(`${src}/file.txt`, "snapshot file");
      const engine = await newEngine(dir.path);
      try {
        const source = await loadPlugin("source", "fs", { paths: [src] });
        await engine.backup(source);
        const snapshot = engine.resolveSnapshot("latest");
        const outside = `${dir.path}/outside`;
        for (const overwrite of ["always", "if-changed", "never"] as const) {
          Deno.mkdirSync(outside);
          Deno.writeTextFileSync(`${outside}/x.txt`, "precious");
          Deno.writeTextFileSync(`${outside}/file-target`, "precious too");
          const target = `${dir.path}/target-${overwrite}`;
          Deno.mkdirSync(target);
          Deno.symlinkSync(outside, `${target}/sub`); // where the snapshot has a directory
          Deno.symlinkSync(`${outside}/file-target`, `${target}/file.txt`); // where it has a file
          await engine.restore({ snapshot, subpath: src, target, overwrite });
          assertEquals(listAll(outside), [`${outside}/file-target`, `${outside}/x.txt`], overwrite);
          assertEquals(Deno.readTextFileSync(`${outside}/x.txt`), "precious", overwrite);
          assertEquals(Deno.readTextFileSync(`${outside}/file-target`), "precious too", overwrite);
          if (overwrite === "never") {
            assert(Deno.lstatSync(`${target}/sub`).isSymlink);
          } else {
            assert(Deno.lstatSync(`${target}/sub`).isDirectory, overwrite);
            assertEquals(Deno.readTextFileSync(`${target}/sub/x.txt`), "from the snapshot");
            assert(Deno.lstatSync(`${target}/file.txt`).isFile, overwrite);
            assertEquals(Deno.readTextFileSync(`${target}/file.txt`), "snapshot file");
          }
          Deno.removeSync(outside, { recursive: true });
        }
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});

Deno.test({
  name:
    "safety: an interrupted backup leaves no snapshot, the repository checks clean, the next backup works",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await tempDir("floe-safety-");
    try {
      const src = `${dir.path}/src`;
      Deno.mkdirSync(src);
      for (let i = 0; i < 12; i++) {
        Deno.writeFileSync(`${src}/f${String(i).padStart(2, "0")}`, randomBytes(400_000, i + 1));
      }
      const engine = await newEngine(dir.path);
      try {
        const fs = await loadPlugin("source", "fs", { paths: [src] });
        const ac = new AbortController();
        let files = 0;
        const interrupting: SourcePlugin = {
          ...fs,
          async *scan(ctx) {
            for await (const e of fs.scan(ctx)) {
              if (e.type === "file" && ++files === 8) ac.abort(new Error("interrupted by the test"));
              yield e;
            }
          },
        };
        await assertRejects(() => engine.backup(interrupting, { signal: ac.signal }), Error, "interrupted");
        assert(files >= 8);
        // Packs may have been uploaded, but no index or snapshot refers to them.
        assertEquals(await internals(engine).repo.listIds("snapshots"), []);
        assertEquals(await internals(engine).repo.listIds("index"), []);
        assertEquals(engine.snapshots(), []);
        assertEquals(await internals(engine).repo.listIds("locks"), [], "the lock is released");
        let report = await check(engine, { readData: true });
        assertEquals(report.problems, []);

        const r = await engine.backup(fs);
        assertEquals(r.warnings.length, 0);
        assertEquals(r.snapshot.summary!.files_new, 12);
        assertEquals(engine.snapshots().length, 1);
        report = await check(engine, { readData: true });
        assertEquals(report.problems, []);
        assertEquals(report.snapshots, 1);
        const target = `${dir.path}/out`;
        await engine.restore({ snapshot: engine.resolveSnapshot("latest"), subpath: src, target });
        for (let i = 0; i < 12; i++) {
          assertEquals(
            Deno.readFileSync(`${target}/f${String(i).padStart(2, "0")}`),
            randomBytes(400_000, i + 1),
          );
        }
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});
