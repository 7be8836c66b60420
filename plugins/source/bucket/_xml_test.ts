import { assert, assertEquals, assertThrows } from "../../../tests/assert.ts";
import { child, children, decodeEntities, MAX_DEPTH, parseXml, text, XmlError } from "./_xml.ts";

/** Asserts that `fn` throws an {@link XmlError} whose message includes `includes`. */
function rejects(fn: () => unknown, includes = "", what = ""): void {
  const e = assertThrows(fn, includes);
  assert(e instanceof XmlError, `${what}: ${e}`);
}

Deno.test("xml: a ListObjectsV2 page with entities, CDATA, prefixes and a continuation token", () => {
  const doc = parseXml(`<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name><Prefix></Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter>
  <IsTruncated>true</IsTruncated>
  <!-- a comment -->
  <Contents><Key>a+b=c&amp;d?.txt</Key><LastModified>2026-12-07T16:00:00.000Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass>
    <Owner><ID>x</ID><DisplayName>x</DisplayName></Owner></Contents>
  <Contents><Key>&lt;&#233;&#x1F600;&gt;</Key><Size>0</Size></Contents>
  <CommonPrefixes><Prefix><![CDATA[dir/<raw>&amp;/]]></Prefix></CommonPrefixes>
  <NextContinuationToken>tok/en==</NextContinuationToken>
</ListBucketResult>`);
  assertEquals(doc.name, "ListBucketResult");
  assertEquals(children(doc, "Contents").map((c) => text(child(c, "Key"))), ["a+b=c&d?.txt", "<é😀>"]);
  assertEquals(text(child(children(doc, "Contents")[0], "ETag")), '"9b2cf535f27731c974343645a3985328"');
  assertEquals(text(child(child(doc, "CommonPrefixes"), "Prefix")), "dir/<raw>&amp;/");
  assertEquals(text(child(doc, "IsTruncated")), "true");
  assertEquals(text(child(doc, "NextContinuationToken")), "tok/en==");
  assertEquals(text(child(doc, "Prefix")), "");
});

Deno.test("xml: empty lists and self-closing elements", () => {
  const doc = parseXml(
    "<ListBucketResult><Name>b</Name><Prefix/><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>",
  );
  assertEquals(children(doc, "Contents"), []);
  assertEquals(text(child(doc, "Prefix")), "");
  assertEquals(text(child(doc, "Missing")), undefined);
  const buckets = parseXml("<ListAllMyBucketsResult><Owner/><Buckets></Buckets></ListAllMyBucketsResult>");
  assertEquals(children(child(buckets, "Buckets"), "Bucket"), []);
  assertEquals(
    parseXml("<a:Error xmlns:a='x'><a:Code>NoSuchKey</a:Code></a:Error>").children[0].name,
    "Code",
  );
});

Deno.test("xml: truncated and malformed documents are errors", () => {
  const page = "<ListBucketResult><Contents><Key>a</Key><Size>1</Size></Contents><Contents><Key>b</Ke";
  for (
    const bad of [
      page,
      "<a><b></a></b>",
      "<a></a><b></b>",
      "text<a/>",
      "<a>x &unknown; y</a>",
      "<a>x & y</a>",
      "<a>&#0;</a>",
      "<a>&#xD800;</a>",
      "<a><!-- open</a>",
      "<a><![CDATA[x</a>",
      "<1a/>",
      "",
      "   ",
    ]
  ) {
    rejects(() => parseXml(bad), "", bad);
  }
});

Deno.test("xml: hostile documents: a DTD, entity expansion, depth, element counts", () => {
  const billion = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>` +
    `<a>&lol2;</a>`;
  rejects(() => parseXml(billion), "document type");
  rejects(() => parseXml(`<a>${"<b>".repeat(MAX_DEPTH)}`), "nested deeper");
  const deep = "<a>".repeat(100_000) + "</a>".repeat(100_000);
  rejects(() => parseXml(deep), "nested deeper");
  rejects(() => parseXml(`<a>${"<b/>".repeat(300_000)}</a>`), "more than");
  // A long text costs its length, nothing more.
  const long = "x".repeat(1 << 20);
  assertEquals(text(parseXml(`<a>${long}</a>`))?.length, 1 << 20);
});

Deno.test("xml: entities", () => {
  assertEquals(decodeEntities("&lt;&gt;&amp;&quot;&apos;"), "<>&\"'");
  assertEquals(decodeEntities("&#65;&#x42;&#X43;".replace("&#X43;", "")), "AB");
  assertEquals(decodeEntities("&amp;lt;"), "&lt;");
  assertEquals(decodeEntities("no entity"), "no entity");
  rejects(() => decodeEntities("&#x110000;"));
  rejects(() => decodeEntities("&#99999999;"));
});
