/**
 * The s3 storage's HTTP transport: the AWS SDK builds and signs every request (SigV4, credentials from
 * its chain), and this handler sends it with Deno's native `fetch` (hyper + rustls, in Rust) instead of
 * the SDK's default node:https handler. Under Deno both end in rustls; what fetch saves is the Node
 * stream and Buffer plumbing around it: a GetObject body is read with a BYOB reader straight into the
 * buffer the storage returns (no chunk copies, no chunk list to concatenate).
 *
 * - Extra CA certificates: `AWS_CA_BUNDLE` (or the storage's `caBundle` option) and `NODE_EXTRA_CA_CERTS`,
 *   PEM bundles added to the default roots through `Deno.createHttpClient({ caCerts })` (stable, no
 *   flag). `DENO_CERT` and `DENO_TLS_CA_STORE` apply as for any Deno fetch.
 * - Timeouts: the wait for the response headers is bounded by `connectTimeoutMs + requestTimeoutMs`
 *   plus, for a request with a body, the body's upload time at {@link MIN_UPLOAD_BYTES_PER_SECOND}
 *   (fetch gives no upload progress and no connect event); then a body that delivers nothing for
 *   `requestTimeoutMs` fails. Either fails the request with a `TimeoutError`.
 * - Response bodies are fetch's own (resource-backed byte) streams, handed over as they are: the storage
 *   reads GetObject's and reports progress through {@link bodyProgress}; the SDK reads the others, which
 *   {@link settleResponse} then releases. The timer never keeps the process alive (unref'd).
 * - Large request bodies (packs, multipart parts) go out through the {@link Uploader}'s own connections
 *   (`Deno.connectTls`, rustls), written from the caller's buffer without a copy, unless fetch would use
 *   a proxy (`HTTPS_PROXY`, which those connections ignore); the rest through fetch. HTTP/1.1 only,
 *   several keep-alive connections, as S3 clients do.
 * - Redirects are not followed (the SDK handles S3's region redirects itself); `Accept-Encoding:
 *   identity` keeps fetch from decoding a body whose bytes (and `Content-Length`) must stay as stored.
 *
 * @example
 * ```ts
 * import { FetchTransport } from "./transport.ts";
 * const transport = new FetchTransport({ caCerts: [], connectTimeoutMs: 10_000, requestTimeoutMs: 120_000 });
 * // new S3Client({ requestHandler: transport, … })
 * transport.destroy();
 * ```
 * @module
 */

import { hasDotSegment, takesUpload, Uploader, viaProxy } from "../upload.ts";
import { Downloader, takesDownload } from "../download.ts";

/** What the reader of a response body reports to the transport's idle check. */
export interface BodyProgress {
  /** Data arrived. */
  tick(): void;
  /** The body is consumed or given up: stop watching. */
  end(): void;
}

const progress = new WeakMap<ReadableStream<Uint8Array>, BodyProgress>();

/**
 * The progress hooks of a response body the transport returned (the SDK hands the same stream on as
 * `GetObject`'s `Body`); undefined for any other stream.
 *
 * @example
 * ```ts
 * import { bodyProgress } from "./transport.ts";
 * bodyProgress(new ReadableStream()); // undefined
 * ```
 */
export function bodyProgress(stream: unknown): BodyProgress | undefined {
  return stream instanceof ReadableStream ? progress.get(stream) : undefined;
}

const bodies = new WeakMap<object, ReadableStream<Uint8Array>>();

/**
 * Called once the SDK has parsed an answer (`output`, or the error it threw, which carries `$response`):
 * unless the output hands the body on (GetObject's `Body`, read by the storage), the SDK has read it or
 * never will: stop watching it, and cancel it if nobody took it (e.g. the empty body of a PUT).
 *
 * @example
 * ```ts
 * import { settleResponse } from "./transport.ts";
 * settleResponse({ statusCode: 200, headers: {} }, {}); // not one of the transport's: nothing to do
 * ```
 */
export function settleResponse(response: unknown, output: unknown): void {
  const body = response && typeof response === "object" ? bodies.get(response) : undefined;
  if (!body) return;
  if (output && typeof output === "object" && Object.values(output).includes(body)) return;
  progress.get(body)?.end();
  if (!body.locked) body.cancel().catch(() => {});
}

/** The slowest upload rate assumed when bounding the wait for the answer to a request with a body. */
export const MIN_UPLOAD_BYTES_PER_SECOND = 64 * 1024;

/** Options of {@link FetchTransport}. */
export interface TransportOptions {
  /** Extra trusted CA certificates (PEM, one bundle per entry), in addition to the default roots. */
  caCerts: string[];
  /** Added to `requestTimeoutMs` for the wait for the response headers. */
  connectTimeoutMs: number;
  /** Milliseconds without response data (headers, then body) before the request fails. */
  requestTimeoutMs: number;
}

