import { assertEquals } from "../../../tests/assert.ts";
import { s3ObjectMeta, unquoteEtag } from "./_backend.ts";

Deno.test("bucket backend: ETags unquoted; S3 metadata with headers that have a value, multipart kind, user keys", () => {
  assertEquals([unquoteEtag('"abc"'), unquoteEtag('W/"abc-2"'), unquoteEtag(null), unquoteEtag("abc")], [
    "abc",
    "abc-2",
    "",
    "abc",
  ]);
  const modified = new Date("2026-12-07T10:00:00Z");
  assertEquals(
    s3ObjectMeta('"e-12"', modified, [["content-type", "text/plain"], ["expires", undefined], [
      "cache-control",
      "",
    ]], [
      ["Owner", "ann"],
    ]),
    {
      etag: "e-12",
      "last-modified": "Mon, 07 Dec 2026 10:00:00 GMT",
      "content-type": "text/plain",
      kind: "multipart",
      "x-meta-owner": "ann",
    },
  );
  assertEquals(s3ObjectMeta('"e"', undefined, [], []), { etag: "e" });
});
