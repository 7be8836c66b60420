/**
 * What the bucket source needs of an object store, spoken by S3 (./_s3.ts) and native Swift
 * (./_swift.ts) alike, and the metadata keys both record.
 *
 * Metadata of an object (`SourceEntry.meta`), lower-case keys, values as the store sent them:
 * `etag` (unquoted), `last-modified`, `content-type`, `content-encoding`, `content-disposition`,
 * `content-language`, `cache-control`, `expires`, `storage-class`, `version-id`, `x-meta-<name>` (user
 * metadata: `x-amz-meta-<name>` or `X-Object-Meta-<name>`), and `kind`: `slo` / `dlo` (Swift large
 * objects, backed up as their logical content; a DLO's `dlo-manifest` is its `X-Object-Manifest`),
 * `multipart` (an S3 object uploaded in parts), `delete-marker`.
 *
 * @example
 * ```ts
 * import { CONTENT_HEADERS } from "./_backend.ts";
 * CONTENT_HEADERS.includes("content-type"); // true
 * ```
 * @module
 */

/** Content headers recorded per object and written back on restore. */
export const CONTENT_HEADERS = [
  "content-type",
  "content-encoding",
  "content-disposition",
  "content-language",
  "cache-control",
  "expires",
] as const;

/** The prefix of user metadata keys in `meta`. */
export const USER_META = "x-meta-";

/**
 * An ETag as `meta` and {@link Listed} hold it: without its quotes and weak mark; "" when absent.
 *
 * @example
 * ```ts
 * import { unquoteEtag } from "./_backend.ts";
 * unquoteEtag('W/"abc-2"'); // "abc-2"
 * ```
 */
export function unquoteEtag(etag: string | null | undefined): string {
  return (etag ?? "").replace(/^(W\/)?"|"$/g, "");
}

/**
 * The metadata of an S3 object read by GET (see the module's keys): its ETag and Last-Modified, the content
 * headers, storage class and version id that have a value, `kind: multipart` for an ETag of a multipart
 * upload (`…-N`), and its user metadata. Both S3 backends (with and without the SDK) record it through this.
 *
 * @example
 * ```ts
 * import { s3ObjectMeta } from "./_backend.ts";
 * s3ObjectMeta('"e-2"', undefined, [["content-type", "text/plain"]], [["Owner", "ann"]]);
 * // { etag: "e-2", "content-type": "text/plain", kind: "multipart", "x-meta-owner": "ann" }
 * ```
 */
export function s3ObjectMeta(
  etag: string | null | undefined,
  lastModified: Date | undefined,
  fields: Iterable<[string, string | undefined]>,
  user: Iterable<[string, string]>,
): Record<string, string> {
  const meta: Record<string, string> = { etag: unquoteEtag(etag) };
  if (lastModified) meta["last-modified"] = lastModified.toUTCString();
  for (const [k, v] of fields) if (v) meta[k] = v;
  if (/-\d+$/.test(meta.etag)) meta.kind = "multipart";
  for (const [k, v] of user) meta[USER_META + k.toLowerCase()] = v;
  return meta;
}

/** One item of a listing with delimiter `/`: an object (version), or a common prefix. */
export interface Listed {
  /** The full key; a common prefix ends with `/`. */
  key: string;
  /** A common prefix ("directory"), not an object. */
  prefix: boolean;
  /** Size in bytes. */
  size: number;
  /** ETag, unquoted. */
  etag: string;
  /** Last-Modified, ms since the epoch. */
  mtime: number;
  /** Storage class, when listed. */
  storageClass?: string;
  /** Version id (versioned listings). */
  versionId?: string;
  /** Whether this is the current version (versioned listings; true otherwise). */
  latest: boolean;
  /** A delete marker (versioned listings). */
  deleteMarker?: boolean;
}

