/// <reference lib="dom" />
/**
 * End-to-end tests of the web UI in Debian's Chromium (playwright-core, headless), against the real
 * `floe serve` that `startServer()` of `_server.ts` starts on real data (a source tree backed up into a
 * repository of 1,000 snapshots); downloads and restores are compared with the source files on disk. Each test saves a screenshot in tests/ui/screenshots/; the login test also
 * writes docs/img/dashboard.png for the README.
 *
 * @module
 */
import { type Browser, chromium, type Page } from "playwright-core";
import { startServer, type UiTestServer } from "./_server.ts";
import { assert, assertEquals } from "../assert.ts";

const CHROMIUM = Deno.env.get("FLOE_CHROMIUM") ?? "/usr/bin/chromium";
const SHOTS = new URL("./screenshots/", import.meta.url).pathname;
const DOCS_IMG = new URL("../../docs/img/", import.meta.url).pathname;
const haveChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

/** The viewports the issue asks for. */
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

interface Ctx {
  server: UiTestServer;
  page: Page;
  browser: Browser;
  shot(name: string): Promise<void>;
  /** Opens the app logged in (through `/#token=`) at a hash route. */
  open(route?: string): Promise<void>;
  api(path: string, init?: RequestInit): Promise<Response>;
}

function uiTest(name: string, fn: (t: Ctx) => Promise<void>, viewport = DESKTOP) {
  Deno.test({
    name,
    ignore: !haveChromium,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const server = await startServer();
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: Deno.uid() === 0 ? ["--no-sandbox"] : [],
      });
      const errors: string[] = [];
      try {
        const context = await browser.newContext({ viewport, acceptDownloads: true });
        const page = await context.newPage();
        page.on("console", (m) => m.type() === "error" && errors.push(`${page.url()}: ${m.text()}`));
        page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
        await Deno.mkdir(SHOTS, { recursive: true });
        await fn({
          server,
          page,
          browser,
          shot: (n) => page.screenshot({ path: `${SHOTS}${n}.png`, fullPage: false }).then(() => {}),
          async open(route = "#/") {
            await page.goto(`${server.url}/#token=${server.token}`);
            await page.locator("#nav").waitFor();
            if (route !== "#/") await page.evaluate((r) => (location.hash = r), route);
          },
          api: (path, init) =>
            fetch(`${server.url}/api/v1${path}`, {
              ...init,
              headers: { authorization: `Bearer ${server.token}`, ...init?.headers },
            }),
        });
        assertEquals(errors, [], "console errors");
      } finally {
        await browser.close();
        await server.close();
      }
    },
  });
}

