/**
 * Parses `s3:` repository locations without loading the AWS SDK.
 *
 * Forms: `s3:http(s)://host[:port]/bucket[/prefix]` (a custom endpoint, path-style) and
 * `s3:bucket[/prefix]` (AWS, virtual-hosted style).
 *
 * @example
 * ```ts
 * import { parseS3Location } from "./location.ts";
 * parseS3Location("s3:http://127.0.0.1:9000/backups/host1");
 * // { storage: "s3", options: { endpoint: "http://127.0.0.1:9000", bucket: "backups", prefix: "host1" } }
 * ```
 * @module
 */
import { LocationError, maskLocation, type ParsedLocation } from "../location.ts";

/** The scheme prefix this parser handles. */
export const S3_SCHEME = "s3:";

function fail(loc: string, why: string): never {
  throw new LocationError(
    `invalid s3 location ${JSON.stringify(maskLocation(loc))}: ${why}`,
  );
}

/**
 * Parses an `s3:` location into the `s3` storage's options (`endpoint`, `bucket`, `prefix`).
 *
 * @example
 * ```ts
 * import { parseS3Location } from "./location.ts";
 * parseS3Location("s3:my-bucket/floe"); // { storage: "s3", options: { bucket: "my-bucket", prefix: "floe" } }
 * ```
 */
export function parseS3Location(location: string): ParsedLocation {
  const rest = location.slice(S3_SCHEME.length);
  const options: Record<string, unknown> = {};
  let path: string;
  if (/^https?:\/\//i.test(rest)) {
    let url: URL;
    try {
      url = new URL(rest);
    } catch {
      fail(location, "the endpoint is not a valid URL");
    }
    if (url.username || url.password) {
      fail(location, "credentials do not belong in the location; use AWS_* variables");
    }
    options.endpoint = `${url.protocol}//${url.host}`;
    path = decodeURIComponent(url.pathname);
  } else {
    path = rest;
  }
  path = path.replace(/^\/+/, "").replace(/\/+$/, "");
  const slash = path.indexOf("/");
  const bucket = slash < 0 ? path : path.slice(0, slash);
  const prefix = slash < 0 ? "" : path.slice(slash + 1).replace(/\/+/g, "/");
  if (!bucket) fail(location, "no bucket given");
  if (!/^[A-Za-z0-9._-]+$/.test(bucket)) fail(location, `bad bucket name ${JSON.stringify(bucket)}`);
  options.bucket = bucket;
  if (prefix) options.prefix = prefix;
  return { storage: "s3", options };
}
