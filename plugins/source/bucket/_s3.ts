/**
 * The bucket source's S3 backend. With explicit keys (options or `AWS_*` variables) it goes the lean way
 * (./_s3_lean.ts: signed here, no AWS SDK loaded); with a profile or none (the SDK's credential chain:
 * config files, instance metadata) through the s3 storage's client (../../storage/s3/_client.ts): the
 * SDK signs, floe's transport sends (GET bodies streamed through the shared downloader).
 *
 * @example
 * ```ts
 * import { s3Backend } from "./_s3.ts";
 * const backend = s3Backend({ endpoint: "http://127.0.0.1:9000" }, "s3:http://127.0.0.1:9000/");
 * await backend.close();
 * ```
 * @module
 */
import { isStorageError } from "../../../core/contracts.ts";
import { classify, connectS3, type S3ClientOptions, type SdkError } from "../../storage/s3/_client.ts";
import { bodyProgress } from "../../storage/s3/transport.ts";
import { retrying, type RetryRunner } from "../../storage/retry/mod.ts";
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
import { leanCredentials, leanS3Backend } from "./_s3_lean.ts";

/**
 * Builds the S3 backend.
 *
 * @example
 * ```ts
 * import { s3Backend } from "./_s3.ts";
 * const backend = s3Backend({}, "s3:my-bucket"); // AWS, credentials from the environment
 * await backend.close();
 * ```
 */
export function s3Backend(
  options: S3ClientOptions,
  location: string,
  run: RetryRunner = retrying(),
): Backend {
  const credentials = leanCredentials(options);
  return credentials
    ? leanS3Backend(options, location, run, credentials)
    : sdkS3Backend(options, location, run);
}

/**
 * The backend on the SDK's client (loaded on first use), for credentials only the SDK's chain finds.
 *
 * @example
 * ```ts
 * import { sdkS3Backend } from "./_s3.ts";
 * import { retrying } from "../../storage/retry/mod.ts";
 * const backend = sdkS3Backend({ profile: "backup" }, "s3:my-bucket", retrying());
 * await backend.close();
 * ```
 */