/** The parts of the SDK's `HttpRequest` (@smithy/types) the transport reads. */
interface SdkHttpRequest {
  method: string;
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  query?: Record<string, string | (string | null)[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}

/** The `HttpResponse` (@smithy/types) the SDK expects back. */
interface SdkHttpResponse {
  statusCode: number;
  reason?: string;
  headers: Record<string, string>;
  body: ReadableStream<Uint8Array>;
}

/** Request headers not passed to fetch: it sets them itself (host from the URL) or they do not apply. */
const DROP = new Set(["host", "expect", "connection", "transfer-encoding", "keep-alive", "upgrade", "te"]);

/** RFC 3986 escaping as the SDK applies it to query strings (the signature covers the decoded values). */
const escapeUri = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function queryString(query: SdkHttpRequest["query"]): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query ?? {})) {
    const key = escapeUri(k);
    if (Array.isArray(v)) {
      for (const x of v) parts.push(x === null ? key : `${key}=${escapeUri(x)}`);
    } else parts.push(v === null || v === undefined ? key : `${key}=${escapeUri(v)}`);
  }
  return parts.join("&");
}

/**
 * The request body: a string or bytes. Large byte bodies go through the {@link Uploader}, which writes
 * them without a copy; fetch copies a byte body twice and keeps a Blob's copy until a garbage collection
 * (see ../upload.ts for the figures). A ReadableStream is not an option: fetch sends it chunked, which
 * S3 refuses, even with a Content-Length header.
 */
function requestBody(body: unknown): Uint8Array<ArrayBuffer> | string | undefined {
  if (body === undefined || body === null || typeof body === "string") return body ?? undefined;
  if (ArrayBuffer.isView(body)) {
    const view = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    return view.buffer instanceof ArrayBuffer ? view as Uint8Array<ArrayBuffer> : view.slice();
  }
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new Error(`s3 transport: unsupported request body ${Object.prototype.toString.call(body)}`);
}

/**
 * fetch's own rejection says "fetch failed" and keeps the reason in `cause`: bring it up into the
 * message (still a TypeError: a network failure), with a hint for the certificate refusals.
 */
function networkError(e: unknown): unknown {
  if (!(e instanceof TypeError)) return e;
  let detail = e.message;
  for (let c = e.cause; c instanceof Error; c = c.cause) detail = c.message;
  if (/CaUsedAsEndEntity/.test(detail)) {
    detail += " (the server presents a CA certificate as its own, which rustls refuses: give it a " +
      "certificate issued by that CA, or a self-signed one with basicConstraints CA:FALSE)";
  } else if (/UnknownIssuer|invalid peer certificate|unable to verify|self[- ]signed/i.test(detail)) {
    detail += " (to trust a private CA, point AWS_CA_BUNDLE or NODE_EXTRA_CA_CERTS at its PEM file)";
  }
  return detail === e.message ? e : new TypeError(detail, { cause: e });
}

function timeoutError(message: string): Error {
  const e = new Error(message);
  e.name = "TimeoutError";
  return e;
}

/**
 * An `HttpHandler` for the AWS SDK v3 that sends the SDK's signed requests: GETs through the shared
 * {@link Downloader} (read straight into the caller's buffer), large uploads through the {@link Uploader},
 * the rest with Deno's `fetch`.
 *
 * @example
 * ```ts
 * import { FetchTransport } from "./transport.ts";
 * const t = new FetchTransport({ caCerts: [], connectTimeoutMs: 1000, requestTimeoutMs: 5000 });
 * t.destroy();
 * ```
 */
export class FetchTransport {
  /** What the SDK may ask of a handler. */
  readonly metadata = { handlerProtocol: "http/1.1" };
  #client: Deno.HttpClient | undefined;
  readonly #uploader: Uploader;
  readonly #downloader: Downloader;
  readonly #options: TransportOptions;

