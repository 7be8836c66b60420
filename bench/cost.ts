/**
 * Two focused measurements beside the main table:
 *
 * - **fidelity cost** (#25): the unchanged re-backup of the dataset by floe before file-system fidelity
 *   (a `git archive` of {@link PRE_FIDELITY_REV}), by this floe, and by this floe with `--no-xattrs`,
 *   interleaved (the order rotates each round) after one warm-up run each; medians, and the overhead of this
 *   floe against the pre-fidelity one, judged against {@link FIDELITY_TARGET}.
 * - **check --read-data throughput** (#26): `check --read-data` of floe and restic on their repositories of
 *   the same data, alternating, the page cache dropped and the repository read back into it before each;
 *   MiB/s = the packs' bytes (`du -sb data/`) per wall second, floe/restic judged against ≥ 1.
 *
 * `deno task bench` runs both after its check step; `deno task bench:cost` runs only them: dataset, init
 * and initial backups, then the two tables (options: `--scale N` (default 1), `--rounds N` (default 9: the runs are ~1 s, and single runs spread ±5 %),
 * `--read-rounds N` (default 2), `--base REV|none`, `--workdir DIR` (must be empty or absent; default a
 * new temporary dir), `--keep`, `--seed N`, `--timeout SECONDS`).
 *
 * @module
 */

import { join } from "node:path";
import { generateDataset } from "./dataset.ts";
import { capture, type CommandSpec, duBytes, loadAvg, measure, type Measurement, settle } from "./measure.ts";
import { fmtMiB, fmtSeconds, renderTable } from "./table.ts";
import { floe, FLOE_MAIN, restic, type Tool } from "./tools.ts";

/** Largest overhead of fidelity on the unchanged re-backup (issue #25: 5 %). */
export const FIDELITY_TARGET = 0.05;
/** floe just before file-system fidelity: the parent of the commit that added it (9f5762e). */
export const PRE_FIDELITY_REV = "9f5762e^";