/** Waits until a run has ended; returns its status. */
async function waitRun(t: Ctx, id: string): Promise<string> {
  for (let i = 0; i < 1200; i++) {
    const { status } = await (await t.api(`/runs/${id}`)).json();
    if (status !== "queued" && status !== "running") return status;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${id} did not end`);
}

uiTest("login with the form shows the dashboard and the job; logout forgets the token", async (t) => {
  const { page, server } = t;
  // History for the dashboard: a backup of the job and a check of the repository, both real.
  const runs = await Promise.all([
    t.api(`/jobs/${server.job}/runs`, { method: "POST" }),
    t.api(`/repositories/${server.repository}/check`, { method: "POST" }),
  ]);
  for (const r of runs) assertEquals(await waitRun(t, (await r.json()).id), "succeeded");
  await page.goto(server.url);
  const token = page.getByLabel("API token");
  await token.waitFor();
  assert(!(await page.locator("#nav").isVisible()), "navigation hidden before login");
  await t.shot("login");
  await token.fill(server.token);
  await page.getByRole("button", { name: "Log in" }).click();
  const card = page.locator("article.job", {
    has: page.getByRole("link", { name: server.job, exact: true }),
  });
  await card.waitFor();
  await page.locator(".card.repo table").waitFor();
  assert((await card.locator(".strip .cell").count()) === 30, "30-day strip");
  const repoCard = page.locator(".card.repo");
  // The template's snapshots and the one the job's run just made.
  await repoCard.getByText(String(server.snapshotCount + 1), { exact: true }).waitFor();
  await repoCard.locator("tbody tr").first().getByText(server.source).waitFor();
  // The job that just ran is not overdue; the yearly one whose time passed two hours ago is.
  assertEquals(await card.locator(".badge.s-overdue").count(), 0);
  const late = page.locator("article.job", {
    has: page.getByRole("link", { name: server.overdueJob, exact: true }),
  });
  await late.locator(".badge.s-overdue", { hasText: "overdue" }).waitFor();
  await t.shot("dashboard");
  await Deno.mkdir(DOCS_IMG, { recursive: true });
  await page.screenshot({ path: `${DOCS_IMG}dashboard.png` });
  assertEquals(await page.evaluate(() => sessionStorage.getItem("floe.token")), server.token);
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByLabel("API token").waitFor();
  assertEquals(await page.evaluate(() => sessionStorage.getItem("floe.token")), null);
  assertEquals(await page.locator("#view").innerHTML(), "");
});

uiTest("the anonymous page and its assets hold no private data", async (t) => {
  const { page, server } = t;
  const texts: string[] = [];
  const root = await fetch(server.url + "/");
  assertEquals(root.status, 200);
  texts.push(await root.text());
  const assets = new Set([...texts[0].matchAll(/(?:src|href)="(ui\/[^"]+)"/g)].map((m) => m[1]));
  for (const asset of assets) { // grows with the modules' imports (the pages imported when opened)
    const text = await (await fetch(`${server.url}/${asset}`)).text();
    texts.push(text);
    for (const m of text.matchAll(/["']\.\/([a-z_]+\.js)["']/g)) assets.add(`ui/${m[1]}`);
  }
  assert(assets.has("ui/snapshots.js") && assets.has("ui/jobs.js"), "every page's module checked");
  for (const path of ["/jobs", "/repositories"]) {
    assertEquals(await fetch(`${server.url}/api/v1${path}`).then((r) => (r.body?.cancel(), r.status)), 401);
  }
  await page.goto(server.url);
  await page.getByLabel("API token").waitFor();
  texts.push(await page.content());
  for (const s of server.privateStrings) {
    for (const text of texts) assert(!text.includes(s), `anonymous content mentions ${s}`);
  }
  await t.shot("anonymous");
});

uiTest("run a job from the jobs page and watch its progress reach done", async (t) => {
  const { page, server } = t;
  await t.open("#/jobs");
  // Every value the bar shows is recorded as the page changes: a short run may pass through its progress
  // between two polls of the test (the page is one document; the observer stays across its routes).
  await page.evaluate(() => {
    const seen: number[] = [];
    (globalThis as unknown as { seen: number[] }).seen = seen;
    new MutationObserver(() => {
      const p = document.querySelector(".progress progress") as HTMLProgressElement | null;
      if (p) seen.push(p.value);
    }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  });
  await page.getByRole("button", { name: `Run now ${server.job}` }).click();
  await page.getByRole("link", { name: /^run / }).click();
  const bar = page.locator(".progress progress");
  await bar.waitFor();
  await page.waitForFunction(() =>
    (globalThis as unknown as { seen: number[] }).seen.some((v) => v > 0 && v < 1)
  );
  const stats = await page.locator(".p-stats").textContent();
  assert(/files/.test(stats ?? ""), `progress shows files: ${stats}`);
  // The ETA needs a rate: the first event of a run may come before a byte is read, so it is looked for while
  // the run goes on, or seen to end first.
  await page.waitForFunction(() => {
    const p = document.querySelector(".progress progress") as HTMLProgressElement | null;
    return /ETA/.test(document.querySelector(".p-stats")?.textContent ?? "") || (p !== null && p.value >= 1);
  });
  await t.shot("run-progress");
  await page.locator("h1 + p .badge.s-succeeded").waitFor({ timeout: 60_000 });
  assertEquals(await bar.evaluate((p) => (p as HTMLProgressElement).value), 1);
  await page.locator(".events li.warning").waitFor();
  await page.waitForFunction(() =>
    /snapshot [0-9a-f]{8} saved/.test(document.querySelector("pre.log")?.textContent ?? "")
  );
  // Once done, the figures are the run's summary (not the last progress event), and each warning is
  // in the log once.
  await page.locator(".p-stats").filter({ hasText: "100 %" }).waitFor();
  const log = (await page.locator("pre.log").textContent()) ?? "";
  assertEquals(log.split("does not exist").length - 1, 1, `each warning once in the log:\n${log}`);
  await t.shot("run-done");
});

uiTest("cancel a long run", async (t) => {
  const { page, server } = t;
  const res = await t.api(`/jobs/${server.longJob}/runs`, { method: "POST" });
  assertEquals(res.status, 202);
  const { id } = await res.json();
  await t.open(`#/runs/${id}`);
  await page.waitForFunction(() => {
    const p = document.querySelector(".progress progress") as HTMLProgressElement | null;
    return p !== null && p.value > 0;
  });
  await page.getByRole("button", { name: "Cancel run" }).click();
  await page.locator("h1 + p .badge.s-cancelled").waitFor();
  assert(!(await page.getByRole("button", { name: "Cancel run" }).isVisible()), "no cancel once cancelled");
  assertEquals((await (await t.api(`/runs/${id}`)).json()).status, "cancelled");
  await t.shot("run-cancelled");
});

