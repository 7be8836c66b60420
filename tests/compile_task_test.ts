/**
 * `deno compile` embeds only what is imported statically; a worker's module must be named with
 * `--include` or the compiled floe fails the first time it starts that worker. This test keeps the
 * `compile` task's list equal to the workers the code starts (`new Worker(new URL("./x.ts", import.meta.url))`).
 */
import { assertEquals } from "./assert.ts";

const ROOT = new URL("../", import.meta.url).pathname;

function* sources(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(ROOT + dir)) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory) yield* sources(rel);
    else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) yield rel;
  }
}

Deno.test("the compile task includes every worker module the code starts", () => {
  const started = new Set<string>();
  for (const dir of ["core", "plugins", "server", "cli", "jobs", "config"]) {
    for (const file of sources(dir)) {
      const text = Deno.readTextFileSync(ROOT + file);
      for (
        const m of text.matchAll(/^(?!\s*\*).*new Worker\(new URL\("(\.\/[^"]+)", import\.meta\.url\)/gm)
      ) {
        const base = file.slice(0, file.lastIndexOf("/") + 1);
        started.add(base + m[1].slice(2));
      }
    }
  }
  const task: string = JSON.parse(Deno.readTextFileSync(ROOT + "deno.json")).tasks.compile;
  const included = [...task.matchAll(/--include (\S+)/g)].map((m) => m[1]).filter((p) => p.endsWith(".ts"));
  assertEquals(included.sort(), [...started].sort());
});
