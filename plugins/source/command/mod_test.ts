/**
 * The command source through the engine: several commands' outputs in one snapshot (a large stream
 * among them), a command that fails after some output leaves no snapshot, and standard input backed up
 * by a child process reading a pipe.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../../../tests/assert.ts";
import { newEngine, randomBytes, sha256, tempDir } from "../../../tests/helpers.ts";
import { validatePlugin } from "../../../core/registry.ts";
import { type Engine, internals } from "../../../core/engine.ts";
import type { Node } from "../../../core/repository/types.ts";
import command from "./mod.ts";

async function content(engine: Engine, node: Node): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const b of engine.readFile(node)) parts.push(b.slice());
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function snapshotCount(engine: Engine): Promise<number> {
  let n = 0;
  for await (const _ of internals(engine).repo.storage.list("snapshots/")) n++;
  return n;
}

Deno.test({
  name: "command source",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dir = await tempDir("floe-command-");
    const engine = await newEngine(dir.path);
    try {
      await t.step("validates its options and the source contract", () => {
        validatePlugin("source", command({ commands: [{ command: "true", path: "/x" }] }), "command");
        assertThrows(() => command({}), "at least one command");
        assertThrows(() => command({ commands: [{ command: "true", path: "/a/../b" }] }), "not a valid path");
        assertThrows(
          () => command({ commands: [{ command: "true", path: "/a" }, { command: "true", path: "/a/b" }] }),
          "inside the file",
        );
        // The CLI's and a config's form: command= and path=, paired in order when repeated.
        assertEquals(command({ command: ["a", "b"], path: ["/x/b", "/x/a"] }).paths, ["/x/a", "/x/b"]);
        assertEquals(command({ command: "a", path: "/one" }).paths, ["/one"]);
        assertThrows(() => command({ command: ["a", "b"], path: "/x" }), "2 command(s) but 1 path(s)");
        assertThrows(() => command({ command: "a", path: "/x", paths: ["oops"] }), "takes no arguments");
      });

      await t.step("several commands in one snapshot, streamed", async () => {
        Deno.writeFileSync(`${dir.path}/big`, crypto.getRandomValues(new Uint8Array(60_000)));
        const big =
          `for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do cat '${dir.path}/big'; done`;
        const source = command({
          commands: [
            { command: "printf 'hello\\nwörld\\n'", path: "/dumps/hello.txt" },
            { command: big, path: "/dumps/big.bin" },
            { command: "echo nested | tr a-z A-Z", path: "/other/deep/n.txt" },
          ],
        });
        assertEquals(source.paths, ["/dumps/big.bin", "/dumps/hello.txt", "/other/deep/n.txt"]);
        const r = await engine.backup(source);
        assertEquals(r.warnings, []);
        const snap = engine.resolveSnapshot(r.snapshotId);
        const listed = [];
        for await (const e of engine.ls(snap, "/")) {
          listed.push(`${e.path} ${e.node.type} ${e.node.size ?? ""}`);
        }
        assertEquals(listed, [
          "/dumps dir ",
          "/dumps/big.bin file 1200000",
          "/dumps/hello.txt file 13",
          "/other dir ",
          "/other/deep dir ",
          "/other/deep/n.txt file 7",
        ]);
        const find = async (p: string) => (await internals(engine).trees.find(snap.snapshot.tree, p))!;
        assertEquals(
          new TextDecoder().decode(await content(engine, await find("/dumps/hello.txt"))),
          "hello\nwörld\n",
        );
        assertEquals(
          new TextDecoder().decode(await content(engine, await find("/other/deep/n.txt"))),
          "NESTED\n",
        );
        const one = Deno.readFileSync(`${dir.path}/big`);
        const expected = new Uint8Array(one.length * 20);
        for (let i = 0; i < 20; i++) expected.set(one, i * one.length);
        assertEquals(sha256(await content(engine, await find("/dumps/big.bin"))), sha256(expected));
      });

      await t.step("a command that exits 1 after output fails the backup: no snapshot", async () => {
        const count = await snapshotCount(engine);
        const source = command({
          commands: [
            { command: "echo first", path: "/a" },
            { command: "echo partial; echo 'disk on fire' >&2; exit 1", path: "/b" },
            { command: "echo never", path: "/c" },
          ],
        });
        const error = await assertRejects(
          () => engine.backup(source),
          Error,
          "failed (exit 1): disk on fire",
        );
        assert(error.message.includes("/b"), error.message);
        assertEquals(await snapshotCount(engine), count, "no snapshot was written");
        await assertRejects(
          () => engine.backup(command({ commands: [{ command: "kill -9 $$", path: "/k" }] })),
          Error,
          "killed by SIGKILL",
        );
        assertEquals(await snapshotCount(engine), count);
      });

      await t.step("stdin mode: what arrives on standard input", async () => {
        await engine.close();
        const script = `${dir.path}/stdin_backup.ts`;
        const here = new URL(".", import.meta.url).pathname;
        Deno.writeTextFileSync(
          script,
          `import { Engine } from "${here}../../../mod.ts";
import command from "${here}mod.ts";
const engine = await Engine.open({ location: "${dir.path}/repo", password: "test-password",
  catalogPath: "${dir.path}/cache/catalog.db" });
const r = await engine.backup(command({ stdin: { path: "upload.bin" } }));
console.log(r.snapshotId);
await engine.close();
`,
        );
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "--allow-all", "--quiet", "--config", `${here}../../../deno.json`, script],
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const data = randomBytes(300_000, 7);
        const done = child.output();
        const w = child.stdin.getWriter();
        await w.write(data).catch(() => {}); // a failure shows in the child's stderr below
        await w.close().catch(() => {});
        const out = await done;
        assert(out.success, new TextDecoder().decode(out.stderr));
        const id = new TextDecoder().decode(out.stdout).trim();
        const reopened = await newEngineOpen(dir.path);
        try {
          const snap = reopened.resolveSnapshot(id);
          assertEquals(snap.snapshot.paths, ["/upload.bin"]);
          const node = (await internals(reopened).trees.find(snap.snapshot.tree, "/upload.bin"))!;
          assertEquals(sha256(await content(reopened, node)), sha256(data));
        } finally {
          await reopened.close();
        }
      });
    } finally {
      await engine.close().catch(() => {});
      await dir.cleanup();
    }
  },
});

async function newEngineOpen(dir: string): Promise<Engine> {
  const { Engine } = await import("../../../core/engine.ts");
  return await Engine.open({
    location: `${dir}/repo`,
    password: "test-password",
    catalogPath: `${dir}/cache/catalog.db`,
  });
}
