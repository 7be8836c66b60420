/**
 * Tests of the shared GET reader against scripted HTTP/1.1 servers on loopback (raw sockets, so that every
 * framing and failure can be produced on purpose): bodies of every framing, keep-alive and stale
 * connections, cut bodies, aborts, TLS trust, header checks. The s3 conformance suite exercises it against
 * Swift's s3api.
 *
 * @example
 * ```sh
 * deno test --allow-all plugins/storage/download_test.ts
 * ```
 * @module
 */
import { Downloader, takesDownload } from "./download.ts";
import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { randomBytes } from "../../tests/helpers.ts";
import { selfSignedCert } from "../../tests/fixtures/tls.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** What a scripted server does with one request on one connection; return false to close it. */
type Script = (conn: Deno.Conn, request: string, n: number) => Promise<boolean | void>;

/** A raw HTTP server: reads each request head and runs `script`; counts connections and requests. */
function serve(script: Script, listen?: () => Deno.Listener) {
  const listener = listen ? listen() : Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const stats = { connections: 0, requests: 0, heads: [] as string[] };
  const open = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      stats.connections++;
      open.add(conn);
      (async () => {
        const buf = new Uint8Array(65536);
        let text = "";
        try {
          for (;;) {
            const k = await conn.read(buf);
            if (k === null) break;
            text += dec.decode(buf.subarray(0, k));
            let end: number;
            while ((end = text.indexOf("\r\n\r\n")) >= 0) {
              const head = text.slice(0, end);
              text = text.slice(end + 4);
              stats.heads.push(head);
              if ((await script(conn, head, stats.requests++)) === false) throw new Error("close");
            }
          }
        } catch { /* closed */ }
        open.delete(conn);
        try {
          conn.close();
        } catch { /* already */ }
      })();
    }
  })().catch(() => {});
  const addr = listener.addr as Deno.NetAddr;
  return {
    stats,
    url: (path = "/x") => `http://127.0.0.1:${addr.port}${path}`,
    port: addr.port,
    close() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* already */ }
      }
    },
  };
}

const write = async (conn: Deno.Conn, data: string | Uint8Array) => {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  for (let o = 0; o < bytes.length;) o += await conn.write(bytes.subarray(o));
};

/** Reads a whole body with a BYOB reader into one buffer of `size` bytes, as the storages do. */
async function readByob(res: Response, size: number): Promise<Uint8Array> {
  const reader = res.body!.getReader({ mode: "byob" });
  let buf = new ArrayBuffer(size);
  let n = 0;
  while (n < size) {
    const r = await reader.read(new Uint8Array(buf, n, size - n));
    if (r.value) buf = r.value.buffer as ArrayBuffer;
    if (r.done) break;
    n += r.value.byteLength;
  }
  assert((await reader.read(new Uint8Array(1))).done, "body longer than announced");
  return new Uint8Array(buf, 0, n);
}

Deno.test("download: Content-Length bodies read by BYOB, over one kept-alive connection", async () => {
  const body = randomBytes(3 << 20, 1);
  const srv = serve(async (conn) => {
    await write(conn, `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nx-amz-id: 7\r\n\r\n`);
    // In pieces, so the reader sees partial reads.
    for (let o = 0; o < body.length; o += 100_000) await write(conn, body.subarray(o, o + 100_000));
  });
  const down = new Downloader({ caCerts: [] });
  try {
    for (let i = 0; i < 3; i++) {
      const res = await down.get(srv.url(`/b/k${i}?x-id=GetObject`), {
        headers: { "x-amz-date": "20261203T000000Z" },
      });
      assertEquals(res.status, 200);
      assertEquals(res.headers.get("x-amz-id"), "7");
      assertEquals(await readByob(res, body.length), body);
    }
    assertEquals(srv.stats.connections, 1, "the connection is reused");
    assert(srv.stats.heads[0].startsWith("GET /b/k0?x-id=GetObject HTTP/1.1\r\n"), srv.stats.heads[0]);
    assert(/\r\nhost: 127\.0\.0\.1:\d+\r\n/.test(srv.stats.heads[0] + "\r\n"));
    assert(srv.stats.heads[0].includes("x-amz-date: 20261203T000000Z"));
  } finally {
    down.destroy();
    srv.close();
  }
});

