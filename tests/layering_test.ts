/**
 * The direction of imports: core/ knows the contracts only, never plugins/, cli/, server/ or config/; the
 * front ends (cli/, server/) reach floe through mod.ts, and share jobs/, which imports neither of them.
 */
import { assertEquals } from "./assert.ts";

const root = new URL("..", import.meta.url).pathname;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(`${root}${dir}`)) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...sources(rel));
    else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) out.push(rel);
  }
  return out;
}

/** Every `from "…"` and `import("…")` specifier of a file, with comments left out. */
function imports(file: string): string[] {
  const text = Deno.readTextFileSync(`${root}${file}`)
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/^\s*\/\/.*$/gm, "");
  return [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)["']([^"']+)["']/g)].map((m) => m[1]);
}

function resolveTo(file: string, spec: string): string | null {
  if (!spec.startsWith(".")) return null;
  return new URL(spec, `file:///${file}`).pathname.slice(1);
}

Deno.test("layering: core/ imports nothing from plugins/, cli/, server/ or config/", () => {
  const bad: string[] = [];
  for (const file of sources("core")) {
    for (const spec of imports(file)) {
      const target = resolveTo(file, spec);
      if (target && /^(plugins|cli|server|config)\//.test(target)) bad.push(`${file} → ${target}`);
    }
  }
  assertEquals(bad, []);
});

Deno.test("layering: the public API (mod.ts) passes deno doc --lint: every export documented, no private type leaks", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", "mod.ts"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  // deno-lint-ignore no-control-regex
  const text = new TextDecoder().decode(out.stderr).replace(/\x1b\[[0-9;]*m/g, "");
  assertEquals(
    out.code,
    0,
    text.split("\n").filter((l) => /^error|-->/.test(l.trim())).slice(0, 20).join("\n"),
  );
});

Deno.test("layering: cli/, server/ and what they share (jobs/) reach floe through mod.ts, not into core/", () => {
  const bad: string[] = [];
  for (const face of ["cli", "server", "jobs"]) {
    for (const file of sources(face)) {
      for (const spec of imports(file)) {
        const target = resolveTo(file, spec);
        if (target?.startsWith("core/")) bad.push(`${file} → ${target}`);
      }
    }
  }
  assertEquals(bad, []);
});

Deno.test("layering: jobs/ (hooks, exit codes) is shared by cli/ and server/ and imports neither", () => {
  const bad: string[] = [];
  for (const file of sources("jobs")) {
    for (const spec of imports(file)) {
      const target = resolveTo(file, spec);
      if (target && /^(cli|server)\//.test(target)) bad.push(`${file} → ${target}`);
    }
  }
  assertEquals(bad, []);
});