/** An answer to a GET: the body and the object's metadata. */
export interface Fetched {
  /** The body (the whole object, or from the asked offset on). */
  body: ReadableStream<Uint8Array>;
  /** Bytes in this body. */
  length: number;
  /** ETag of the object read, unquoted. */
  etag: string;
  /** The object's metadata (see the module's keys). */
  meta: Record<string, string>;
  /** Feeds the transport's stall watch while the body is read. */
  tick?: () => void;
  /** The body is done with. */
  end?: () => void;
}

/** Options of {@link Backend.get}. */
export interface GetObjectOptions {
  /** A version other than the current one. */
  versionId?: string;
  /** Read from this offset on. */
  offset?: number;
  /** Fail with {@link ObjectChangedError} unless the object still has this ETag. */
  ifMatch?: string;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/**
 * Thrown when an object changed while it was being read (`If-Match` refused).
 *
 * @example
 * ```ts
 * import { ObjectChangedError } from "./_backend.ts";
 * new ObjectChangedError("b/k").message; // "b/k: changed while being read"
 * ```
 */
export class ObjectChangedError extends Error {
  /** Build one about `what`. */
  constructor(what: string) {
    super(`${what}: changed while being read`);
    this.name = "ObjectChangedError";
  }
}

/** A store of buckets (S3) or containers (Swift). */
export interface Backend {
  /** `s3` or `swift`. */
  readonly scheme: "s3" | "swift";
  /** The smallest part of a large upload but the last (S3: 5 MiB; Swift SLO: 1 MiB). */
  readonly minPartSize: number;
  /** Every bucket of the account, in byte order. */
  buckets(signal?: AbortSignal): AsyncIterable<string>;
  /** One level under `prefix` (delimiter `/`), page by page, in key order (versions: newest first). */
  list(bucket: string, prefix: string, versions: boolean, signal?: AbortSignal): AsyncIterable<Listed>;
  /** Reads an object. Throws a `not-found` StorageError when it is gone. */
  get(bucket: string, key: string, options: GetObjectOptions): Promise<Fetched>;
  /** The ETag and size of an object, or null when absent. */
  head(bucket: string, key: string, signal?: AbortSignal): Promise<{ etag: string; size: number } | null>;
  /** Makes the bucket when missing. */
  createBucket(bucket: string, signal?: AbortSignal): Promise<void>;
  /** Writes an object in one request, with its content headers and user metadata. */
  put(
    bucket: string,
    key: string,
    data: Uint8Array,
    meta: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<void>;
  /** Writes a large object from its parts in order (S3 multipart upload, Swift SLO). */
  putParts(
    bucket: string,
    key: string,
    parts: AsyncIterable<Uint8Array>,
    meta: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}

/**
 * The metadata to write back: content headers and user metadata only, with values a header takes.
 *
 * @example
 * ```ts
 * import { writableMeta } from "./_backend.ts";
 * writableMeta({ etag: "x", "content-type": "text/plain", "x-meta-a": "1" });
 * // { headers: { "content-type": "text/plain" }, user: { a: "1" } }
 * ```
 */
export function writableMeta(
  meta: Readonly<Record<string, unknown>> | undefined,
): { headers: Record<string, string>; user: Record<string, string> } {
  const headers: Record<string, string> = {};
  const user: Record<string, string> = {};
  // The snapshot is untrusted: only header-safe names and values are written.
  const value = (v: unknown) => typeof v === "string" && /^[\t\x20-\x7e]{0,4096}$/.test(v);
  for (const [k, v] of Object.entries(meta ?? {})) {
    if (!value(v)) continue;
    if ((CONTENT_HEADERS as readonly string[]).includes(k)) headers[k] = v as string;
    else if (k.startsWith(USER_META) && /^[a-z0-9!#$&'*+.^_`|~-]{1,128}$/.test(k.slice(USER_META.length))) {
      user[k.slice(USER_META.length)] = v as string;
    }
  }
  return { headers, user };
}