async function openNewest(t: Ctx) {
  const { page, server } = t;
  await t.open(`#/snapshots/${server.repository}`);
  await page.locator("tbody tr").first().waitFor();
  await page.locator("tbody tr td a").first().click();
  await page.locator(".tree .row").first().waitFor();
}

async function expand(page: Page, path: string) {
  await page.locator(`button.name[data-path="${path}"]`).click();
  await page.locator(`[data-path^="${path}/"]`).first().waitFor();
}

/** Opens every directory above `path` (the source tree lies a few levels below the snapshot's root). */
async function expandAbove(page: Page, path: string) {
  const parts = path.split("/").slice(1);
  for (let i = 1; i < parts.length; i++) await expand(page, "/" + parts.slice(0, i).join("/"));
}

/** Every regular file below `dir`, as relative path → bytes. */
async function filesBelow(dir: string, rel = ""): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(`${dir}/${rel}`)) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) { for (const [k, v] of await filesBelow(dir, r)) out.set(k, v); }
    else if (e.isFile) out.set(r, await Deno.readFile(`${dir}/${r}`));
  }
  return out;
}

function assertBytes(got: Uint8Array, want: Uint8Array, what: string) {
  assertEquals(got.length, want.length, `${what}: length`);
  assert(got.every((b, i) => b === want[i]), `${what}: bytes`);
}

uiTest("snapshots: filter, page, open the newest, browse two levels, download a file", async (t) => {
  const { page, server } = t;
  const total = server.snapshotCount.toLocaleString("en-US");
  await t.open(`#/snapshots/${server.repository}`);
  await page.getByText(`${total} of ${total} snapshots`).waitFor();
  await page.getByRole("button", { name: "Older →" }).click();
  await page.getByText(`Page 2 of ${Math.ceil(server.snapshotCount / 50)}`).waitFor();
  await page.getByLabel("Host").selectOption(server.otherHost.name);
  await page.getByText(`${server.otherHost.count.toLocaleString("en-US")} of ${total} snapshots`).waitFor();
  await page.getByLabel("Host").selectOption("");
  await t.shot("snapshots");
  await page.locator("tbody tr td a").first().click();
  await page.locator(".tree .row").first().waitFor();
  const [dir1, dir2, file] = server.browse;
  await expandAbove(page, dir1);
  await expand(page, dir1);
  await expand(page, dir2);
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: `Download ${file}`, exact: true }).click(),
  ]);
  assertEquals(download.suggestedFilename(), file.split("/").at(-1));
  assertBytes(await Deno.readFile((await download.path())!), await Deno.readFile(file), file);
  await t.shot("snapshot-tree");
});

uiTest("a 10,000-entry directory opens in batches", async (t) => {
  const { page, server } = t;
  await openNewest(t);
  await expandAbove(page, server.bigDir);
  await expand(page, server.bigDir);
  const rows = page.locator(`[data-path^="${server.bigDir}/"]`);
  assertEquals(await rows.count(), 200);
  await page.getByRole("button", { name: /Show 200 more \(9,800 left\)/ }).click();
  assertEquals(await rows.count(), 400);
  await rows.nth(0).focus();
  await page.keyboard.press("ArrowDown");
  assertEquals(
    await page.evaluate(() => document.activeElement?.getAttribute("data-path")),
    `${server.bigDir}/img-00001.jpg`,
  );
  await t.shot("big-directory");
});

