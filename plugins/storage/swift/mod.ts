/**
 * `swift`: a repository in an OpenStack Swift container, over the native Swift API (fetch, keep-alive;
 * large bodies up through ../upload.ts, GETs through ../download.ts straight into the caller's buffer).
 *
 * Auth: tempauth / v1 (`ST_AUTH`, `ST_USER`, `ST_KEY`) or Keystone v3 password auth (`OS_AUTH_URL`,
 * `OS_USERNAME`, `OS_PASSWORD`, `OS_PROJECT_NAME`, `OS_USER_DOMAIN_NAME`, `OS_PROJECT_DOMAIN_NAME`,
 * `OS_REGION_NAME`); options override the environment. An expired token (401) is renewed once and
 * the request retried. Objects above `maxObjectSize` are stored as Static Large Objects: segments in
 * `<container>_segments`, a manifest under the object's name.
 *
 * @example
 * ```ts
 * import swift from "./mod.ts";
 * const storage = swift({ container: "backups", authUrl: "http://127.0.0.1:8080/auth/v1.0", user: "test:tester", key: "testing" });
 * await storage.create();
 * ```
 * @module
 */
import { clientDefaults, connectSwift, encodeName, type SwiftClientOptions } from "./_client.ts";

export {
  type AuthSettings,
  authSettings,
  keystoneRequest,
  parseKeystoneResponse,
  type SwiftAuth,
} from "./_client.ts";
import { readBody } from "../read_body.ts";
import {
  API_VERSION,
  type CallOptions,
  type ObjectInfo,
  StorageError,
  type StoragePlugin,
} from "../../../core/contracts.ts";
import { fromLocation } from "../location.ts";
import { parseSwiftLocation } from "./location.ts";

/** Options of the swift storage. */
export interface Options extends SwiftClientOptions {
  /** The container. */
  container: string;
  /** An object-name prefix inside the container, e.g. `host1`. */
  prefix?: string;
  /** Requests callers keep in flight, and parallel segment uploads (default 8). */
  concurrency?: number;
  /** Largest object stored as one piece; bigger ones become SLOs (default 5 GiB, Swift's default limit). */
  maxObjectSize?: number;
  /** Size of SLO segments (default: `maxObjectSize`, at most 1 GiB). */
  segmentSize?: number;
  /** Container for SLO segments (default `<container>_segments`). */
  segmentContainer?: string;
}

/** Defaults of the swift storage. */
export const defaults = {
  concurrency: 8,
  maxObjectSize: 5 * 1024 * 1024 * 1024,
  maxSegmentSize: 1024 * 1024 * 1024,
  ...clientDefaults,
};

/**
 * Builds a swift storage.
 *
 * @example
 * ```ts
 * import swift from "./mod.ts";
 * const storage = swift({ container: "backups", prefix: "host1" }); // auth from ST_* or OS_*
 * console.log(storage.location); // swift:backups:/host1
 * ```
 */
/** The location schemes this storage opens (`--repo swift:…`). */
export const schemes = ["swift"];

/**
 * Builds the storage from its options, or from a `location` string as given to `--repo` (read into the
 * options above; options given beside it win).
 */
