/**
 * GET requests and uploads of the HTTP storages over plain `Deno.connect` / `Deno.connectTls` connections,
 * for the bodies a restore reads (pack regions of megabytes) and a backup writes (packs). Deno's `fetch`
 * hands a body over in small pieces, each through its own promise, after copying it inside Rust more than
 * once; here the socket is read straight into the reader's buffer (a byte stream answering BYOB reads),
 * and a request body is written from the caller's buffer. Measured here for 8 MiB bodies over TLS from a
 * local server: fetch 2.27 CPU-s per GB, node:https 2.63, this reader 0.84; for 16 MiB uploads (384 MiB,
 * 5 in flight) fetch 0.47 CPU-s, node:https 0.33–0.38, these connections 0.25.
 *
 * It speaks just what a storage needs of HTTP/1.1: one request at a time per connection, keep-alive,
 * `Content-Length` request bodies, `Content-Length`, chunked and close-delimited answers. Requests that fetch would send through a proxy
 * ({@link viaProxy}) stay on fetch, as uploads do. Failures without an HTTP answer (refused, reset, TLS,
 * a body cut short) are `TypeError`s, as fetch's are, so the storages and the retry wrapper treat both the
 * same; the answer is a standard `Response` whose body is the connection's byte stream.
 *
 * @example
 * ```ts
 * import { Downloader } from "./download.ts";
 * const down = new Downloader({ caCerts: [] });
 * // const res = await down.get("https://host/bucket/key", { headers: { authorization: "…" } });
 * // const bytes = new Uint8Array(await res.arrayBuffer());
 * down.destroy();
 * ```
 * @module
 */

import { rawPath, viaProxy } from "./_url.ts";

/** Options of {@link Downloader}. */
export interface DownloaderOptions {
  /** Extra trusted CA certificates (PEM bundles), in addition to the default roots. */
  caCerts: string[];
}

/** One GET. */
export interface DownloadInit {
  /** Request headers (names any case); `host` is set from the URL. */
  headers: Record<string, string>;
  /** Aborts the request or the reading of its body (the callers' timeouts come this way). */
  signal?: AbortSignal;
}

/** One request with a body (an upload). */
export interface SendInit extends DownloadInit {
  /** HTTP method, e.g. `PUT`. */
  method: string;
  /** The body, written as it is (not copied: leave it unchanged until the answer's head is in). */
  body: Uint8Array;
}

/** Idle connections kept per origin. */
const MAX_IDLE = 16;
/** Largest response head accepted. */
const MAX_HEAD = 64 * 1024;
/** Size of the pieces a default (non-BYOB) reader of a body gets. */
const CHUNK = 64 * 1024;
/**
 * A read of a sized body fills the reader's view from the socket until it holds this much (or the view or
 * the body is full): a socket read returns one TLS record (16 KiB), and each step through the stream costs
 * about as much as decrypting it. Small enough that a reader's progress shows every few seconds on a slow
 * link.
 */
const FILL = 512 * 1024;
/** Statuses whose answer has no body. */
const NO_BODY = new Set([204, 304]);
/** Bodies up to this size go out in one write with the request head. */
const INLINE_BODY = 16 * 1024;
/** Headers the downloader sets itself. */
const OWN = new Set([
  "host",
  "connection",
  "content-length",
  "transfer-encoding",
  "keep-alive",
  "te",
  "upgrade",
]);

const enc = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/**
 * Whether a request goes through the {@link Downloader}: a GET over http or https that fetch would not
 * send through a proxy.
 *
 * @example
 * ```ts
 * import { takesDownload } from "./download.ts";
 * takesDownload("http://127.0.0.1:8080/x", "GET"); // true without HTTP_PROXY
 * ```
 */
export function takesDownload(url: string, method: string): boolean {
  return method.toUpperCase() === "GET" && /^https?:/i.test(url) && !viaProxy(url);
}

/** A failure without an HTTP answer, as fetch reports one. */
function networkError(message: string, cause?: unknown): TypeError {
  const detail = cause instanceof Error ? `: ${cause.message}` : "";
  return new TypeError(`${message}${detail}`, cause === undefined ? undefined : { cause });
}

