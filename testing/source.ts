/**
 * The source conformance suite: every source plugin, built-in or third-party, must pass it. It checks the
 * order and form of what `scan()` yields, the readers, warnings, abort, and a round trip through the
 * engine (a backup into a temporary repository whose files read back as the source's readers gave them).
 *
 * @example
 * ```ts
 * import { sourceConformance } from "./source.ts";
 * import fs from "../plugins/source/fs/mod.ts";
 * sourceConformance("fs", async () => {
 *   const dir = await Deno.makeTempDir();
 *   Deno.writeTextFileSync(`${dir}/a.txt`, "a");
 *   return { source: fs({ paths: [dir] }), cleanup: () => Deno.remove(dir, { recursive: true }) };
 * });
 * ```
 * @module
 */
import { assert, assertEquals } from "./_assert.ts";
import type { ContentReader, SourceEntry, SourcePlugin, SourceWarning } from "../core/contracts.ts";
import { Engine } from "../core/engine.ts";
import { createHash } from "node:crypto";
import "../plugins/mod.ts"; // the round trip needs the built-in cipher and compression

/** What a suite instance needs. */
export interface SourceTarget {
  /** A source over a small, known place: at least one directory and one file with content. */
  source: SourcePlugin;
  /** Optionally, a source over a place with something it cannot read: its scan must warn and go on. */
  broken?: SourcePlugin;
  /** Called after the suite. */
  cleanup?: () => Promise<void>;
}

const ENTRY_TYPES = new Set(["file", "dir", "symlink", "fifo", "socket", "chardev", "blockdev"]);

async function scanAll(source: SourcePlugin, signal?: AbortSignal) {
  const entries: SourceEntry[] = [];
  const warnings: SourceWarning[] = [];
  for await (const e of source.scan({ signal, warn: (w) => warnings.push(w) })) entries.push(e);
  return { entries, warnings };
}