uiTest("restore a folder into a restore root: the files equal the source's", async (t) => {
  const { page, server } = t;
  await openNewest(t);
  const snapId = decodeURIComponent(page.url().split("/").at(-1)!);
  await expandAbove(page, server.restoreFolder);
  await page.getByRole("button", { name: `Restore ${server.restoreFolder}`, exact: true }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel("Target directory on the server").fill(server.restoreTarget);
  await dialog.getByLabel("Overwrite").selectOption("if-changed");
  await dialog.getByLabel(/^Exclude/).fill("*.tmp, cache/**");
  const [req] = await Promise.all([
    page.waitForRequest((r) =>
      r.method() === "POST" && r.url().endsWith(`/repositories/${server.repository}/restore`)
    ),
    dialog.getByRole("button", { name: "Restore" }).click(),
  ]);
  assertEquals(req.headers()["authorization"], `Bearer ${server.token}`);
  const body = req.postDataJSON();
  assertEquals(body.path, server.restoreFolder);
  assertEquals(body.target, server.restoreTarget);
  assertEquals(body.overwrite, "if-changed");
  assertEquals(body.exclude, ["*.tmp", "cache/**"]);
  assert(snapId.startsWith(body.snapshot) || body.snapshot.startsWith(snapId), "the snapshot on screen");
  assertEquals((await req.response())?.status(), 202);
  await dialog.getByRole("link", { name: /^run / }).waitFor();
  await t.shot("restore");
  await dialog.getByRole("link", { name: /^run / }).click();
  await page.locator("h1 + p .badge.s-succeeded").waitFor({ timeout: 60_000 });
  const want = await filesBelow(server.restoreFolder);
  const got = await filesBelow(server.restoreTarget);
  assertEquals([...got.keys()].sort(), [...want.keys()].sort());
  assert(want.size >= 5, "the folder has files");
  for (const [name, bytes] of want) assertBytes(got.get(name)!, bytes, name);
  await t.shot("restore-done");
});

uiTest("diff of two snapshots, job pause and resume, run filters", async (t) => {
  const { page, server } = t;
  await t.open(`#/snapshots/${server.repository}`);
  const boxes = page.getByRole("checkbox");
  await boxes.nth(0).check();
  await boxes.nth(1).check();
  await page.getByRole("button", { name: "Diff the two picked" }).click();
  await page.locator("ul.diff li").first().waitFor();
  await t.shot("diff");
  await t.open(`#/jobs/${server.job}`);
  await page.getByRole("button", { name: `Pause ${server.job}` }).click();
  await page.getByRole("button", { name: `Resume ${server.job}` }).click();
  await page.getByRole("button", { name: `Pause ${server.job}` }).waitFor();
  await t.shot("job");
  // A real failed run: restoring a path the snapshot does not hold.
  const bad = await t.api(`/repositories/${server.repository}/restore`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ snapshot: "latest", path: "/no/such/dir", target: server.restoreTarget }),
  });
  assertEquals(bad.status, 202);
  await waitRun(t, (await bad.json()).id);
  await t.open("#/runs");
  await page.getByLabel("Status").selectOption("failed");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForFunction(() => location.hash.includes("status=failed"));
  await page.locator("tbody tr").first().waitFor();
  for (const s of await page.locator("tbody .badge").allTextContents()) assertEquals(s, "failed");
  await t.shot("runs");
});

uiTest("phone width: dashboard, snapshot tree and a run are readable", async (t) => {
  const { page, server } = t;
  await t.open();
  await page.locator(".card.repo table").waitFor();
  const overflow = () =>
    page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assertEquals(await overflow(), 0, "no horizontal scrolling of the page");
  await t.shot("phone-dashboard");
  await openNewest(t);
  await expandAbove(page, server.browse[0]);
  await expand(page, server.browse[0]);
  await expand(page, server.browse[1]);
  assertEquals(await overflow(), 0, "no horizontal scrolling of the tree");
  await t.shot("phone-tree");
  const { id } = await (await t.api(`/jobs/${server.job}/runs`, { method: "POST" })).json();
  await t.open(`#/runs/${id}`);
  await page.locator(".p-stats").filter({ hasText: "files" }).waitFor();
  await t.shot("phone-run");
}, PHONE);