/** A connection and what was read from it beyond the last answer (nothing, for a well-behaved server). */
interface Connection {
  conn: Deno.Conn;
  origin: string;
  /** Whether it came from the pool (a server may have closed it meanwhile). */
  reused: boolean;
}

/** Reads from a connection with a small carry-over of bytes read too far (after a head, in chunked bodies). */
class Input {
  #carry = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  /** Puts bytes back in front of the stream. */
  unread(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const joined = new Uint8Array(this.#carry.length + bytes.length);
    joined.set(bytes);
    joined.set(this.#carry, bytes.length);
    this.#carry = joined;
  }

  /** Reads into `into`: carried bytes first, else the socket; null at its end. */
  async read(into: Uint8Array): Promise<number | null> {
    if (this.#carry.length) {
      const n = Math.min(into.length, this.#carry.length);
      into.set(this.#carry.subarray(0, n));
      this.#carry = this.#carry.subarray(n);
      return n;
    }
    return await this.conn.read(into);
  }

  /** Whether bytes are carried (left unread). */
  get carrying(): boolean {
    return this.#carry.length > 0;
  }

  /** Reads up to and including the next CRLF (at most `max` bytes); the line without it. */
  async line(max: number): Promise<string> {
    const buf = new Uint8Array(Math.min(max, 4096));
    let text = "";
    for (;;) {
      const n = await this.read(buf);
      if (n === null) throw networkError("connection closed inside a chunked body");
      const part = buf.subarray(0, n);
      const lf = part.indexOf(10);
      if (lf >= 0) {
        this.unread(part.subarray(lf + 1));
        text += latin1.decode(part.subarray(0, lf));
        return text.replace(/\r$/, "");
      }
      text += latin1.decode(part);
      if (text.length > max) throw networkError("malformed chunked body (line too long)");
    }
  }
}

/** What the head of an answer says. */
interface Head {
  status: number;
  statusText: string;
  headers: Headers;
  /** HTTP/1.1 without `connection: close`. */
  keepAlive: boolean;
}

function parseHead(text: string): Head {
  const lines = text.split("\r\n");
  const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!m) throw networkError(`malformed HTTP answer ${JSON.stringify(lines[0].slice(0, 40))}`);
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    if (!line) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw networkError(`malformed HTTP header ${JSON.stringify(line.slice(0, 40))}`);
    try {
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    } catch (e) {
      throw networkError("malformed HTTP header", e);
    }
  }
  const connection = (headers.get("connection") ?? "").toLowerCase();
  return {
    status: Number(m[2]),
    statusText: m[3] ?? "",
    headers,
    keepAlive: m[1] === "1" ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection),
  };
}

/**
 * Keep-alive connection pools for GET requests over http and https.
 *
 * @example
 * ```ts
 * import { Downloader } from "./download.ts";
 * const down = new Downloader({ caCerts: [] });
 * down.destroy();
 * ```
 */
export class Downloader {
  readonly #caCerts: string[];
  readonly #idle = new Map<string, Deno.Conn[]>();
  #closed = false;

  /** Builds the pools (no connection is made before the first request). */
  constructor(options: DownloaderOptions) {
    this.#caCerts = options.caCerts;
  }

  /**
   * Sends a GET to `url` and resolves with the answer (any status) once its head is in; its body is read
   * from the connection as the caller reads it. Rejects with a `TypeError` when no answer came, or with
   * the signal's reason when aborted.
   *
   * @example
   * ```ts
   * import { Downloader } from "./download.ts";
   * const down = new Downloader({ caCerts: [] });
   * const res = await down.get("http://127.0.0.1:1/x", { headers: {} }).catch((e) => e);
   * down.destroy();
   * ```
   */
  get(url: string, init: DownloadInit): Promise<Response> {
    return this.#request(url, "GET", init.headers, undefined, init.signal);
  }

  /**
   * Sends `body` to `url` with `method` and resolves with the answer (any status) once its head is in
   * (the body written from the caller's buffer, no copy); rejects as {@link Downloader.get} does.
   *
   * @example
   * ```ts
   * import { Downloader } from "./download.ts";
   * const down = new Downloader({ caCerts: [] });
   * const res = await down.send("http://127.0.0.1:1/x", { method: "PUT", headers: {}, body: new Uint8Array(1) })
   *   .catch((e) => e);
   * down.destroy();
   * ```
   */
  send(url: string, init: SendInit): Promise<Response> {
    const method = init.method.toUpperCase();
    if (!/^[A-Z]+$/.test(method)) throw new TypeError(`download: invalid method ${JSON.stringify(method)}`);
    return this.#request(url, method, init.headers, init.body, init.signal);
  }

