/**
 * The bucket source's S3 backend without the AWS SDK: requests signed here (./_sigv4.ts), their XML
 * answers read by ./_xml.ts, sent through the s3 storage's fetch transport (its CA handling, timeouts,
 * stall watch, downloader and uploader), failures mapped to StorageError codes as the SDK's are.
 * The SDK costs RSS that a bucket backup's bound cannot spare: a process that lists a bucket peaks at
 * 69 MiB with it, 52 MiB with this; a backup of 2 × 1 GiB objects at 216–217 MiB with it, 205–208 without.
 *
 * @example
 * ```ts
 * import { leanCredentials } from "./_s3_lean.ts";
 * leanCredentials({ accessKeyId: "AK", secretAccessKey: "SK" }); // { accessKeyId: "AK", secretAccessKey: "SK" }
 * ```
 * @module
 */
import { createHash } from "node:crypto";
import { isStorageError, StorageError } from "../../../core/contracts.ts";
import {
  openTransport,
  type S3ClientOptions,
  type S3Fail,
  s3Failure,
  S3HttpError,
} from "../../storage/s3/_client.ts";
import { bodyProgress, type FetchTransport } from "../../storage/s3/transport.ts";
import type { RetryRunner } from "../../storage/retry/mod.ts";
import {
  type Backend,
  type Fetched,
  type Listed,
  ObjectChangedError,
  s3ObjectMeta,
  unquoteEtag,
  writableMeta,
} from "./_backend.ts";
import { compareBytes } from "./_names.ts";
import { type Credentials, EMPTY_SHA256, encodePath, signV4 } from "./_sigv4.ts";
import { child, children, parseXml, text, type XmlElement } from "./_xml.ts";

/** Largest listing page read (1 000 keys of 1 KiB, each escaped, with its owner, fit many times). */
const MAX_PAGE = 16 * 1024 * 1024;
/** Largest error answer read. */
const MAX_ERROR = 64 * 1024;

/**
 * The credentials the lean path signs with: explicit keys (options, else `AWS_ACCESS_KEY_ID` /
 * `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`); undefined when only the SDK's chain can find them (a
 * profile, config files, instance metadata) or would choose other ones (`AWS_PROFILE` is set).
 *
 * @example
 * ```ts
 * import { leanCredentials } from "./_s3_lean.ts";
 * leanCredentials({ profile: "backup" }); // undefined unless keys are given too
 * ```
 */
export function leanCredentials(options: S3ClientOptions): Credentials | undefined {
  if (options.accessKeyId) {
    return {
      accessKeyId: options.accessKeyId,
      secretAccessKey: options.secretAccessKey ?? "",
      ...(options.sessionToken ? { sessionToken: options.sessionToken } : {}),
    };
  }
  // A profile (also `AWS_PROFILE`) outranks the environment's keys in the SDK's chain.
  if (options.profile || Deno.env.get("AWS_PROFILE")) return undefined;
  const accessKeyId = Deno.env.get("AWS_ACCESS_KEY_ID");
  const secretAccessKey = Deno.env.get("AWS_SECRET_ACCESS_KEY");
  if (!accessKeyId || !secretAccessKey) return undefined;
  const sessionToken = Deno.env.get("AWS_SESSION_TOKEN");
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/** A response of the transport. */
interface Answer {
  statusCode: number;
  headers: Record<string, string>;
  body: ReadableStream<Uint8Array>;
}

/**
 * Reads a body as UTF-8 text of at most `max` bytes, feeding the transport's stall watch.
 *
 * @example
 * ```ts
 * import { readText } from "./_s3_lean.ts";
 * await readText(new Response("<a/>").body!, 1024); // "<a/>"
 * ```
 */
export async function readText(body: ReadableStream<Uint8Array>, max: number): Promise<string> {
  const watch = bodyProgress(body);
  const reader = body.getReader();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let out = "";
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      watch?.tick();
      size += value.length;
      if (size > max) throw new Error(`answer larger than ${max} bytes`);
      out += decoder.decode(value, { stream: true });
    }
    return out + decoder.decode();
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  } finally {
    watch?.end();
    reader.releaseLock();
  }
}

