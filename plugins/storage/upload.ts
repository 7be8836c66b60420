/**
 * Uploads of large byte bodies (a pack, a multipart part, an SLO segment) over node:http / node:https,
 * for the HTTP storages. Deno's `fetch` copies a byte body twice (once in JS, once into the request in
 * Rust) and a `Blob` body lives in the blob store until a garbage collection: measured here with 5
 * uploads of 17 MiB in flight, fetch peaked at ~500 MiB RSS and a Blob body at ~1.15 GiB, where
 * node:https writing the caller's buffer in 256 KiB pieces (waiting for `drain`) peaked at ~145 MiB
 * (85 MiB of it the five buffers) and spent less CPU (1.4 vs 2.4 s for 1.7 GB over TLS).
 * The caller's bytes are written as they are — no copy — so the caller must not change them until the
 * returned promise settles.
 *
 * Not used when fetch would go through a proxy ({@link viaProxy}): node:http ignores `HTTPS_PROXY`.
 *
 * Failures without an HTTP answer (refused, reset, TLS) reject with a `TypeError` as fetch's
 * do, so that the storages and the retry wrapper treat both the same; the answer comes back as a
 * standard `Response` whose (small) body has been read.
 *
 * @example
 * ```ts
 * import { Uploader } from "./upload.ts";
 * const up = new Uploader({ caCerts: [] });
 * // const res = await up.send("https://host/bucket/key", { method: "PUT", headers: {}, body });
 * up.destroy();
 * ```
 * @module
 */

import http from "node:http";
import https from "node:https";

/** How much of the body is handed to the socket at a time. */
const PIECE = 256 * 1024;
/** The most of an answer's body that is kept (a PUT's answer is empty or a short error document). */
const MAX_ANSWER = 1 << 20;
/** Statuses whose `Response` cannot carry a body. */
const NO_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * The path and query of `url` as written. The URL parser resolves `.` and `..` segments (also spelt
 * `%2e`), which object keys may hold (`x/../y`): requests send this instead.
 *
 * @example
 * ```ts
 * import { rawPath } from "./upload.ts";
 * rawPath("http://h:1/b/x/../y?a=1"); // "/b/x/../y?a=1"
 * ```
 */
