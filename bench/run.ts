/**
 * Side-by-side benchmark of floe, restic and borg: `deno task bench [options]`.
 *
 * Options: `--scale N` (1 ≈ 2 GB), `--only floe,restic,borg`, `--skip-scaling`,
 * `--workdir DIR` (default /tmp/floe-bench), `--keep`, `--seed N`, `--timeout SECONDS`,
 * `--floe-main PATH` (another floe CLI entry point, e.g. a second checkout), `--skip-s3`,
 * `--datasets mixed,small` (which datasets to run: the mixed tree, the small-files-heavy one, or both).
 * See bench/README.md for what is measured and how to read the tables.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { startSwift, type SwiftServer } from "../tests/fixtures/servers/swift.ts";
import {
  type DatasetSummary,
  diffManifests,
  generateDataset,
  generateSmallFilesDataset,
  manifest,
  type ManifestEntry,
  mutate,
  summarize,
} from "./dataset.ts";
import {
  canDropCaches,
  capture,
  type CommandSpec,
  duBytes,
  haveGnuTime,
  loadAvg,
  measure,
  type Measurement,
  SAMPLE_MS,
  settle,
} from "./measure.ts";
import { fmtCount, fmtMiB, fmtRatio, fmtSeconds, ratio, renderTable } from "./table.ts";
import { type ProxyStats, startTlsProxy, type TlsProxy } from "./tls_proxy.ts";
import { selfSignedCert } from "../tests/fixtures/tls.ts";
import { ensureApt, FLOE_MAIN, makeTool, type Tool, TOOL_NAMES } from "./tools.ts";
import { costSection } from "./cost.ts";

/** A tool name accepted by `--only`. */
export type ToolName = (typeof TOOL_NAMES)[number];

/** Parsed command line. */
export interface BenchArgs {
  /** Dataset scale; 1 ≈ 2 GB. */
  scale: number;
  /** Tools to run, in table order. */
  only: ToolName[];
  /** Skip the scaling table. */
  skipScaling: boolean;
  /** Skip the S3-on-local-Swift table. */
  skipS3: boolean;
  /** Work directory (created; must be empty or a previous bench work dir). */
  workdir: string;
  /** Keep data, repositories and restores afterwards. */
  keep: boolean;
  /** Dataset seed. */
  seed: number;
  /** Per-command timeout in seconds. */
  timeout: number;
  /** floe's CLI entry point (default /work/main/cli/main.ts). */
  floeMain: string;
  /** Datasets to run, in this order: the mixed tree (its S3 and scaling tables included), the small-files one. */
  datasets: DatasetName[];
  /** Skip the fidelity-cost and check --read-data tables (bench/cost.ts). */
  skipCost: boolean;
}

/** The benchmark's datasets: the mixed tree of the main table, and the small-files-heavy tree. */
export const DATASET_NAMES = ["mixed", "small"] as const;
/** A dataset name accepted by `--datasets`. */
export type DatasetName = (typeof DATASET_NAMES)[number];

const USAGE =
  `usage: deno task bench [--scale N] [--only floe,restic,borg] [--skip-scaling] [--skip-s3] [--skip-cost]
                       [--workdir DIR] [--keep] [--seed N] [--timeout SECONDS] [--floe-main PATH]
                       [--datasets mixed,small]`;

/**
 * Parse the benchmark's command line.
 *
 * @example
 * ```ts
 * import { parseArgs } from "./run.ts";
 * const a = parseArgs(["--scale", "0.1", "--only", "restic,borg"]);
 * console.log(a.scale, a.only); // 0.1 ["restic", "borg"]
 * ```
 */