  async #request(
    url: string,
    method: string,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    signal?.throwIfAborted();
    if (this.#closed) throw new TypeError("download: closed");
    const u = new URL(url);
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      throw new TypeError(`download: unsupported URL scheme ${u.protocol}`);
    }
    let request = `${method} ${rawPath(url)} HTTP/1.1\r\nhost: ${u.host}\r\n`;
    let conditional = false;
    for (const [k, v] of Object.entries(headers)) {
      const name = k.toLowerCase();
      if (OWN.has(name)) continue;
      if (/[\r\n]/.test(k) || /[\r\n]/.test(v) || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) {
        throw new TypeError(`download: invalid header ${JSON.stringify(k)}`);
      }
      if (name.startsWith("if-")) conditional = true;
      request += `${k}: ${v}\r\n`;
    }
    if (body) request += `content-length: ${body.length}\r\n`;
    const head = enc.encode(request + "\r\n");
    let first: Uint8Array = head;
    let rest: Uint8Array | undefined = body;
    if (body && body.length <= INLINE_BODY) {
      first = new Uint8Array(head.length + body.length);
      first.set(head);
      first.set(body, head.length);
      rest = undefined;
    }
    // Sent again on a new connection when a pooled one turns out closed (see StaleConnection): always
    // while its body was not all written (no server acts on half a request), else only a request that
    // may be repeated (no POST; no conditional, whose repeat could answer about the first).
    const repeatable = !body || ((method === "PUT" || method === "DELETE") && !conditional);
    for (let attempt = 0;; attempt++) {
      const c = await this.#acquire(u, signal);
      try {
        return await this.#exchange(c, first, rest, repeatable, signal);
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        if (!(c.reused && attempt === 0 && e instanceof StaleConnection)) {
          throw e instanceof StaleConnection ? networkError("connection closed before an answer") : e;
        }
      }
    }
  }