async function readAll(reader: ContentReader, bufferSize: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(bufferSize);
  const parts: Uint8Array[] = [];
  try {
    while (true) {
      const n = await reader.read(buffer);
      if (n === null) break;
      assert(Number.isInteger(n) && n >= 0 && n <= buffer.length, `read returned ${n}`);
      parts.push(buffer.slice(0, n));
    }
  } finally {
    await reader.close();
  }
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

async function content(entry: SourceEntry, bufferSize = 64 * 1024): Promise<Uint8Array> {
  if (entry.open) return await readAll(await entry.open(), bufferSize);
  return Deno.readFileSync(entry.localPath!);
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const parentOf = (path: string) => path.slice(0, Math.max(path.lastIndexOf("/"), 1));
const nameOf = (path: string) => path.slice(path.lastIndexOf("/") + 1);
const under = (path: string, dir: string) => dir === "/" ? path !== "/" : path.startsWith(dir + "/");

/** Registers the conformance tests of one source under `deno test`. */
export function sourceConformance(
  name: string,
  make: () => Promise<SourceTarget>,
  options: { ignore?: boolean; sanitizeResources?: boolean; sanitizeOps?: boolean } = {},
): void {
  Deno.test({
    name: `source conformance: ${name}`,
    ignore: options.ignore,
    sanitizeResources: options.sanitizeResources ?? false,
    sanitizeOps: options.sanitizeOps ?? false,
    fn: async (t) => {
      const { source, broken, cleanup } = await make();
      try {
        await t.step("contract fields", () => {
          assertEquals(source.kind, "source");
          assert(typeof source.name === "string" && source.name.length > 0);
          assert(Array.isArray(source.paths) && source.paths.length > 0, "paths is empty");
          for (const p of source.paths) assert(p.startsWith("/"), `path ${p} is not absolute`);
        });

        const { entries, warnings } = await scanAll(source);

        await t.step("entries: absolute, normalised, unique paths with valid fields", () => {
          assert(entries.length > 0, "the scan yielded nothing");
          assertEquals(warnings, []);
          const seen = new Set<string>();
          for (const e of entries) {
            assert(/^\/(?:[^/]+(?:\/[^/]+)*)?$/.test(e.path), `path ${JSON.stringify(e.path)}`);
            assert(!e.path.split("/").some((s) => s === "." || s === ".."), `path ${e.path}`);
            assert(!seen.has(e.path), `${e.path} yielded twice`);
            seen.add(e.path);
            assert(ENTRY_TYPES.has(e.type), `${e.path}: type ${e.type}`);
            assert(Number.isSafeInteger(e.size) && e.size >= 0, `${e.path}: size ${e.size}`);
            assert(Number.isFinite(e.mtime), `${e.path}: mtime ${e.mtime}`);
            assert(Number.isInteger(e.mode) && e.mode >= 0 && e.mode <= 0o7777, `${e.path}: mode ${e.mode}`);
            if (e.type === "file") {
              assert(e.open || e.localPath, `${e.path}: a file with no open() or localPath`);
            }
            if (e.type === "symlink") assert(typeof e.linkTarget === "string", `${e.path}: no link target`);
          }
          assert(entries.some((e) => e.type === "file"), "the target has no file");
        });

        await t.step("pre-order: a directory before its contents, siblings sorted, subtrees whole", () => {
          const index = new Map(entries.map((e, i) => [e.path, i]));
          const open: string[] = []; // the directories whose subtree is being yielded
          const lastChild = new Map<string, string>();
          for (const [i, e] of entries.entries()) {
            const parent = parentOf(e.path);
            const pi = e.path === "/" ? undefined : index.get(parent);
            if (pi !== undefined) {
              assert(pi < i, `${e.path} comes before its directory`);
              assertEquals(entries[pi].type, "dir", `${parent} holds entries but is no directory`);
            }
            while (open.length && !under(e.path, open[open.length - 1])) open.pop();
            if (pi !== undefined) {
              assertEquals(
                open[open.length - 1],
                parent,
                `${e.path}: its directory's subtree was left before`,
              );
            }
            const prev = lastChild.get(parent);
            if (prev !== undefined) assert(prev < nameOf(e.path), `${e.path} is not sorted after ${prev}`);
            lastChild.set(parent, nameOf(e.path));
            if (e.type === "dir") open.push(e.path);
          }
        });

        await t.step("a second scan yields the same entries", async () => {
          const again = await scanAll(source);
          assertEquals(again.entries.map((e) => [e.path, e.type]), entries.map((e) => [e.path, e.type]));
        });

        const contents = new Map<string, string>();
        await t.step("readers: the whole content, whatever the buffer size, then null", async () => {
          for (const e of entries.filter((e) => e.type === "file")) {
            const big = await content(e);
            contents.set(e.path, sha(big));
            if (e.open) {
              const small = await readAll(await e.open(), 1000);
              assertEquals(sha(small), sha(big), `${e.path}: a 1000-byte buffer reads other bytes`);
            }
            if (e.size > 0) assertEquals(big.length, e.size, `${e.path}: size ${e.size}, read ${big.length}`);
          }
        });

        if (broken) {
          await t.step("what cannot be read is a warning and the scan goes on", async () => {
            const r = await scanAll(broken);
            assert(r.warnings.length > 0, "no warning");
            for (const w of r.warnings) assert(typeof w.path === "string" && typeof w.message === "string");
          });
        }

        await t.step("an aborted scan stops", async () => {
          const ac = new AbortController();
          ac.abort();
          let yielded = 0;
          try {
            for await (const _ of source.scan({ signal: ac.signal, warn: () => {} })) yielded++;
          } catch { /* throwing is the usual way to stop */ }
          assert(yielded <= 1, `${yielded} entries yielded after the signal was aborted`);
        });

        await t.step("round trip through the engine", async () => {
          const dir = await Deno.makeTempDir({ prefix: "floe-source-conformance-" });
          try {
            const engine = await Engine.init({
              location: `${dir}/repo`,
              password: "conformance",
              catalogPath: `${dir}/catalog.db`,
              kdfParams: { name: "scrypt", N: 1 << 10, r: 8, p: 1 }, // a throwaway repository
            });
            try {
              const result = await engine.backup(source);
              assertEquals(result.warnings, []);
              const snapshot = engine.resolveSnapshot(result.snapshotId);
              const stored = new Map<string, { type: string; size: number; sha?: string }>();
              for await (const { path, node } of engine.ls(snapshot, "/")) {
                let hash: string | undefined;
                if (node.type === "file") {
                  const h = createHash("sha256");
                  for await (const part of engine.readFile(node)) h.update(part);
                  hash = h.digest("hex");
                }
                stored.set(path, { type: node.type, size: node.size ?? 0, sha: hash });
              }
              for (const e of entries.filter((e) => e.path !== "/")) {
                const s = stored.get(e.path);
                assert(s, `${e.path} is not in the snapshot`);
                assertEquals(s.type, e.type, e.path);
                if (e.type === "file") assertEquals(s.sha, contents.get(e.path), `${e.path}: other content`);
              }
            } finally {
              await engine.close();
            }
          } finally {
            await Deno.remove(dir, { recursive: true });
          }
        });
      } finally {
        await cleanup?.();
      }
    },
  });
}