/** What the two measurements work on. */
export interface CostContext {
  /** A directory of the bench's own (a `cost/` subdirectory is made in it). */
  workdir: string;
  /** The dataset, already backed up into `floeRepo` (and `resticRepo`). */
  data: string;
  /** Repository password of every tool. */
  password: string;
  /** Per-command timeout, s. */
  timeout: number;
  /** This floe, and its repository holding a backup of `data`. */
  floe: Tool;
  floeRepo: string;
  /** restic and its repository holding a backup of `data` (the read-data table needs them). */
  restic?: Tool;
  resticRepo?: string;
  /** The tools' homes (caches), warmed before each read-data run. */
  home: (tool: Tool) => string;
  /** Measured rounds of the fidelity comparison. */
  rounds: number;
  /** check --read-data runs per tool. */
  readRounds: number;
  /** The pre-fidelity floe's git revision, or null to leave it out. */
  baseRev: string | null;
  /** Progress lines (stderr). */
  log: (msg: string) => void;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function pct(x: number): string {
  return `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)} %`;
}

/** The spec with `args` added after the subcommand's own words (before its last argument when `beforeLast`). */
function withArgs(spec: CommandSpec, args: string[], beforeLast = false): CommandSpec {
  const cmd = beforeLast ? [...spec.cmd.slice(0, -1), ...args, spec.cmd.at(-1)!] : [...spec.cmd, ...args];
  return { ...spec, cmd };
}

/** floe at `rev` (`git archive` of this checkout's repository) extracted into `dir`; its CLI entry point. */
async function floeAt(rev: string, dir: string): Promise<string> {
  const root = join(FLOE_MAIN, "..", "..");
  Deno.mkdirSync(dir, { recursive: true });
  const tar = join(dir, "..", "floe-base.tar");
  const git = await new Deno.Command("git", {
    args: ["-C", root, "archive", "--format=tar", "-o", tar, rev],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!git.success) throw new Error(`git archive ${rev}: ${new TextDecoder().decode(git.stderr).trim()}`);
  const x = await new Deno.Command("tar", { args: ["-xf", tar, "-C", dir], stderr: "piped" }).output();
  if (!x.success) throw new Error(`tar: ${new TextDecoder().decode(x.stderr).trim()}`);
  Deno.removeSync(tar);
  return join(dir, "cli", "main.ts");
}

interface Variant {
  label: string;
  tool: Tool;
  repo: string;
  args: string[];
  runs: Measurement[];
}

/**
 * The fidelity-cost table: unchanged re-backups of `data`, interleaved, per variant. Returns the lines to
 * print.
 */
export async function fidelityCost(c: CostContext): Promise<string[]> {
  const dir = join(c.workdir, "cost");
  const logFile = join(c.workdir, "logs", "cost.log");
  Deno.mkdirSync(join(c.workdir, "logs"), { recursive: true });
  const run = (spec: CommandSpec) => measure(spec, { logFile, timeoutSec: c.timeout });
  const variants: Variant[] = [];
  const notes: string[] = [];
  if (c.baseRev) {
    try {
      const main = await floeAt(c.baseRev, join(dir, "floe-base"));
      const home = join(dir, "home-floe-base");
      Deno.mkdirSync(home, { recursive: true });
      const base = floe({ home, password: c.password }, main);
      await base.prepare();
      const repo = join(dir, "repo-floe-base");
      c.log(`fidelity cost: pre-fidelity floe (${c.baseRev}): init and initial backup …`);
      for (const spec of [base.init(repo), base.backup(repo, c.data, "cost-base")]) {
        const m = await run(spec);
        if (!m.ok) throw new Error(`exit ${m.code}: ${m.error ?? ""}`.slice(0, 300));
      }
      variants.push({ label: `pre-fidelity floe (${c.baseRev})`, tool: base, repo, args: [], runs: [] });
    } catch (e) {
      notes.push(`pre-fidelity floe left out: ${e instanceof Error ? e.message : e}`);
    }
  }
  // This floe makes argon2id keys by default, the pre-fidelity one scrypt keys; every run derives its key,
  // so the comparison gets a repository of this floe with a scrypt key: the KDF is the same on both sides.
  let repo = c.floeRepo;
  if (variants.length) {
    repo = join(dir, "repo-floe-scrypt");
    c.log("fidelity cost: this floe, a repository with a scrypt key: init and initial backup …");
    for (
      const spec of [withArgs(c.floe.init(repo), ["--kdf", "scrypt"]), c.floe.backup(repo, c.data, "cost")]
    ) {
      const m = await run(spec);
      if (!m.ok) throw new Error(`exit ${m.code}: ${m.error ?? ""}`.slice(0, 300));
    }
    notes.push("both floes' repositories have scrypt keys (the pre-fidelity floe knows no other KDF)");
  }
  variants.push({ label: "floe (fidelity)", tool: c.floe, repo, args: [], runs: [] });
  variants.push({
    label: "floe --no-xattrs",
    tool: c.floe,
    repo,
    args: ["--no-xattrs"],
    runs: [],
  });
  const spec = (v: Variant) => withArgs(v.tool.backup(v.repo, c.data, "cost"), v.args, true);
  // One run each first: it records what the previous backups' reading changed (atimes), so every measured
  // run is a true no-change re-backup.
  for (const v of variants) await run(spec(v));
  for (let r = 0; r < c.rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(k + r) % variants.length];
      const m = await run(spec(v));
      if (!m.ok) {
        notes.push(`${v.label}: round ${r + 1} failed: exit ${m.code}`);
        continue;
      }
      v.runs.push(m);
      c.log(`fidelity cost: ${v.label}: ${m.wall.toFixed(2)} s wall, ${(m.user + m.sys).toFixed(2)} s CPU`);
    }
  }
  const wallOf = (v: Variant) => median(v.runs.map((m) => m.wall));
  const cpuOf = (v: Variant) => median(v.runs.map((m) => m.user + m.sys));
  const ref = variants.find((v) => v.label.startsWith("pre-fidelity") && v.runs.length);
  const off = variants.find((v) => v.args.length && v.runs.length);
  const headers = [
    "unchanged re-backup",
    "runs",
    "wall med",
    "wall min–max",
    "cpu med",
    "rss med",
    "vs pre-fidelity",
  ];
  headers.push("vs --no-xattrs");
  const rows = variants.map((v) => {
    if (!v.runs.length) return [v.label, "0", "error", "", "", "", "", ""];
    const walls = v.runs.map((m) => m.wall);
    const vs = (o: Variant | undefined) =>
      !o || o === v ? "—" : `wall ${pct(wallOf(v) / wallOf(o) - 1)}, cpu ${pct(cpuOf(v) / cpuOf(o) - 1)}`;
    return [
      v.label,
      String(v.runs.length),
      fmtSeconds(wallOf(v)),
      `${fmtSeconds(Math.min(...walls))}–${fmtSeconds(Math.max(...walls))}`,
      fmtSeconds(cpuOf(v)),
      fmtMiB(median(v.runs.map((m) => m.rssKiB * 1024))),
      vs(ref),
      vs(off),
    ];
  });
  const lines = [renderTable(headers, rows, headers.map((_, i) => (i === 0 ? "left" : "right")))];
  const fine = variants.find((v) => v.label === "floe (fidelity)");
  const against = ref ?? off;
  if (fine?.runs.length && against) {
    const over = wallOf(fine) / wallOf(against) - 1;
    lines.push(
      `fidelity overhead on the unchanged re-backup (median wall, against ${against.label}): ${pct(over)} ` +
        `${over <= FIDELITY_TARGET ? "✓" : "✗"} (target ≤ ${pct(FIDELITY_TARGET)})`,
    );
  }
  lines.push(
    `${c.rounds} rounds, the three in rotating order, after one unmeasured run each; page cache warm ` +
      `(metadata only is read); --no-xattrs shares the fidelity repository`,
  );
  return [...lines, ...notes];
}

