/**
 * Web UI timings in Debian's Chromium (headless, playwright-core) against the real `floe serve` of
 * tests/ui/_server.ts on loopback (a repository of 1,000 snapshots of a real source tree with a
 * 10,000-file directory): `deno task bench:ui [--runs N]`.
 *
 * - dashboard: navigation start to the frame showing every job and repository card, with a
 *   repository of 1,000 snapshots (the client's `floe:dashboard` User Timing measure). Target ≤ 300 ms.
 * - tree: the request for a directory of 10,000 entries to the frame showing its first rows (the
 *   `floe:tree-open` measure). Target ≤ 500 ms.
 *
 * Each run uses a fresh browser context (empty cache). Prints a Markdown table; exits 1 when a median
 * misses its target.
 *
 * @module
 */
/// <reference lib="dom" />
import { chromium } from "playwright-core";
import { startServer } from "../tests/ui/_server.ts";

const runsArg = Deno.args.indexOf("--runs");
const RUNS = runsArg >= 0 ? Math.max(1, Number(Deno.args[runsArg + 1]) || 10) : 10;

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return {
    median: s[Math.floor(s.length / 2)],
    p90: s[Math.min(s.length - 1, Math.floor(s.length * 0.9))],
    max: s.at(-1)!,
  };
}

if (import.meta.main) {
  const server = await startServer();
  const browser = await chromium.launch({
    executablePath: Deno.env.get("FLOE_CHROMIUM") ?? "/usr/bin/chromium",
    headless: true,
    args: Deno.uid() === 0 ? ["--no-sandbox"] : [],
  });
  const dash: number[] = [], tree: number[] = [];
  const measure = (name: string) => (page: import("playwright-core").Page) =>
    page.waitForFunction((n) => performance.getEntriesByName(n, "measure").at(-1)?.duration, name)
      .then((h) => h.jsonValue() as Promise<number>);
  try {
    for (let i = 0; i < RUNS + 1; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      await page.goto(`${server.url}/#token=${server.token}`);
      const d = await measure("floe:dashboard")(page);
      await page.evaluate((r) => (location.hash = r), `#/snapshots/${server.repository}`);
      await page.locator("tbody tr td a").first().click();
      await page.locator(".tree .row").first().waitFor();
      const parts = server.bigDir.split("/").slice(1);
      for (let j = 1; j <= parts.length; j++) {
        const p = "/" + parts.slice(0, j).join("/");
        await page.evaluate(() => performance.clearMeasures("floe:tree-open"));
        await page.locator(`button.name[data-path="${p}"]`).click();
        await page.locator(`[data-path^="${p}/"]`).first().waitFor();
      }
      const t = await measure("floe:tree-open")(page);
      if (i > 0) { // the first run warms the server's JIT and Chromium's disk cache of the binary
        dash.push(d);
        tree.push(t);
      }
      await context.close();
    }
  } finally {
    await browser.close();
    await server.close();
  }
  const rows = [
    ["dashboard first render, 1,000 snapshots", stats(dash), 300],
    ["open a directory of 10,000 entries, to first paint", stats(tree), 500],
  ] as const;
  console.log(`| measure (${RUNS} runs, Chromium headless, loopback) | median | p90 | max | target | |`);
  console.log("|---|--:|--:|--:|--:|---|");
  let ok = true;
  for (const [name, s, target] of rows) {
    const pass = s.median <= target;
    ok &&= pass;
    console.log(
      `| ${name} | ${s.median.toFixed(0)} ms | ${s.p90.toFixed(0)} ms | ${
        s.max.toFixed(0)
      } ms | ≤ ${target} ms | ${pass ? "ok" : "MISSED"} |`,
    );
  }
  if (!ok) Deno.exit(1);
}