  async #acquire(u: URL, signal: AbortSignal | undefined): Promise<Connection> {
    const origin = `${u.protocol}//${u.host}`;
    const idle = this.#idle.get(origin);
    const pooled = idle?.pop();
    if (pooled) return { conn: pooled, origin, reused: true };
    const secure = u.protocol === "https:";
    const hostname = u.hostname.replace(/^\[|\]$/g, "");
    const port = Number(u.port || (secure ? 443 : 80));
    let conn: Deno.Conn;
    const connecting: Promise<Deno.Conn> = secure
      ? Deno.connectTls({ hostname, port, ...(this.#caCerts.length ? { caCerts: this.#caCerts } : {}) })
      : Deno.connect({ hostname, port });
    try {
      conn = await abortable(connecting, signal, (c) => c.close());
      if (secure) await abortable((conn as Deno.TlsConn).handshake(), signal, () => conn.close());
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      throw networkError(`${secure ? "TLS connection" : "connection"} to ${u.host} failed`, e);
    }
    if ("setNoDelay" in conn && typeof conn.setNoDelay === "function") conn.setNoDelay(true);
    return { conn, origin, reused: false };
  }

  #release(c: Connection): void {
    if (this.#closed) return void c.conn.close();
    const idle = this.#idle.get(c.origin) ?? [];
    if (idle.length >= MAX_IDLE) return void c.conn.close();
    idle.push(c.conn);
    this.#idle.set(c.origin, idle);
  }

  async #exchange(
    c: Connection,
    request: Uint8Array,
    body: Uint8Array | undefined,
    repeatable: boolean,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const { conn } = c;
    const onAbort = () => {
      try {
        conn.close();
      } catch { /* already closed */ }
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const input = new Input(conn);
    let head: Head;
    // The answer is read while the request goes out: a server may refuse an upload before its body is
    // in (and then stop reading it), which would leave the writes waiting forever.
    let complete = false;
    const writing = (async () => {
      for (let o = 0; o < request.length;) o += await conn.write(request.subarray(o));
      if (body) { for (let o = 0; o < body.length;) o += await conn.write(body.subarray(o)); }
      complete = true;
    })();
    const heading = this.#readHead(input, c.reused);
    heading.catch(() => {}); // awaited below, whichever settles first
    try {
      try {
        const failed = await Promise.race([
          writing.then(() => undefined, (e) => ({ e })),
          heading.then(() => undefined, () => undefined),
        ]);
        if (failed) {
          // Prefer an answer the server sent before it closed; else the connection was stale or broken.
          head = await heading.catch(() => {
            throw c.reused ? new StaleConnection() : networkError("sending the request failed", failed.e);
          });
        } else head = await heading;
      } catch (e) {
        // A stale connection is sent again only if the server cannot have acted on the request: its body
        // was not all written, or it may be repeated.
        if (e instanceof StaleConnection && complete && !repeatable) {
          throw networkError("connection closed before an answer");
        }
        throw e;
      }
    } catch (e) {
      signal?.removeEventListener("abort", onAbort);
      onAbort();
      if (signal?.aborted) throw signal.reason;
      throw e;
    }
    const { status, statusText, headers, keepAlive } = head;
    // Once per answer, whichever way its body ends (read to the end, failed, cancelled).
    let finished = false;
    const finish = (reusable: boolean) => {
      if (finished) return;
      finished = true;
      signal?.removeEventListener("abort", onAbort);
      if (reusable && complete && keepAlive && !input.carrying && !signal?.aborted) this.#release(c);
      else onAbort();
    };
    if (NO_BODY.has(status)) {
      finish(true);
      return new Response(null, { status, statusText, headers });
    }
    const chunked = /\bchunked\b/i.test(headers.get("transfer-encoding") ?? "");
    const lengthHeader = headers.get("content-length");
    const length = chunked || lengthHeader === null ? -1 : Number(lengthHeader);
    if (!chunked && lengthHeader !== null && !(Number.isSafeInteger(length) && length >= 0)) {
      finish(false);
      throw networkError(`malformed content-length ${JSON.stringify(lengthHeader)}`);
    }
    const answer = chunked
      ? chunkedBody(input, finish, signal)
      : length >= 0
      ? fixedBody(input, length, finish, signal)
      : closedBody(input, finish, signal);
    try {
      // Response refuses statuses outside 200–599 (not HTTP a storage can use) and malformed reasons.
      return new Response(answer, { status, statusText, headers });
    } catch (e) {
      await answer.cancel().catch(() => {});
      throw networkError(`unusable HTTP answer (status ${status})`, e);
    }
  }

  /** Reads the head of the answer (skipping 1xx heads); the bytes after it stay in `input`. */
  async #readHead(input: Input, reused: boolean): Promise<Head> {
    let buf = new Uint8Array(4096);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (buf.length >= MAX_HEAD) throw networkError("HTTP answer head too large");
        const bigger = new Uint8Array(buf.length * 2);
        bigger.set(buf);
        buf = bigger;
      }
      let k: number | null;
      try {
        k = await input.read(buf.subarray(n));
      } catch (e) {
        if (reused && n === 0) throw new StaleConnection();
        throw networkError("reading the answer failed", e);
      }
      if (k === null) {
        if (reused && n === 0) throw new StaleConnection();
        throw networkError("connection closed before a complete answer");
      }
      n += k;
      const end = findHeadEnd(buf, n);
      if (end < 0) continue;
      input.unread(buf.subarray(end, n));
      const head = parseHead(latin1.decode(buf.subarray(0, end - 4)));
      if (head.status >= 100 && head.status < 200 && head.status !== 101) {
        buf = new Uint8Array(4096);
        n = 0;
        reused = false;
        continue;
      }
      return head;
    }
  }

  /** Closes the idle connections; those in use close when their bodies end. */
  destroy(): void {
    this.#closed = true;
    for (const conns of this.#idle.values()) {
      for (const c of conns) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
    }
    this.#idle.clear();
  }
}

/** A pooled connection that turned out closed before any answer (safe to retry: nothing was answered). */
class StaleConnection extends Error {}

/** Index just past the CRLFCRLF ending a head in `buf[0, n)`, or -1. */
function findHeadEnd(buf: Uint8Array, n: number): number {
  for (let i = 3; i < n; i++) {
    if (buf[i] === 10 && buf[i - 1] === 13 && buf[i - 2] === 10 && buf[i - 3] === 13) return i + 1;
  }
  return -1;
}