/** The read-data table: `check --read-data` of floe and restic, alternating. Returns the lines to print. */
export async function readDataThroughput(c: CostContext): Promise<string[]> {
  if (!c.restic || !c.resticRepo) return ["check --read-data: restic not run"];
  const logFile = join(c.workdir, "logs", "cost.log");
  const tools: [Tool, string][] = [[c.floe, c.floeRepo], [c.restic, c.resticRepo]];
  const runs = new Map<string, Measurement[]>(tools.map(([t]) => [t.name, []]));
  const bytes = new Map<string, number>();
  for (const [t, repo] of tools) bytes.set(t.name, await duBytes(join(repo, "data")));
  const notes: string[] = [];
  for (let r = 0; r < c.readRounds; r++) {
    // ABBA: each tool goes first as often as second.
    for (const [t, repo] of r % 2 ? [...tools].reverse() : tools) {
      await settle([repo, c.home(t)]);
      const m = await measure(withArgs(t.check(repo), ["--read-data"]), { logFile, timeoutSec: c.timeout });
      if (!m.ok) {
        notes.push(`${t.name} check --read-data failed: exit ${m.code}: ${m.error ?? ""}`.slice(0, 300));
        continue;
      }
      runs.get(t.name)!.push(m);
      c.log(
        `check --read-data: ${t.name}: ${m.wall.toFixed(2)} s wall, ${(m.user + m.sys).toFixed(2)} s CPU`,
      );
    }
  }
  const rate = (name: string) => {
    const ms = runs.get(name)!;
    return ms.length ? bytes.get(name)! / 1048576 / median(ms.map((m) => m.wall)) : NaN;
  };
  const headers = ["check --read-data", "pack MiB", "runs", "wall med", "cpu med", "rss med", "MiB/s"];
  const rows = tools.map(([t]) => {
    const ms = runs.get(t.name)!;
    if (!ms.length) return [t.name, fmtMiB(bytes.get(t.name)), "0", "error", "", "", ""];
    return [
      t.name,
      fmtMiB(bytes.get(t.name)),
      String(ms.length),
      fmtSeconds(median(ms.map((m) => m.wall))),
      fmtSeconds(median(ms.map((m) => m.user + m.sys))),
      fmtMiB(median(ms.map((m) => m.rssKiB * 1024))),
      rate(t.name).toFixed(0),
    ];
  });
  const ratio = rate("floe") / rate("restic");
  return [
    renderTable(headers, rows),
    `throughput floe/restic: ${Number.isFinite(ratio) ? ratio.toFixed(2) : "—"} ${
      ratio >= 1 ? "✓" : "✗"
    } (target ≥ 1); MiB/s = pack bytes (du -sb data/) per median wall s; before each run the page cache ` +
    "is dropped and the repository and the tool's cache read back into it",
    ...notes,
  ];
}

/**
 * Both tables, as `deno task bench` prints them after its main table: `tools` must include floe (and
 * restic, for the read-data table), each with a repository holding a backup of `data`.
 *
 * @example
 * ```ts
 * import { costSection } from "./cost.ts";
 * // for (const line of await costSection({ workdir, timeout, tools, repo, home, data, password, log })) …
 * ```
 */
export async function costSection(o: {
  workdir: string;
  timeout: number;
  tools: Tool[];
  repo: (t: Tool) => string;
  home: (t: Tool) => string;
  data: string;
  password: string;
  log: (msg: string) => void;
  /** Defaults: 5 rounds, 2 read rounds, {@link PRE_FIDELITY_REV}. */
  rounds?: number;
  readRounds?: number;
  baseRev?: string | null;
}): Promise<string[]> {
  const f = o.tools.find((t) => t.name === "floe")!;
  const r = o.tools.find((t) => t.name === "restic");
  const ctx: CostContext = {
    workdir: o.workdir,
    data: o.data,
    password: o.password,
    timeout: o.timeout,
    floe: f,
    floeRepo: o.repo(f),
    restic: r,
    resticRepo: r && o.repo(r),
    home: o.home,
    rounds: o.rounds ?? 9,
    readRounds: o.readRounds ?? 2,
    baseRev: o.baseRev === undefined ? PRE_FIDELITY_REV : o.baseRev,
    log: o.log,
  };
  return [
    "",
    "## fidelity cost: unchanged re-backup, before and with file-system fidelity (issue #25)",
    "",
    ...await fidelityCost(ctx),
    "",
    "## check --read-data throughput (issue #26)",
    "",
    ...await readDataThroughput(ctx),
  ];
}

