/**
 * A property test that plays a storage writer and a local attacker at random: one byte changed anywhere
 * in `config`, a key file, an index file, a snapshot or the catalog either leaves the repository opening
 * and restoring correctly (every file under its own name byte-identical to the source, anything else
 * reported) or is refused with a one-line error of exit code 1 or 12 — never an unexpected exception, never
 * a write outside the case's cache and restore target.
 */
import { assert, assertEquals } from "../assert.ts";
import { hashTree, randomBytes, SMALL_REPO, tempDir } from "../helpers.ts";
import { Engine } from "../../core/engine.ts";
import { FloeError } from "../../core/errors.ts";
import { ExitCode, exitCodeOf } from "../../jobs/exit_codes.ts";
import { loadPlugin } from "../../core/registry.ts";
import { check } from "../../core/checker.ts";

const PASSWORD = "fuzz-password";
/** Cases per target: 5 targets × CASES runs, each an open, a restore and a check of a tiny repository. */
const CASES = 12;

/** xorshift32: the same cases on every run, so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

function listAll(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(r);
      if (e.isDirectory) walk(`${dir}/${e.name}`, r);
    }
  };
  walk(root, "");
  return out.sort();
}

function copyTree(from: string, to: string) {
  Deno.mkdirSync(to, { recursive: true });
  for (const e of Deno.readDirSync(from)) {
    if (e.isDirectory) copyTree(`${from}/${e.name}`, `${to}/${e.name}`);
    else if (e.isFile) Deno.writeFileSync(`${to}/${e.name}`, Deno.readFileSync(`${from}/${e.name}`));
  }
}

function firstIn(dir: string): string {
  for (const e of Deno.readDirSync(dir)) if (e.isFile) return `${dir}/${e.name}`;
  throw new Error(`nothing in ${dir}`);
}

Deno.test("attack: random single-byte changes are read correctly or refused with exit 1 or 12", async () => {
  const tmp = await tempDir("floe-fuzz-");
  try {
    // The pristine state: a source tree, a repository with one snapshot, its catalog.
    const src = `${tmp.path}/src`;
    Deno.mkdirSync(`${src}/sub`, { recursive: true });
    Deno.writeFileSync(`${src}/a.bin`, randomBytes(300_000, 7));
    Deno.writeTextFileSync(`${src}/sub/b.txt`, "hello\n".repeat(100));
    Deno.symlinkSync("sub/b.txt", `${src}/link`);
    const pristine = `${tmp.path}/pristine`;
    const engine = await Engine.init({
      location: `${pristine}/repo`,
      password: PASSWORD,
      catalogPath: `${pristine}/cache/catalog.db`,
      ...SMALL_REPO,
    });
    await engine.backup(await loadPlugin("source", "fs", { paths: [src] }));
    await engine.close();
    const expected = hashTree(src);

    const targets: Record<string, (root: string) => string> = {
      config: (root) => `${root}/repo/config`,
      key: (root) => firstIn(`${root}/repo/keys`),
      index: (root) => firstIn(`${root}/repo/index`),
      snapshot: (root) => firstIn(`${root}/repo/snapshots`),
      catalog: (root) => `${root}/cache/catalog.db`,
    };
    const random = rng(20261207);
    const outcomes: Record<string, Record<string, number>> = {};
    let n = 0;
    const failures: string[] = [];
    for (const [what, pathOf] of Object.entries(targets)) {
      outcomes[what] = {};
      for (let i = 0; i < CASES; i++) {
        const root = `${tmp.path}/case-${n++}`;
        // Repository objects are read on a machine with no catalog yet (a cached copy would hide them).
        copyTree(`${pristine}/repo`, `${root}/repo`);
        if (what === "catalog") copyTree(`${pristine}/cache`, `${root}/cache`);
        const file = pathOf(root);
        const bytes = Deno.readFileSync(file);
        const at = Math.floor(random() * bytes.length);
        bytes[at] ^= 1 + Math.floor(random() * 255);
        Deno.writeFileSync(file, bytes);
        const cacheDir = `${root}/cachedir`;
        const env = Deno.env.get("FLOE_CACHE_DIR");
        Deno.env.set("FLOE_CACHE_DIR", cacheDir);
        let outcome: string;
        try {
          const e = await Engine.open({
            location: `${root}/repo`,
            password: PASSWORD,
            catalogPath: `${root}/cache/catalog.db`,
          });
          try {
            const result = await e.restore({
              snapshot: e.resolveSnapshot("latest"),
              target: `${root}/target`,
            });
            let got = new Map<string, string>();
            try {
              got = hashTree(`${root}/target${src}`);
            } catch (e) {
              if (!(e instanceof Deno.errors.NotFound)) throw e; // nothing of the tree could be restored
            }
            // Every file under its own name is byte-identical; anything missing was reported.
            for (const [path, hash] of got) {
              if (!path.endsWith(".floe-partial")) assertEquals(hash, expected.get(path), `${what}: ${path}`);
            }
            const missing = [...expected.keys()].filter((p) => !got.has(p));
            const reported = result.incomplete.length + result.warnings.length;
            assert(missing.length === 0 || reported > 0, `${what}: ${missing} lost silently`);
            await check(e, { readData: true });
            outcome = missing.length ? "partial" : "ok";
          } finally {
            await e.close();
          }
        } catch (e) {
          const code = e instanceof FloeError ? exitCodeOf(e) : "none";
          outcome = `exit ${code}`;
          if (!(e instanceof FloeError)) {
            failures.push(`${what} byte ${at}: not a FloeError: ${(e as Error)?.stack ?? e}`);
          } else if (code !== ExitCode.Failure && code !== ExitCode.WrongPassword) {
            failures.push(`${what} byte ${at}: exit ${code}: ${e.message}`);
          } else if (e.message.includes("\n")) failures.push(`${what} byte ${at}: message of several lines`);
        } finally {
          if (env === undefined) Deno.env.delete("FLOE_CACHE_DIR");
          else Deno.env.set("FLOE_CACHE_DIR", env);
        }
        outcomes[what][outcome] = (outcomes[what][outcome] ?? 0) + 1;
        // Nothing was written outside the case's repository, caches and restore target.
        const top = listAll(root).filter((p) => !p.includes("/"));
        for (const name of top) {
          assert(["repo", "cache", "cachedir", "target"].includes(name), `${what}: wrote ${root}/${name}`);
        }
      }
    }
    assertEquals(Object.keys(outcomes).length, 5);
    assertEquals(failures, [], JSON.stringify(outcomes));
    // Nothing outside the temporary root: its only entries are the ones made here.
    const made = new Set(["src", "pristine", ...Array.from({ length: n }, (_, i) => `case-${i}`)]);
    for (const name of listAll(tmp.path).filter((p) => !p.includes("/"))) assert(made.has(name), name);
  } finally {
    await tmp.cleanup();
  }
});
