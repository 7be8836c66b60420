/**
 * The whole test suite, as `deno task test` runs it on a fresh machine: installs the Debian packages the
 * real-server tests need (when root and missing), runs `deno test` with a JUnit report, and ends with
 * one line `N passed, N failed` counted from that report.
 *
 * @example
 * ```sh
 * deno task test            # everything
 * deno task test core/      # a subset (arguments go to deno test)
 * ```
 * @module
 */

const root = new URL("..", import.meta.url).pathname;

function run(cmd: string, args: string[], env?: Record<string, string>): boolean {
  const r = new Deno.Command(cmd, { args, env, stdout: "inherit", stderr: "inherit" }).outputSync();
  return r.success;
}

function installed(pkg: string): boolean {
  const r = new Deno.Command("dpkg-query", {
    args: ["-W", "-f=${Status}", pkg],
    stdout: "piped",
    stderr: "null",
  })
    .outputSync();
  return new TextDecoder().decode(r.stdout).includes("install ok installed");
}

function ensurePackages() {
  let list: string[] = [];
  try {
    list = Deno.readTextFileSync(`${root}.ci/apt-packages.txt`).split("\n").map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
  } catch {
    return;
  }
  const missing = [...new Set(list)].filter((p) => !installed(p));
  if (!missing.length) return;
  if (Deno.uid() !== 0) {
    console.error(`tests: missing Debian packages (${missing.join(" ")}); their tests will be skipped`);
    return;
  }
  console.error(`tests: installing ${missing.join(" ")}`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  run("apt-get", ["update", "-qq"], env);
  if (!run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], env)) {
    console.error("tests: apt-get install failed; tests that need those servers will fail");
  }
}

function count(xml: string): { passed: number; failed: number; skipped: number } {
  let passed = 0, failed = 0, skipped = 0;
  // Count top-level test cases (steps are reported as their own cases too; count every case once).
  const re = /<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const m of xml.matchAll(re)) {
    const body = m[2] ?? "";
    if (/<failure\b|<error\b/.test(body)) failed++;
    else if (/<skipped\b/.test(body)) skipped++;
    else passed++;
  }
  return { passed, failed, skipped };
}

if (import.meta.main) {
  ensurePackages();
  const junit = await Deno.makeTempFile({ prefix: "floe-junit-", suffix: ".xml" });
  const args = Deno.args.length ? Deno.args : [];
  const ok = run(Deno.execPath(), [
    "test",
    "--allow-all",
    "--parallel",
    `--junit-path=${junit}`,
    ...args,
  ], { DENO_JOBS: "2" });
  let result = { passed: 0, failed: 0, skipped: 0 };
  try {
    result = count(Deno.readTextFileSync(junit));
  } catch {
    result.failed = 1; // no report: the runner itself failed
  }
  Deno.removeSync(junit);
  if (!ok && result.failed === 0) result.failed = 1; // e.g. a type error before any test ran
  const skipped = result.skipped ? `, ${result.skipped} skipped` : "";
  console.log(`${result.passed} passed, ${result.failed} failed${skipped}`);
  Deno.exit(ok && result.failed === 0 ? 0 : 1);
}
