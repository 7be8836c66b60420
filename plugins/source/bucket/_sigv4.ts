/**
 * AWS Signature Version 4 for S3 requests (header signing, HMAC-SHA256 with node:crypto), and the
 * URI encoding it wants: every byte but the unreserved `A–Z a–z 0–9 - . _ ~` as `%XX` of its UTF-8,
 * `/` kept in paths. S3 signs the path as sent (encoded once, not normalized).
 *
 * @example
 * ```ts
 * import { signV4 } from "./_sigv4.ts";
 * const headers = signV4({
 *   method: "GET",
 *   path: "/bucket/key",
 *   query: [],
 *   headers: { host: "127.0.0.1:8080" },
 *   payloadHash: "UNSIGNED-PAYLOAD",
 * }, { accessKeyId: "AK", secretAccessKey: "SK" }, "us-east-1", new Date());
 * headers.authorization.startsWith("AWS4-HMAC-SHA256 Credential=AK/"); // true
 * ```
 * @module
 */
import { createHash, createHmac } from "node:crypto";

/** Explicit credentials. */
export interface Credentials {
  /** Access key id. */
  accessKeyId: string;
  /** Secret access key. */
  secretAccessKey: string;
  /** Session token of temporary credentials. */
  sessionToken?: string;
}

/** What is signed of a request. */
export interface SignInput {
  /** HTTP method, upper case. */
  method: string;
  /** The path as sent: already encoded with {@link encodePath}. */
  path: string;
  /** Query parameters, decoded; a value-less parameter (`?versions`) has the value `""`. */
  query: [string, string][];
  /** Headers to sign (names any case); `host` must be among them. */
  headers: Record<string, string>;
  /** Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`. */
  payloadHash: string;
}

/** Hex SHA-256 of the empty body. */
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const hex = "0123456789ABCDEF";
const utf8 = new TextEncoder();

/**
 * SigV4's URI encoding of one string: unreserved characters kept, `/` kept when `slash` says so.
 *
 * @example
 * ```ts
 * import { uriEncode } from "./_sigv4.ts";
 * uriEncode("a b/ü*", true); // "a%20b/%C3%BC%2A"
 * ```
 */
export function uriEncode(text: string, slash = false): string {
  let out = "";
  for (const b of utf8.encode(text)) {
    if (
      (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ||
      b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e || (slash && b === 0x2f)
    ) {
      out += String.fromCharCode(b);
    } else out += `%${hex[b >> 4]}${hex[b & 15]}`;
  }
  return out;
}

/**
 * The encoded path of an object key (or of a bucket, `key` empty) under `base` (an endpoint's path);
 * `bucket` undefined when the host names it (virtual-hosted style).
 *
 * @example
 * ```ts
 * import { encodePath } from "./_sigv4.ts";
 * encodePath("", "b", "x/../a+b c"); // "/b/x/../a%2Bb%20c"
 * ```
 */
export function encodePath(base: string, bucket: string | undefined, key = ""): string {
  const root = base.replace(/\/+$/, "");
  // A bucket's own requests name it without a trailing slash, as the SDK does.
  if (bucket !== undefined && key === "") return `${root}/${uriEncode(bucket)}`;
  return `${root}${bucket === undefined ? "" : `/${uriEncode(bucket)}`}/${uriEncode(key, true)}`;
}

/**
 * The query string as sent and as signed: names sorted, names and values encoded.
 *
 * @example
 * ```ts
 * import { canonicalQuery } from "./_sigv4.ts";
 * canonicalQuery([["prefix", "a b"], ["list-type", "2"]]); // "list-type=2&prefix=a%20b"
 * ```
 */
export function canonicalQuery(query: [string, string][]): string {
  return query
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const hmac = (key: string | Uint8Array, text: string) => createHmac("sha256", key).update(text).digest();
const stamp = (date: Date) => date.toISOString().replace(/[-:]|\.\d{3}/g, "");

/** The signing key per secret, day and region (one HMAC chain a day, not one per request). */
const keys = new Map<string, Uint8Array>();

/**
 * Signs a request: returns the headers to send (`x-amz-date`, `x-amz-content-sha256`,
 * `x-amz-security-token` with a session token, `authorization`, and the given ones).
 *
 * @example
 * ```ts
 * import { signV4 } from "./_sigv4.ts";
 * const h = signV4(
 *   { method: "GET", path: "/", query: [], headers: { host: "s3.amazonaws.com" }, payloadHash: "UNSIGNED-PAYLOAD" },
 *   { accessKeyId: "AK", secretAccessKey: "SK" },
 *   "us-east-1",
 *   new Date(0),
 * );
 * h["x-amz-date"]; // "19700101T000000Z"
 * ```
 */
export function signV4(
  input: SignInput,
  credentials: Credentials,
  region: string,
  date: Date,
): Record<string, string> {
  const amzDate = stamp(date);
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers)) {
    headers[k.toLowerCase()] = v.trim();
  }
  headers["x-amz-date"] = amzDate;
  headers["x-amz-content-sha256"] = input.payloadHash;
  if (credentials.sessionToken) headers["x-amz-security-token"] = credentials.sessionToken;
  const names = Object.keys(headers).sort();
  const signedHeaders = names.join(";");
  const canonical = [
    input.method,
    input.path,
    canonicalQuery(input.query),
    // Values go out as given; their canonical form has inner white space collapsed, as the store's has.
    names.map((n) => `${n}:${headers[n].replace(/\s+/g, " ")}\n`).join(""),
    signedHeaders,
    input.payloadHash,
  ].join("\n");
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256(canonical)}`;
  const id = `${credentials.secretAccessKey}\n${day}\n${region}`;
  let key = keys.get(id);
  if (!key) {
    key = hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, day), region), "s3"), "aws4_request");
    if (keys.size > 16) keys.clear();
    keys.set(id, key);
  }
  const signature = createHmac("sha256", key).update(toSign).digest("hex");
  headers.authorization =
    `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope},SignedHeaders=${signedHeaders},Signature=${signature}`;
  return headers;
}
