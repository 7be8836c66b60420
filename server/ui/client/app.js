// The app: login and logout, and a hash router (#/, #/runs, #/runs/ID, #/snapshots/REPO[/ID], #/jobs,
// #/jobs/NAME, #/diff/REPO/FROM/TO). The server only ever serves the shell at "/".
import { clearToken, events, json, setToken, token } from "./api.js";
import { errorLine, fill, h } from "./dom.js";
import { dashboard } from "./dashboard.js";
import { runPage, runsPage } from "./runs.js";

// The snapshots and jobs pages are loaded when first opened (or once the first page is shown), so the
// dashboard's first render waits for the fewest modules.
const snapshots = () => import("./snapshots.js");
const jobs = () => import("./jobs.js");

const $ = (id) => document.getElementById(id);
let current = new AbortController();

function takeFragmentToken() {
  // "/#token=T" logs in; the fragment never reaches the server, and is wiped from the address bar and
  // the history right away.
  const m = /^#token=([^&]+)/.exec(location.hash);
  if (!m) return;
  setToken(decodeURIComponent(m[1]));
  history.replaceState(null, "", `${location.pathname}${location.search}#/`);
}

function showLogin(message) {
  current.abort();
  fill($("view"));
  $("nav").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message ?? "";
  $("token").focus();
}

const routes = [
  [/^#?\/?$/, () => dashboard],
  [/^#\/runs$/, () => runsPage],
  [/^#\/runs\/([^/]+)$/, (m) => (ctx) => runPage(ctx, m[1])],
  [/^#\/snapshots$/, () => async (ctx) => (await snapshots()).snapshotsPage(ctx, null)],
  [/^#\/snapshots\/([^/]+)$/, (m) => async (ctx) => (await snapshots()).snapshotsPage(ctx, m[1])],
  [
    /^#\/snapshots\/([^/]+)\/([^/]+)$/,
    (m) => async (ctx) => (await snapshots()).snapshotPage(ctx, m[1], m[2]),
  ],
  [
    /^#\/diff\/([^/]+)\/([^/]+)\/([^/]+)$/,
    (m) => async (ctx) => (await snapshots()).diffPage(ctx, m[1], m[2], m[3]),
  ],
  [/^#\/jobs$/, () => async (ctx) => (await jobs()).jobsPage(ctx)],
  [/^#\/jobs\/([^/]+)$/, (m) => async (ctx) => (await jobs()).jobPage(ctx, m[1])],
];

async function route() {
  if (!token()) return showLogin();
  current.abort();
  current = new AbortController();
  $("login").hidden = true;
  $("nav").hidden = false;
  $("logout").hidden = false;
  const [path, qs] = location.hash.split("?");
  const view = fill($("view"));
  for (const a of document.querySelectorAll("#nav a")) {
    const page = a.dataset.page;
    const on = page === "#/" ? path === "#/" || path === "" : path.startsWith(page);
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  let render = null;
  for (const [re, make] of routes) {
    const m = re.exec(path);
    if (m) {
      render = make(m.map((x) => (x === undefined ? x : decodeURIComponent(x))));
      break;
    }
  }
  if (!render) {
    return fill(view, h("h1", null, "Not found"), h("p", null, h("a", { href: "#/" }, "Dashboard")));
  }
  const ctx = { view, signal: current.signal, query: new URLSearchParams(qs ?? "") };
  try {
    await render(ctx);
    if (!ctx.signal.aborted) view.querySelector(".page-title")?.focus({ preventScroll: true });
  } catch (err) {
    if (ctx.signal.aborted || err?.name === "AbortError") return;
    if (err?.status === 401) return;
    view.append(errorLine(err));
  }
}

events.addEventListener("unauthorized", () => {
  clearToken();
  showLogin("The token was refused. Log in again.");
});

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const t = $("token").value.trim();
  if (!t) return;
  setToken(t);
  try {
    await json("/jobs");
  } catch (err) {
    if (err?.status !== 401) {
      clearToken();
      $("login-error").textContent = err instanceof Error ? err.message : String(err);
    }
    return;
  }
  $("token").value = "";
  if (!location.hash || location.hash === "#/") route();
  else location.hash = "#/";
});

$("logout").addEventListener("click", () => {
  clearToken();
  history.replaceState(null, "", `${location.pathname}#/`);
  showLogin();
});

globalThis.addEventListener("hashchange", () => {
  if (/^#token=/.test(location.hash)) takeFragmentToken();
  route();
});

takeFragmentToken();
route().finally(() => setTimeout(() => Promise.all([snapshots(), jobs()]).catch(() => {}), 500));
