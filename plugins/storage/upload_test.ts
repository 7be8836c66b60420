/**
 * Tests of the shared uploader's proxy rule (its uploads are exercised by the s3 transport tests).
 *
 * @example
 * ```sh
 * deno test --allow-all plugins/storage/upload_test.ts
 * ```
 * @module
 */
import { takesUpload, UPLOAD_FROM, viaProxy } from "./upload.ts";
import { assertEquals } from "../../tests/assert.ts";

const KEYS = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"];

Deno.test("uploads leave fetch only when fetch would not use a proxy", () => {
  const saved = KEYS.map((k) => [k, Deno.env.get(k)] as const);
  try {
    for (const k of KEYS) Deno.env.delete(k);
    assertEquals(viaProxy("https://s3.example.com/b/k"), false);
    assertEquals(takesUpload("https://s3.example.com/b/k", new Uint8Array(UPLOAD_FROM)), true);
    assertEquals(takesUpload("https://s3.example.com/b/k", new Uint8Array(UPLOAD_FROM - 1)), false);
    assertEquals(takesUpload("https://s3.example.com/b/k", "text"), false);

    Deno.env.set("https_proxy", "http://proxy:3128");
    assertEquals(viaProxy("https://s3.example.com/b/k"), true);
    assertEquals(takesUpload("https://s3.example.com/b/k", new Uint8Array(UPLOAD_FROM)), false);
    assertEquals(viaProxy("http://s3.example.com/b/k"), false); // only HTTPS_PROXY is set

    Deno.env.set("NO_PROXY", "localhost, .example.com,10.0.0.1:9000");
    assertEquals(viaProxy("https://s3.example.com/b/k"), false);
    assertEquals(viaProxy("https://example.com/b/k"), false);
    assertEquals(viaProxy("https://10.0.0.1:9000/b/k"), false);
    assertEquals(viaProxy("https://s3.example.org/b/k"), true);

    Deno.env.set("NO_PROXY", "*");
    assertEquals(viaProxy("https://s3.example.org/b/k"), false);
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
});
