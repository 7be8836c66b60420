/**
 * `deno task bench:index`: what a large repository index costs a client (issue #26, "toward internet
 * scale"). For each size N (default 1 million and 10 million blobs) a repository is given N synthetic blob
 * records in index files of 20,000 blobs, 64 blobs a pack — the index a repository of that many chunks
 * would have, without writing its packs (nothing here reads them). Then, through the floe CLI:
 *
 * - **new machine**: `floe snapshots` with an empty cache, i.e. the catalog's first sync: wall, CPU, peak
 *   RSS and private memory, and the catalog's size on disk;
 * - **warm**: the same command again (a sync with nothing new);
 * - **backup**: a small tree (2,000 files of 1–8 KiB and one of 32 MiB) backed up against that index, beside
 *   the same backup into an empty repository: a backup's memory must not grow with the index.
 *
 * Options: `--blobs N[,N…]`, `--workdir DIR` (default /tmp/floe-bench-index; emptied, then removed).
 *
 * @module
 */
import { join } from "node:path";
import "../plugins/mod.ts"; // the built-in storages
import { Engine, internals } from "../core/engine.ts";
import type { IndexFile } from "../core/repository/types.ts";
import { FLOE_MAIN, FLOE_RUN_FLAGS } from "./tools.ts";
import { capture, duBytes, loadAvg, measure, type Measurement } from "./measure.ts";
import { fmtMiB, fmtSeconds, renderTable } from "./table.ts";

const PASSWORD = "index-scale-bench";
/** Blobs per index file: the archiver's INDEX_EVERY. */
const PER_FILE = 20_000;
/** Blobs per pack: 16 MiB packs of 256 KiB chunks. */
const PER_PACK = 64;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function hexIds(count: number): string[] {
  const bytes = new Uint8Array(count * 32);
  for (let off = 0; off < bytes.length; off += 65536) {
    crypto.getRandomValues(bytes.subarray(off, Math.min(off + 65536, bytes.length)));
  }
  const out = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    let s = "";
    for (let j = i * 32; j < i * 32 + 32; j++) s += HEX[bytes[j]];
    out[i] = s;
  }
  return out;
}

/** One index file of `count` synthetic blobs. */
function indexFile(count: number): IndexFile {
  const ids = hexIds(count + Math.ceil(count / PER_PACK));
  const packs: IndexFile["packs"] = [];
  let next = 0;
  while (next < count) {
    const blobs: IndexFile["packs"][number]["blobs"] = [];
    let offset = 0;
    for (let i = 0; i < PER_PACK && next < count; i++, next++) {
      const rawLength = 128 * 1024 + ((next * 7919) % (256 * 1024));
      const length = rawLength + 40;
      blobs.push({ id: ids[next], type: "data", offset, length, rawLength, compressed: false });
      offset += length;
    }
    packs.push({ id: ids[count + packs.length], size: offset + 4096, blobs });
  }
  return { version: 1, packs };
}

/** Writes index files for `blobs` blobs into the repository at `repo`. */
async function fill(repo: string, blobs: number, cache: string): Promise<void> {
  const engine = await Engine.open({
    location: repo,
    password: PASSWORD,
    catalogPath: join(cache, "gen.db"),
  });
  try {
    const { repo: r } = internals(engine);
    let left = blobs;
    const running = new Set<Promise<unknown>>();
    while (left > 0) {
      const n = Math.min(PER_FILE, left);
      left -= n;
      const p: Promise<unknown> = r.saveJson("index", indexFile(n)).finally(() => running.delete(p));
      running.add(p);
      if (running.size >= 4) await Promise.race(running);
    }
    await Promise.all(running);
  } finally {
    await engine.close();
  }
}

/** Deno's own cache, pinned so that moving XDG_CACHE_HOME does not make deno compile everything again. */
let denoDir = "";

function floe(home: string, repo: string, ...args: string[]) {
  return {
    cmd: ["deno", "run", ...FLOE_RUN_FLAGS, FLOE_MAIN, ...args],
    env: {
      FLOE_REPOSITORY: repo,
      FLOE_PASSWORD: PASSWORD,
      NO_COLOR: "1",
      XDG_CACHE_HOME: join(home, "cache"),
      ...(denoDir ? { DENO_DIR: denoDir } : {}),
    },
  };
}