export function rawPath(url: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*([^#]*)/i.exec(url)?.[1] || "/";
}

/**
 * Whether the path of `url` holds a `.` or `..` segment that fetch would resolve away.
 *
 * @example
 * ```ts
 * import { hasDotSegment } from "./upload.ts";
 * hasDotSegment("http://h/b/x/../y"); // true
 * ```
 */
export function hasDotSegment(url: string): boolean {
  return /\/(?:\.|%2e){1,2}(?:[/?]|$)/i.test(rawPath(url).split("?")[0] + "/");
}

/**
 * Whether Deno's fetch would send a request to `url` through a proxy (`HTTPS_PROXY` / `HTTP_PROXY`, either
 * case, unless `NO_PROXY` names the host): node:http does not, so such uploads must stay on fetch.
 *
 * @example
 * ```ts
 * import { viaProxy } from "./upload.ts";
 * viaProxy("http://127.0.0.1:8080/x"); // false unless HTTP_PROXY is set and NO_PROXY spares 127.0.0.1
 * ```
 */
export function viaProxy(url: string): boolean {
  const env = (k: string) => Deno.env.get(k) ?? Deno.env.get(k.toLowerCase()) ?? "";
  const u = new URL(url);
  const proxy = u.protocol === "https:" ? env("HTTPS_PROXY") : env("HTTP_PROXY");
  if (!proxy) return false;
  const host = u.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  for (let entry of env("NO_PROXY").split(/[\s,]+/)) {
    entry = entry.trim().toLowerCase().replace(/:\d+$/, "");
    if (!entry) continue;
    if (entry === "*") return false;
    const bare = entry.replace(/^\*?\./, "");
    if (host === bare || host.endsWith(`.${bare}`)) return false;
  }
  return true;
}

/** Bodies from this size on are worth the {@link Uploader}; smaller ones stay on fetch. */
export const UPLOAD_FROM = 64 * 1024;

/**
 * Whether a request body goes through the {@link Uploader}: bytes of at least {@link UPLOAD_FROM}, to a
 * URL that fetch would not send through a proxy.
 *
 * @example
 * ```ts
 * import { takesUpload } from "./upload.ts";
 * takesUpload("http://127.0.0.1:8080/x", new Uint8Array(1 << 20)); // true without HTTP_PROXY
 * ```
 */
export function takesUpload(url: string, body: unknown): body is Uint8Array {
  return body instanceof Uint8Array && body.length >= UPLOAD_FROM && !viaProxy(url);
}

/** Options of {@link Uploader}. */
export interface UploaderOptions {
  /** Extra trusted CA certificates (PEM bundles), in addition to the default roots. */
  caCerts: string[];
}

/** Connections kept per host. */
const MAX_SOCKETS = 16;

/** One upload. */
export interface UploadInit {
  /** HTTP method, e.g. `PUT`. */
  method: string;
  /** Request headers; `content-length` is set from the body. */
  headers: Record<string, string>;
  /** The body, sent as it is (not copied: leave it unchanged until the upload settles). */
  body: Uint8Array;
  /** Aborts the upload (the callers' timeouts come this way); the promise rejects with the reason. */
  signal?: AbortSignal;
}

/** A failure without an HTTP answer, as fetch reports one: a TypeError naming the cause and its code. */
function networkError(e: unknown): TypeError {
  const err = e as { message?: string; code?: string };
  const code = err?.code && !String(err.message).includes(err.code) ? ` (${err.code})` : "";
  return new TypeError(`${err?.message ?? String(e)}${code}`, { cause: e });
}

/**
 * Keep-alive connection pools for http and https uploads.
 *
 * @example
 * ```ts
 * import { Uploader } from "./upload.ts";
 * const up = new Uploader({ caCerts: [] });
 * up.destroy();
 * ```
 */
export class Uploader {
  readonly #http: http.Agent;
  readonly #https: https.Agent;

  /** Builds the pools (no connection is made before the first upload). */
  constructor(options: UploaderOptions) {
    this.#http = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
    this.#https = new https.Agent({
      keepAlive: true,
      maxSockets: MAX_SOCKETS,
      ...(options.caCerts.length ? { ca: options.caCerts } : {}),
    });
  }

  /**
   * Sends `body` to `url` and resolves with the answer (any status); rejects with a `TypeError` when no
   * answer came, or the signal's reason when aborted.
   *
   * @example
   * ```ts
   * import { Uploader } from "./upload.ts";
   * const up = new Uploader({ caCerts: [] });
   * const res = await up.send("http://127.0.0.1:1/x", { method: "PUT", headers: {}, body: new Uint8Array(1) })
   *   .catch((e) => e);
   * up.destroy();
   * ```
   */
  send(url: string, init: UploadInit): Promise<Response> {
    const { signal, body } = init;
    signal?.throwIfAborted();
    const u = new URL(url);
    const secure = u.protocol === "https:";
    if (!secure && u.protocol !== "http:") {
      throw new TypeError(`upload: unsupported URL scheme ${u.protocol}`);
    }
    return new Promise<Response>((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        fn();
      };
      const fail = (e: unknown) => finish(() => reject(e));
      const req = (secure ? https : http).request({
        protocol: u.protocol,
        hostname: u.hostname.replace(/^\[|\]$/g, ""),
        port: u.port || (secure ? 443 : 80),
        path: rawPath(url),
        method: init.method,
        headers: { ...init.headers, "content-length": String(body.length) },
        agent: secure ? this.#https : this.#http,
      }, (res) => {
        const parts: Uint8Array[] = [];
        let kept = 0;
        res.on("data", (c: Uint8Array) => {
          if (kept < MAX_ANSWER) {
            parts.push(c);
            kept += c.length;
          }
        });
        res.on("error", (e) => fail(networkError(e)));
        res.on("aborted", () => fail(new TypeError("upload: the answer was cut off")));
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (v === undefined) continue;
            for (const x of Array.isArray(v) ? v : [v]) headers.append(k, x);
          }
          const bytes = new Uint8Array(kept);
          let o = 0;
          for (const p of parts) bytes.set(p, (o += p.length) - p.length);
          finish(() =>
            resolve(
              new Response(NO_BODY.has(status) ? null : bytes, {
                status,
                statusText: res.statusMessage ?? "",
                headers,
              }),
            )
          );
        });
      });
      const onAbort = () => {
        req.destroy();
        fail(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      req.on("error", (e) => fail(networkError(e)));
      (async () => {
        for (let o = 0; o < body.length && !settled; o += PIECE) {
          if (!req.write(body.subarray(o, o + PIECE))) {
            await new Promise<void>((r) => {
              const go = () => {
                req.off("drain", go);
                req.off("close", go);
                r();
              };
              req.on("drain", go);
              req.on("close", go);
            });
          }
        }
        if (!settled) req.end();
      })();
    });
  }

  /** Closes the pooled connections. */
  destroy(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}
