import { assertEquals } from "../../../tests/assert.ts";
import { canonicalQuery, EMPTY_SHA256, encodePath, signV4, uriEncode } from "./_sigv4.ts";

// The examples of the AWS S3 documentation, "Signature Calculations for the Authorization Header:
// Transferring Payload in a Single Chunk (AWS Signature Version 4)".
const credentials = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};
const date = new Date("2013-05-24T00:00:00Z");
const host = "examplebucket.s3.amazonaws.com";
const signature = (h: Record<string, string>) => /Signature=([0-9a-f]{64})$/.exec(h.authorization)?.[1];

Deno.test("sigv4: GET Object with a range (AWS example)", () => {
  const h = signV4(
    {
      method: "GET",
      path: "/test.txt",
      query: [],
      headers: { host, range: "bytes=0-9" },
      payloadHash: EMPTY_SHA256,
    },
    credentials,
    "us-east-1",
    date,
  );
  assertEquals(h["x-amz-date"], "20130524T000000Z");
  assertEquals(
    h.authorization,
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," +
      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
  );
});

Deno.test("sigv4: PUT Object with an encoded key and a date header (AWS example)", () => {
  const h = signV4(
    {
      method: "PUT",
      path: encodePath("", undefined, "test$file.text"),
      query: [],
      headers: { host, date: "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY" },
      payloadHash: "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
    },
    credentials,
    "us-east-1",
    date,
  );
  assertEquals(signature(h), "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
});

Deno.test("sigv4: GET bucket lifecycle, a value-less parameter (AWS example)", () => {
  const h = signV4(
    { method: "GET", path: "/", query: [["lifecycle", ""]], headers: { host }, payloadHash: EMPTY_SHA256 },
    credentials,
    "us-east-1",
    date,
  );
  assertEquals(signature(h), "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
});

Deno.test("sigv4: list objects, parameters sorted (AWS example)", () => {
  const h = signV4(
    {
      method: "GET",
      path: "/",
      query: [["prefix", "J"], ["max-keys", "2"]],
      headers: { host },
      payloadHash: EMPTY_SHA256,
    },
    credentials,
    "us-east-1",
    date,
  );
  assertEquals(signature(h), "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
});

Deno.test("sigv4: a session token is signed", () => {
  const h = signV4(
    { method: "GET", path: "/", query: [], headers: { host }, payloadHash: EMPTY_SHA256 },
    { ...credentials, sessionToken: "TOKEN" },
    "us-east-1",
    date,
  );
  assertEquals(h["x-amz-security-token"], "TOKEN");
  assertEquals(
    /SignedHeaders=([^,]+)/.exec(h.authorization)?.[1],
    "host;x-amz-content-sha256;x-amz-date;x-amz-security-token",
  );
});

Deno.test("sigv4: URI encoding of keys, buckets and query values", () => {
  assertEquals(uriEncode("AZaz09-._~"), "AZaz09-._~");
  assertEquals(uriEncode("a/b c+d=e&f?g#h%i*!'()"), "a%2Fb%20c%2Bd%3De%26f%3Fg%23h%25i%2A%21%27%28%29");
  assertEquals(uriEncode("😀/ü", true), "%F0%9F%98%80/%C3%BC");
  assertEquals(encodePath("", "b", "dir//double"), "/b/dir//double");
  assertEquals(encodePath("", "b", "x/../y"), "/b/x/../y");
  assertEquals(encodePath("/base/", "b", ""), "/base/b");
  assertEquals(encodePath("", undefined, ""), "/");
  assertEquals(encodePath("/base", undefined, "k"), "/base/k");
  assertEquals(encodePath("", undefined, "trailing/"), "/trailing/");
  assertEquals(
    canonicalQuery([["prefix", "a b/"], ["delimiter", "/"], ["list-type", "2"], ["versions", ""]]),
    "delimiter=%2F&list-type=2&prefix=a%20b%2F&versions=",
  );
});
