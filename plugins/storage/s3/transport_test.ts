/**
 * Tests of the s3 storage's fetch transport against small local servers (no Swift needed): timeouts,
 * bodies cut short, aborts, what goes on the wire, and TLS trust (`caBundle`, `AWS_CA_BUNDLE`,
 * `NODE_EXTRA_CA_CERTS`). Resource and op sanitizers stay on: every response must be consumed or
 * cancelled, every timer cleared.
 *
 * @example
 * ```sh
 * deno test --allow-all plugins/storage/s3/transport_test.ts
 * ```
 * @module
 */
import net from "node:net";
import s3, { type Options } from "./mod.ts";
import { StorageError } from "../../../core/contracts.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../../tests/assert.ts";

const creds = { accessKeyId: "AKIDTEST", secretAccessKey: "secret-for-tests-1234", region: "us-east-1" };

/** What a raw server does with one request, once its body is in: `head` is the request line and headers. */
type Script = (sock: net.Socket, head: string) => void;

/** A raw TCP server answering each request with `script`, for behaviour fetch's peers rarely show. */
async function rawServer(script: Script) {
  const sockets = new Set<net.Socket>();
  const heads: string[] = [];
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    let buf = "";
    let head: string | undefined;
    let bodyLeft = 0;
    sock.on("data", (d) => {
      buf += d.toString("latin1");
      for (;;) {
        if (head === undefined) {
          const end = buf.indexOf("\r\n\r\n");
          if (end < 0) return;
          head = buf.slice(0, end);
          buf = buf.slice(end + 4);
          bodyLeft = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        }
        const take = Math.min(bodyLeft, buf.length);
        buf = buf.slice(take);
        bodyLeft -= take;
        if (bodyLeft > 0) return;
        heads.push(head);
        script(sock, head);
        head = undefined;
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    heads,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

function storage(endpoint: string, extra: Partial<Options> = {}) {
  return s3({ bucket: "bkt", prefix: "p", endpoint, ...creds, ...extra });
}

Deno.test("s3 transport: a body that stalls fails as transient after requestTimeoutMs", async () => {
  const srv = await rawServer((sock) =>
    sock.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
  );
  const st = storage(srv.endpoint, { requestTimeoutMs: 300 });
  try {
    const t0 = performance.now();
    const e = await assertRejects(() => st.get("data/a"), StorageError);
    assertEquals(e.code, "transient", e.message);
    assertStringIncludes(e.message, "no data for 300 ms");
    assert(performance.now() - t0 < 5000);
  } finally {
    await st.close?.();
    await srv.close();
  }
});

Deno.test("s3 transport: no answer fails as transient after connectTimeoutMs + requestTimeoutMs", async () => {
  const srv = await rawServer(() => {});
  const st = storage(srv.endpoint, { connectTimeoutMs: 100, requestTimeoutMs: 200 });
  try {
    const e = await assertRejects(() => st.stat("data/a"), StorageError);
    assertEquals(e.code, "transient", e.message);
    assertStringIncludes(e.message, "no answer for 300 ms");
  } finally {
    await st.close?.();
    await srv.close();
  }
});

Deno.test("s3 transport: a large upload without an answer fails as transient after the timeouts", async () => {
  const srv = await rawServer(() => {});
  const st = storage(srv.endpoint, { connectTimeoutMs: 100, requestTimeoutMs: 200 });
  try {
    const e = await assertRejects(() => st.put("data/a", new Uint8Array(70_000)), StorageError);
    assertEquals(e.code, "transient", e.message);
    assertStringIncludes(e.message, "no answer for");
  } finally {
    await st.close?.();
    await srv.close();
  }
});

Deno.test("s3 transport: a large upload whose connection is reset is transient; an abort rejects with the reason", async () => {
  const sockets = new Set<net.Socket>();
  let got = 0;
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on("error", () => {});
    sock.on("data", (d) => {
      got += d.length;
      if (got > 300_000) sock.destroy(); // mid-body
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const endpoint = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const st = storage(endpoint, { requestTimeoutMs: 5000 });
  try {
    const body = new Uint8Array(4 << 20).fill(1);
    const e = await assertRejects(() => st.put("data/a", body), StorageError);
    assertEquals(e.code, "transient", e.message);
    assertEquals(body.every((b) => b === 1), true); // the caller's bytes are untouched

    got = -Infinity; // never reset: the upload stalls once the socket's buffers are full
    const ac = new AbortController();
    const reason = new Error("user stop");
    setTimeout(() => ac.abort(reason), 100);
    const a = await st.put("data/b", body, { signal: ac.signal }).then(() => undefined, (x) => x);
    assertEquals(a, reason);
  } finally {
    await st.close?.();
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  }
});

Deno.test("s3 transport: a body cut short is transient", async () => {
  const srv = await rawServer((sock) => {
    sock.write("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + "x".repeat(5000));
    setTimeout(() => sock.destroy(), 20);
  });
  const st = storage(srv.endpoint);
  try {
    const e = await assertRejects(() => st.get("data/a"), StorageError);
    assertEquals(e.code, "transient", e.message);
  } finally {
    await st.close?.();
    await srv.close();
  }
});

Deno.test("s3 transport: an abort while the body arrives rejects with the signal's reason", async () => {
  let sent!: () => void;
  const started = new Promise<void>((r) => (sent = r));
  const srv = await rawServer((sock) => {
    sock.write("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + "y".repeat(70000));
    sent();
  });
  const st = storage(srv.endpoint);
  try {
    const ac = new AbortController();
    const pending = st.get("data/a", { signal: ac.signal });
    await started;
    await new Promise((r) => setTimeout(r, 50));
    const reason = new Error("user stop");
    ac.abort(reason);
    const e = await pending.then(() => undefined, (e) => e);
    assertEquals(e, reason);
  } finally {
    await st.close?.();
    await srv.close();
  }
});

Deno.test("s3 transport: GETs read exactly Content-Length; puts go out with a length and no Expect", async () => {
  const object = new Uint8Array(300_000).map((_, i) => (i * 7) & 255);
  const srv = await rawServer((sock, head) => {
    if (head.startsWith("GET ")) {
      const range = /\r\nrange: bytes=(\d+)-(\d+)/i.exec(head);
      const part = range ? object.subarray(Number(range[1]), Number(range[2]) + 1) : object;
      sock.write(`HTTP/1.1 ${range ? 206 : 200} OK\r\nContent-Length: ${part.length}\r\n\r\n`);
      sock.write(part);
    } else sock.write('HTTP/1.1 200 OK\r\nETag: "x"\r\nContent-Length: 0\r\n\r\n');
  });
  const st = storage(srv.endpoint, { conditionalWrites: false });
  try {
    assertEquals(await st.get("data/a"), object);
    assertEquals(
      await st.get("data/a", { range: { offset: 1000, length: 70_000 } }),
      object.subarray(1000, 71_000),
    );
    await st.put("data/b", object.subarray(5, 200_005));
    const put = srv.heads.find((h) => h.startsWith("PUT "))!;
    assertStringIncludes(put.toLowerCase(), "\r\ncontent-length: 200000");
    assert(!/\r\n(transfer-encoding|expect):/i.test(put), put);
    // Plain http: the payload's SHA-256 is signed.
    assert(/\r\nx-amz-content-sha256: [0-9a-f]{64}/i.test(put), put);
    assert(/\r\naccept-encoding: identity/i.test(put), put);
  } finally {
    await st.close?.();
    await srv.close();
  }
});

/** A CA and a server certificate it issued for 127.0.0.1, plus a self-signed CA:TRUE one. */
async function certificates(dir: string) {
  const openssl = async (...args: string[]) => {
    const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" }).output();
    if (!out.success) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
  };
  const f = (name: string) => `${dir}/${name}`;
  await openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=floe test CA",
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.pem"),
  );
  await openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=127.0.0.1",
    "-keyout",
    f("srv.key"),
    "-out",
    f("srv.csr"),
  );
  Deno.writeTextFileSync(f("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n");
  await openssl(
    "x509",
    "-req",
    "-in",
    f("srv.csr"),
    "-CA",
    f("ca.pem"),
    "-CAkey",
    f("ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    f("ext.cnf"),
    "-out",
    f("srv.pem"),
  );
  // What `openssl req -x509` makes by default: a CA certificate, here presented as the server's own.
  await openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
    "-keyout",
    f("self.key"),
    "-out",
    f("self.pem"),
  );
  return {
    caFile: f("ca.pem"),
    server: { cert: Deno.readTextFileSync(f("srv.pem")), key: Deno.readTextFileSync(f("srv.key")) },
    selfFile: f("self.pem"),
    self: { cert: Deno.readTextFileSync(f("self.pem")), key: Deno.readTextFileSync(f("self.key")) },
  };
}

const hasOpenssl = await new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);

Deno.test({
  name: "s3 transport: https with a private CA from caBundle, AWS_CA_BUNDLE or NODE_EXTRA_CA_CERTS",
  ignore: !hasOpenssl,
  fn: async () => {
    const dir = Deno.makeTempDirSync({ prefix: "floe-s3-tls-" });
    const saved = ["AWS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"].map((k) => [k, Deno.env.get(k)] as const);
    const unset = () => saved.forEach(([k]) => Deno.env.delete(k));
    const puts: Headers[] = [];
    const certs = await certificates(dir);
    const serve = (tls: { cert: string; key: string }) =>
      Deno.serve({ hostname: "127.0.0.1", port: 0, ...tls, onListen() {} }, async (req) => {
        if (req.method === "PUT") {
          puts.push(req.headers);
          await req.arrayBuffer();
          return new Response(null, { headers: { etag: '"x"' } });
        }
        return new Response(req.method === "HEAD" ? null : "hello", { headers: { "content-length": "5" } });
      });
    const good = serve(certs.server);
    const selfSigned = serve(certs.self);
    try {
      const url = `https://127.0.0.1:${good.addr.port}`;
      unset();
      const untrusted = storage(url);
      const e = await assertRejects(() => untrusted.get("data/a"), StorageError);
      assertEquals(e.code, "permanent", e.message);
      assertStringIncludes(e.message, "AWS_CA_BUNDLE");
      // A large body goes out through the uploader (node:https): refused and explained the same way.
      const u = await assertRejects(() => untrusted.put("data/u", new Uint8Array(100_000)), StorageError);
      assertEquals(u.code, "permanent", u.message);
      assertStringIncludes(u.message, "AWS_CA_BUNDLE");
      await untrusted.close?.();

      for (const how of ["caBundle", "AWS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"]) {
        unset();
        if (how !== "caBundle") Deno.env.set(how, certs.caFile);
        const st = storage(url, how === "caBundle" ? { caBundle: certs.caFile } : {});
        assertEquals(new TextDecoder().decode(await st.get("data/a")), "hello", how);
        await st.put("data/b", new Uint8Array(1000), {});
        await st.put("data/c", new Uint8Array(100_000), {}); // through the uploader
        await st.close?.();
      }
      // Over TLS, uploads are signed with UNSIGNED-PAYLOAD.
      assertEquals(puts.map((h) => h.get("x-amz-content-sha256")), Array(6).fill("UNSIGNED-PAYLOAD"));
      assertEquals(puts.map((h) => h.get("content-length")), Array(3).fill(["1000", "100000"]).flat());

      unset();
      Deno.env.set("AWS_CA_BUNDLE", `${dir}/missing.pem`);
      const missing = storage(url);
      const m = await assertRejects(() => missing.stat("data/a"), StorageError);
      assertEquals(m.code, "permanent", m.message);
      assertStringIncludes(m.message, "missing.pem");
      await missing.close?.();

      // A CA certificate presented as the server's: rustls refuses it, and says what to do.
      unset();
      const ca = storage(`https://127.0.0.1:${selfSigned.addr.port}`, { caBundle: certs.selfFile });
      const c = await assertRejects(() => ca.stat("data/a"), StorageError);
      assertEquals(c.code, "permanent", c.message);
      assertStringIncludes(c.message, "CA:FALSE");
      await ca.close?.();
    } finally {
      for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
      await good.shutdown();
      await selfSigned.shutdown();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
