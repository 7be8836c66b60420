/**
 * Run one command and measure it: wall seconds, user+sys CPU seconds and peak RSS.
 *
 * The command runs under GNU `/usr/bin/time -f "%e %U %S %M"` (wrapped in coreutils `timeout`).
 * `%U`/`%S` include every reaped descendant; `%M` is the `ru_maxrss` of the child tree as the kernel
 * reports it to `wait4`, i.e. the peak RSS of the *largest single process* in the tree (not a sum).
 * The tools measured here (restic, borg, floe on deno) each run as one process, so this is their peak.
 *
 * Peak RSS counts the program's own file pages too (the deno binary's code and snapshot, about 45 MiB of
 * clean pages shared with the page cache; restic's Go binary, about 15). So the process tree is also
 * sampled every {@link SAMPLE_MS} ms for its largest `RssAnon` (/proc/PID/status): the anonymous, private
 * memory the program allocated (heaps, buffers, stacks) — sampled, so a spike shorter than that can be
 * missed.
 *
 * @module
 */

/** A command to run: argv, extra environment and working directory. */
export interface CommandSpec {
  /** Program and arguments. */
  cmd: string[];
  /** Environment added to the inherited one. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
}

/** The outcome of {@link measure}. */
export interface Measurement {
  /** Exit code 0 and not timed out. */
  ok: boolean;
  /** Exit code (124 = timed out). */
  code: number;
  /** Wall-clock seconds. */
  wall: number;
  /** User CPU seconds. */
  user: number;
  /** System CPU seconds. */
  sys: number;
  /** Peak RSS in KiB (largest process of the tree); NaN when unknown. */
  rssKiB: number;
  /** Largest anonymous (private) RSS in KiB of any process of the tree, sampled; NaN when unknown. */
  anonKiB: number;
  /** CPU seconds the whole machine spent busy during the command (from /proc/stat; NaN if unknown). */
  machineCpu: number;
  /** The last lines of stderr (or stdout) when the command failed. */
  error?: string;
}

/**
 * Busy CPU seconds of the whole machine since boot (user+nice+system+irq+softirq+steal in
 * /proc/stat, at USER_HZ = 100); NaN when /proc/stat cannot be read.
 *
 * @example
 * ```ts
 * import { machineBusySeconds } from "./measure.ts";
 * const before = machineBusySeconds();
 * // … work …
 * console.log(machineBusySeconds() - before, "CPU s used by everything");
 * ```
 */
export function machineBusySeconds(): number {
  try {
    const f = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal …
    return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) / 100;
  } catch {
    return NaN;
  }
}

const TIME = "/usr/bin/time";
/** Interval of the `RssAnon` sampling, ms. */
export const SAMPLE_MS = 20;

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/**
 * The largest `RssAnon` (KiB) among `pid` and its descendants right now; 0 when none can be read
 * (the tree is gone, or /proc has no `children` files).
 *
 * @example
 * ```ts
 * import { treeAnonKiB } from "./measure.ts";
 * console.log(treeAnonKiB(Deno.pid), "KiB anonymous");
 * ```
 */
export function treeAnonKiB(pid: number): number {
  let best = 0;
  const stack = [pid];
  for (let n = 0; stack.length && n < 64; n++) {
    const p = stack.pop()!;
    const kb = Number(/^RssAnon:\s+(\d+)/m.exec(readText(`/proc/${p}/status`) ?? "")?.[1] ?? 0);
    if (kb > best) best = kb;
    for (const c of (readText(`/proc/${p}/task/${p}/children`) ?? "").split(" ")) {
      if (c.trim()) stack.push(+c);
    }
  }
  return best;
}

/**
 * Whether GNU time is installed at /usr/bin/time.
 *
 * @example
 * ```ts
 * import { haveGnuTime } from "./measure.ts";
 * if (!haveGnuTime()) console.log("apt-get install -y time");
 * ```
 */
export function haveGnuTime(): boolean {
  try {
    return Deno.statSync(TIME).isFile;
  } catch {
    return false;
  }
}

