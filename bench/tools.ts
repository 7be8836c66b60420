/**
 * One adapter per benchmarked tool: floe, restic and borg.
 *
 * An adapter only builds commands ({@link CommandSpec}); running and measuring them is
 * {@link ../bench/measure.ts}'s job. All three restore a backed-up absolute path `/a/b` under the
 * target as `target/a/b` (restic and floe keep the absolute path; borg stores it without the leading
 * slash and `borg extract` runs with the target as working directory), so {@link Tool.restoredRoot}
 * is the same join for all of them.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { capture, type CommandSpec } from "./measure.ts";

/** Where a tool keeps its state for one benchmark run. */
export interface ToolContext {
  /** A private directory for caches / config (deleted with the work dir). */
  home: string;
  /** The repository password / passphrase. */
  password: string;
}

/** A benchmarked backup tool. */
export interface Tool {
  /** Short name used in tables and `--only`. */
  readonly name: string;
  /** Make sure the tool can run (install it if needed); returns why not, or null when ready. */
  prepare(): Promise<string | null>;
  /** A one-line version string. */
  version(): Promise<string>;
  /** Create an empty repository at `repo`. */
  init(repo: string): CommandSpec;
  /** Back up `src` (absolute) as snapshot/archive `label`. */
  backup(repo: string, src: string, label: string): CommandSpec;
  /** Restore the latest snapshot (named `label`) into the empty directory `target`. */
  restore(repo: string, target: string, label: string): CommandSpec;
  /** Check the repository's integrity. */
  check(repo: string): CommandSpec;
  /** Where the backed-up `src` ends up below `target` after {@link Tool.restore}. */
  restoredRoot(target: string, src: string): string;
}

async function which(bin: string): Promise<boolean> {
  return (await capture(["sh", "-c", `command -v ${bin}`])) !== "";
}

let aptUpdated = false;

/**
 * Install Debian packages with apt-get unless `bin` is already on PATH (runs `apt-get update` once
 * when the first install attempt fails). Returns null on success, or the reason it failed.
 *
 * @example
 * ```ts
 * import { ensureApt } from "./tools.ts";
 * const err = await ensureApt("restic", ["restic"]);
 * ```
 */
export async function ensureApt(bin: string, packages: string[]): Promise<string | null> {
  if (await which(bin)) return null;
  const install = async () => {
    const out = await new Deno.Command("apt-get", {
      args: ["-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q", ...packages],
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output().catch((e) => ({ success: false, stderr: new TextEncoder().encode(String(e)) }));
    return out.success ? null : new TextDecoder().decode(out.stderr).trim().split("\n").slice(-2).join(" ");
  };
  console.error(`[bench] installing ${packages.join(" ")} with apt-get …`);
  let err = await install();
  if (err && !aptUpdated) {
    aptUpdated = true;
    await capture(["apt-get", "-o", "DPkg::Lock::Timeout=600", "update", "-q"]);
    err = await install();
  }
  if (err) return `apt-get install ${packages.join(" ")} failed: ${err}`;
  return (await which(bin)) ? null : `${bin} still not on PATH after installing ${packages.join(" ")}`;
}

/**
 * restic with a version-2 repository (default compression), its cache kept under the work dir.
 *
 * @example
 * ```ts
 * import { restic } from "./tools.ts";
 * const tool = restic({ home: "/tmp/floe-bench/home/restic", password: "pw" });
 * console.log(tool.backup("/tmp/repo", "/data", "s1").cmd.join(" "));
 * ```
 */
export function restic(ctx: ToolContext): Tool {
  const env = { RESTIC_PASSWORD: ctx.password, RESTIC_CACHE_DIR: join(ctx.home, "cache") };
  return {
    name: "restic",
    prepare: () => ensureApt("restic", ["restic"]),
    version: async () => (await capture(["restic", "version"])) || "unknown",
    init: (repo) => ({ cmd: ["restic", "-r", repo, "init", "--repository-version", "2"], env }),
    backup: (repo, src) => ({ cmd: ["restic", "-r", repo, "backup", src], env }),
    restore: (repo, target) => ({
      cmd: ["restic", "-r", repo, "restore", "latest", "--target", target],
      env,
    }),
    check: (repo) => ({ cmd: ["restic", "-r", repo, "check"], env }),
    restoredRoot: (target, src) => join(target, src),
  };
}

/**
 * borg 1.x with `repokey` encryption and zstd level 3; config, cache and security dirs are kept
 * under the work dir (`BORG_BASE_DIR`).
 *
 * @example
 * ```ts
 * import { borg } from "./tools.ts";
 * const tool = borg({ home: "/tmp/floe-bench/home/borg", password: "pw" });
 * console.log(tool.init("/tmp/repo").cmd.join(" "));
 * ```
 */
export function borg(ctx: ToolContext): Tool {
  const env = {
    BORG_PASSPHRASE: ctx.password,
    BORG_BASE_DIR: ctx.home,
    BORG_RELOCATED_REPO_ACCESS_IS_OK: "yes",
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: "yes",
  };
  return {
    name: "borg",
    prepare: () => ensureApt("borg", ["borgbackup"]),
    version: async () => (await capture(["borg", "--version"])) || "unknown",
    init: (repo) => ({ cmd: ["borg", "init", "--encryption", "repokey", repo], env }),
    backup: (repo, src, label) => ({
      cmd: ["borg", "create", "--compression", "zstd,3", `${repo}::${label}`, src],
      env,
    }),
    // borg stores `/a/b` as `a/b` and extracts relative to the working directory.
    restore: (repo, target, label) => ({ cmd: ["borg", "extract", `${repo}::${label}`], env, cwd: target }),
    check: (repo) => ({ cmd: ["borg", "check", repo], env }),
    restoredRoot: (target, src) => join(target, src),
  };
}

/** Where floe's CLI entry point lives: `cli/main.ts` of the checkout this file belongs to. */
export const FLOE_MAIN: string = fromFileUrl(new URL("../cli/main.ts", import.meta.url));

/**
 * The `deno run` flags of deno.json's `floe` task (what `deno task floe` runs, e.g. its V8 heap flags), so
 * floe is measured as users run it.
 */
export const FLOE_RUN_FLAGS: readonly string[] = (() => {
  const config = JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url)));
  const words = String(config.tasks.floe).split(/\s+/);
  return words.slice(words.indexOf("run") + 1).filter((w) => w.startsWith("--"));
})();

