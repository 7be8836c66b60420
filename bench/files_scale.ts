/**
 * How the unchanged re-backup grows with the number of files (issue #26, "a million files"): for each count
 * N (default 100,000 and 1,000,000) a tree of N files of 0–2 KiB, 1,000 to a directory, is backed up once by
 * floe and by restic, then backed up again unchanged, `--rounds` times each, interleaved; the table gives
 * the median wall time, CPU and peak RSS of the re-backups, floe/restic, and how each grows from the first
 * count to the last. Targets: floe's peak RSS at the largest count ≤ 0.5 × restic's and under 500 MiB;
 * floe's time grows no faster than the file count.
 *
 * ```sh
 * flock /work/wt/cpu.lock deno task bench:files                       # 100k and 1M (~15 minutes)
 * deno task bench:files --counts 10000,100000 --rounds 2              # quick
 * ```
 *
 * Options: `--counts N,N`, `--rounds N` (default 3), `--workdir DIR` (default a new temporary directory,
 * removed afterwards unless `--keep`), `--timeout SECONDS` (per command, default 3600).
 *
 * @module
 */
import { join } from "node:path";
import { loadAvg, measure, type Measurement } from "./measure.ts";
import { fmtMiB, fmtRatio, fmtSeconds, renderTable } from "./table.ts";
import { floe, restic, type Tool } from "./tools.ts";

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

const counts = (arg("--counts") ?? "100000,1000000").split(",").map(Number);
const rounds = Number(arg("--rounds") ?? 3);
const timeoutSec = Number(arg("--timeout") ?? 3600);
const keep = Deno.args.includes("--keep");
const workdir = arg("--workdir") ?? await Deno.makeTempDir({ prefix: "floe-bench-files-" });
if (!counts.every((n) => Number.isInteger(n) && n > 0) || !(rounds >= 1)) {
  console.error("usage: files_scale.ts [--counts N,N] [--rounds N] [--workdir DIR] [--keep] [--timeout S]");
  Deno.exit(2);
}

/** Writes `n` files of 0–2 KiB (deterministic bytes), 1,000 to a directory, under `dir`. */
function generate(dir: string, n: number): void {
  const data = new Uint8Array(2048);
  let x = 0x9e3779b9;
  for (let i = 0; i < data.length; i++) {
    x ^= x << 13, x ^= x >>> 17, x ^= x << 5;
    data[i] = 97 + ((x >>> 0) % 26);
  }
  for (let i = 0; i < n; i++) {
    const d = join(dir, `d${String(Math.floor(i / 1000)).padStart(4, "0")}`);
    if (i % 1000 === 0) Deno.mkdirSync(d, { recursive: true });
    const size = (i * 7919) % 2049;
    const off = (i * 31) % 1024;
    // Each file differs (its number first), so none deduplicates against another.
    const head = new TextEncoder().encode(`${i}\n`);
    const body = new Uint8Array(size);
    body.set(head.subarray(0, size));
    if (size > head.length) body.set(data.subarray(off, off + size - head.length), head.length);
    Deno.writeFileSync(join(d, `f${i}.txt`), body);
  }
}

interface Row {
  count: number;
  tool: string;
  runs: Measurement[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const password = "bench-files";
const tools: Tool[] = [];
for (const make of [floe, restic]) {
  const home = join(workdir, "home", make.name);
  Deno.mkdirSync(home, { recursive: true });
  const t = make({ home, password });
  const why = await t.prepare();
  if (why) {
    console.error(`${t.name}: ${why}`);
    Deno.exit(1);
  }
  tools.push(t);
}

const rows: Row[] = [];
const loadBefore = loadAvg();
try {
  for (const n of counts) {
    const data = join(workdir, `data-${n}`);
    const t0 = performance.now();
    generate(data, n);
    console.error(
      `[files] ${n.toLocaleString("en")} files written in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const repos = new Map<string, string>();
    for (const t of tools) {
      const repo = join(workdir, `repo-${t.name}-${n}`);
      repos.set(t.name, repo);
      for (const step of [t.init(repo), t.backup(repo, data, "files")]) {
        const m = await measure(step, { timeoutSec, logFile: join(workdir, `${t.name}.log`) });
        if (!m.ok) {
          throw new Error(`${t.name}: ${step.cmd.join(" ")} failed (exit ${m.code}); see ${workdir}`);
        }
      }
      console.error(`[files] ${t.name}: initial backup of ${n.toLocaleString("en")} files done`);
    }
    const byTool = new Map<string, Measurement[]>(tools.map((t) => [t.name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const t of r % 2 ? [...tools].reverse() : tools) {
        const m = await measure(t.backup(repos.get(t.name)!, data, "files"), {
          timeoutSec,
          logFile: join(workdir, `${t.name}.log`),
        });
        if (!m.ok) throw new Error(`${t.name}: unchanged re-backup failed (exit ${m.code})`);
        byTool.get(t.name)!.push(m);
      }
    }
    for (const t of tools) rows.push({ count: n, tool: t.name, runs: byTool.get(t.name)! });
    for (const t of tools) await Deno.remove(repos.get(t.name)!, { recursive: true });
    await Deno.remove(data, { recursive: true });
  }
} finally {
  if (!keep) await Deno.remove(workdir, { recursive: true }).catch(() => {});
}

const stat = (count: number, tool: string) => {
  const runs = rows.find((r) => r.count === count && r.tool === tool)!.runs;
  return {
    wall: median(runs.map((m) => m.wall)),
    cpu: median(runs.map((m) => m.user + m.sys)),
    rss: median(runs.map((m) => m.rssKiB * 1024)),
  };
};
console.log(`# Unchanged re-backup against the number of files (${new Date().toISOString()})\n`);
console.log(`load before: ${loadBefore}; after: ${loadAvg()}; ${rounds} re-backups each, medians\n`);
console.log(
  renderTable(
    [
      "files",
      "floe wall",
      "floe cpu",
      "floe rss",
      "restic wall",
      "restic cpu",
      "restic rss",
      "f/r wall",
      "f/r rss",
    ],
    counts.map((n) => {
      const f = stat(n, "floe"), r = stat(n, "restic");
      return [
        n.toLocaleString("en"),
        fmtSeconds(f.wall),
        fmtSeconds(f.cpu),
        fmtMiB(f.rss),
        fmtSeconds(r.wall),
        fmtSeconds(r.cpu),
        fmtMiB(r.rss),
        fmtRatio(f.wall / r.wall),
        fmtRatio(f.rss / r.rss, n === counts.at(-1) ? 0.5 : undefined),
      ];
    }),
  ),
);
if (counts.length > 1) {
  const a = counts[0], b = counts.at(-1)!;
  const grow = (tool: string) => stat(b, tool).wall / stat(a, tool).wall;
  const f = stat(b, "floe");
  console.log(
    `\nfrom ${a.toLocaleString("en")} to ${b.toLocaleString("en")} files (${(b / a).toFixed(0)}×): ` +
      `floe's time grew ${grow("floe").toFixed(1)}× (target ≤ ${(b / a).toFixed(0)}× ${
        grow("floe") <= b / a ? "✓" : "✗"
      }), restic's ${grow("restic").toFixed(1)}×; ` +
      `floe's peak RSS ${fmtMiB(f.rss)} (target < 500 MiB ${f.rss < 500 * 2 ** 20 ? "✓" : "✗"})`,
  );
}
