import { internals } from "../core/engine.ts";
import { assertEquals } from "./assert.ts";
import { newEngine, tempDir } from "./helpers.ts";
import { loadPlugin } from "../core/registry.ts";

Deno.test("change detection: a same-size rewrite with its mtime reset, within the same second, is re-read", async () => {
  const dir = await tempDir("floe-ctime-");
  try {
    const src = `${dir.path}/src`;
    Deno.mkdirSync(src);
    const t0 = new Date("2024-01-01T00:00:00Z");
    Deno.writeTextFileSync(`${src}/f.txt`, "before");
    Deno.utimeSync(`${src}/f.txt`, t0, t0);
    const engine = await newEngine(dir.path);
    try {
      const source = await loadPlugin("source", "fs", { paths: [src] });
      await engine.backup(source, { workers: 0 });
      Deno.writeTextFileSync(`${src}/f.txt`, "after!"); // same size
      Deno.utimeSync(`${src}/f.txt`, t0, t0); // same mtime
      const second = await engine.backup(source, { workers: 0 });
      assertEquals(second.snapshot.summary!.files_changed, 1);
      const node = await internals(engine).trees.find(second.snapshot.tree, `${src}/f.txt`);
      const bytes: Uint8Array[] = [];
      for await (const b of engine.readFile(node!)) bytes.push(b);
      assertEquals(new TextDecoder().decode(bytes[0]), "after!");
    } finally {
      await engine.close();
    }
  } finally {
    await dir.cleanup();
  }
});
