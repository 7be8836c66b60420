/**
 * A TLS-terminating reverse proxy on loopback, for the bench's S3 step: restic 0.14's S3 backend only
 * works here over https, so the plain-http s3api endpoint of the local Swift gets a self-signed
 * certificate for 127.0.0.1 in front of it.
 *
 * Requests are forwarded with node:http, keeping method, path, query and every header, `Host`
 * included (S3 SigV4 signs it); bodies stream both ways.
 *
 * @example
 * ```ts
 * import { startTlsProxy } from "./tls_proxy.ts";
 * import { selfSignedCert } from "../tests/fixtures/tls.ts";
 * const cert = await selfSignedCert("/tmp/floe-bench/tls");
 * const proxy = await startTlsProxy({ target: "http://127.0.0.1:8080", ...cert });
 * console.log(proxy.url); // https://127.0.0.1:PORT
 * await proxy.stop();
 * ```
 * @module
 */
import http from "node:http";

/** Traffic counters of a {@link TlsProxy}. */
export interface ProxyStats {
  /** Requests received. */
  requests: number;
  /** Request body bytes forwarded to the store. */
  up: number;
  /** Response body bytes forwarded to the client. */
  down: number;
}

/** A running proxy. */
export interface TlsProxy {
  /** `https://127.0.0.1:PORT`. */
  url: string;
  /** Requests forwarded so far, and body bytes sent up (requests) and down (responses). */
  stats(): ProxyStats;
  /** Stops listening and closes the upstream connections. */
  stop(): Promise<void>;
}

const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te"]);

/**
 * Start the proxy on a free loopback port, forwarding to `target` (plain http).
 *
 * @example
 * ```ts
 * import { startTlsProxy } from "./tls_proxy.ts";
 * import { selfSignedCert } from "../tests/fixtures/tls.ts";
 * const proxy = await startTlsProxy({ target: "http://127.0.0.1:8080", ...(await selfSignedCert("/tmp/tls")) });
 * await proxy.stop();
 * ```
 */
export function startTlsProxy(opts: { target: string; cert: string; key: string }): Promise<TlsProxy> {
  const target = new URL(opts.target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  const stats: ProxyStats = { requests: 0, up: 0, down: 0 };

  const handler = (req: Request): Promise<Response> => {
    stats.requests++;
    const url = new URL(req.url);
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => {
      if (!HOP.has(k)) headers[k] = v;
    });
    headers.host ??= url.host; // HTTP/2 carries it as :authority
    return new Promise<Response>((resolve) => {
      const fail = (e: unknown) =>
        resolve(new Response(`tls proxy: upstream failed: ${(e as Error).message}`, { status: 502 }));
      const out = http.request({
        host: target.hostname,
        port: Number(target.port || 80),
        method: req.method,
        path: url.pathname + url.search,
        headers,
        agent,
      }, (res) => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (v === undefined || HOP.has(k)) continue;
          if (Array.isArray(v)) { for (const x of v) h.append(k, x); }
          else h.set(k, v);
        }
        const status = res.statusCode ?? 502;
        if (req.method === "HEAD" || status === 204 || status === 304) {
          res.resume();
          resolve(new Response(null, { status, headers: h }));
          return;
        }
        const body = new ReadableStream<Uint8Array>({
          start(c) {
            res.on("data", (chunk: Uint8Array) => {
              stats.down += chunk.length;
              c.enqueue(new Uint8Array(chunk));
              if ((c.desiredSize ?? 1) <= 0) res.pause();
            });
            res.on("end", () => c.close());
            res.on("error", (e) => c.error(e));
          },
          pull() {
            res.resume();
          },
          cancel() {
            res.destroy();
          },
        }, { highWaterMark: 4 });
        resolve(new Response(body, { status, headers: h }));
      });
      out.on("error", fail);
      if (!req.body) {
        out.end();
        return;
      }
      (async () => {
        try {
          for await (const chunk of req.body!) {
            stats.up += chunk.length;
            if (!out.write(chunk)) await new Promise((r) => out.once("drain", r));
          }
          out.end();
        } catch (e) {
          out.destroy(e as Error);
        }
      })();
    });
  };

  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: opts.cert,
      key: opts.key,
      onListen: (addr) => {
        resolve({
          url: `https://127.0.0.1:${addr.port}`,
          stats: () => ({ ...stats }),
          async stop() {
            await server.shutdown();
            agent.destroy();
          },
        });
      },
      onError: (e) => new Response(`tls proxy error: ${(e as Error).message}`, { status: 502 }),
    }, handler);
  });
}