Deno.test("download: chunked and close-delimited bodies, empty answers, error documents", async () => {
  const srv = serve(async (conn, head) => {
    if (head.includes(" /chunked ")) {
      await write(conn, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n");
      await write(conn, "1\r\n \r\n6\r\nworld!\r\n0\r\ntrailer: x\r\n\r\n");
    } else if (head.includes(" /empty ")) {
      await write(conn, "HTTP/1.1 204 No Content\r\n\r\n");
    } else if (head.includes(" /missing ")) {
      const doc = "<Error><Code>NoSuchKey</Code></Error>";
      await write(conn, `HTTP/1.1 404 Not Found\r\ncontent-length: ${doc.length}\r\n\r\n${doc}`);
    } else {
      await write(conn, "HTTP/1.0 200 OK\r\n\r\nuntil the end");
      return false;
    }
    return true;
  });
  const down = new Downloader({ caCerts: [] });
  try {
    assertEquals(await (await down.get(srv.url("/chunked"), { headers: {} })).text(), "hello world!");
    assertEquals((await down.get(srv.url("/empty"), { headers: {} })).status, 204);
    const missing = await down.get(srv.url("/missing"), { headers: {} });
    assertEquals([missing.status, await missing.text()], [404, "<Error><Code>NoSuchKey</Code></Error>"]);
    assertEquals(srv.stats.connections, 1, "chunked, empty and sized answers keep the connection");
    assertEquals(await (await down.get(srv.url("/closed"), { headers: {} })).text(), "until the end");
    assertEquals(await (await down.get(srv.url("/chunked"), { headers: {} })).text(), "hello world!");
    assertEquals(srv.stats.connections, 2, "a close-delimited body ends its connection");
  } finally {
    down.destroy();
    srv.close();
  }
});

Deno.test("download: a body cut short is a TypeError naming it; a stale kept-alive connection is retried", async () => {
  const srv = serve(async (conn, head, n) => {
    if (head.includes(" /cut ")) {
      await write(conn, "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n");
      await write(conn, new Uint8Array(400));
      return false;
    }
    await write(conn, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    return n !== 1; // the second is answered, then closed: the pooled connection is stale
  });
  const down = new Downloader({ caCerts: [] });
  try {
    const res = await down.get(srv.url("/cut"), { headers: {} });
    const e = await assertRejects(() => readByob(res, 1000));
    assert(e instanceof TypeError && /prematurely: 400 of 1000/.test(e.message), String(e));
    assertEquals(await (await down.get(srv.url("/a"), { headers: {} })).text(), "ok");
    await new Promise((r) => setTimeout(r, 50)); // the server's close arrives
    assertEquals(await (await down.get(srv.url("/b"), { headers: {} })).text(), "ok");
    assertEquals(srv.stats.requests, 3);
    assertEquals(srv.stats.connections, 3, "the stale connection was replaced, the request sent once on it");
  } finally {
    down.destroy();
    srv.close();
  }
});

Deno.test("download: request bodies are sent with their length, kept alive; a stale connection repeats only what may be", async () => {
  const big = randomBytes(1 << 20, 2);
  const ports = new Set<number>();
  const got: Uint8Array[] = [];
  const lengths: (string | null)[] = [];
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req, info) => {
    ports.add(info.remoteAddr.port);
    lengths.push(req.headers.get("content-length"));
    got.push(await req.bytes());
    return new Response(null, { status: 200, headers: { etag: '"e"' } });
  });
  const srv = serve(async (conn, _head, n) => {
    await write(conn, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    return n !== 0 && n !== 2; // answered, then closed: the pooled connection is stale
  });
  const down = new Downloader({ caCerts: [] });
  try {
    for (let i = 0; i < 2; i++) {
      const url = `http://127.0.0.1:${http.addr.port}/b/k${i}`;
      const res = await down.send(url, { method: "put", headers: { "x-k": "v" }, body: big });
      assertEquals([res.status, res.headers.get("etag")], [200, '"e"']);
      await res.body?.cancel();
    }
    assertEquals(got, [big, big]);
    assertEquals(lengths, [String(big.length), String(big.length)]);
    assertEquals(ports.size, 1, "the connection is reused");
    // A small PUT on a connection the server has closed meanwhile: sent again on a new one.
    assertEquals(await (await down.get(srv.url("/a"), { headers: {} })).text(), "ok");
    await new Promise((r) => setTimeout(r, 50)); // the server's close arrives
    const put = await down.send(srv.url("/p"), { method: "PUT", headers: {}, body: enc.encode("x") });
    assertEquals(await put.text(), "ok");
    assertEquals(srv.stats.connections, 2, "the stale connection was replaced");
    // A POST (or a conditional PUT) is not repeated: whether the server acted on it is unknown.
    assertEquals(await (await down.get(srv.url("/b"), { headers: {} })).text(), "ok");
    await new Promise((r) => setTimeout(r, 50));
    const e = await assertRejects(() =>
      down.send(srv.url("/post"), { method: "POST", headers: {}, body: enc.encode("<x/>") })
    );
    assert(e instanceof TypeError, String(e));
    assertEquals(srv.stats.connections, 2, "the POST was not sent again on a new connection");
  } finally {
    down.destroy();
    srv.close();
    await http.shutdown();
  }
});

Deno.test("download: aborts before the answer and while the body is read; refused connections", async () => {
  const srv = serve(async (conn, head) => {
    if (head.includes(" /slow-head ")) return await new Promise<void>((r) => setTimeout(r, 300));
    await write(conn, "HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n");
    await write(conn, new Uint8Array(10));
    await new Promise((r) => setTimeout(r, 300));
  });
  const down = new Downloader({ caCerts: [] });
  try {
    const reason = new Error("stop now");
    const ac = new AbortController();
    setTimeout(() => ac.abort(reason), 30);
    assertEquals(
      await down.get(srv.url("/slow-head"), { headers: {}, signal: ac.signal }).catch((e) => e),
      reason,
    );
    const ac2 = new AbortController();
    const res = await down.get(srv.url("/slow-body"), { headers: {}, signal: ac2.signal });
    setTimeout(() => ac2.abort(reason), 30);
    assertEquals(await readByob(res, 100000).catch((e) => e), reason);
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const refused = await down.get(`http://127.0.0.1:${port}/x`, { headers: {} }).catch((e) => e);
    assert(
      refused instanceof TypeError && /connection to 127\.0\.0\.1:\d+ failed/.test(refused.message),
      String(refused),
    );
  } finally {
    down.destroy();
    srv.close();
  }
});

Deno.test("download: header values cannot inject lines; only GETs without a proxy are taken", async () => {
  const down = new Downloader({ caCerts: [] });
  try {
    const e = await down.get("http://127.0.0.1:9/x", { headers: { "x-a": "1\r\nx-b: 2" } }).catch((e) => e);
    assert(e instanceof TypeError && /invalid header/.test(e.message), String(e));
  } finally {
    down.destroy();
  }
  const saved = Deno.env.get("HTTP_PROXY");
  try {
    Deno.env.delete("HTTP_PROXY");
    assertEquals(takesDownload("http://127.0.0.1:9/x", "GET"), true);
    assertEquals(takesDownload("http://127.0.0.1:9/x", "HEAD"), false);
    assertEquals(takesDownload("ftp://127.0.0.1:9/x", "GET"), false);
    Deno.env.set("HTTP_PROXY", "http://proxy:3128");
    assertEquals(takesDownload("http://s3.example.com/x", "GET"), false);
  } finally {
    saved === undefined ? Deno.env.delete("HTTP_PROXY") : Deno.env.set("HTTP_PROXY", saved);
  }
});

Deno.test("download: TLS with a private CA given as caCerts; an unknown issuer is refused", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const { cert, key } = await selfSignedCert(dir);
    const body = randomBytes(1 << 20, 2);
    const srv = serve(async (conn) => {
      await write(conn, `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`);
      await write(conn, body);
    }, () => Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key }));
    const trusted = new Downloader({ caCerts: [cert] });
    const untrusted = new Downloader({ caCerts: [] });
    try {
      const url = `https://127.0.0.1:${srv.port}/k`;
      assertEquals(await readByob(await trusted.get(url, { headers: {} }), body.length), body);
      const e = await untrusted.get(url, { headers: {} }).catch((e) => e);
      assert(
        e instanceof TypeError && /TLS connection to .* failed: .*UnknownIssuer/.test(e.message),
        String(e),
      );
    } finally {
      trusted.destroy();
      untrusted.destroy();
      srv.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