/** Drops a body nobody reads. */
function discard(res: Answer): Promise<void> {
  bodyProgress(res.body)?.end();
  return res.body.cancel().catch(() => {});
}

/** The error an answer stands for (the S3 `Error` document's code and message when there is one). */
async function errorOf(res: Answer): Promise<S3HttpError> {
  let code: string | undefined;
  let message: string | undefined;
  try {
    const doc = parseXml(await readText(res.body, MAX_ERROR));
    code = text(child(doc, "Code"))?.slice(0, 64);
    message = text(child(doc, "Message"))?.slice(0, 512);
  } catch {
    await discard(res); // an answer without an S3 error document: the status says it
  }
  return new S3HttpError(res.statusCode, code, message);
}

const sizeOf = (t: string | undefined) => {
  const n = Number(t);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
};
const timeOf = (t: string | undefined) => {
  const ms = t ? Date.parse(t) : NaN;
  return Number.isFinite(ms) ? ms : 0;
};

/** Fails unless the answer is a 200 (its body dropped). */
async function ok(res: Answer): Promise<void> {
  if (res.statusCode !== 200) throw await errorOf(res);
  await discard(res);
}

const escapeXml = (s: string) =>
  s.replace(
    /[<>&"']/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!,
  );

/** S3 request headers of an object's content headers and user metadata. */
function headersOf(meta: Record<string, string>): Record<string, string> {
  const { headers, user } = writableMeta(meta);
  const out: Record<string, string> = { ...headers };
  // As the SDK sends it: a date it can read, else nothing.
  delete out.expires;
  const expires = headers.expires ? new Date(headers.expires) : undefined;
  if (expires && !isNaN(expires.getTime())) out.expires = expires.toUTCString();
  for (const [k, v] of Object.entries(user)) out[`x-amz-meta-${k}`] = v;
  return out;
}

/** A bucket name that can be a host label (else the path names it, as the SDK does). */
const hostLabel = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

/**
 * Builds the lean S3 backend.
 *
 * @example
 * ```ts
 * import { leanS3Backend } from "./_s3_lean.ts";
 * import { retrying } from "../../storage/retry/mod.ts";
 * const credentials = { accessKeyId: "AK", secretAccessKey: "SK" };
 * const backend = leanS3Backend({ endpoint: "http://127.0.0.1:9000" }, "s3:", retrying(), credentials);
 * await backend.close();
 * ```
 */
export function leanS3Backend(
  options: S3ClientOptions,
  location: string,
  run: RetryRunner,
  credentials: Credentials,
): Backend {
  const fail: S3Fail = s3Failure(options, location);
  const region = options.region ?? Deno.env.get("AWS_REGION") ?? Deno.env.get("AWS_DEFAULT_REGION") ??
    "us-east-1";
  const endpoint = options.endpoint && URL.canParse(options.endpoint) ? new URL(options.endpoint) : undefined;
  if (options.endpoint && endpoint?.protocol !== "http:" && endpoint?.protocol !== "https:") {
    throw new StorageError("permanent", `${location}: the endpoint must be an http: or https: URL`);
  }
  const pathStyle = options.forcePathStyle ?? !!endpoint;
  /** Buckets' regions that differ from `region`, learnt from S3's redirects. */
  const regions = new Map<string, string>();
  let transport: Promise<FetchTransport> | undefined;

  /** Sends a signed request; follows one region redirect of a bucket. */
  async function send(
    method: string,
    bucket: string | undefined,
    key: string,
    query: [string, string][],
    extra: Record<string, string>,
    signal: AbortSignal | undefined,
    body?: Uint8Array | string,
  ): Promise<Answer> {
    const t = await (transport ??= openTransport(options, location));
    // Over TLS a body goes unsigned (TLS protects it, and nobody hashes every byte once more), as the
    // s3 storage sends them; over plain http its hash is signed.
    const payloadHash = body === undefined
      ? EMPTY_SHA256
      : (endpoint?.protocol ?? "https:") === "https:"
      ? "UNSIGNED-PAYLOAD"
      : createHash("sha256").update(body).digest("hex");
    for (let attempt = 0;; attempt++) {
      const where = bucket === undefined ? undefined : regions.get(bucket);
      const signing = where ?? region;
      const protocol = endpoint?.protocol ?? "https:";
      let hostname = endpoint?.hostname ?? `s3.${signing}.amazonaws.com`;
      const port = endpoint?.port ?? "";
      let path: string;
      if (bucket !== undefined && !pathStyle && hostLabel.test(bucket)) {
        hostname = `${bucket}.${hostname}`;
        path = encodePath(endpoint?.pathname ?? "", undefined, key);
      } else path = encodePath(endpoint?.pathname ?? "", bucket, key);
      const headers = signV4(
        {
          method,
          path,
          query,
          headers: { host: hostname + (port ? `:${port}` : ""), ...extra },
          payloadHash,
        },
        credentials,
        signing,
        new Date(),
      );
      const { response } = await t.handle(
        {
          method,
          protocol,
          hostname,
          ...(port ? { port: Number(port) } : {}),
          path,
          query: Object.fromEntries(query),
          headers,
          ...(body === undefined ? {} : { body }),
        },
        { abortSignal: signal },
      );
      const moved = response.headers["x-amz-bucket-region"];
      if (
        attempt === 0 && bucket !== undefined && moved && moved !== signing &&
        /^[a-z0-9-]{1,32}$/.test(moved) &&
        [301, 307, 400].includes(response.statusCode)
      ) {
        await discard(response);
        regions.set(bucket, moved);
        continue;
      }
      return response;
    }
  }

  /** One XML document answered with 200. */
  async function document(
    bucket: string | undefined,
    query: [string, string][],
    signal: AbortSignal | undefined,
  ): Promise<XmlElement> {
    const res = await send("GET", bucket, "", query, {}, signal);
    if (res.statusCode !== 200) throw await errorOf(res);
    return parseXml(await readText(res.body, MAX_PAGE));
  }

  /** A page, retried as the policy says, failures as StorageErrors. */
  function page(what: string, bucket: string | undefined, query: [string, string][], signal?: AbortSignal) {
    return run(
      what,
      signal,
      () => document(bucket, query, signal).catch((e) => fail(e, what, signal, bucket)),
    );
  }

  const prefixItem = (key: string): Listed => ({
    key,
    prefix: true,
    size: 0,
    etag: "",
    mtime: 0,
    latest: true,
  });

  return {
    scheme: "s3",
    minPartSize: 5 * 1024 * 1024,

    async *buckets(signal) {
      let token: string | undefined;
      const names: string[] = [];
      do {
        const doc = await page(
          "list buckets",
          undefined,
          token ? [["continuation-token", token]] : [],
          signal,
        );
        for (const b of children(child(doc, "Buckets"), "Bucket")) {
          const name = text(child(b, "Name"));
          if (name) names.push(name);
        }
        token = text(child(doc, "ContinuationToken")) || undefined;
      } while (token);
      yield* names.sort(compareBytes);
    },

    async *list(bucket, prefix, versions, signal) {
      const what = `${versions ? "list versions" : "list"} ${bucket}/${prefix}`;
      const base: [string, string][] = [["delimiter", "/"], ["prefix", prefix]];
      if (!versions) {
        let token: string | undefined;
        do {
          const query: [string, string][] = [["list-type", "2"], ...base];
          if (token) query.push(["continuation-token", token]);
          const doc = await page(what, bucket, query, signal);
          const items: Listed[] = [];
          for (const o of children(doc, "Contents")) {
            const key = text(child(o, "Key"));
            if (!key) continue;
            items.push({
              key,
              prefix: false,
              size: sizeOf(text(child(o, "Size"))),
              etag: unquoteEtag(text(child(o, "ETag"))),
              mtime: timeOf(text(child(o, "LastModified"))),
              storageClass: text(child(o, "StorageClass")) || undefined,
              latest: true,
            });
          }
          for (const p of children(doc, "CommonPrefixes")) {
            const key = text(child(p, "Prefix"));
            if (key) items.push(prefixItem(key));
          }
          yield* items.sort((a, b) => compareBytes(a.key, b.key));
          token = text(child(doc, "IsTruncated")) === "true"
            ? text(child(doc, "NextContinuationToken")) || undefined
            : undefined;
        } while (token);
        return;
      }
      let keyMarker: string | undefined;
      let versionMarker: string | undefined;
      for (;;) {
        const query: [string, string][] = [["versions", ""], ...base];
        if (keyMarker) query.push(["key-marker", keyMarker]);
        if (versionMarker) query.push(["version-id-marker", versionMarker]);
        const doc = await page(what, bucket, query, signal);
        const items: Listed[] = [];
        for (const v of doc.children) {
          const deleteMarker = v.name === "DeleteMarker";
          if (v.name === "CommonPrefixes") {
            const key = text(child(v, "Prefix"));
            if (key) items.push(prefixItem(key));
          }
          if (v.name !== "Version" && !deleteMarker) continue;
          const key = text(child(v, "Key"));
          if (!key) continue;
          items.push({
            key,
            prefix: false,
            size: deleteMarker ? 0 : sizeOf(text(child(v, "Size"))),
            etag: deleteMarker ? "" : unquoteEtag(text(child(v, "ETag"))),
            mtime: timeOf(text(child(v, "LastModified"))),
            ...(deleteMarker ? {} : { storageClass: text(child(v, "StorageClass")) || undefined }),
            versionId: text(child(v, "VersionId")),
            latest: text(child(v, "IsLatest")) === "true",
            ...(deleteMarker ? { deleteMarker: true } : {}),
          });
        }
        // Key order, then the current version first, then newest first.
        yield* items.sort((a, b) =>
          compareBytes(a.key, b.key) || Number(b.latest) - Number(a.latest) || b.mtime - a.mtime
        );
        if (text(child(doc, "IsTruncated")) !== "true") return;
        keyMarker = text(child(doc, "NextKeyMarker")) || undefined;
        versionMarker = text(child(doc, "NextVersionIdMarker")) || undefined;
        if (!keyMarker) return;
      }
    },

    async get(bucket, key, opts): Promise<Fetched> {
      const what = `${bucket}/${key}`;
      const extra: Record<string, string> = {};
      if (opts.offset) extra.range = `bytes=${opts.offset}-`;
      if (opts.ifMatch) extra["if-match"] = `"${opts.ifMatch}"`;
      let res: Answer;
      try {
        res = await send(
          "GET",
          bucket,
          key,
          opts.versionId ? [["versionId", opts.versionId]] : [],
          extra,
          opts.signal,
        );
        if (res.statusCode === 412) {
          await discard(res);
          throw new ObjectChangedError(what);
        }
        if (res.statusCode !== 200 && res.statusCode !== 206) throw await errorOf(res);
      } catch (e) {
        if (e instanceof ObjectChangedError) throw e;
        fail(e, what, opts.signal, bucket);
      }
      const h = res.headers;
      const modified = timeOf(h["last-modified"]);
      const meta = s3ObjectMeta(
        h.etag,
        modified ? new Date(modified) : undefined,
        [
          ["content-type", h["content-type"]],
          ["content-encoding", h["content-encoding"]],
          ["content-disposition", h["content-disposition"]],
          ["content-language", h["content-language"]],
          ["cache-control", h["cache-control"]],
          ["expires", h.expires],
          ["storage-class", h["x-amz-storage-class"]],
          ["version-id", h["x-amz-version-id"]],
        ],
        Object.entries(h).filter(([k]) => k.startsWith("x-amz-meta-")).map(([k, v]) => [k.slice(11), v]),
      );
      const etag = meta.etag;
      const watch = bodyProgress(res.body);
      return {
        body: res.body,
        length: sizeOf(h["content-length"]),
        etag,
        meta,
        tick: watch?.tick,
        end: watch?.end,
      };
    },

    async head(bucket, key, signal) {
      try {
        const res = await send("HEAD", bucket, key, [], {}, signal);
        await discard(res);
        if (res.statusCode === 404) return null;
        if (res.statusCode !== 200) throw new S3HttpError(res.statusCode, undefined, undefined);
        return { etag: unquoteEtag(res.headers.etag), size: sizeOf(res.headers["content-length"]) };
      } catch (e) {
        fail(e, `${bucket}/${key}`, signal, bucket);
      }
    },

    async createBucket(bucket, signal) {
      const what = `bucket ${bucket}`;
      try {
        const head = await send("HEAD", bucket, "", [], {}, signal);
        await discard(head);
        if (head.statusCode === 200) return;
        if (head.statusCode !== 404) throw new S3HttpError(head.statusCode, undefined, undefined);
        const res = await send("PUT", bucket, "", [], {}, signal);
        if (res.statusCode === 200) return void await discard(res);
        const e = await errorOf(res);
        if (e.name !== "BucketAlreadyOwnedByYou") throw e;
      } catch (e) {
        fail(e, what, signal, bucket);
      }
    },

    async put(bucket, key, data, meta, signal) {
      try {
        await ok(await send("PUT", bucket, key, [], headersOf(meta), signal, data));
      } catch (e) {
        fail(e, `${bucket}/${key}`, signal, bucket);
      }
    },

    async putParts(bucket, key, parts, meta, signal) {
      const what = `${bucket}/${key}`;
      let uploadId: string | undefined;
      try {
        const started = await send("POST", bucket, key, [["uploads", ""]], headersOf(meta), signal);
        if (started.statusCode !== 200) throw await errorOf(started);
        uploadId = text(child(parseXml(await readText(started.body, MAX_ERROR)), "UploadId"));
        if (!uploadId) throw new S3HttpError(502, "InternalError", "no UploadId in the answer");
        const etags: string[] = [];
        for await (const body of parts) {
          const n = etags.length + 1;
          const part = `${what} part ${n}`;
          const query: [string, string][] = [["partNumber", String(n)], ["uploadId", uploadId]];
          const etag = await run(part, signal, async () => {
            try {
              const res = await send("PUT", bucket, key, query, {}, signal, body);
              await ok(res);
              return res.headers.etag;
            } catch (e) {
              fail(e, part, signal, bucket);
            }
          });
          if (!etag) throw new S3HttpError(502, "InternalError", `no ETag for part ${n}`);
          etags.push(etag);
        }
        const list = etags.map((etag, i) =>
          `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXml(etag)}</ETag></Part>`
        );
        const done = await send(
          "POST",
          bucket,
          key,
          [["uploadId", uploadId]],
          { "content-type": "application/xml" },
          signal,
          `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${
            list.join("")
          }</CompleteMultipartUpload>`,
        );
        if (done.statusCode !== 200) throw await errorOf(done);
        // S3 may answer 200 and then report a failure in the body.
        const result = parseXml(await readText(done.body, MAX_ERROR));
        if (result.name === "Error") {
          throw new S3HttpError(500, text(child(result, "Code")), text(child(result, "Message")));
        }
      } catch (e) {
        if (uploadId) {
          await send("DELETE", bucket, key, [["uploadId", uploadId]], {}, undefined).then(discard, () => {});
        }
        if (isStorageError(e)) throw e;
        fail(e, what, signal, bucket);
      }
    },

    async close() {
      const pending = transport;
      transport = undefined;
      (await pending?.catch(() => undefined))?.destroy();
    },
  };
}
