/**
 * `s3`: a repository in an S3 bucket (AWS or any S3-compatible store: MinIO, Ceph RGW, Swift s3api…).
 *
 * Uses `@aws-sdk/client-s3`, loaded lazily on first use so that floe starts fast when S3 is not used.
 * One client per storage. The SDK builds and signs every request (SigV4; credentials from explicit
 * options, else from its standard chain: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`,
 * `AWS_PROFILE` and the shared config/credentials files, …) and parses the answers; the requests travel
 * through Deno's native `fetch` ({@link ./transport.ts}: keep-alive HTTP/1.1 connections, rustls), and
 * object bodies are read straight into the returned buffer. Extra CA certificates: `AWS_CA_BUNDLE` (or
 * `caBundle`) and `NODE_EXTRA_CA_CERTS`; `HTTPS_PROXY`/`NO_PROXY` apply as to any fetch. Over https, uploads are signed with `UNSIGNED-PAYLOAD` (TLS protects the bytes;
 * no SHA-256 pass over them on either side); over plain http, with the payload's SHA-256. Objects
 * above `multipartThreshold` go up as multipart uploads. The SDK's own retries are off by default
 * (`sdkMaxAttempts: 1`): wrap the storage in `retry` (plugins/storage/retry) so that retries know about
 * `create` puts.
 *
 * @example
 * ```ts
 * import s3 from "./mod.ts";
 * const storage = s3({ bucket: "backups", prefix: "host1", endpoint: "http://127.0.0.1:9000" });
 * await storage.create();
 * await storage.put("config", new TextEncoder().encode("{}"));
 * await storage.close?.();
 * ```
 * @module
 */
import {
  API_VERSION,
  type CallOptions,
  type ObjectInfo,
  StorageError,
  type StoragePlugin,
} from "../../../core/contracts.ts";
import { bodyProgress } from "./transport.ts";
import { classify, clientDefaults, connectS3, type SdkError } from "./_client.ts";

export { classify };
import { readBody } from "../read_body.ts";
import { fromLocation } from "../location.ts";
import { parseS3Location } from "./location.ts";

/** Options of the s3 storage. */
export interface Options {
  /** The bucket. */
  bucket: string;
  /** A key prefix inside the bucket (no leading or trailing `/` needed), e.g. `floe/host1`. */
  prefix?: string;
  /** A custom endpoint, e.g. `http://127.0.0.1:9000`; AWS when absent. */
  endpoint?: string;
  /** Region; default `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's, else `us-east-1`. */
  region?: string;
  /** Path-style addressing (`host/bucket/key`); default true when `endpoint` is given, else false. */
  forcePathStyle?: boolean;
  /** Access key id; overrides the SDK's credential chain (needs `secretAccessKey`). */
  accessKeyId?: string;
  /** Secret access key, with `accessKeyId`. */
  secretAccessKey?: string;
  /** Session token, with `accessKeyId`. */
  sessionToken?: string;
  /** A profile of the shared config/credentials files; default `AWS_PROFILE`. */
  profile?: string;
  /**
   * Requests callers keep in flight, and the parallel part uploads of one multipart upload (default 5, as
   * restic: each upload in flight holds a pack in memory).
   */
  concurrency?: number;
  /** Objects larger than this many bytes are uploaded in parts (default 64 MiB). */
  multipartThreshold?: number;
  /** Size of one multipart part in bytes (default 16 MiB; S3 needs at least 5 MiB but for the last part). */
  partSize?: number;
  /** Attempts the SDK itself makes per request (default 1: retries belong to floe's `retry` wrapper). */
  sdkMaxAttempts?: number;
  /**
   * Use `If-None-Match: *` for `put(…, {create: true})` (default true). Stores that answer it with 501
   * (Swift s3api, older MinIO/Ceph) are detected on first use and get a non-atomic check-then-put,
   * and `capabilities.atomicCreate` turns false.
   */
  conditionalWrites?: boolean;
  /**
   * Milliseconds allowed for connecting (default 10 000). fetch does not report the connection apart
   * from the answer: the wait for the response headers is bounded by `connectTimeoutMs + requestTimeoutMs`
   * (plus the upload time of the request body at 64 KiB/s).
   */
  connectTimeoutMs?: number;
  /** Milliseconds without response data before a request fails as transient (default 120 000). */
  requestTimeoutMs?: number;
  /**
   * A PEM file of extra CA certificates to trust, added to the default roots; default `AWS_CA_BUNDLE`.
   * `NODE_EXTRA_CA_CERTS` is trusted too.
   */
  caBundle?: string;
}

/** Defaults of the s3 storage. */
export const defaults: Required<
  Pick<
    Options,
    | "concurrency"
    | "multipartThreshold"
    | "partSize"
    | "sdkMaxAttempts"
    | "connectTimeoutMs"
    | "requestTimeoutMs"
  >
> = {
  concurrency: 5,
  multipartThreshold: 64 * 1024 * 1024,
  partSize: 16 * 1024 * 1024,
  ...clientDefaults,
};

