/**
 * Shared helpers for floe's tests: temp dirs, pseudo-random bytes, hashing, an engine on a local
 * repository and a CLI runner.
 */
import "../plugins/mod.ts"; // tests run with the built-in plugins
import { createHash } from "node:crypto";
import { Engine } from "../core/engine.ts";
import type { InitOptions } from "../core/repository/repository.ts";
import type { SourcePlugin } from "../core/contracts.ts";
import type { KdfCost } from "../core/crypto/kdf.ts";

/** Pseudo-random bytes (xorshift32), deterministic for a seed. */
export function randomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  const words = n >>> 2;
  const view = new DataView(out.buffer);
  for (let i = 0; i < words; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    view.setUint32(i * 4, x, true);
  }
  for (let i = words * 4; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** SHA-256 hex of bytes. */
export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Makes a temp dir and returns it with a clean-up. */
export async function tempDir(
  prefix = "floe-test-",
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    cleanup: async () => {
      try {
        await Deno.remove(path, { recursive: true });
      } catch { /* already gone */ }
    },
  };
}

/**
 * The cheapest KDF cost a key file may have (scrypt N=2^10): repositories created by library calls in
 * tests unlock in milliseconds. CLI tests that run `floe init` keep the real default.
 */
export const TEST_KDF: KdfCost = { name: "scrypt", N: 1 << 10, r: 8, p: 1 };

/** Small chunks and packs and the cheap KDF keep the tests fast. */
export const SMALL_REPO: InitOptions = {
  chunker: { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 },
  packSize: 1024 * 1024,
  kdfParams: TEST_KDF,
};

/** Creates a repository under `dir/repo` with its catalog under `dir/cache` and opens it. */
export async function newEngine(
  dir: string,
  password = "test-password",
  options: InitOptions = SMALL_REPO,
): Promise<Engine> {
  return await Engine.init({
    location: `${dir}/repo`,
    password,
    catalogPath: `${dir}/cache/catalog.db`,
    kdfParams: TEST_KDF,
    ...options,
  });
}

/** Result of a CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Uint8Array;
}

const MAIN = new URL("../cli/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/**
 * Deno's cache directory as this process sees it: a child run with another HOME must be given it
 * (`DENO_DIR`), or it would look for the npm packages in an empty cache.
 *
 * @example
 * ```ts
 * import { denoDir } from "./helpers.ts";
 * const env = { HOME: "/tmp/home", DENO_DIR: denoDir() };
 * ```
 */
export function denoDir(): string {
  const explicit = Deno.env.get("DENO_DIR");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  return `${xdg || `${Deno.env.get("HOME") ?? "/root"}/.cache`}/deno`;
}

/**
 * Runs the CLI with the given env (only what is given plus PATH), returning code and output; `input` is
 * written to its standard input (else it reads /dev/null).
 */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  options: { cwd?: string; input?: Uint8Array } = {},
): Promise<CliResult> {
  const child = cliCommand(args, env, { cwd: options.cwd, stdin: options.input ? "piped" : "null" }).spawn();
  if (options.input) {
    const w = child.stdin.getWriter();
    await w.write(options.input).catch(() => {}); // a CLI that stops reading early says why on stderr
    await w.close().catch(() => {});
  }
  return cliResult(await child.output());
}

/** A finished CLI process as a {@link CliResult}: exit code, and its output as text and as bytes. */
export function cliResult(out: Deno.CommandOutput): CliResult {
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    stdoutBytes: out.stdout,
  };
}

/**
 * The CLI as a command to spawn (stdout and stderr piped), with the env as {@link runCli} gives it. With
 * `task`, it is `deno task --config …/deno.json floe ARGS`: the task's own, narrowed permissions (what a
 * user runs), where the default is `deno run -A`.
 */
export function cliCommand(
  args: string[],
  env: Record<string, string>,
  options: { cwd?: string; stdin?: "null" | "piped"; task?: boolean } = {},
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: options.task
      ? ["task", "--quiet", "--config", CONFIG, "floe", ...args]
      : ["run", "-A", "--quiet", MAIN, ...args],
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", NO_COLOR: "1", DENO_DIR: denoDir(), ...env },
    clearEnv: true,
    cwd: options.cwd,
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** sha256 of every regular file below `root`, keyed by relative path. */
export function hashTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string, rel: string) => {
    for (const d of Deno.readDirSync(dir)) {
      const p = `${dir}/${d.name}`;
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory) walk(p, r);
      else if (d.isFile) out.set(r, sha256(Deno.readFileSync(p)));
    }
  };
  walk(root, "");
  return out;
}

/** Relative path → type, mode, size and content hash, or link target: a tree's summary for comparisons. */
export function scanTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string, rel: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const p = `${dir}/${e.name}`;
      const r = rel ? `${rel}/${e.name}` : e.name;
      const st = Deno.lstatSync(p);
      const mode = (st.mode ?? 0) & 0o7777;
      if (st.isSymlink) out.set(r, `link ${Deno.readLinkSync(p)}`);
      else if (st.isDirectory) {
        out.set(r, `dir ${mode.toString(8)}`);
        walk(p, r);
      } else out.set(r, `file ${mode.toString(8)} ${st.size} ${sha256(Deno.readFileSync(p))}`);
    }
  };
  walk(root, "");
  return out;
}

/** Polls `ready` every 20 ms until it holds or `timeoutMs` has passed; returns whether it held. */
export async function waitFor(
  ready: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/**
 * `source` with a pause after its `n`-th entry: `act` runs there (e.g. waits for a backup's first index
 * file, then aborts it or runs a prune); the scan ends there when `act` returns true, else goes on.
 */
export function pauseAfter(
  source: SourcePlugin,
  n: number,
  act: () => Promise<boolean | void>,
): SourcePlugin {
  return {
    ...source,
    async *scan(context) {
      let seen = 0;
      for await (const e of source.scan(context)) {
        yield e;
        if (++seen === n && await act()) return;
      }
    },
  };
}