async function main(): Promise<void> {
  const opt = { scale: 1, rounds: 9, readRounds: 2, base: PRE_FIDELITY_REV as string | null, seed: 1 };
  let workdir = "";
  let keep = false;
  let timeout = 3600;
  for (let i = 0; i < Deno.args.length; i++) {
    const a = Deno.args[i];
    const v = () => {
      const x = Deno.args[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === "--scale") opt.scale = Number(v());
    else if (a === "--rounds") opt.rounds = Number(v());
    else if (a === "--read-rounds") opt.readRounds = Number(v());
    else if (a === "--base") opt.base = v() === "none" ? null : Deno.args[i];
    else if (a === "--seed") opt.seed = Number(v());
    else if (a === "--timeout") timeout = Number(v());
    else if (a === "--workdir") workdir = v();
    else if (a === "--keep") keep = true;
    else throw new Error(`unknown option ${a}`);
  }
  for (
    const [k, x] of [["--scale", opt.scale], ["--rounds", opt.rounds], ["--read-rounds", opt.readRounds]]
  ) {
    if (!Number.isFinite(x) || (x as number) <= 0) throw new Error(`${k} needs a positive number`);
  }
  if (workdir) {
    Deno.mkdirSync(workdir, { recursive: true });
    if ([...Deno.readDirSync(workdir)].length) throw new Error(`refusing to use ${workdir}: not empty`);
  } else workdir = await Deno.makeTempDir({ prefix: "floe-bench-cost-" });
  const log = (msg: string) => console.error(`[bench:cost ${new Date().toISOString().slice(11, 19)}] ${msg}`);
  const password = "floe-bench-password";
  const loadBefore = loadAvg();
  try {
    const data = join(workdir, "data");
    Deno.mkdirSync(join(workdir, "logs"), { recursive: true });
    const summary = generateDataset(data, { seed: opt.seed, scale: opt.scale });
    log(`dataset: ${summary.files} files, ${(summary.bytes / 1073741824).toFixed(2)} GiB`);
    const home = (t: Tool) => join(workdir, "home", t.name);
    const f = floe({ home: join(workdir, "home", "floe"), password });
    const r = restic({ home: join(workdir, "home", "restic"), password });
    const repos = new Map<Tool, string>([[f, join(workdir, "repos", "floe")], [
      r,
      join(workdir, "repos", "restic"),
    ]]);
    for (const [t, repo] of repos) {
      Deno.mkdirSync(home(t), { recursive: true });
      const err = await t.prepare();
      if (err) throw new Error(`${t.name}: ${err}`);
      for (const spec of [t.init(repo), t.backup(repo, data, "cost-1")]) {
        const m = await measure(spec, {
          logFile: join(workdir, "logs", `${t.name}.log`),
          timeoutSec: timeout,
        });
        if (!m.ok) throw new Error(`${t.name}: exit ${m.code}: ${m.error ?? ""}`);
        log(`${t.name}: ${spec.cmd.slice(-2).join(" ")}: ${m.wall.toFixed(2)} s`);
      }
    }
    const loadAt = loadAvg();
    const lines = await costSection({
      workdir,
      timeout,
      tools: [f, r],
      repo: (t) => repos.get(t)!,
      home,
      data,
      password,
      log,
      rounds: opt.rounds,
      readRounds: opt.readRounds,
      baseRev: opt.base,
    });
    console.log(`# floe bench:cost — scale ${opt.scale}, seed ${opt.seed}, ${new Date().toISOString()}`);
    console.log(`dataset: ${summary.files} files, ${summary.dirs} dirs, ${summary.bytes} bytes`);
    console.log(`floe: ${await f.version()}; ${await r.version()}`);
    console.log(
      `load average at start: ${loadBefore}; before the measured runs: ${loadAt}; after: ${loadAvg()}`,
    );
    console.log(`uptime: ${await capture(["uptime"])}`);
    for (const l of lines) console.log(l);
  } finally {
    if (!keep) await Deno.remove(workdir, { recursive: true }).catch(() => {});
    else log(`kept ${workdir}`);
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(`bench:cost: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