function tail(text: string, lines = 6): string {
  // deno prints coloured errors and a "Stack backtrace:" section; keep the message only.
  // deno-lint-ignore no-control-regex
  const plain = text.replace(/\x1b\[[0-9;]*m/g, "").replace(/\n\s*Stack backtrace:[\s\S]*$/, "");
  return plain.trimEnd().split("\n").slice(-lines).join("\n");
}

/**
 * Run `spec` and measure it. stdout/stderr go to `logFile` (appended) when given.
 *
 * @example
 * ```ts
 * import { measure } from "./measure.ts";
 * const m = await measure({ cmd: ["sleep", "0.1"] });
 * console.log(m.wall, m.user + m.sys, m.rssKiB);
 * ```
 */
export async function measure(
  spec: CommandSpec,
  opts: { logFile?: string; timeoutSec?: number } = {},
): Promise<Measurement> {
  const timeoutSec = opts.timeoutSec ?? 3600;
  const timeFile = await Deno.makeTempFile({ prefix: "floe-bench-time-" });
  const gnu = haveGnuTime();
  const inner = ["timeout", "-k", "10", String(timeoutSec), ...spec.cmd];
  const argv = gnu ? [TIME, "-o", timeFile, "-f", "%e %U %S %M", ...inner] : inner;
  const busy0 = machineBusySeconds();
  const t0 = performance.now();
  let code = 127;
  let stdout = "";
  let stderr = "";
  let anonKiB = 0;
  let sampler: ReturnType<typeof setInterval> | undefined;
  try {
    const child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      env: spec.env,
      cwd: spec.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    sampler = setInterval(() => anonKiB = Math.max(anonKiB, treeAnonKiB(child.pid)), SAMPLE_MS);
    const out = await child.output();
    code = out.code;
    stdout = new TextDecoder().decode(out.stdout);
    stderr = new TextDecoder().decode(out.stderr);
  } catch (e) {
    stderr = String(e);
  } finally {
    clearInterval(sampler);
  }
  const wallFallback = (performance.now() - t0) / 1000;
  const machineCpu = machineBusySeconds() - busy0;
  let wall = wallFallback, user = NaN, sys = NaN, rssKiB = NaN;
  if (gnu) {
    const lines = (await Deno.readTextFile(timeFile).catch(() => "")).trim().split("\n");
    const f = (lines.at(-1) ?? "").trim().split(/\s+/).map(Number);
    if (f.length === 4 && f.every((x) => Number.isFinite(x))) [wall, user, sys, rssKiB] = f;
  }
  await Deno.remove(timeFile).catch(() => {});
  if (opts.logFile) {
    const header = `\n=== ${new Date().toISOString()} ${spec.cwd ? `(cwd ${spec.cwd}) ` : ""}${
      spec.cmd.join(" ")
    }\n--- exit ${code}, wall ${wall}s\n`;
    await Deno.writeTextFile(opts.logFile, header + stdout + (stderr ? `--- stderr\n${stderr}` : ""), {
      append: true,
    });
  }
  const ok = code === 0;
  return {
    ok,
    code,
    wall,
    user,
    sys,
    rssKiB,
    anonKiB: anonKiB || NaN,
    machineCpu,
    ...(ok ? {} : { error: code === 124 ? `timed out after ${timeoutSec}s` : tail(stderr || stdout) }),
  };
}

/**
 * Run a short helper command and return its stdout ("" on failure).
 *
 * @example
 * ```ts
 * import { capture } from "./measure.ts";
 * console.log(await capture(["uname", "-r"]));
 * ```
 */
export async function capture(cmd: string[], env?: Record<string, string>): Promise<string> {
  try {
    const out = await new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    return out.success ? text : "";
  } catch {
    return "";
  }
}

/**
 * Flush dirty pages (`sync`) before a measured step; the page cache is left warm on purpose.
 *
 * @example
 * ```ts
 * import { sync } from "./measure.ts";
 * await sync();
 * ```
 */
export async function sync(): Promise<void> {
  await capture(["sync"]);
}

/** Whether {@link settle} can drop the page cache (root on Linux). */
export const canDropCaches: boolean = (() => {
  try {
    return Deno.build.os === "linux" && Deno.uid() === 0 &&
      Deno.statSync("/proc/sys/vm/drop_caches").isFile;
  } catch {
    return false;
  }
})();

/** Reads every regular file under `path` (a file or a tree), so that it is in the page cache. */
function warm(path: string, buf: Uint8Array): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    return;
  }
  if (info.isDirectory) {
    for (const e of Deno.readDirSync(path)) warm(`${path}/${e.name}`, buf);
  } else if (info.isFile) {
    const f = Deno.openSync(path);
    try {
      while (f.readSync(buf) !== null);
    } finally {
      f.close();
    }
  }
}

/**
 * Brings the machine to the same state before every measured step: dirty pages flushed, the page cache
 * dropped (when root) and the step's inputs read back into it. Without the drop, whichever tool runs when
 * earlier steps' files (restores, repositories) have filled the memory pays the kernel's page reclaim:
 * measured here, one restore spent 2.0 s of system time with free memory and 6.6–8.0 s with a full page
 * cache, for floe and restic alike. Returns whether the cache was dropped.
 *
 * @example
 * ```ts
 * import { settle } from "./measure.ts";
 * await settle(["/tmp/floe-bench/data"]);
 * ```
 */
export async function settle(inputs: string[]): Promise<boolean> {
  await sync();
  if (!canDropCaches) return false;
  Deno.writeTextFileSync("/proc/sys/vm/drop_caches", "3");
  const buf = new Uint8Array(128 * 1024);
  for (const p of inputs) warm(p, buf);
  return true;
}

/**
 * Apparent size in bytes of a directory tree (`du -sb`); NaN when it cannot be measured.
 *
 * @example
 * ```ts
 * import { duBytes } from "./measure.ts";
 * console.log(await duBytes("/tmp"));
 * ```
 */
export async function duBytes(path: string): Promise<number> {
  const out = await capture(["du", "-sb", path]);
  const n = Number(out.split(/\s+/)[0]);
  return out && Number.isFinite(n) ? n : NaN;
}

/**
 * The machine's load average line from /proc/loadavg.
 *
 * @example
 * ```ts
 * import { loadAvg } from "./measure.ts";
 * console.log(loadAvg()); // "0.12 0.30 0.25 1/180 12345"
 * ```
 */
export function loadAvg(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").trim();
  } catch {
    return "unknown";
  }
}
