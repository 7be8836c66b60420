// The client side of the HTTP API: the token (sessionStorage only, so it dies with the tab), JSON calls
// with the bearer header, downloads through fetch + Blob (a plain link could not carry the header), and
// the event stream read with fetch, since EventSource cannot send an Authorization header.

const KEY = "floe.token";
const base = document.querySelector('meta[name="floe-api"]')?.getAttribute("content") ?? "/api/v1";

/** Raised for a non-2xx answer; `status` is the HTTP status. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/** The token, or null. */
export function token() {
  return sessionStorage.getItem(KEY);
}

/** Keeps the token for this tab. */
export function setToken(t) {
  sessionStorage.setItem(KEY, t);
}

/** Forgets the token. */
export function clearToken() {
  sessionStorage.removeItem(KEY);
}

/** Called on every 401, so the app can show the login form again. */
export const events = new EventTarget();

/** An API path with its query: url("/runs", { job: "x" }). Empty values are left out. */
export function url(path, query) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== "") q.set(k, v);
  }
  const s = q.toString();
  return `${base}${path}${s ? `?${s}` : ""}`;
}

/** Encodes one path segment (job, repository or snapshot names come from the server). */
export const seg = encodeURIComponent;

/** fetch with the bearer header; throws ApiError on non-2xx with the server's message. */
export async function request(path, { method = "GET", body, query, signal, headers } = {}) {
  const init = { method, signal, headers: { authorization: `Bearer ${token() ?? ""}`, ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  const res = await fetch(url(path, query), init);
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const j = await res.json();
      message = j?.error?.message ?? j?.message ?? (typeof j?.error === "string" ? j.error : message);
    } catch { /* not JSON: keep the status line */ }
    if (res.status === 401) events.dispatchEvent(new Event("unauthorized"));
    throw new ApiError(res.status, message);
  }
  return res;
}

/** request() and the JSON body. */
export async function json(path, options) {
  const res = await request(path, options);
  return res.status === 204 ? null : await res.json();
}

/** Downloads an API resource as a file named `name`. */
export async function download(path, query, name) {
  const res = await request(path, { query });
  const blob = await res.blob();
  const href = URL.createObjectURL(blob);
  const a = Object.assign(document.createElement("a"), { href, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}

/**
 * Follows a server-sent event stream with the bearer header. Calls onEvent(data, id) for each event
 * (data parsed as JSON when it is JSON), reconnects after a drop with Last-Event-ID, and resolves when
 * the server ends the stream (the run is over) or the signal aborts.
 * @param {string} path
 * @param {{ signal: AbortSignal, onEvent: (data: unknown, id: string | null) => void, onState?: (s: string) => void }} o
 */
export async function stream(path, { signal, onEvent, onState }) {
  let lastId = null;
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      const headers = { accept: "text/event-stream" };
      if (lastId !== null) headers["last-event-id"] = lastId;
      const res = await request(path, { signal, headers });
      onState?.("live");
      attempt = 0;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "", data = [], id = null;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let nl;
        while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + (buf.startsWith("\r\n", nl) ? 2 : 1));
          if (line === "") {
            if (id !== null) lastId = id;
            if (data.length) {
              const text = data.join("\n");
              let parsed = text;
              try {
                parsed = JSON.parse(text);
              } catch { /* plain text event */ }
              onEvent(parsed, lastId);
            }
            data = [];
            id = null;
            continue;
          }
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const v = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "data") data.push(v);
          else if (field === "id" && !v.includes("\0")) id = v;
        }
      }
      onState?.("ended");
      return;
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ApiError && err.status < 500) {
        onState?.("error");
        throw err;
      }
      onState?.("reconnecting");
      await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** attempt, 10_000)));
    }
  }
}
