/**
 * The bucket source's native Swift backend, on the swift storage's client
 * (../../storage/swift/_client.ts: tempauth or Keystone from `ST_*` / `OS_*`, token renewal, GETs
 * streamed through the shared downloader). Large objects are restored as Static Large Objects.
 *
 * @example
 * ```ts
 * import { swiftBackend } from "./_swift.ts";
 * const backend = swiftBackend({}, "swift:"); // auth from ST_* or OS_*
 * await backend.close();
 * ```
 * @module
 */
import { StorageError } from "../../../core/contracts.ts";
import { retrying, type RetryRunner } from "../../storage/retry/mod.ts";
import { connectSwift, encodeName, type SwiftClientOptions } from "../../storage/swift/_client.ts";
import {
  type Backend,
  type Fetched,
  type Listed,
  ObjectChangedError,
  unquoteEtag,
  USER_META,
  writableMeta,
} from "./_backend.ts";

/** Swift's `last_modified` (UTC, microseconds, no zone) in ms since the epoch. */
function listedTime(text: string | undefined): number {
  if (!text) return 0;
  const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`);
  return Number.isFinite(t) ? t : 0;
}

/**
 * Builds the Swift backend.
 *
 * @example
 * ```ts
 * import { swiftBackend } from "./_swift.ts";
 * const backend = swiftBackend({ authUrl: "http://127.0.0.1:8080/auth/v1.0", user: "test:tester", key: "testing" }, "swift:");
 * await backend.close();
 * ```
 */
export function swiftBackend(
  options: SwiftClientOptions,
  location: string,
  run: RetryRunner = retrying(),
): Backend {
  const client = connectSwift(options, location);
  const { request, failFor, netError } = client;
  const objPath = (bucket: string, key: string) => `${encodeURIComponent(bucket)}/${encodeName(key)}`;

  async function* pages<T extends { name?: string; subdir?: string }>(
    path: string,
    params: Record<string, string>,
    what: string,
    signal?: AbortSignal,
  ): AsyncIterable<T> {
    let marker = "";
    for (;;) {
      signal?.throwIfAborted();
      const q = new URLSearchParams({ format: "json", limit: "10000", ...params });
      if (marker) q.set("marker", marker);
      const page = await run(what, signal, async (): Promise<T[]> => {
        const res = await request("GET", path, { query: q.toString(), signal });
        if (res.status === 204) {
          await res.body?.cancel();
          return [];
        }
        if (res.status !== 200) await failFor(res, what);
        try {
          return await res.json();
        } catch (e) {
          throw netError(e, what, signal);
        }
      });
      if (!Array.isArray(page) || page.length === 0) return;
      yield* page;
      const last = page[page.length - 1];
      marker = last.name ?? last.subdir ?? "";
      if (!marker) return;
    }
  }

  return {
    scheme: "swift",
    minPartSize: 1024 * 1024,

    async *buckets(signal) {
      for await (const c of pages<{ name?: string }>("", {}, "list containers", signal)) {
        if (typeof c.name === "string") yield c.name;
      }
    },

    async *list(bucket, prefix, versions, signal) {
      if (versions) {
        throw new StorageError("permanent", `${location}: versions=all needs the S3 API (an s3: location)`);
      }
      type Item = { name?: string; subdir?: string; bytes?: number; hash?: string; last_modified?: string };
      const items = pages<Item>(
        encodeURIComponent(bucket),
        { prefix, delimiter: "/" },
        `list ${bucket}`,
        signal,
      );
      for await (const o of items) {
        if (typeof o.subdir === "string") {
          yield { key: o.subdir, prefix: true, size: 0, etag: "", mtime: 0, latest: true } satisfies Listed;
        } else if (typeof o.name === "string") {
          yield {
            key: o.name,
            prefix: false,
            size: Number.isSafeInteger(o.bytes) && o.bytes! >= 0 ? o.bytes! : 0,
            etag: String(o.hash ?? ""),
            mtime: listedTime(o.last_modified),
            latest: true,
          } satisfies Listed;
        }
      }
    },

    async get(bucket, key, opts): Promise<Fetched> {
      const headers: Record<string, string> = {};
      if (opts.offset) headers.Range = `bytes=${opts.offset}-`;
      if (opts.ifMatch) headers["If-Match"] = `"${opts.ifMatch}"`;
      const res = await request("GET", objPath(bucket, key), { headers, signal: opts.signal });
      if (res.status === 412) {
        await res.body?.cancel();
        throw new ObjectChangedError(`${bucket}/${key}`);
      }
      if (res.status !== 200 && res.status !== 206) await failFor(res, `${bucket}/${key}`);
      const h = res.headers;
      const etag = unquoteEtag(h.get("etag"));
      const meta: Record<string, string> = { etag };
      for (
        const k of [
          "last-modified",
          "content-type",
          "content-encoding",
          "content-disposition",
          "content-language",
          "cache-control",
          "expires",
        ]
      ) {
        const v = h.get(k);
        if (v !== null) meta[k] = v;
      }
      h.forEach((v, k) => {
        if (k.startsWith("x-object-meta-")) meta[USER_META + k.slice("x-object-meta-".length)] = v;
      });
      if (/^true$/i.test(h.get("x-static-large-object") ?? "")) meta.kind = "slo";
      const manifest = h.get("x-object-manifest");
      if (manifest !== null) {
        meta.kind = "dlo";
        meta["dlo-manifest"] = manifest;
      }
      const length = Number(h.get("content-length") ?? NaN);
      const body = res.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
      return { body, length: Number.isSafeInteger(length) ? length : -1, etag, meta };
    },

    async head(bucket, key, signal) {
      const res = await request("HEAD", objPath(bucket, key), { signal });
      await res.body?.cancel();
      if (res.status === 404) return null;
      if (!res.ok) await failFor(res, `${bucket}/${key}`);
      return {
        etag: unquoteEtag(res.headers.get("etag")),
        size: Number(res.headers.get("content-length") ?? 0),
      };
    },

    async createBucket(bucket, signal) {
      const res = await request("PUT", encodeURIComponent(bucket), { signal });
      if (res.status === 201 || res.status === 202 || res.status === 204) {
        return void await res.body?.cancel();
      }
      await failFor(res, `container ${bucket}`);
    },

    async put(bucket, key, data, meta, signal) {
      const res = await request("PUT", objPath(bucket, key), {
        body: data,
        headers: headersOf(meta),
        signal,
      });
      if (res.status !== 201) await failFor(res, `${bucket}/${key}`);
      await res.body?.cancel();
    },

    async putParts(bucket, key, parts, meta, signal) {
      const segments = `${bucket}_segments`;
      await this.createBucket(segments, signal);
      const base = `${key}/slo/${Date.now()}.${crypto.randomUUID().slice(0, 8)}`;
      const manifest: { path: string; etag: null; size_bytes: number }[] = [];
      for await (const body of parts) {
        const name = `${base}/${String(manifest.length).padStart(8, "0")}`;
        await run(`PUT segment ${name}`, signal, async () => {
          const res = await request("PUT", objPath(segments, name), { body, signal });
          if (res.status !== 201) await failFor(res, `segment ${manifest.length} of ${bucket}/${key}`);
          await res.body?.cancel();
        });
        manifest.push({ path: `/${segments}/${name}`, etag: null, size_bytes: body.length });
      }
      const res = await request("PUT", objPath(bucket, key), {
        query: "multipart-manifest=put",
        headers: { ...headersOf(meta), "Content-Type": meta["content-type"] ?? "application/octet-stream" },
        body: JSON.stringify(manifest),
        signal,
      });
      if (res.status !== 201) await failFor(res, `manifest of ${bucket}/${key}`);
      await res.body?.cancel();
    },

    close() {
      client.close();
      return Promise.resolve();
    },
  };
}

/** Swift request headers of an object's content headers and user metadata. */
function headersOf(meta: Record<string, string>): Record<string, string> {
  const { headers, user } = writableMeta(meta);
  const out: Record<string, string> = { ...headers };
  for (const [k, v] of Object.entries(user)) out[`X-Object-Meta-${k}`] = v;
  return out;
}
