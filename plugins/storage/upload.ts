/**
 * Uploads of large byte bodies (a pack, a multipart part, an SLO segment) for the HTTP storages, over the
 * {@link Downloader}'s own keep-alive connections (`Deno.connect` / `Deno.connectTls`: rustls, no Node
 * stream layer). Deno's `fetch` copies a byte body twice (once in JS, once into the request in Rust) and a
 * `Blob` body lives in the blob store until a garbage collection: measured here with 5 uploads of 17 MiB
 * in flight, fetch peaked at ~500 MiB RSS and a Blob body at ~1.15 GiB. Written from the caller's buffer
 * instead, 384 MiB over TLS to a local server took 0.25 CPU-s (node:https 0.33–0.38, fetch 0.47).
 * The caller's bytes are written as they are — no copy — so the caller must not change them until the
 * returned promise settles.
 *
 * Not used when fetch would go through a proxy ({@link viaProxy}): these connections ignore `HTTPS_PROXY`.
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

import { Downloader } from "./download.ts";
import { viaProxy } from "./_url.ts";

export { hasDotSegment, rawPath, viaProxy } from "./_url.ts";

/** The most of an answer's body that is kept (a PUT's answer is empty or a short error document). */
const MAX_ANSWER = 1 << 20;
/** Statuses whose `Response` cannot carry a body. */
const NO_BODY = new Set([101, 103, 204, 205, 304]);

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
  readonly #connections: Downloader;

  /** Builds the pools (no connection is made before the first upload). */
  constructor(options: UploaderOptions) {
    this.#connections = new Downloader({ caCerts: options.caCerts });
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
  async send(url: string, init: UploadInit): Promise<Response> {
    const res = await this.#connections.send(url, init);
    const { status, statusText, headers } = res;
    if (!res.body || NO_BODY.has(status)) {
      await res.body?.cancel();
      return new Response(null, { status, statusText, headers });
    }
    // The answer is read here (its connection goes back to the pool), keeping at most MAX_ANSWER bytes.
    const parts: Uint8Array[] = [];
    let kept = 0;
    const reader = res.body.getReader();
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        if (kept >= MAX_ANSWER) continue;
        parts.push(r.value);
        kept += r.value.length;
      }
    } catch (e) {
      await reader.cancel().catch(() => {});
      throw init.signal?.aborted ? init.signal.reason : e;
    }
    const bytes = new Uint8Array(kept);
    parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
    return new Response(bytes, { status, statusText, headers });
  }

  /** Closes the pooled connections. */
  destroy(): void {
    this.#connections.destroy();
  }
}