export default function swift(given: Options | (Partial<Options> & { location: string })): StoragePlugin {
  const options = fromLocation(given as Options & { location?: string }, parseSwiftLocation);
  if (!options?.container) throw new Error("swift storage: option 'container' is required");
  const container = options.container;
  const prefix = (options.prefix ?? "").replace(/^\/+/, "").replace(/\/+$/, "");
  const namePrefix = prefix ? `${prefix}/` : "";
  const segContainer = options.segmentContainer ?? `${container}_segments`;
  const concurrency = Math.max(1, options.concurrency ?? defaults.concurrency);
  const maxObjectSize = Math.max(1, options.maxObjectSize ?? defaults.maxObjectSize);
  const segmentSize = Math.max(1, options.segmentSize ?? Math.min(maxObjectSize, defaults.maxSegmentSize));
  const location = `swift:${container}:/${prefix}`;
  const client = connectSwift(options, location);
  const { request, failFor, netError } = client;
  let segmentsReady: Promise<void> | undefined;

  const checkName = (name: string) => {
    if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(name)) {
      throw new StorageError("permanent", `invalid object name ${JSON.stringify(name)}`);
    }
  };
  const objPath = (name: string) => `${encodeURIComponent(container)}/${encodeName(namePrefix + name)}`;

  async function ensureContainer(name: string, signal?: AbortSignal) {
    const res = await request("PUT", encodeURIComponent(name), { signal });
    if (res.status === 201 || res.status === 202 || res.status === 204) return void await res.body?.cancel();
    await failFor(res, `container ${name}`);
  }

  async function putSlo(name: string, data: Uint8Array, create: boolean, signal?: AbortSignal) {
    if (create) {
      const head = await request("HEAD", objPath(name), { signal });
      await head.body?.cancel();
      if (head.ok) throw new StorageError("exists", `${location}: ${name}: already exists`);
      if (head.status !== 404) await failFor(head, name);
    }
    const count = Math.ceil(data.length / segmentSize);
    const stamp = `${Date.now()}.${crypto.randomUUID().slice(0, 8)}`;
    const segBase = `${namePrefix}${name}/slo/${stamp}/${data.length}/${segmentSize}`;
    const manifest: { path: string; etag: null; size_bytes: number }[] = new Array(count);
    let next = 0;
    await (segmentsReady ??= ensureContainer(segContainer, signal).catch((e) => {
      segmentsReady = undefined;
      throw e;
    }));
    const worker = async () => {
      while (next < count) {
        const i = next++;
        signal?.throwIfAborted();
        const body = data.subarray(i * segmentSize, Math.min(data.length, (i + 1) * segmentSize));
        const segName = `${segBase}/${String(i).padStart(8, "0")}`;
        const path = `${encodeURIComponent(segContainer)}/${encodeName(segName)}`;
        const res = await request("PUT", path, { body, signal });
        if (res.status !== 201) await failFor(res, `segment ${i} of ${name}`);
        await res.body?.cancel();
        manifest[i] = { path: `/${segContainer}/${segName}`, etag: null, size_bytes: body.length };
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    const res = await request("PUT", objPath(name), {
      query: "multipart-manifest=put",
      headers: { "Content-Type": "application/json", ...(create ? { "If-None-Match": "*" } : {}) },
      body: JSON.stringify(manifest),
      signal,
    });
    if (res.status !== 201) await failFor(res, `manifest of ${name}`);
    await res.body?.cancel();
  }

  return {
    kind: "storage",
    name: "swift",
    apiVersion: API_VERSION,
    location,
    capabilities: { maxObjectSize: Number.MAX_SAFE_INTEGER, atomicCreate: true, concurrency },

    async create(opts?: CallOptions) {
      await ensureContainer(container, opts?.signal);
    },

    async put(name, data, opts) {
      opts?.signal?.throwIfAborted();
      checkName(name);
      if (data.length > maxObjectSize) return await putSlo(name, data, !!opts?.create, opts?.signal);
      const res = await request("PUT", objPath(name), {
        body: data,
        headers: {
          "Content-Type": "application/octet-stream",
          ...(opts?.create ? { "If-None-Match": "*" } : {}),
        },
        signal: opts?.signal,
      });
      if (res.status !== 201) await failFor(res, name);
      await res.body?.cancel();
    },

    async get(name, opts) {
      opts?.signal?.throwIfAborted();
      checkName(name);
      const range = opts?.range;
      if (range && range.length <= 0) {
        await this.stat(name, opts);
        return new Uint8Array(0);
      }
      const res = await request("GET", objPath(name), {
        headers: range ? { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : {},
        signal: opts?.signal,
      });
      if (range && res.status === 416) {
        await res.body?.cancel();
        return new Uint8Array(0);
      }
      if (res.status !== 200 && res.status !== 206) await failFor(res, name);
      if (!res.body) return new Uint8Array(0);
      const length = res.headers.get("content-length");
      const expected = length === null ? undefined : Number(length);
      try {
        return await readBody(res.body, expected, `${location}: ${name}`, { into: opts?.into });
      } catch (e) {
        throw netError(e, `GET ${name}`, opts?.signal);
      }
    },

    async stat(name, opts) {
      opts?.signal?.throwIfAborted();
      checkName(name);
      const res = await request("HEAD", objPath(name), { signal: opts?.signal });
      if (res.status !== 200) await failFor(res, name);
      await res.body?.cancel();
      return { name, size: Number(res.headers.get("content-length") ?? 0) };
    },

    async *list(listPrefix, opts): AsyncIterable<ObjectInfo> {
      let marker = "";
      for (;;) {
        opts?.signal?.throwIfAborted();
        const q = new URLSearchParams({ format: "json", prefix: namePrefix + listPrefix, limit: "10000" });
        if (marker) q.set("marker", marker);
        const res = await request("GET", encodeURIComponent(container), {
          query: q.toString(),
          signal: opts?.signal,
        });
        if (res.status === 204) {
          await res.body?.cancel();
          return;
        }
        if (res.status === 404) {
          await res.body?.cancel();
          throw new StorageError(
            "not-found",
            `${location}: container ${JSON.stringify(container)} does not exist`,
          );
        }
        if (res.status !== 200) await failFor(res, `list ${listPrefix || "/"}`);
        let page: { name?: string; bytes?: number; subdir?: string }[];
        try {
          page = await res.json();
        } catch (e) {
          throw netError(e, `list ${listPrefix || "/"}`, opts?.signal);
        }
        if (page.length === 0) return;
        for (const o of page) {
          if (!o.name?.startsWith(namePrefix)) continue;
          yield { name: o.name.slice(namePrefix.length), size: o.bytes ?? 0 };
        }
        marker = page[page.length - 1].name ?? page[page.length - 1].subdir ?? "";
        if (!marker) return;
      }
    },

    async delete(name, opts) {
      opts?.signal?.throwIfAborted();
      checkName(name);
      // A manifest must be deleted with its segments; a plain DELETE would leave them behind.
      const head = await request("HEAD", objPath(name), {
        query: "multipart-manifest=get",
        signal: opts?.signal,
      });
      await head.body?.cancel();
      if (head.status === 404) return;
      if (!head.ok) await failFor(head, name);
      const slo = head.headers.get("x-static-large-object") === "True" ||
        head.headers.get("x-static-large-object") === "true";
      const res = await request("DELETE", objPath(name), {
        query: slo ? "multipart-manifest=delete" : undefined,
        headers: slo ? { Accept: "application/json" } : {},
        signal: opts?.signal,
      });
      if (res.status === 404) return void await res.body?.cancel();
      if (!res.ok) await failFor(res, name);
      if (slo) {
        const report = await res.json().catch(() => null) as {
          "Response Status"?: string;
          Errors?: unknown[];
        } | null;
        const status = report?.["Response Status"] ?? "200 OK";
        if (!/^(200|204|404)/.test(status)) {
          throw new StorageError(
            /^(5|429)/.test(status) ? "transient" : "permanent",
            `${location}: delete of ${name}: ${status} ${JSON.stringify(report?.Errors ?? []).slice(0, 200)}`,
          );
        }
      } else {
        await res.body?.cancel();
      }
    },

    close() {
      client.close();
      return Promise.resolve();
    },
  };
}
