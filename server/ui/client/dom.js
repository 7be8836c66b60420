// DOM and formatting helpers shared by the pages. Text is always set as text, never as HTML, so nothing
// the server returns can inject markup.

/**
 * Creates an element: h("a", { href: "#/" , onclick: fn }, "text", child, [more]).
 * @param {string} tag
 * @param {Record<string, unknown> | null} [attrs]
 * @param {...unknown} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = String(v);
    // Through CSSOM, which the page's CSP allows (a style attribute would be blocked).
    else if (k === "style") { for (const [p, x] of Object.entries(v)) el.style.setProperty(p, String(x)); }
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** "1.5 MiB". */
export function bytes(n) {
  if (typeof n !== "number" || !Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(n < 10 ? 1 : 0) : n} ${units[i]}`;
}

/** "12,345". */
export function count(n) {
  return typeof n === "number" && Number.isFinite(n) ? n.toLocaleString("en-US") : "–";
}

/** "2024-05-02 03:00" in local time, or "–". */
export function when(iso) {
  if (!iso) return "–";
  const d = new Date(typeof iso === "number" ? iso * (iso < 1e12 ? 1000 : 1) : iso);
  if (Number.isNaN(d.getTime())) return "–";
  const p = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${
    p(d.getMinutes())
  }`;
}

/** A <time> element with the local time as text and the ISO time as its datetime. */
export function time(iso) {
  const d = iso ? new Date(iso) : null;
  return d && !Number.isNaN(d.getTime())
    ? h("time", { datetime: d.toISOString(), title: d.toISOString() }, when(iso))
    : "–";
}

/** "1h 02m", "42 s". */
export function duration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** A status badge: colour plus text, so colour is never the only cue. */
export function badge(status) {
  const s = typeof status === "string" ? status : "unknown";
  return h("span", { class: `badge s-${s.replace(/[^a-z-]/g, "")}` }, s);
}

/** "/a/b" joined safely. */
export function join(dir, name) {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

/** "rwxr-xr-x" from a numeric mode (or the mode as given when it is already a string). */
export function mode(m) {
  if (typeof m === "string") return m;
  if (typeof m !== "number") return "–";
  let s = "";
  for (let i = 8; i >= 0; i--) s += (m >> i) & 1 ? "rwx"[(8 - i) % 3] : "-";
  return s;
}

/** A page heading that takes focus, so keyboard and screen-reader users land on the new page. */
export function heading(text) {
  return h("h1", { tabindex: "-1", class: "page-title" }, text);
}

/** An error line. */
export function errorLine(err) {
  return h("p", { class: "error", role: "alert" }, err instanceof Error ? err.message : String(err));
}

/**
 * Records a User Timing measure `name` from `start` to just after the next frame is painted (the
 * animation frame runs before style, layout and paint; a task queued from it runs after them), for
 * bench/ui.ts.
 */
export function measurePainted(name, start, detail) {
  requestAnimationFrame(() => setTimeout(() => performance.measure(name, { start, detail })));
}
