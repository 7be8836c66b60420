/**
 * Web UI timings in Debian's Chromium (headless, playwright-core) against the real `floe serve` of
 * tests/ui/_server.ts on loopback (a repository of 1,000 snapshots of a real source tree with a
 * 10,000-file directory): `deno task bench:ui [--runs N]`.
 *
 * - dashboard ({@link DASHBOARD}): navigation start (the request for the page, empty cache) to the
 *   first frame painted with every job card (status of the last run, last and next run, overdue mark,
 *   30-day strip) and every repository card (count, last check, its latest snapshots) filled in, with a
 *   repository of 1,000 snapshots: the client's `floe:dashboard` User Timing measure. Target ≤ 300 ms.
 * - tree ({@link TREE}): the click's request for a directory of 10,000 entries to the first frame painted
 *   with its first rows (the `floe:tree-open` measure). Target ≤ 500 ms.
 *
 * The measures are read from console messages that a PerformanceObserver of an init script writes, so
 * the driver runs no script in the page while it renders (Playwright's first evaluation in a page
 * injects ~25 ms of its own script, which polling with waitForFunction put inside the measure). Each
 * run uses a fresh browser context (empty cache). Prints the definitions, the load average and a
 * Markdown table; exits 1 when a median misses its target.
 *
 * @module
 */
/// <reference lib="dom" />
import { chromium } from "playwright-core";

const runsArg = Deno.args.indexOf("--runs");
const RUNS = runsArg >= 0 ? Math.max(1, Number(Deno.args[runsArg + 1]) || 10) : 10;

/** What the dashboard row measures. */
export const DASHBOARD = "navigation start (empty cache) → first frame painted with every job card " +
  "(last run, next run, overdue, 30-day strip) and every repository card (its latest snapshots)";
/** What the tree row measures. */
export const TREE = "click on a directory of 10,000 entries → first frame painted with its first rows";

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return {
    median: s[Math.floor(s.length / 2)],
    p90: s[Math.min(s.length - 1, Math.floor(s.length * 0.9))],
    max: s.at(-1)!,
  };
}

if (import.meta.main) {
  // The server runs in a process of its own, as `floe serve` does (see _ui_server.ts).
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("./_ui_server.ts", import.meta.url).pathname],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("bench/_ui_server.ts ended without starting the server");
    text += value;
  }
  reader.releaseLock();
  const server: { url: string; token: string; repository: string; bigDir: string } = JSON.parse(
    text.slice(0, text.indexOf("\n")),
  );
  const browser = await chromium.launch({
    executablePath: Deno.env.get("FLOE_CHROMIUM") ?? "/usr/bin/chromium",
    headless: true,
    args: Deno.uid() === 0 ? ["--no-sandbox"] : [],
  });
  const dash: number[] = [], tree: number[] = [];
  const load = [Deno.loadavg()[0]];
  // Resolves with the duration of the next measure `name` (of directory `dir`) the page reports.
  const measure = (page: import("playwright-core").Page, name: string, dir?: string) =>
    page.waitForEvent("console", {
      predicate: (m) => {
        if (!m.text().startsWith("floe-measure ")) return false;
        const e = JSON.parse(m.text().slice(13));
        return e.name === name && (dir === undefined || e.detail?.dir === dir);
      },
    }).then((m) => JSON.parse(m.text().slice(13)).duration as number);
  try {
    for (let i = 0; i < RUNS + 1; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      await context.addInitScript(() =>
        new PerformanceObserver((list) => {
          for (const e of list.getEntries()) {
            const { name, duration, detail } = e as PerformanceMeasure;
            if (name.startsWith("floe:")) {
              console.debug("floe-measure " + JSON.stringify({ name, duration, detail }));
            }
          }
        }).observe({ type: "measure" })
      );
      const page = await context.newPage();
      const dashboard = measure(page, "floe:dashboard");
      await page.goto(`${server.url}/#token=${server.token}`);
      const d = await dashboard;
      await page.evaluate((r) => (location.hash = r), `#/snapshots/${server.repository}`);
      await page.locator("tbody tr td a").first().click();
      await page.locator(".tree .row").first().waitFor();
      const parts = server.bigDir.split("/").slice(1);
      const opened = measure(page, "floe:tree-open", server.bigDir);
      for (let j = 1; j <= parts.length; j++) {
        const p = "/" + parts.slice(0, j).join("/");
        await page.locator(`button.name[data-path="${p}"]`).click();
        await page.locator(`[data-path^="${p}/"]`).first().waitFor();
      }
      const t = await opened;
      if (i > 0) { // the first run warms the server's JIT and Chromium's disk cache of the binary
        dash.push(d);
        tree.push(t);
      }
      await context.close();
    }
  } finally {
    await browser.close();
    await child.stdin.close();
    await child.status;
  }
  load.push(Deno.loadavg()[0]);
  const rows = [
    ["dashboard first render, 1,000 snapshots", stats(dash), 300],
    ["open a directory of 10,000 entries, to first paint", stats(tree), 500],
  ] as const;
  console.log(`dashboard first render: ${DASHBOARD}\ndirectory open: ${TREE}`);
  console.log(
    `load average (1 min) at start ${load[0].toFixed(2)}, at end ${
      load[1].toFixed(2)
    }; ${navigator.hardwareConcurrency} cores\n`,
  );
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
