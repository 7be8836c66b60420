/**
 * Backups of many small files against the number of files (issue #26, "small files" and "a million files"):
 * for each count N (default 100,000 and 1,000,000) a tree of N files of 0–2 KiB, `--per-dir` to a directory
 * (default 1,000), is backed up by floe and by restic into a new repository (the initial backup), then again
 * unchanged; `--rounds` times each, the tools interleaved. The table gives, for each step, the median wall
 * time, CPU and peak RSS, floe/restic, and how the unchanged re-backup grows from the first count to the
 * last. Targets (#26): initial ≤ 0.6 × restic's time, unchanged ≤ 0.25 ×, peak RSS ≤ 0.7 × (300,000 files
 * in 3,000 directories); at 1,000,000 files peak RSS ≤ 0.5 × restic's; at the largest count floe's peak RSS
 * under 500 MiB and its time growing no faster than the file count.
 *
 * ```sh
 * flock /work/wt/cpu.lock deno task bench:files                       # 100k and 1M (~20 minutes)
 * flock /work/wt/cpu.lock deno task bench:files --counts 300000 --per-dir 100 --rounds 2   # #26 small files
 * deno task bench:files --counts 10000,100000 --rounds 2              # quick
 * ```
 *
 * Options: `--counts N,N`, `--per-dir N` (files to a directory, default 1000), `--rounds N` (default 3),
 * `--base PATH` (another floe CLI entry point, e.g. an older checkout's `cli/main.ts`, measured as a third
 * tool `base` in the same rounds), `--workdir DIR` (default a new temporary directory, removed afterwards
 * unless `--keep`; with `--keep`, the file trees stay there and the next run with the same `--workdir`
 * uses them again), `--timeout SECONDS` (per command, default 3600).
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadAvg, measure, type Measurement, settle } from "./measure.ts";
import { fmtMiB, fmtRatio, fmtSeconds, renderTable } from "./table.ts";
import { floe, restic, type Tool, type ToolContext } from "./tools.ts";

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

const counts = (arg("--counts") ?? "100000,1000000").split(",").map(Number);
const perDir = Number(arg("--per-dir") ?? 1000);
const rounds = Number(arg("--rounds") ?? 3);
const baseMain = arg("--base");
const timeoutSec = Number(arg("--timeout") ?? 3600);
const keep = Deno.args.includes("--keep");
const workdir = arg("--workdir") ?? await Deno.makeTempDir({ prefix: "floe-bench-files-" });
if (
  !counts.every((n) => Number.isInteger(n) && n > 0) || !(rounds >= 1) ||
  !(Number.isInteger(perDir) && perDir > 0)
) {
  console.error(
    "usage: files_scale.ts [--counts N,N] [--per-dir N] [--rounds N] [--base PATH] [--workdir DIR] [--keep] [--timeout S]",
  );
  Deno.exit(2);
}

/** Writes `n` files of 0–2 KiB (deterministic bytes), {@link perDir} to a directory, under `dir`. */
function generate(dir: string, n: number): void {
  const data = new Uint8Array(2048);
  let x = 0x9e3779b9;
  for (let i = 0; i < data.length; i++) {
    x ^= x << 13, x ^= x >>> 17, x ^= x << 5;
    data[i] = 97 + ((x >>> 0) % 26);
  }
  for (let i = 0; i < n; i++) {
    const d = join(dir, `d${String(Math.floor(i / perDir)).padStart(4, "0")}`);
    if (i % perDir === 0) Deno.mkdirSync(d, { recursive: true });
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

type Step = "initial" | "unchanged";

interface Row {
  count: number;
  tool: string;
  step: Step;
  runs: Measurement[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const password = "bench-files";
const tools: Tool[] = [];
const makers: [string, (ctx: ToolContext) => Tool][] = [["floe", (ctx) => floe(ctx)], ["restic", restic]];
if (baseMain) makers.push(["base", (ctx) => ({ ...floe(ctx, baseMain), name: "base" })]);
for (const [name, make] of makers) {
  const home = join(workdir, "home", name);
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
    const data = join(workdir, `data-${n}-${perDir}`);
    // A tree kept by an earlier run with the same --workdir (and --keep) is used again.
    const done = `${data}.done`;
    if (!existsSync(done)) {
      const t0 = performance.now();
      await Deno.remove(data, { recursive: true }).catch(() => {});
      generate(data, n);
      Deno.writeTextFileSync(done, "");
      console.error(
        `[files] ${n.toLocaleString("en")} files written in ${
          ((performance.now() - t0) / 1000).toFixed(1)
        } s`,
      );
    }
    const byStep = new Map<string, Measurement[]>();
    for (let r = 0; r < rounds; r++) {
      // Each round in a rotated order, so that no tool always runs first (or right after another one).
      for (const t of tools.map((_, i) => tools[(i + r) % tools.length])) {
        const repo = join(workdir, `repo-${t.name}-${n}`);
        const log = join(workdir, `${t.name}.log`);
        const init = await measure(t.init(repo), { timeoutSec, logFile: log });
        if (!init.ok) throw new Error(`${t.name}: init failed (exit ${init.code}); see ${workdir}`);
        for (const step of ["initial", "unchanged"] as const) {
          // The page cache as bench/run.ts leaves it: only the step's inputs in it (another bench's drop of
          // the cache had left the tree on disk: the first backup after it read 300 MB from there).
          await settle([data, repo, join(workdir, "home", t.name)]);
          const m = await measure(t.backup(repo, data, "files"), { timeoutSec, logFile: log });
          if (!m.ok) throw new Error(`${t.name}: ${step} backup failed (exit ${m.code}); see ${workdir}`);
          const key = `${t.name} ${step}`;
          byStep.set(key, [...byStep.get(key) ?? [], m]);
        }
        await Deno.remove(repo, { recursive: true });
        console.error(`[files] round ${r + 1}: ${t.name} done`);
      }
    }
    for (const t of tools) {
      for (const step of ["initial", "unchanged"] as const) {
        rows.push({ count: n, tool: t.name, step, runs: byStep.get(`${t.name} ${step}`)! });
      }
    }
    if (!keep) await Deno.remove(data, { recursive: true });
  }
} finally {
  if (!keep) await Deno.remove(workdir, { recursive: true }).catch(() => {});
}

const stat = (count: number, tool: string, step: Step) => {
  const runs = rows.find((r) => r.count === count && r.tool === tool && r.step === step)!.runs;
  return {
    wall: median(runs.map((m) => m.wall)),
    cpu: median(runs.map((m) => m.user + m.sys)),
    rss: median(runs.map((m) => m.rssKiB * 1024)),
  };
};
const floes = tools.map((t) => t.name).filter((name) => name !== "restic");
console.log(`# Backups of small files against their number (${new Date().toISOString()})\n`);
console.log(
  `${perDir.toLocaleString("en")} files to a directory; load before: ${loadBefore}; after: ${loadAvg()}; ` +
    `${rounds} rounds, medians\n`,
);
console.log(
  renderTable(
    [
      "files",
      "step",
      "tool",
      "wall",
      "cpu",
      "rss",
      "restic wall",
      "restic cpu",
      "restic rss",
      "f/r wall",
      "f/r rss",
    ],
    counts.flatMap((n) =>
      (["initial", "unchanged"] as const).flatMap((step) =>
        floes.map((name) => {
          const f = stat(n, name, step), r = stat(n, "restic", step);
          return [
            n.toLocaleString("en"),
            step,
            name,
            fmtSeconds(f.wall),
            fmtSeconds(f.cpu),
            fmtMiB(f.rss),
            fmtSeconds(r.wall),
            fmtSeconds(r.cpu),
            fmtMiB(r.rss),
            fmtRatio(f.wall / r.wall, step === "initial" ? 0.6 : 0.25),
            // #26: ≤ 0.7 of restic's for small files; at a million files ≤ 0.5 (restic holds its whole index).
            fmtRatio(f.rss / r.rss, n >= 1_000_000 ? 0.5 : 0.7),
          ];
        })
      )
    ),
  ),
);
if (counts.length > 1) {
  const a = counts[0], b = counts.at(-1)!;
  const grow = (tool: string) => stat(b, tool, "unchanged").wall / stat(a, tool, "unchanged").wall;
  const f = stat(b, "floe", "unchanged");
  console.log(
    `\nunchanged, from ${a.toLocaleString("en")} to ${b.toLocaleString("en")} files (${
      (b / a).toFixed(0)
    }×): ` +
      `floe's time grew ${grow("floe").toFixed(1)}× (target ≤ ${(b / a).toFixed(0)}× ${
        grow("floe") <= b / a ? "✓" : "✗"
      }), restic's ${grow("restic").toFixed(1)}×; ` +
      `floe's peak RSS ${fmtMiB(f.rss)} (target < 500 MiB ${f.rss < 500 * 2 ** 20 ? "✓" : "✗"}), ` +
      `${fmtRatio(f.rss / stat(b, "restic", "unchanged").rss, 0.5)} of restic's (target ≤ 0.5)`,
  );
}