/**
 * floe through its CLI (`deno run` with the `floe` task's flags, `cli/main.ts`), repository and password
 * from `FLOE_REPOSITORY` / `FLOE_PASSWORD`.
 *
 * @example
 * ```ts
 * import { floe } from "./tools.ts";
 * const tool = floe({ home: "/tmp/floe-bench/home/floe", password: "pw" });
 * console.log(tool.restore("/tmp/repo", "/tmp/t", "s1").cmd.join(" "));
 * ```
 */
export function floe(ctx: ToolContext, main = FLOE_MAIN): Tool {
  // floe's own caches go under the work dir (XDG_CACHE_HOME); DENO_DIR is pinned to the current
  // deno cache so that moving XDG_CACHE_HOME does not make deno recompile and re-fetch everything.
  let denoDir = "";
  const run = (repo: string, ...args: string[]): CommandSpec => ({
    cmd: ["deno", "run", ...FLOE_RUN_FLAGS, main, ...args],
    env: {
      FLOE_REPOSITORY: repo,
      FLOE_PASSWORD: ctx.password,
      NO_COLOR: "1",
      XDG_CACHE_HOME: join(ctx.home, "cache"),
      ...(denoDir ? { DENO_DIR: denoDir } : {}),
    },
  });
  return {
    name: "floe",
    // Pre-compile / fetch dependencies so the first measured command does not pay for it. A missing
    // or broken CLI is not fatal here: its commands fail and show up as `error` cells.
    prepare: async () => {
      try {
        denoDir = JSON.parse(await capture(["deno", "info", "--json"]) || "{}").denoDir ?? "";
      } catch {
        denoDir = "";
      }
      await capture(["deno", "cache", "--quiet", main], denoDir ? { DENO_DIR: denoDir } : undefined);
      return null;
    },
    version: async () => {
      const v = (await capture(["deno", "run", "--allow-all", "--quiet", main, "--version"])).split("\n")[0];
      const rev = await capture(["git", "-C", dirname(main), "rev-parse", "--short", "HEAD"]);
      return `${v || "floe (no --version)"}${rev ? ` @ ${rev}` : ""}`;
    },
    init: (repo) => run(repo, "init"),
    backup: (repo, src) => run(repo, "backup", src),
    restore: (repo, target) => run(repo, "restore", "latest", "--target", target),
    check: (repo) => run(repo, "check"),
    restoredRoot: (target, src) => join(target, src),
  };
}

/** The known tools, in table order. */
export const TOOL_NAMES = ["floe", "restic", "borg"] as const;

/**
 * Build the adapter for a tool name.
 *
 * @example
 * ```ts
 * import { makeTool } from "./tools.ts";
 * const tool = makeTool("restic", { home: "/tmp/h", password: "pw" });
 * ```
 */
export function makeTool(name: (typeof TOOL_NAMES)[number], ctx: ToolContext, floeMain = FLOE_MAIN): Tool {
  return name === "floe" ? floe(ctx, floeMain) : name === "restic" ? restic(ctx) : borg(ctx);
}