/** A small tree: 2,000 files of 1–8 KiB in 20 directories, and one of 32 MiB (all random). */
async function smallTree(dir: string): Promise<void> {
  for (let d = 0; d < 20; d++) {
    await Deno.mkdir(join(dir, `d${d}`), { recursive: true });
    for (let f = 0; f < 100; f++) {
      const data = new Uint8Array(1024 + ((d * 100 + f) * 331) % 7168);
      crypto.getRandomValues(data);
      await Deno.writeFile(join(dir, `d${d}`, `f${f}`), data);
    }
  }
  const big = new Uint8Array(32 << 20);
  for (let off = 0; off < big.length; off += 65536) crypto.getRandomValues(big.subarray(off, off + 65536));
  await Deno.writeFile(join(dir, "big"), big);
}

function must(m: Measurement, what: string): Measurement {
  if (!m.ok) throw new Error(`${what} failed: ${m.error}`);
  return m;
}

interface Row {
  blobs: number;
  indexFiles: number;
  indexMiB: number;
  fill: number;
  first: Measurement;
  catalogMiB: number;
  warm: Measurement;
  backup: Measurement;
}

async function main() {
  const args = Deno.args;
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const sizes = (opt("--blobs") ?? "1000000,10000000").split(",").map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error("--blobs takes whole numbers");
  const work = opt("--workdir") ?? "/tmp/floe-bench-index";
  await Deno.remove(work, { recursive: true }).catch(() => {});
  await Deno.mkdir(work, { recursive: true });
  denoDir = JSON.parse(await capture(["deno", "info", "--json"]) || "{}").denoDir ?? "";
  const log = (s: string) => console.error(`[index] ${s}`);
  try {
    const tree = join(work, "tree");
    await smallTree(tree);
    // The same backup into an empty repository: the baseline a large index is compared with.
    const empty = join(work, "empty");
    must(await measure(floe(join(work, "h-empty"), empty, "init")), "init");
    const baseline = must(await measure(floe(join(work, "h-empty"), empty, "backup", tree)), "backup");
    const rows: Row[] = [];
    for (const n of sizes) {
      const repo = join(work, `repo-${n}`);
      const home = join(work, `h-${n}`);
      must(await measure(floe(home, repo, "init")), "init");
      const t0 = performance.now();
      await fill(repo, n, join(work, "gen"));
      const fillS = (performance.now() - t0) / 1000;
      log(`${n} blobs written in ${fillS.toFixed(1)} s`);
      const fresh = join(work, `fresh-${n}`);
      const first = must(await measure(floe(fresh, repo, "snapshots"), { timeoutSec: 3600 }), "first sync");
      const catalogMiB = (await duBytes(join(fresh, "cache", "floe"))) / 2 ** 20;
      const warm = must(await measure(floe(fresh, repo, "snapshots")), "warm sync");
      const backup = must(await measure(floe(fresh, repo, "backup", tree)), "backup");
      rows.push({
        blobs: n,
        indexFiles: Math.ceil(n / PER_FILE),
        indexMiB: (await duBytes(join(repo, "index"))) / 2 ** 20,
        fill: fillS,
        first,
        catalogMiB,
        warm,
        backup,
      });
      if (!args.includes("--keep")) {
        await Deno.remove(repo, { recursive: true });
        await Deno.remove(fresh, { recursive: true });
      }
    }
    const rss = (m: Measurement) => fmtMiB(m.rssKiB * 1024);
    const anon = (m: Measurement) => fmtMiB(m.anonKiB * 1024);
    console.log(`load: ${loadAvg()}`);
    console.log(renderTable(
      [
        "blobs",
        "index files",
        "index MiB",
        "first sync",
        "cpu",
        "rss",
        "anon",
        "catalog MiB",
        "B/blob",
        "warm sync",
        "backup rss",
        "backup anon",
      ],
      rows.map((r) => [
        r.blobs.toLocaleString("en"),
        String(r.indexFiles),
        r.indexMiB.toFixed(0),
        fmtSeconds(r.first.wall),
        fmtSeconds(r.first.user + r.first.sys),
        rss(r.first),
        anon(r.first),
        r.catalogMiB.toFixed(0),
        ((r.catalogMiB * 2 ** 20) / r.blobs).toFixed(0),
        fmtSeconds(r.warm.wall),
        rss(r.backup),
        anon(r.backup),
      ]),
    ));
    console.log(
      `baseline: the same backup into an empty repository: rss ${rss(baseline)}, anon ${anon(baseline)}, ${
        fmtSeconds(baseline.wall)
      }`,
    );
  } finally {
    if (!args.includes("--keep")) await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