  /** Builds the transport and its connection pool. */
  constructor(options: TransportOptions) {
    this.#options = options;
    this.#client = Deno.createHttpClient({
      ...(options.caCerts.length ? { caCerts: options.caCerts } : {}),
      // S3 stores speak HTTP/1.1 (AWS offers nothing else); parallel connections, as the SDK had them.
      http2: false,
    });
    this.#uploader = new Uploader({ caCerts: options.caCerts });
    this.#downloader = new Downloader({ caCerts: options.caCerts });
  }

  /** Sends one signed request; the response body is a byte stream, to be consumed or cancelled. */
  async handle(
    request: SdkHttpRequest,
    options: { abortSignal?: unknown } = {},
  ): Promise<{ response: SdkHttpResponse }> {
    const client = this.#client;
    if (!client) throw new Error("s3 transport: closed");
    const callerSignal = options.abortSignal instanceof AbortSignal ? options.abortSignal : undefined;
    callerSignal?.throwIfAborted();
    const { connectTimeoutMs, requestTimeoutMs } = this.#options;
    const qs = queryString(request.query);
    const url = `${request.protocol}//${request.hostname}${
      request.port ? `:${request.port}` : ""
    }${request.path}${qs ? `?${qs}` : ""}`;
    const headers = new Headers();
    for (const [k, v] of Object.entries(request.headers)) {
      if (!DROP.has(k.toLowerCase())) headers.set(k, v);
    }
    headers.set("accept-encoding", "identity");
    const method = request.method.toUpperCase();
    const body = method === "GET" || method === "HEAD" ? undefined : requestBody(request.body);
    const bodyBytes = typeof body === "string" ? body.length * 3 : body?.length ?? 0;

    // One timer: first the wait for the headers; then, while the body is read, an idle check that only
    // looks at when its reader last reported progress (see bodyProgress: no timer reset per chunk).
    const ac = new AbortController();
    let timer = 0;
    const schedule = (ms: number, fire: () => void) => {
      // A number under Deno (the Node typings in scope would make it a `Timeout`).
      timer = Number(setTimeout(fire, ms));
      Deno.unrefTimer(timer);
    };
    const disarm = () => clearTimeout(timer);
    const where = `${method} ${url.split("?")[0]}`;
    const answerMs = connectTimeoutMs + requestTimeoutMs +
      Math.ceil((bodyBytes / MIN_UPLOAD_BYTES_PER_SECOND) * 1000);
    schedule(answerMs, () => ac.abort(timeoutError(`${where}: no answer for ${answerMs} ms`)));
    const signal = callerSignal ? AbortSignal.any([callerSignal, ac.signal]) : ac.signal;

    let res: Response;
    try {
      // fetch would resolve the `.`/`..` segments of a key such as `x/../y`: the uploader sends it as is.
      const dots = method !== "GET" && hasDotSegment(url) && !viaProxy(url);
      const upload = takesUpload(url, body) || dots;
      if (upload || takesDownload(url, method)) {
        const plain: Record<string, string> = {};
        headers.forEach((v, k) => (plain[k] = v));
        res = upload
          ? await this.#uploader.send(url, {
            method,
            headers: plain,
            body: typeof body === "string" ? new TextEncoder().encode(body) : body ?? new Uint8Array(0),
            signal,
          })
          : await this.#downloader.get(url, { headers: plain, signal });
      } else res = await fetch(url, { method, headers, body, signal, client, redirect: "manual" });
    } catch (e) {
      throw signal.aborted ? e : networkError(e);
    } finally {
      disarm();
    }
    const responseHeaders: Record<string, string> = {};
    res.headers.forEach((v, k) => (responseHeaders[k] = v));
    let stream = res.body;
    if (!stream) {
      stream = new ReadableStream({ start: (c) => c.close() });
    } else {
      let last = performance.now();
      const idle = () => {
        const quiet = performance.now() - last;
        if (quiet < requestTimeoutMs) schedule(requestTimeoutMs - quiet, idle);
        else ac.abort(timeoutError(`${where}: no data for ${requestTimeoutMs} ms`));
      };
      schedule(requestTimeoutMs, idle);
      progress.set(stream, { tick: () => (last = performance.now()), end: disarm });
    }
    const response = {
      statusCode: res.status,
      reason: res.statusText,
      headers: responseHeaders,
      body: stream,
    };
    bodies.set(response, stream);
    return { response };
  }

  /** Closes the connection pool (the SDK calls it from `client.destroy()`). */
  destroy(): void {
    this.#client?.close();
    this.#client = undefined;
    this.#uploader.destroy();
    this.#downloader.destroy();
  }

  /** Part of the SDK's handler interface; nothing to configure. */
  updateHttpClientConfig(): void {}

  /** Part of the SDK's handler interface. */
  httpHandlerConfigs(): Record<string, never> {
    return {};
  }
}

/**
 * Reads the extra CA bundles: `caBundle` (else `AWS_CA_BUNDLE`) must be a readable PEM file;
 * `NODE_EXTRA_CA_CERTS` is skipped when it is not (as Node does). Returns the PEM texts.
 *
 * @example
 * ```ts
 * import { readCaBundles } from "./transport.ts";
 * const pems = await readCaBundles(undefined);
 * ```
 */
export async function readCaBundles(caBundle: string | undefined): Promise<string[]> {
  const sources: { from: string; path: string; required: boolean }[] = [];
  const aws = caBundle ?? Deno.env.get("AWS_CA_BUNDLE");
  if (aws) sources.push({ from: caBundle ? "caBundle" : "AWS_CA_BUNDLE", path: aws, required: true });
  const node = Deno.env.get("NODE_EXTRA_CA_CERTS");
  if (node && node !== aws) sources.push({ from: "NODE_EXTRA_CA_CERTS", path: node, required: false });
  const out: string[] = [];
  for (const s of sources) {
    try {
      const pem = await Deno.readTextFile(s.path);
      if (/-----BEGIN CERTIFICATE-----/.test(pem)) out.push(pem);
      else if (s.required) throw new Error("no PEM certificate in it");
    } catch (e) {
      if (s.required) {
        throw new Error(`cannot use ${s.from} ${JSON.stringify(s.path)}: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }
  }
  return out;
}