/** Awaits `p` unless `signal` aborts first; a value that arrives after the abort is handed to `drop`. */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined, drop: (v: T) => void): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    p.then((v) => {
      signal.removeEventListener("abort", onAbort);
      if (signal.aborted) {
        try {
          drop(v);
        } catch { /* ignore */ }
      } else resolve(v);
    }, (e) => {
      signal.removeEventListener("abort", onAbort);
      reject(e);
    });
  });
}

/** The view a byte stream's pull should fill (its BYOB request, or an auto-allocated chunk). */
function target(controller: ReadableByteStreamController): Uint8Array {
  const v = controller.byobRequest!.view!;
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** A body of `length` bytes. `finish` (called once, idempotent) says whether the connection is reusable. */
function fixedBody(
  input: Input,
  length: number,
  finish: (reusable: boolean) => void,
  signal: AbortSignal | undefined,
): ReadableStream<Uint8Array> {
  let left = length;
  const end = finish;
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: CHUNK,
    start(controller) {
      if (left === 0) {
        end(true);
        controller.close();
      }
    },
    async pull(controller) {
      const view = target(controller);
      const want = Math.min(view.length, left);
      const enough = Math.min(want, FILL);
      let got = 0;
      while (got < enough) {
        let k: number | null;
        try {
          k = await input.read(view.subarray(got, want));
        } catch (e) {
          end(false);
          throw signal?.aborted
            ? signal.reason
            : networkError("reading the body failed (connection reset)", e);
        }
        if (k === null) {
          end(false);
          throw signal?.aborted
            ? signal.reason
            : networkError(`body cut off prematurely: ${length - left + got} of ${length} bytes`);
        }
        got += k;
      }
      left -= got;
      controller.byobRequest!.respond(got);
      if (left === 0) {
        end(true);
        controller.close();
      }
    },
    cancel() {
      end(false);
    },
  });
}

/** A body that ends when the server closes the connection (HTTP/1.0 style); never reusable. */
function closedBody(
  input: Input,
  finish: (reusable: boolean) => void,
  signal: AbortSignal | undefined,
): ReadableStream<Uint8Array> {
  const end = () => finish(false);
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: CHUNK,
    async pull(controller) {
      const view = target(controller);
      let k: number | null;
      try {
        k = await input.read(view);
      } catch (e) {
        end();
        throw signal?.aborted ? signal.reason : networkError("reading the body failed (connection reset)", e);
      }
      if (k === null) {
        end();
        controller.close();
        controller.byobRequest?.respond(0);
        return;
      }
      controller.byobRequest!.respond(k);
    },
    cancel: end,
  });
}

/** A `transfer-encoding: chunked` body. */
function chunkedBody(
  input: Input,
  finish: (reusable: boolean) => void,
  signal: AbortSignal | undefined,
): ReadableStream<Uint8Array> {
  let left = 0; // bytes left in the current chunk
  const end = finish;
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: CHUNK,
    async pull(controller) {
      try {
        if (left === 0) {
          const sizeLine = (await input.line(1024)).split(";")[0].trim();
          if (!/^[0-9a-fA-F]{1,12}$/.test(sizeLine)) {
            throw networkError(`malformed chunk size ${JSON.stringify(sizeLine.slice(0, 20))}`);
          }
          left = parseInt(sizeLine, 16);
          if (left === 0) {
            // Trailers (ignored) up to the empty line.
            while ((await input.line(8192)) !== "");
            end(true);
            controller.close();
            controller.byobRequest?.respond(0);
            return;
          }
        }
        const view = target(controller);
        const k = await input.read(view.subarray(0, Math.min(view.length, left)));
        if (k === null) throw networkError("body cut off prematurely inside a chunk");
        left -= k;
        if (left === 0 && (await input.line(2)) !== "") throw networkError("malformed chunked body");
        controller.byobRequest!.respond(k);
      } catch (e) {
        end(false);
        throw signal?.aborted
          ? signal.reason
          : e instanceof TypeError
          ? e
          : networkError("reading the body failed", e);
      }
    },
    cancel() {
      end(false);
    },
  });
}