/**
 * Builds an s3 storage.
 *
 * @example
 * ```ts
 * import s3 from "./mod.ts";
 * const storage = s3({ bucket: "my-backups" }); // AWS, credentials from the environment
 * console.log(storage.location); // s3:my-backups
 * ```
 */
/** The location schemes this storage opens (`--repo s3:…`). */
export const schemes = ["s3"];

/**
 * Builds the storage from its options, or from a `location` string as given to `--repo` (read into the
 * options above; options given beside it win).
 */
export default function s3(given: Options | (Partial<Options> & { location: string })): StoragePlugin {
  const options = fromLocation(given as Options & { location?: string }, parseS3Location);
  if (!options?.bucket) throw new Error("s3 storage: option 'bucket' is required");
  const bucket = options.bucket;
  // What every S3 store refuses, told here rather than as the store's bare "400" (AWS's legacy buckets
  // may hold capitals and underscores, so those pass).
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/.test(bucket)) {
    throw new Error(
      `s3 storage: invalid bucket name ${JSON.stringify(bucket)}: bucket names are 3 to 63 characters, ` +
        "letters, digits, dots and hyphens, beginning and ending with a letter or digit",
    );
  }
  const prefix = (options.prefix ?? "").replace(/^\/+/, "").replace(/\/+$/, "");
  if (prefix.split("/").some((s) => s === "." || s === "..")) {
    throw new Error(`s3 storage: invalid prefix ${JSON.stringify(prefix)}`);
  }
  const keyPrefix = prefix ? `${prefix}/` : "";
  const endpoint = options.endpoint?.replace(/\/+$/, "");
  const concurrency = Math.max(1, options.concurrency ?? defaults.concurrency);
  const threshold = Math.max(1, options.multipartThreshold ?? defaults.multipartThreshold);
  const partSize = Math.max(1, options.partSize ?? defaults.partSize);
  let conditional = options.conditionalWrites ?? true;
  const location = `s3:${endpoint ? `${endpoint}/` : ""}${bucket}${prefix ? `/${prefix}` : ""}`;
  const connection = connectS3(options, location);
  const load = connection.load;
  function fail(e: unknown, what: string, signal?: AbortSignal): never {
    return connection.fail(e, what, signal, bucket);
  }
  const checkName = (name: string) => {
    if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(name) || /(^|\/)\.\.?(\/|$)/.test(name)) {
      throw new StorageError("permanent", `invalid object name ${JSON.stringify(name)}`);
    }
  };

  /**
   * Reads a GetObject body (the transport's byte stream) into one buffer of the announced size, into
   * `into` when it fits (../read_body.ts), keeping the transport's stall watch fed.
   */
  async function readObject(
    body: unknown,
    expected: number | undefined,
    what: string,
    into?: Uint8Array,
  ): Promise<Uint8Array> {
    if (!(body instanceof ReadableStream)) {
      const b = body as { transformToByteArray?: () => Promise<Uint8Array> } | undefined;
      return b?.transformToByteArray ? await b.transformToByteArray() : new Uint8Array(0);
    }
    const watch = bodyProgress(body);
    try {
      return await readBody(body, expected, `${location}: ${what}`, { into, tick: watch?.tick });
    } finally {
      watch?.end();
    }
  }

  /** Throws `exists` when the object is there. */
  async function headAbsent(key: string, name: string, signal?: AbortSignal) {
    const { sdk, client } = await load();
    try {
      await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
    } catch (e) {
      if (classify(e) === "not-found") return;
      fail(e, name, signal);
    }
    throw new StorageError("exists", `${location}: ${name}: already exists`);
  }

  async function putMultipart(
    key: string,
    name: string,
    data: Uint8Array,
    create: boolean,
    signal?: AbortSignal,
  ) {
    const { sdk, client } = await load();
    // A cheap early refusal; stores honouring If-None-Match on CompleteMultipartUpload make it atomic.
    if (create) await headAbsent(key, name, signal);
    const started = await client.send(new sdk.CreateMultipartUploadCommand({ Bucket: bucket, Key: key }), {
      abortSignal: signal,
    });
    const uploadId = started.UploadId!;
    try {
      const count = Math.ceil(data.length / partSize);
      const parts: { PartNumber: number; ETag: string }[] = new Array(count);
      let next = 0;
      const worker = async () => {
        while (next < count) {
          const i = next++;
          signal?.throwIfAborted();
          const body = data.subarray(i * partSize, Math.min(data.length, (i + 1) * partSize));
          const r = await client.send(
            new sdk.UploadPartCommand({
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: i + 1,
              Body: body,
              ContentLength: body.length,
            }),
            { abortSignal: signal },
          );
          parts[i] = { PartNumber: i + 1, ETag: r.ETag! };
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
      await client.send(
        new sdk.CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          ...(create && conditional ? { IfNoneMatch: "*" } : {}),
        }),
        { abortSignal: signal },
      );
    } catch (e) {
      await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
        .catch(() => {});
      throw e;
    }
  }

  return {
    kind: "storage",
    name: "s3",
    apiVersion: API_VERSION,
    location,
    capabilities: {
      maxObjectSize: Math.min(5 * 1024 ** 4, partSize * 10_000),
      get atomicCreate() {
        return conditional;
      },
      concurrency,
    },

    async create(opts?: CallOptions) {
      opts?.signal?.throwIfAborted();
      const { sdk, client } = await load();
      try {
        await client.send(new sdk.HeadBucketCommand({ Bucket: bucket }), { abortSignal: opts?.signal });
        return;
      } catch (e) {
        if (classify(e) !== "not-found") fail(e, `bucket ${bucket}`, opts?.signal);
      }
      try {
        const region = await client.config.region();
        await client.send(
          new sdk.CreateBucketCommand({
            Bucket: bucket,
            ...(region && region !== "us-east-1" && !endpoint
              ? { CreateBucketConfiguration: { LocationConstraint: region as never } }
              : {}),
          }),
          { abortSignal: opts?.signal },
        );
      } catch (e) {
        const name = (e as SdkError)?.name;
        if (name === "BucketAlreadyOwnedByYou") return;
        fail(e, `create bucket ${bucket}`, opts?.signal);
      }
    },

    async put(name, data, opts) {
      opts?.signal?.throwIfAborted();
      checkName(name);
      const key = keyPrefix + name;
      try {
        if (data.length > threshold) {
          await putMultipart(key, name, data, !!opts?.create, opts?.signal);
          return;
        }
        const { sdk, client } = await load();
        const send = (ifNoneMatch: boolean) =>
          client.send(
            new sdk.PutObjectCommand({
              Bucket: bucket,
              Key: key,
              Body: data,
              ContentLength: data.length,
              ...(ifNoneMatch ? { IfNoneMatch: "*" } : {}),
            }),
            { abortSignal: opts?.signal },
          );
        if (!opts?.create) return void await send(false);
        if (conditional) {
          try {
            return void await send(true);
          } catch (e) {
            const err = e as SdkError;
            if (err?.name !== "NotImplemented" && err?.$metadata?.httpStatusCode !== 501) throw e;
            conditional = false; // the store does not do conditional writes: check, then put
          }
        }
        await headAbsent(key, name, opts.signal);
        await send(false);
      } catch (e) {
        fail(e, name, opts?.signal);
      }
    },

    async get(name, opts) {
      opts?.signal?.throwIfAborted();
      checkName(name);
      const key = keyPrefix + name;
      const { sdk, client } = await load();
      const range = opts?.range;
      if (range && range.length <= 0) {
        await this.stat(name, opts);
        return new Uint8Array(0);
      }
      try {
        const r = await client.send(
          new sdk.GetObjectCommand({
            Bucket: bucket,
            Key: key,
            ...(range ? { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : {}),
          }),
          { abortSignal: opts?.signal },
        );
        return await readObject(r.Body, r.ContentLength, name, opts?.into);
      } catch (e) {
        const err = e as SdkError;
        if (range && (err?.name === "InvalidRange" || err?.$metadata?.httpStatusCode === 416)) {
          return new Uint8Array(0); // the offset is at or past the end
        }
        fail(e, name, opts?.signal);
      }
    },

    async stat(name, opts) {
      opts?.signal?.throwIfAborted();
      checkName(name);
      const { sdk, client } = await load();
      try {
        const r = await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: keyPrefix + name }), {
          abortSignal: opts?.signal,
        });
        return { name, size: r.ContentLength ?? 0 };
      } catch (e) {
        fail(e, name, opts?.signal);
      }
    },

    async *list(listPrefix, opts): AsyncIterable<ObjectInfo> {
      const { sdk, client } = await load();
      let token: string | undefined;
      do {
        opts?.signal?.throwIfAborted();
        let r;
        try {
          r = await client.send(
            new sdk.ListObjectsV2Command({
              Bucket: bucket,
              Prefix: keyPrefix + listPrefix,
              ...(token ? { ContinuationToken: token } : {}),
            }),
            { abortSignal: opts?.signal },
          );
        } catch (e) {
          fail(e, `list ${listPrefix || "/"}`, opts?.signal);
        }
        for (const o of r.Contents ?? []) {
          if (!o.Key?.startsWith(keyPrefix)) continue;
          yield { name: o.Key.slice(keyPrefix.length), size: o.Size ?? 0 };
        }
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    },

    async delete(name, opts) {
      opts?.signal?.throwIfAborted();
      checkName(name);
      const { sdk, client } = await load();
      try {
        await client.send(new sdk.DeleteObjectCommand({ Bucket: bucket, Key: keyPrefix + name }), {
          abortSignal: opts?.signal,
        });
      } catch (e) {
        if (classify(e) === "not-found" && (e as SdkError)?.name !== "NoSuchBucket") return;
        fail(e, name, opts?.signal);
      }
    },

    close: () => connection.close(),
  };
}