export function parseArgs(argv: string[]): BenchArgs {
  const a: BenchArgs = {
    scale: 1,
    only: [...TOOL_NAMES],
    skipScaling: false,
    skipS3: false,
    workdir: "/tmp/floe-bench",
    keep: false,
    seed: 1,
    timeout: 3600,
    floeMain: FLOE_MAIN,
    datasets: [...DATASET_NAMES],
    skipCost: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes("=") ? argv[i].split(/=(.*)/s, 2) : [argv[i], undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    const num = () => {
      const n = Number(value());
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number\n${USAGE}`);
      return n;
    };
    switch (flag) {
      case "--scale":
        a.scale = num();
        break;
      case "--only": {
        const names = value().split(",").map((s) => s.trim()).filter(Boolean);
        for (const n of names) {
          if (!(TOOL_NAMES as readonly string[]).includes(n)) throw new Error(`unknown tool ${n}\n${USAGE}`);
        }
        a.only = TOOL_NAMES.filter((t) => names.includes(t));
        break;
      }
      case "--skip-scaling":
        a.skipScaling = true;
        break;
      case "--skip-s3":
        a.skipS3 = true;
        break;
      case "--skip-cost":
        a.skipCost = true;
        break;
      case "--workdir":
        a.workdir = value();
        break;
      case "--keep":
        a.keep = true;
        break;
      case "--seed":
        a.seed = Math.floor(num());
        break;
      case "--timeout":
        a.timeout = num();
        break;
      case "--datasets": {
        const names = value().split(",").map((s) => s.trim()).filter(Boolean);
        for (const n of names) {
          if (!(DATASET_NAMES as readonly string[]).includes(n)) {
            throw new Error(`unknown dataset ${n}\n${USAGE}`);
          }
        }
        a.datasets = DATASET_NAMES.filter((d) => names.includes(d));
        if (a.datasets.length === 0) throw new Error(`--datasets selects no dataset\n${USAGE}`);
        break;
      }
      case "--floe-main":
        a.floeMain = resolve(value());
        break;
      case "-h":
      case "--help":
        console.log(USAGE);
        Deno.exit(0);
        break;
      default:
        throw new Error(`unknown option ${argv[i]}\n${USAGE}`);
    }
  }
  if (a.only.length === 0) throw new Error(`--only selects no tool\n${USAGE}`);
  return a;
}

/** The measured steps, in order. */
const STEPS = [
  { id: "init", label: "init" },
  { id: "initial", label: "initial backup" },
  { id: "unchanged", label: "unchanged re-backup" },
  { id: "changed", label: "backup after 1% change" },
  { id: "restore", label: "restore (empty dir)" },
  { id: "check", label: "check" },
] as const;
type StepId = (typeof STEPS)[number]["id"];

/** floe/restic targets on wall time per step (issue #26, the mixed tree). */
const WALL_TARGET: Partial<Record<StepId, number>> = {
  initial: 0.45,
  unchanged: 0.35,
  changed: 0.5,
  restore: 0.7,
};
/** floe/restic peak RSS (#26: room for the runtime's ~30 MiB more code pages, not for more). */
const RSS_TARGET = 1.3;
/** floe/restic peak anonymous (private) memory (#26). */
const ANON_TARGET = 1.0;
/** floe/restic repository size (#26). */
const REPO_TARGET = 0.95;

interface StepResult extends Measurement {
  /** `du -sb` of the repository after a backup step. */
  repoBytes?: number;
}

type Results = Record<string, Partial<Record<StepId, StepResult>>>;

const MARKER = ".floe-bench-workdir";
const PASSWORD = "floe-bench-password";

function log(msg: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

function rm(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** Create the work dir, or empty one left by a previous run; refuse any other non-empty dir. */
function prepareWorkdir(dir: string): void {
  let entries: string[];
  try {
    entries = [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch {
    Deno.mkdirSync(dir, { recursive: true });
    entries = [];
  }
  if (entries.length > 0 && !entries.includes(MARKER)) {
    throw new Error(`refusing to use ${dir}: not empty and not a floe bench work dir (no ${MARKER})`);
  }
  for (const e of entries) if (e !== MARKER) rm(join(dir, e));
  Deno.writeTextFileSync(join(dir, MARKER), "floe bench work dir; everything here may be deleted\n");
  for (const sub of ["logs", "repos", "home", "restore"]) Deno.mkdirSync(join(dir, sub), { recursive: true });
}

class Bench {
  readonly results: Results = {};
  readonly errors: string[] = [];
  readonly verification: Record<string, string> = {};

  constructor(readonly args: BenchArgs, readonly tools: Tool[]) {
    for (const t of tools) this.results[t.name] = {};
  }

  /** The tool's home: its caches and configuration. */
  home(tool: Tool): string {
    return join(this.args.workdir, "home", tool.name);
  }

  repo(tool: Tool, tag = "main"): string {
    return join(this.args.workdir, "repos", `${tool.name}-${tag}`);
  }

  /** Run and record one step of one tool. */
  async step(
    tool: Tool,
    id: StepId,
    spec: CommandSpec,
    opts: { repo?: string; record?: Results; label?: string; warm?: string[] } = {},
  ): Promise<StepResult> {
    // The step's inputs warm in the page cache, nothing else in it (see settle).
    await settle([...(opts.warm ?? []), ...(id === "init" ? [] : [this.home(tool)])]);
    const label = opts.label ?? STEPS.find((s) => s.id === id)!.label;
    log(`${tool.name}: ${label} …`);
    const m: StepResult = await measure(spec, {
      logFile: join(this.args.workdir, "logs", `${tool.name}.log`),
      timeoutSec: this.args.timeout,
    });
    if (opts.repo) m.repoBytes = m.ok ? await duBytes(opts.repo) : NaN;
    const rec = opts.record ?? this.results;
    (rec[tool.name] ??= {})[id] = m;
    if (m.ok) {
      log(
        `${tool.name}: ${label}: ${m.wall.toFixed(2)} s wall, ${(m.user + m.sys).toFixed(2)} s CPU, ` +
          `${(m.rssKiB / 1024).toFixed(0)} MiB RSS${
            Number.isFinite(m.anonKiB) ? ` (${(m.anonKiB / 1024).toFixed(0)} anonymous)` : ""
          }${m.repoBytes !== undefined ? `, repo ${fmtMiB(m.repoBytes)} MiB` : ""}`,
      );
    } else {
      const err = `${tool.name} ${label}: exit ${m.code}: ${m.error ?? ""}`.replace(/\s+/g, " ").slice(
        0,
        400,
      );
      this.errors.push(err);
      log(`FAILED ${err}`);
    }
    return m;
  }
}

function summaryLine(s: DatasetSummary): string {
  return `${fmtCount(s.files)} files, ${fmtCount(s.dirs)} dirs, ${fmtCount(s.symlinks)} symlinks, ` +
    `${fmtCount(s.bytes)} bytes (${(s.bytes / 1073741824).toFixed(2)} GiB)`;
}

function cpu(m: StepResult | undefined): number | undefined {
  return m === undefined ? undefined : m.ok ? m.user + m.sys : NaN;
}
function wall(m: StepResult | undefined): number | undefined {
  return m === undefined ? undefined : m.ok ? m.wall : NaN;
}
function rss(m: StepResult | undefined): number | undefined {
  return m === undefined ? undefined : m.ok ? m.rssKiB * 1024 : NaN;
}
/** The sampled anonymous peak; "—" (undefined) when /proc could not be sampled, "error" when the step failed. */
function anon(m: StepResult | undefined): number | undefined {
  if (m === undefined) return undefined;
  if (!m.ok) return NaN;
  return Number.isFinite(m.anonKiB) ? m.anonKiB * 1024 : undefined;
}
function repoBytes(m: StepResult | undefined): number | undefined {
  return m?.repoBytes === undefined ? undefined : m.ok ? m.repoBytes : NaN;
}

/**
 * The main comparison table; floe/restic ratios marked against the targets (`judged`: all of them, or only
 * the restore's wall time, the one target #26 sets for the small-files dataset).
 */
function mainTable(
  b: Bench,
  steps: readonly (typeof STEPS)[number][] = STEPS,
  judged: "all" | "restore" = "all",
): string {
  const names = b.tools.map((t) => t.name);
  const headers = ["step"];
  for (const n of names) headers.push(`${n} wall`, `${n} cpu`, `${n} rss`, `${n} anon`, `${n} repo`);
  const pairs = ["restic", "borg"].filter((o) => names.includes("floe") && names.includes(o));
  for (const o of pairs) headers.push(`f/${o[0]} wall`, `f/${o[0]} rss`, `f/${o[0]} anon`, `f/${o[0]} repo`);
  const rows: string[][] = [];
  for (const s of steps) {
    const row: string[] = [s.label];
    for (const n of names) {
      const m = b.results[n][s.id];
      row.push(
        fmtSeconds(wall(m)),
        fmtSeconds(cpu(m)),
        fmtMiB(rss(m)),
        fmtMiB(anon(m)),
        fmtMiB(repoBytes(m)),
      );
    }
    for (const o of pairs) {
      const f = b.results.floe[s.id];
      const r = b.results[o][s.id];
      const withTarget = o === "restic" && judged === "all";
      const wallTarget = o === "restic" && (judged === "all" || s.id === "restore")
        ? WALL_TARGET[s.id]
        : undefined;
      row.push(
        fmtRatio(ratio(wall(f), wall(r)), wallTarget),
        fmtRatio(ratio(rss(f), rss(r)), withTarget ? RSS_TARGET : undefined),
        fmtRatio(ratio(anon(f), anon(r)), withTarget ? ANON_TARGET : undefined),
        fmtRatio(ratio(repoBytes(f), repoBytes(r)), withTarget ? REPO_TARGET : undefined),
      );
    }
    rows.push(row);
  }
  return renderTable(headers, rows);
}

/**
 * Other load during each measured step: the machine's busy CPU (/proc/stat) minus the tool's own
 * CPU, per second of wall time (in cores). Steps over 0.1 cores are listed: their figures are suspect.
 */
function interference(b: Bench, steps: readonly (typeof STEPS)[number][] = STEPS): string {
  const noisy: string[] = [];
  for (const s of steps) {
    for (const t of b.tools) {
      const m = b.results[t.name][s.id];
      if (!m || !m.ok || !Number.isFinite(m.machineCpu) || m.wall <= 0) continue;
      const other = (m.machineCpu - m.user - m.sys) / m.wall;
      if (other > 0.1) noisy.push(`${t.name} ${s.label} ${other.toFixed(2)}`);
    }
  }
  return noisy.length === 0
    ? "other load during the steps: < 0.1 cores throughout (machine quiet)"
    : `other load during the steps (cores busy outside the tool; > 0.1 listed — treat these figures with care): ${
      noisy.join(", ")
    }`;
}

interface Variant {
  label: string;
  small: number;
  bytes: number;
}

const VARIANTS: Variant[] = [
  { label: "1× (base)", small: 1, bytes: 1 },
  { label: "4× small files", small: 4, bytes: 1 },
  { label: "4× bytes", small: 1, bytes: 4 },
];

function scalingTable(
  tools: string[],
  perVariant: { v: Variant; summary?: DatasetSummary; results: Results }[],
): string {
  const headers = ["dataset", "step", "files", "GiB"];
  for (const n of tools) headers.push(`${n} wall s`, `${n} rss MiB`, `${n} wall ×`, `${n} rss ×`);
  const base = perVariant[0];
  const rows: string[][] = [];
  for (const pv of perVariant) {
    for (const id of ["initial", "unchanged"] as const) {
      const row = [
        pv.v.label,
        id === "initial" ? "initial backup" : "unchanged re-backup",
        pv.summary ? fmtCount(pv.summary.files) : "—",
        pv.summary ? (pv.summary.bytes / 1073741824).toFixed(2) : "—",
      ];
      for (const n of tools) {
        const m = pv.results[n]?.[id];
        const m0 = base.results[n]?.[id];
        const gw = ratio(wall(m), wall(m0));
        const gr = ratio(rss(m), rss(m0));
        row.push(
          fmtSeconds(wall(m)),
          fmtMiB(rss(m)),
          gw === undefined ? "—" : gw.toFixed(2),
          gr === undefined ? "—" : gr.toFixed(2),
        );
      }
      rows.push(row);
    }
  }
  return renderTable(headers, rows, headers.map((_, i) => (i < 2 ? "left" : "right")));
}

/** floe/restic wall-time target of the S3 steps (initial backup and restore). */
const S3_WALL_TARGET = 0.7;
/** floe/restic client CPU of the S3 steps (#26: the part floe controls on a machine it shares with the store). */
const S3_CPU_TARGET: Record<string, number> = { initial: 0.6, restore: 0.7 };
const S3_STEPS = [
  { id: "init", label: "init" },
  { id: "initial", label: "initial backup" },
  { id: "restore", label: "restore (empty dir)" },
] as const;

/** What the S3 run produced: per-tool results, restore verification, notes and errors. */
interface S3Outcome {
  results: Results;
  verification: Record<string, string>;
  /** How each tool reached the store. */
  transport: Record<string, string>;
  /** Requests and body bytes through the TLS proxy, per tool and step. */
  traffic: Record<string, Partial<Record<StepId, ProxyStats>>>;
  /** Set when the S3 run could not happen at all. */
  failure?: string;
}

/** Add S3 credentials / TLS trust to an adapter's command (extra args go right after the program). */
function remoteSpec(spec: CommandSpec, env: Record<string, string>, args: string[] = []): CommandSpec {
  return { ...spec, cmd: [spec.cmd[0], ...args, ...spec.cmd.slice(1)], env: { ...spec.env, ...env } };
}

/**
 * The S3 step: a Swift all-in-one (tempauth + s3api) on loopback with a TLS proxy in front (restic 0.14's
 * S3 backend only works over https here); init, initial backup of `data` and restore into an empty dir,
 * floe and restic alternately, both through the same proxy. Swift and the proxy are stopped at the end.
 */
async function s3Run(
  b: Bench,
  tools: Tool[],
  data: string,
  source: Map<string, ManifestEntry>,
): Promise<S3Outcome> {
  const W = b.args.workdir;
  const outcome: S3Outcome = { results: {}, verification: {}, transport: {}, traffic: {} };
  let swift: SwiftServer | undefined;
  let proxy: TlsProxy | undefined;
  try {
    log("S3: starting Swift (tempauth + s3api) and the TLS proxy …");
    swift = await startSwift();
    const cert = await selfSignedCert(join(W, "home", "tls"));
    proxy = await startTlsProxy({ target: swift.s3Endpoint, cert: cert.cert, key: cert.key });
    log(`S3: s3api at ${swift.s3Endpoint}, TLS proxy at ${proxy.url}`);
    // floe's s3 storage adds NODE_EXTRA_CA_CERTS (and AWS_CA_BUNDLE) to its fetch client's roots: a
    // bundle of the proxy's certificate plus whatever extra CAs the environment already had.
    const bundle = join(W, "home", "tls", "bundle.pem");
    let extra = "";
    const prev = Deno.env.get("NODE_EXTRA_CA_CERTS");
    if (prev) extra = await Deno.readTextFile(prev).catch(() => "");
    Deno.writeTextFileSync(bundle, cert.cert + "\n" + extra);
    const aws = {
      AWS_ACCESS_KEY_ID: swift.accessKey,
      AWS_SECRET_ACCESS_KEY: swift.secretKey,
      AWS_REGION: swift.region,
    };
    const remote = tools.map((t) => {
      const home = join(W, "home", t.name);
      if (t.name === "restic") {
        const repo = `s3:${proxy!.url}/restic-bucket`;
        outcome.transport[t.name] = `${repo} (--cacert)`;
        const env = { ...aws, RESTIC_CACHE_DIR: join(home, "cache-s3") };
        return { t, repo, wrap: (s: CommandSpec) => remoteSpec(s, env, ["--cacert", cert.certFile]) };
      }
      const repo = `s3:${proxy!.url}/floe-bucket`;
      outcome.transport[t.name] = `${repo} (NODE_EXTRA_CA_CERTS)`;
      const env = { ...aws, NODE_EXTRA_CA_CERTS: bundle, XDG_CACHE_HOME: join(home, "cache-s3") };
      return { t, repo, wrap: (s: CommandSpec) => remoteSpec(s, env) };
    });
    const opts = (label: string) => ({ record: outcome.results, label: `S3 ${label}` });
    const counted = async (t: Tool, id: StepId, run: () => Promise<StepResult>) => {
      const s0 = proxy!.stats();
      const m = await run();
      const s1 = proxy!.stats();
      (outcome.traffic[t.name] ??= {})[id] = {
        requests: s1.requests - s0.requests,
        up: s1.up - s0.up,
        down: s1.down - s0.down,
      };
      return m;
    };
    for (const { t, repo, wrap } of remote) {
      await counted(t, "init", () => b.step(t, "init", wrap(t.init(repo)), opts("init")));
    }
    for (const { t, repo, wrap } of remote) {
      await counted(
        t,
        "initial",
        () =>
          b.step(t, "initial", wrap(t.backup(repo, data, "bench-s3")), {
            ...opts("initial backup"),
            warm: [data],
          }),
      );
    }
    for (const { t, repo, wrap } of remote) {
      const target = join(W, "restore", `${t.name}-s3`);
      rm(target);
      Deno.mkdirSync(target, { recursive: true });
      const m = await counted(
        t,
        "restore",
        () => b.step(t, "restore", wrap(t.restore(repo, target, "bench-s3")), opts("restore")),
      );
      if (m.ok) {
        try {
          const diffs = diffManifests(source, manifest(t.restoredRoot(target, data)));
          outcome.verification[t.name] = diffs.length === 0
            ? "ok (identical)"
            : `${diffs.length} differences, e.g. ${diffs.slice(0, 3).join("; ")}`;
        } catch (e) {
          outcome.verification[t.name] = `cannot read restore: ${e instanceof Error ? e.message : e}`;
        }
      } else outcome.verification[t.name] = "restore failed";
      log(`${t.name}: S3 restore verification: ${outcome.verification[t.name]}`);
      // Restored trees stay until the final clean-up: deleting ~30k files right before the next tool's
      // restore makes ext4 skip recently freed inodes when it allocates new ones, and that kernel time
      // would be charged to whichever tool restores next.
    }
    log(`S3: the TLS proxy forwarded ${proxy.stats().requests} requests`);
  } catch (e) {
    outcome.failure = e instanceof Error ? e.message.split("\n")[0] : String(e);
    log(`S3 step failed: ${outcome.failure}`);
  } finally {
    await proxy?.stop().catch(() => {});
    await swift?.stop().catch(() => {});
  }
  return outcome;
}

/** The S3 table: wall / cpu / rss per tool, the server side's CPU, and floe/restic ratios. */
function s3Table(tools: string[], o: S3Outcome): string {
  const headers = ["step"];
  for (const n of tools) {
    headers.push(`${n} wall`, `${n} cpu`, `${n} rss`, `${n} srv cpu`, `${n} req`, `${n} MiB ↑/↓`);
  }
  const both = tools.includes("floe") && tools.includes("restic");
  if (both) headers.push("f/r wall", "f/r cpu", "f/r rss");
  const rows = S3_STEPS.map((s) => {
    const row: string[] = [s.label];
    for (const n of tools) {
      const m = o.results[n]?.[s.id];
      const srv = m?.ok && Number.isFinite(m.machineCpu) ? m.machineCpu - m.user - m.sys : undefined;
      const tr = o.traffic[n]?.[s.id];
      row.push(
        fmtSeconds(wall(m)),
        fmtSeconds(cpu(m)),
        fmtMiB(rss(m)),
        fmtSeconds(srv),
        tr ? fmtCount(tr.requests) : "—",
        tr ? `${fmtMiB(tr.up)}/${fmtMiB(tr.down)}` : "—",
      );
    }
    if (both) {
      const f = o.results.floe?.[s.id];
      const r = o.results.restic?.[s.id];
      row.push(
        fmtRatio(ratio(wall(f), wall(r)), s.id === "init" ? undefined : S3_WALL_TARGET),
        fmtRatio(ratio(cpu(f), cpu(r)), S3_CPU_TARGET[s.id]),
        fmtRatio(ratio(rss(f), rss(r)), RSS_TARGET),
      );
    }
    return row;
  });
  return renderTable(headers, rows);
}

/**
 * Restores each tool's latest snapshot of repository `tag` into an empty dir and verifies it against
 * `source` (the tree `data` as backed up).
 */
async function restoreAndVerify(
  b: Bench,
  tag: string,
  data: string,
  source: Map<string, ManifestEntry>,
  label: (t: Tool) => string,
): Promise<void> {
  for (const t of b.tools) {
    const target = join(b.args.workdir, "restore", tag === "main" ? t.name : `${t.name}-${tag}`);
    rm(target);
    Deno.mkdirSync(target, { recursive: true });
    const m = await b.step(t, "restore", t.restore(b.repo(t, tag), target, label(t)), {
      warm: [b.repo(t, tag)],
    });
    if (m.ok) {
      try {
        const diffs = diffManifests(source, manifest(t.restoredRoot(target, data)));
        b.verification[t.name] = diffs.length === 0
          ? "ok (identical)"
          : `${diffs.length} differences, e.g. ${diffs.slice(0, 3).join("; ")}`;
      } catch (e) {
        b.verification[t.name] = `cannot read restore: ${e instanceof Error ? e.message : e}`;
      }
    } else b.verification[t.name] = "restore failed";
    log(`${t.name}: restore verification: ${b.verification[t.name]}`);
    // Restored trees stay until the final clean-up (see the S3 restores: deleting before the next restore
    // skews it).
  }
}

/** A plain copy of a dataset: what writing that tree into the page cache costs this machine. */
interface CopyBaseline {
  m: Measurement;
  summary: DatasetSummary;
}

/**
 * Copies `data` with `tar -cf - | tar -xf -` into an empty dir, measured as a restore is (from a warm
 * source): the physical limit of a restore of that tree here (creating its files and writing its bytes
 * into the page cache), with no reading of packs, decrypting or decompressing.
 */
async function copyBaseline(b: Bench, data: string, tag: string): Promise<CopyBaseline> {
  const target = join(b.args.workdir, "restore", `tar-${tag}`);
  rm(target);
  Deno.mkdirSync(target, { recursive: true });
  await settle([data]);
  const parent = join(data, "..");
  const name = data.slice(parent.length + 1);
  log(`tar: copy of ${data} …`);
  const m = await measure(
    { cmd: ["sh", "-c", 'tar -C "$1" -cf - "$2" | tar -C "$3" -xf -', "sh", parent, name, target] },
    { logFile: join(b.args.workdir, "logs", "tar.log"), timeoutSec: b.args.timeout },
  );
  return { m, summary: summarize(manifest(data, { hash: false })) };
}

function copyLine(c: CopyBaseline): string {
  if (!c.m.ok) return `plain copy (tar | tar) of the same tree: failed (exit ${c.m.code})`;
  return `plain copy (tar -cf - | tar -xf -) of the same tree, from a warm page cache: ${
    c.m.wall.toFixed(2)
  } s wall, ` +
    `${(c.m.user + c.m.sys).toFixed(2)} s CPU = ${
      (c.summary.bytes / 1048576 / c.m.wall).toFixed(0)
    } MiB/s, ` +
    `${fmtCount(Math.round(c.summary.files / c.m.wall))} files/s: the page-cache write bandwidth of this ` +
    `machine for this tree (a restore's floor)`;
}

/** The steps of the small-files dataset. */
const SMALL_STEPS = STEPS.filter((s) => s.id === "init" || s.id === "initial" || s.id === "restore");

/**
 * The small-files-heavy dataset (see {@link generateSmallFilesDataset}): init, initial backup and restore
 * of every tool, the restore verified, and the plain copy beside it; prints its table.
 */
async function smallFilesRun(args: BenchArgs, tools: Tool[], print: (s?: string) => void): Promise<Bench> {
  const W = args.workdir;
  const b = new Bench(args, tools);
  const data = join(W, "data-small");
  rm(data);
  const t0 = performance.now();
  const generated = generateSmallFilesDataset(data, { seed: args.seed, scale: args.scale });
  log(
    `small-files dataset generated in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${
      summaryLine(generated)
    }`,
  );
  const source = manifest(data); // reads every file: warms the page cache
  for (const t of tools) await b.step(t, "init", t.init(b.repo(t, "small")));
  for (const t of tools) {
    await b.step(t, "initial", t.backup(b.repo(t, "small"), data, "bench-small"), {
      repo: b.repo(t, "small"),
      warm: [data, b.repo(t, "small")],
    });
  }
  await restoreAndVerify(b, "small", data, source, () => "bench-small");
  const copy = await copyBaseline(b, data, "small");
  print();
  print("## small-files-heavy dataset (init, initial backup, restore into an empty dir)");
  print();
  print(`dataset: ${summaryLine(generated)}; files of 0–8 KiB in a tree up to 12 deep, plus 4 large files`);
  print(`load average after the small-files run: ${loadAvg()}`);
  print();
  // #26 sets only the restore's target for this dataset.
  print(mainTable(b, SMALL_STEPS, "restore"));
  print();
  print(`target (floe/restic): restore wall ≤ ${WALL_TARGET.restore}`);
  print(interference(b, SMALL_STEPS));
  print(copyLine(copy));
  print("restore verification:");
  for (const t of tools) print(`  ${t.name}: ${b.verification[t.name]}`);
  if (b.errors.length) {
    print("errors:");
    for (const e of b.errors) print(`  ${e}`);
  }
  if (!args.keep) {
    rm(data);
    for (const t of tools) {
      rm(b.repo(t, "small"));
      rm(join(W, "restore", `${t.name}-small`));
    }
    rm(join(W, "restore", "tar-small"));
  }
  return b;
}

async function main(): Promise<void> {
  const args = parseArgs(Deno.args);
  const W = args.workdir;
  const out: string[] = [];
  const print = (s = "") => {
    console.log(s);
    out.push(s);
  };

  prepareWorkdir(W);
  const loadBefore = loadAvg();
  log(`work dir ${W}, scale ${args.scale}, tools ${args.only.join(",")}`);
  if (!haveGnuTime()) {
    const err = await ensureApt("/usr/bin/time", ["time"]);
    if (err) log(`GNU time unavailable (${err}); only wall time will be measured`);
  }

  const tools: Tool[] = [];
  const versions: string[] = [];
  for (const name of args.only) {
    const tool = makeTool(name, { home: join(W, "home", name), password: PASSWORD }, args.floeMain);
    Deno.mkdirSync(join(W, "home", name), { recursive: true });
    const err = await tool.prepare();
    if (err) log(`${name}: ${err} — its cells will read "error"`);
    versions.push(`${name}: ${err ? `unavailable (${err})` : (await tool.version()).split("\n")[0]}`);
    tools.push(tool);
  }
  const machine = async () =>
    `machine: ${Deno.build.target}, ${navigator.hardwareConcurrency} CPUs, kernel ${await capture([
      "uname",
      "-r",
    ])}`;
  /** Writes results.md and results.json, then cleans up. */
  const finish = (json: Record<string, unknown>) => {
    print();
    print(`load average at the end: ${loadAvg()}`);
    Deno.writeTextFileSync(join(W, "results.md"), out.join("\n") + "\n");
    Deno.writeTextFileSync(join(W, "results.json"), JSON.stringify({ args, versions, ...json }, null, 2));
    if (!args.keep) {
      for (const sub of ["data", "repos", "home", "restore"]) rm(join(W, sub));
      log(`cleaned up; results and logs kept in ${W}/results.md, results.json, logs/`);
    } else log(`kept everything in ${W}`);
  };
  const smallJson = (sb: Bench) => ({ small: { results: sb.results, verification: sb.verification } });

  if (!args.datasets.includes("mixed")) {
    print(
      `# floe benchmark — small-files dataset only, scale ${args.scale}, seed ${args.seed}, ${
        new Date().toISOString()
      }`,
    );
    print();
    print(await machine());
    print(`load average before: ${loadBefore}`);
    print("versions:");
    for (const v of versions) print(`  ${v}`);
    finish(smallJson(await smallFilesRun(args, tools, print)));
    return;
  }

  // Dataset.
  const data = join(W, "data");
  let t0 = performance.now();
  const generated = generateDataset(data, { seed: args.seed, scale: args.scale });
  log(`dataset generated in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${summaryLine(generated)}`);
  t0 = performance.now();
  let source: Map<string, ManifestEntry> = manifest(data); // reads every file: warms the page cache
  log(`source hashed (page cache warmed) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const b = new Bench(args, tools);
  const labels: Record<string, string> = {};
  const backup = async (id: StepId, n: number) => {
    for (const t of tools) {
      labels[t.name] = `bench-${n}`;
      await b.step(t, id, t.backup(b.repo(t), data, labels[t.name]), {
        repo: b.repo(t),
        warm: [data, b.repo(t)],
      });
    }
  };

  for (const t of tools) await b.step(t, "init", t.init(b.repo(t)));
  await backup("initial", 1);
  await backup("unchanged", 2);
  const changed = mutate(data, { seed: args.seed + 1, scale: args.scale });
  log(
    `mutated: ${changed.modified} modified, ${changed.added} added, ${changed.deleted} deleted, ` +
      `${changed.appended} bytes appended`,
  );
  source = manifest(data);
  const mutatedSummary = summarize(source);
  await backup("changed", 3);
  await restoreAndVerify(b, "main", data, source, (t) => labels[t.name] ?? "bench-3");
  const copy = await copyBaseline(b, data, "main");
  for (const t of tools) await b.step(t, "check", t.check(b.repo(t)), { warm: [b.repo(t)] });
  const cost = args.skipCost || !args.only.includes("floe") ? [] : await costSection({
    workdir: W,
    timeout: args.timeout,
    tools,
    repo: (t) => b.repo(t),
    home: (t) => b.home(t),
    data,
    password: PASSWORD,
    log,
  });

  const loadAfterMain = loadAvg();
  print(`# floe benchmark — scale ${args.scale}, seed ${args.seed}, ${new Date().toISOString()}`);
  print();
  print(await machine());
  print(`load average before: ${loadBefore}`);
  print(`load average after main run: ${loadAfterMain}`);
  print("versions:");
  for (const v of versions) print(`  ${v}`);
  print(`dataset: ${summaryLine(generated)}`);
  print(
    `after 1% change: ${summaryLine(mutatedSummary)} ` +
      `(${changed.modified} modified, ${changed.added} added, ${changed.deleted} deleted, 1 MiB appended)`,
  );
  print(
    "measurement: /usr/bin/time (wall, user+sys CPU of the tree, peak RSS = largest process); " +
      (canDropCaches
        ? "before each step: `sync`, page cache dropped, the step's inputs (dataset, repository, the tool's " +
          "cache dir) read back into it; "
        : "page cache warm; `sync` before each step (not root: the page cache is not dropped); ") +
      "repo = `du -sb` after the step",
  );
  print(
    "columns: wall = wall-clock s, cpu = user+sys s, rss = peak RSS MiB, anon = peak anonymous (private) RSS " +
      `MiB sampled every ${SAMPLE_MS} ms (rss without the program's own file pages: deno's binary is about 45 MiB ` +
      "of them, restic's about 15), repo = repository MiB after the step; " +
      "f/r = floe/restic, f/b = floe/borg (✓/✗ against the floe/restic targets)",
  );
  print();
  print(mainTable(b));
  print();
  print(
    `targets (floe/restic): wall ≤ ${WALL_TARGET.initial} initial, ≤ ${WALL_TARGET.unchanged} unchanged, ` +
      `≤ ${WALL_TARGET.changed} 1% change, ≤ ${WALL_TARGET.restore} restore; RSS ≤ ${RSS_TARGET}; anon ≤ ${ANON_TARGET}; ` +
      `repo ≤ ${REPO_TARGET}`,
  );
  print(interference(b));
  print(copyLine(copy));
  print("restore verification (against the mutated source):");
  for (const t of tools) print(`  ${t.name}: ${b.verification[t.name]}`);
  if (b.errors.length) {
    print("errors:");
    for (const e of b.errors) print(`  ${e}`);
  }
  for (const line of cost) print(line);

  // S3 on a local Swift, with the (mutated) dataset of the main run.
  const s3Tools = tools.filter((t) => t.name === "floe" || t.name === "restic");
  let s3: S3Outcome | undefined;
  if (!args.skipS3 && s3Tools.length > 0) {
    s3 = await s3Run(b, s3Tools, data, source);
    print();
    print("## S3 on local Swift (init, initial backup, restore into an empty dir)");
    print();
    if (s3.failure) print(`not run: ${s3.failure}`);
    else {
      print(s3Table(s3Tools.map((t) => t.name), s3));
      print();
      print(
        `store: OpenStack Swift all-in-one (tempauth + s3api, objects on /dev/shm) on loopback, behind a ` +
          `TLS-terminating proxy (self-signed cert for 127.0.0.1) running in the bench process; ` +
          `dataset = the main run's after the 1% change`,
      );
      for (const t of s3Tools) print(`  ${t.name}: ${s3.transport[t.name]}`);
      print(
        `srv cpu = CPU s the rest of the machine was busy during the step (Swift, memcached, the proxy, ` +
          `anything else), not in the tool's cpu; req, MiB ↑/↓ = requests and body MiB sent to / received ` +
          `from the store through the proxy; f/r wall ✓/✗ against ≤ ${S3_WALL_TARGET} ` +
          `(initial backup, restore), f/r cpu against ≤ ${S3_CPU_TARGET.initial} (initial backup) and ` +
          `≤ ${S3_CPU_TARGET.restore} (restore), f/r rss against ≤ ${RSS_TARGET}`,
      );
      print(`load average after the S3 run: ${loadAvg()}`);
      print("S3 restore verification (against the mutated source):");
      for (const t of s3Tools) print(`  ${t.name}: ${s3.verification[t.name]}`);
    }
    const s3Errors = b.errors.filter((e) => / S3 /.test(e));
    if (s3Errors.length) {
      print("errors:");
      for (const e of s3Errors) print(`  ${e}`);
    }
  }

  // Scaling.
  const scaleTools = tools.filter((t) => t.name === "floe" || t.name === "restic");
  if (!args.keep) {
    rm(data);
    rm(join(W, "repos"));
    Deno.mkdirSync(join(W, "repos"));
  }
  if (!args.skipScaling && scaleTools.length > 0) {
    const base: Results = {};
    for (const t of scaleTools) {
      base[t.name] = { initial: b.results[t.name].initial, unchanged: b.results[t.name].unchanged };
    }
    const perVariant: { v: Variant; summary?: DatasetSummary; results: Results }[] = [
      { v: VARIANTS[0], summary: generated, results: base },
    ];
    for (const v of VARIANTS.slice(1)) {
      const dir = join(W, `data-${v.small}s-${v.bytes}b`);
      rm(dir);
      t0 = performance.now();
      const summary = generateDataset(dir, {
        seed: args.seed,
        scale: args.scale,
        smallFilesMultiplier: v.small,
        bytesMultiplier: v.bytes,
      });
      log(
        `scaling dataset "${v.label}" in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${
          summaryLine(summary)
        }`,
      );
      manifest(dir, { hash: true }); // warm the page cache
      const results: Results = {};
      const tag = `${v.small}s-${v.bytes}b`;
      for (const t of scaleTools) {
        const m = await measure(t.init(b.repo(t, tag)), {
          logFile: join(W, "logs", `${t.name}.log`),
          timeoutSec: args.timeout,
        });
        if (!m.ok) b.errors.push(`${t.name} init (${v.label}): exit ${m.code}`);
      }
      for (const id of ["initial", "unchanged"] as const) {
        for (const t of scaleTools) {
          await b.step(t, id, t.backup(b.repo(t, tag), dir, `bench-${id}`), {
            repo: b.repo(t, tag),
            warm: [dir, b.repo(t, tag)],
            record: results,
            label: `${id} backup (${v.label})`,
          });
        }
      }
      perVariant.push({ v, summary, results });
      if (!args.keep) {
        rm(dir);
        for (const t of scaleTools) rm(b.repo(t, tag));
      }
    }
    print();
    print("## scaling (initial and unchanged backup; × = growth against the 1× dataset)");
    print();
    print(scalingTable(scaleTools.map((t) => t.name), perVariant));
    print(
      "4× small files = 4× as many small files, directories, duplicates, symlinks and empty dirs; " +
        "4× bytes = 4× as many 5–50 MiB files and 4× larger large files",
    );
  }

  const small = args.datasets.includes("small") ? await smallFilesRun(args, tools, print) : undefined;
  finish({
    dataset: generated,
    results: b.results,
    verification: b.verification,
    ...(s3 ? { s3 } : {}),
    ...(small ? smallJson(small) : {}),
  });
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(`bench: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