export function sdkS3Backend(options: S3ClientOptions, location: string, run: RetryRunner): Backend {
  const connection = connectS3(options, location);
  const { load } = connection;
  function fail(e: unknown, what: string, signal?: AbortSignal, bucket?: string): never {
    return connection.fail(e, what, signal, bucket);
  }

  return {
    scheme: "s3",
    minPartSize: 5 * 1024 * 1024,

    async *buckets(signal) {
      const { sdk, client } = await load();
      let token: string | undefined;
      const names: string[] = [];
      do {
        let r;
        try {
          r = await client.send(
            new sdk.ListBucketsCommand({ ...(token ? { ContinuationToken: token } : {}) }),
            {
              abortSignal: signal,
            },
          );
        } catch (e) {
          fail(e, "list buckets", signal);
        }
        for (const b of r.Buckets ?? []) if (b.Name) names.push(b.Name);
        token = r.ContinuationToken;
      } while (token);
      yield* names.sort(compareBytes);
    },

    async *list(bucket, prefix, versions, signal) {
      const { sdk, client } = await load();
      if (!versions) {
        let token: string | undefined;
        do {
          let r;
          try {
            r = await run(`list ${bucket}/${prefix}`, signal, () =>
              client.send(
                new sdk.ListObjectsV2Command({
                  Bucket: bucket,
                  Prefix: prefix,
                  Delimiter: "/",
                  ...(token ? { ContinuationToken: token } : {}),
                }),
                { abortSignal: signal },
              ).catch((e) => fail(e, `list ${bucket}/${prefix}`, signal, bucket)));
          } catch (e) {
            fail(e, `list ${bucket}/${prefix}`, signal, bucket);
          }
          const page: Listed[] = [];
          for (const o of r.Contents ?? []) {
            if (!o.Key) continue;
            page.push({
              key: o.Key,
              prefix: false,
              size: o.Size ?? 0,
              etag: unquoteEtag(o.ETag),
              mtime: o.LastModified?.getTime() ?? 0,
              storageClass: o.StorageClass,
              latest: true,
            });
          }
          for (const p of r.CommonPrefixes ?? []) {
            if (p.Prefix) {
              page.push({ key: p.Prefix, prefix: true, size: 0, etag: "", mtime: 0, latest: true });
            }
          }
          yield* page.sort((a, b) => compareBytes(a.key, b.key));
          token = r.IsTruncated ? r.NextContinuationToken : undefined;
        } while (token);
        return;
      }
      let keyMarker: string | undefined;
      let versionMarker: string | undefined;
      for (;;) {
        let r;
        try {
          r = await run(`list versions ${bucket}/${prefix}`, signal, () =>
            client.send(
              new sdk.ListObjectVersionsCommand({
                Bucket: bucket,
                Prefix: prefix,
                Delimiter: "/",
                ...(keyMarker ? { KeyMarker: keyMarker } : {}),
                ...(versionMarker ? { VersionIdMarker: versionMarker } : {}),
              }),
              { abortSignal: signal },
            ).catch((e) => fail(e, `list versions ${bucket}/${prefix}`, signal, bucket)));
        } catch (e) {
          fail(e, `list versions ${bucket}/${prefix}`, signal, bucket);
        }
        const page: Listed[] = [];
        for (const v of r.Versions ?? []) {
          if (!v.Key) continue;
          page.push({
            key: v.Key,
            prefix: false,
            size: v.Size ?? 0,
            etag: unquoteEtag(v.ETag),
            mtime: v.LastModified?.getTime() ?? 0,
            storageClass: v.StorageClass,
            versionId: v.VersionId,
            latest: !!v.IsLatest,
          });
        }
        for (const d of r.DeleteMarkers ?? []) {
          if (!d.Key) continue;
          page.push({
            key: d.Key,
            prefix: false,
            size: 0,
            etag: "",
            mtime: d.LastModified?.getTime() ?? 0,
            versionId: d.VersionId,
            latest: !!d.IsLatest,
            deleteMarker: true,
          });
        }
        for (const p of r.CommonPrefixes ?? []) {
          if (p.Prefix) page.push({ key: p.Prefix, prefix: true, size: 0, etag: "", mtime: 0, latest: true });
        }
        // Key order, then the current version first, then newest first.
        yield* page.sort((a, b) =>
          compareBytes(a.key, b.key) || Number(b.latest) - Number(a.latest) || b.mtime - a.mtime
        );
        if (!r.IsTruncated) return;
        keyMarker = r.NextKeyMarker;
        versionMarker = r.NextVersionIdMarker;
        if (!keyMarker) return;
      }
    },

    async get(bucket, key, opts): Promise<Fetched> {
      const { sdk, client } = await load();
      let r;
      try {
        r = await client.send(
          new sdk.GetObjectCommand({
            Bucket: bucket,
            Key: key,
            ...(opts.versionId ? { VersionId: opts.versionId } : {}),
            ...(opts.offset ? { Range: `bytes=${opts.offset}-` } : {}),
            ...(opts.ifMatch ? { IfMatch: `"${opts.ifMatch}"` } : {}),
          }),
          { abortSignal: opts.signal },
        );
      } catch (e) {
        if ((e as SdkError)?.$metadata?.httpStatusCode === 412) {
          throw new ObjectChangedError(`${bucket}/${key}`);
        }
        fail(e, `${bucket}/${key}`, opts.signal, bucket);
      }
      const meta = s3ObjectMeta(r.ETag, r.LastModified, [
        ["content-type", r.ContentType],
        ["content-encoding", r.ContentEncoding],
        ["content-disposition", r.ContentDisposition],
        ["content-language", r.ContentLanguage],
        ["cache-control", r.CacheControl],
        ["expires", r.ExpiresString ?? r.Expires?.toUTCString()],
        ["storage-class", r.StorageClass],
        ["version-id", r.VersionId],
      ], Object.entries(r.Metadata ?? {}));
      const etag = meta.etag;
      const body = r.Body instanceof ReadableStream
        ? r.Body as ReadableStream<Uint8Array>
        : new ReadableStream<Uint8Array>({ start: (c) => c.close() });
      const watch = bodyProgress(body);
      return { body, length: r.ContentLength ?? 0, etag, meta, tick: watch?.tick, end: watch?.end };
    },

    async head(bucket, key, signal) {
      const { sdk, client } = await load();
      try {
        const r = await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: key }), {
          abortSignal: signal,
        });
        return { etag: unquoteEtag(r.ETag), size: r.ContentLength ?? 0 };
      } catch (e) {
        if (classify(e) === "not-found") return null;
        fail(e, `${bucket}/${key}`, signal, bucket);
      }
    },

    async createBucket(bucket, signal) {
      const { sdk, client } = await load();
      try {
        await client.send(new sdk.HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal });
        return;
      } catch (e) {
        if (classify(e) !== "not-found") fail(e, `bucket ${bucket}`, signal, bucket);
      }
      try {
        await client.send(new sdk.CreateBucketCommand({ Bucket: bucket }), { abortSignal: signal });
      } catch (e) {
        if ((e as SdkError)?.name === "BucketAlreadyOwnedByYou") return;
        fail(e, `create bucket ${bucket}`, signal, bucket);
      }
    },

    async put(bucket, key, data, meta, signal) {
      const { sdk, client } = await load();
      try {
        await client.send(
          new sdk.PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: data,
            ContentLength: data.length,
            ...fields(meta),
          }),
          { abortSignal: signal },
        );
      } catch (e) {
        fail(e, `${bucket}/${key}`, signal, bucket);
      }
    },

    async putParts(bucket, key, parts, meta, signal) {
      const { sdk, client } = await load();
      let uploadId: string | undefined;
      try {
        const started = await client.send(
          new sdk.CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...fields(meta) }),
          { abortSignal: signal },
        );
        uploadId = started.UploadId!;
        const done: { PartNumber: number; ETag: string }[] = [];
        for await (const body of parts) {
          const n = done.length + 1;
          const r = await run(`PUT ${bucket}/${key} part ${n}`, signal, () =>
            client.send(
              new sdk.UploadPartCommand({
                Bucket: bucket,
                Key: key,
                UploadId: uploadId,
                PartNumber: n,
                Body: body,
                ContentLength: body.length,
              }),
              { abortSignal: signal },
            ).catch((e) => fail(e, `${bucket}/${key} part ${n}`, signal, bucket)));
          done.push({ PartNumber: n, ETag: r.ETag! });
        }
        await client.send(
          new sdk.CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: done },
          }),
          { abortSignal: signal },
        );
      } catch (e) {
        if (uploadId) {
          await client.send(
            new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }),
          )
            .catch(() => {});
        }
        if (isStorageError(e)) throw e;
        fail(e, `${bucket}/${key}`, signal, bucket);
      }
    },

    close: () => connection.close(),
  };
}

/** The SDK's request fields of an object's content headers and user metadata. */
function fields(meta: Record<string, string>) {
  const { headers, user } = writableMeta(meta);
  const expires = headers.expires ? new Date(headers.expires) : undefined;
  return {
    ...(headers["content-type"] ? { ContentType: headers["content-type"] } : {}),
    ...(headers["content-encoding"] ? { ContentEncoding: headers["content-encoding"] } : {}),
    ...(headers["content-disposition"] ? { ContentDisposition: headers["content-disposition"] } : {}),
    ...(headers["content-language"] ? { ContentLanguage: headers["content-language"] } : {}),
    ...(headers["cache-control"] ? { CacheControl: headers["cache-control"] } : {}),
    ...(expires && !isNaN(expires.getTime()) ? { Expires: expires } : {}),
    ...(Object.keys(user).length ? { Metadata: user } : {}),
  };
}
