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
import { takesUpload, Uploader } from "../upload.ts";
import { Downloader, takesDownload } from "../download.ts";
import { readBody } from "../read_body.ts";
import {
  API_VERSION,
  type CallOptions,
  isStorageError,
  type ObjectInfo,
  StorageError,
  type StoragePlugin,
} from "../../../core/contracts.ts";
import { fromLocation } from "../location.ts";
import { parseSwiftLocation } from "./location.ts";

/** Options of the swift storage. */
export interface Options {
  /** The container. */
  container: string;
  /** An object-name prefix inside the container, e.g. `host1`. */
  prefix?: string;
  /** Auth URL: tempauth `…/auth/v1.0` or Keystone `…/v3`; default `ST_AUTH`, else `OS_AUTH_URL`. */
  authUrl?: string;
  /** `1` (tempauth, swauth) or `3` (Keystone); default 3 when `OS_AUTH_URL` is used or the URL ends in `/v3`. */
  authVersion?: 1 | 3;
  /** v1 user, e.g. `account:user`; default `ST_USER`. */
  user?: string;
  /** v1 key; default `ST_KEY`. */
  key?: string;
  /** Keystone user name; default `OS_USERNAME`. */
  username?: string;
  /** Keystone password; default `OS_PASSWORD`. */
  password?: string;
  /** Keystone project name; default `OS_PROJECT_NAME` (or `OS_TENANT_NAME`). */
  projectName?: string;
  /** Keystone project id, instead of the name; default `OS_PROJECT_ID`. */
  projectId?: string;
  /** Keystone user domain; default `OS_USER_DOMAIN_NAME`, else `Default`. */
  userDomainName?: string;
  /** Keystone project domain; default `OS_PROJECT_DOMAIN_NAME`, else `Default`. */
  projectDomainName?: string;
  /** Keystone region of the object-store endpoint; default `OS_REGION_NAME` (any when unset). */
  regionName?: string;
  /** Keystone endpoint interface; default `OS_INTERFACE`, else `public`. */
  interface?: "public" | "internal" | "admin";
  /** A storage URL to use instead of the one auth returns (`OS_STORAGE_URL`). */
  storageUrl?: string;
  /** Requests callers keep in flight, and parallel segment uploads (default 8). */
  concurrency?: number;
  /** Largest object stored as one piece; bigger ones become SLOs (default 5 GiB, Swift's default limit). */
  maxObjectSize?: number;
  /** Size of SLO segments (default: `maxObjectSize`, at most 1 GiB). */
  segmentSize?: number;
  /** Container for SLO segments (default `<container>_segments`). */
  segmentContainer?: string;
  /** Per-request timeout in milliseconds (default 120 000). */
  timeoutMs?: number;
}

/** Defaults of the swift storage. */
export const defaults = {
  concurrency: 8,
  maxObjectSize: 5 * 1024 * 1024 * 1024,
  maxSegmentSize: 1024 * 1024 * 1024,
  timeoutMs: 120_000,
  userDomainName: "Default",
  projectDomainName: "Default",
  interface: "public" as const,
};

/** What an auth call yields. */
export interface SwiftAuth {
  /** The account's storage URL. */
  storageUrl: string;
  /** The token to send as `X-Auth-Token`. */
  token: string;
}

/** The settings auth needs, after options and the environment are merged. */
export interface AuthSettings {
  /** Auth URL. */
  authUrl: string;
  /** 1 or 3. */
  version: 1 | 3;
  /** v1 user. */
  user?: string;
  /** v1 key. */
  key?: string;
  /** Keystone user name. */
  username?: string;
  /** Keystone password. */
  password?: string;
  /** Keystone project name. */
  projectName?: string;
  /** Keystone project id. */
  projectId?: string;
  /** Keystone user domain. */
  userDomainName: string;
  /** Keystone project domain. */
  projectDomainName: string;
  /** Keystone region. */
  regionName?: string;
  /** Keystone interface. */
  interface: string;
}

/**
 * Merges options with the `ST_*` / `OS_*` environment (options win).
 *
 * @example
 * ```ts
 * import { authSettings } from "./mod.ts";
 * authSettings({ container: "c", authUrl: "http://h/auth/v1.0", user: "a:u", key: "k" }, () => undefined);
 * ```
 */
export function authSettings(options: Options, env: (name: string) => string | undefined): AuthSettings {
  const stAuth = env("ST_AUTH");
  const osAuth = env("OS_AUTH_URL");
  const authUrl = options.authUrl ?? stAuth ?? osAuth;
  if (!authUrl) {
    throw new StorageError("auth", `swift:${options.container}: no auth URL (set ST_AUTH or OS_AUTH_URL)`);
  }
  const keystoneHints = !!(options.username ?? options.password ?? options.projectName);
  const version: 1 | 3 = options.authVersion ??
    (/\/v3\/?$/.test(authUrl) || keystoneHints || (!options.authUrl && !stAuth && !!osAuth) ? 3 : 1);
  return {
    authUrl,
    version,
    user: options.user ?? env("ST_USER"),
    key: options.key ?? env("ST_KEY"),
    username: options.username ?? env("OS_USERNAME"),
    password: options.password ?? env("OS_PASSWORD"),
    projectName: options.projectName ?? env("OS_PROJECT_NAME") ?? env("OS_TENANT_NAME"),
    projectId: options.projectId ?? env("OS_PROJECT_ID"),
    userDomainName: options.userDomainName ?? env("OS_USER_DOMAIN_NAME") ?? defaults.userDomainName,
    projectDomainName: options.projectDomainName ?? env("OS_PROJECT_DOMAIN_NAME") ??
      defaults.projectDomainName,
    regionName: options.regionName ?? env("OS_REGION_NAME"),
    interface: options.interface ?? env("OS_INTERFACE")?.replace(/URL$/i, "") ?? defaults.interface,
  };
}

/**
 * The Keystone v3 password-auth request (`POST {authUrl}/auth/tokens`).
 *
 * @example
 * ```ts
 * import { authSettings, keystoneRequest } from "./mod.ts";
 * const s = authSettings({ container: "c", authUrl: "https://ks/v3", username: "u", password: "p", projectName: "pr" }, () => undefined);
 * keystoneRequest(s).url; // https://ks/v3/auth/tokens
 * ```
 */
export function keystoneRequest(s: AuthSettings): { url: string; body: unknown } {
  const base = s.authUrl.replace(/\/+$/, "");
  const url = `${/\/v3$/.test(base) ? base : `${base}/v3`}/auth/tokens`;
  const project = s.projectId
    ? { id: s.projectId }
    : { name: s.projectName, domain: { name: s.projectDomainName } };
  return {
    url,
    body: {
      auth: {
        identity: {
          methods: ["password"],
          password: { user: { name: s.username, domain: { name: s.userDomainName }, password: s.password } },
        },
        scope: { project },
      },
    },
  };
}

/** The shape of a Keystone v3 token response body, as far as floe reads it. */
interface KeystoneToken {
  token?: {
    catalog?: {
      type?: string;
      name?: string;
      endpoints?: { interface?: string; region?: string; region_id?: string; url?: string }[];
    }[];
  };
}

/**
 * Reads a Keystone v3 token response: the token from `X-Subject-Token`, the storage URL from the
 * catalog's `object-store` endpoint of the wanted interface (and region, when given).
 *
 * @example
 * ```ts
 * import { parseKeystoneResponse } from "./mod.ts";
 * const auth = parseKeystoneResponse("tok", {
 *   token: { catalog: [{ type: "object-store", endpoints: [{ interface: "public", region: "r1", url: "https://s/v1/AUTH_x" }] }] },
 * }, "r1", "public");
 * auth.storageUrl; // https://s/v1/AUTH_x
 * ```
 */
export function parseKeystoneResponse(
  token: string | null,
  body: unknown,
  region: string | undefined,
  iface: string,
): SwiftAuth {
  if (!token) throw new StorageError("auth", "keystone: the response carries no X-Subject-Token");
  const catalog = (body as KeystoneToken)?.token?.catalog ?? [];
  const services = catalog.filter((c) => c.type === "object-store");
  if (services.length === 0) {
    throw new StorageError("permanent", "keystone: no object-store service in the catalog");
  }
  const endpoints = services.flatMap((s) => s.endpoints ?? []).filter((e) =>
    (e.interface ?? "public") === iface
  );
  const inRegion = region
    ? endpoints.filter((e) => e.region_id === region || e.region === region)
    : endpoints;
  const ep = inRegion.find((e) => e.url);
  if (!ep?.url) {
    throw new StorageError(
      "permanent",
      `keystone: no ${iface} object-store endpoint${region ? ` in region ${region}` : ""} in the catalog`,
    );
  }
  return { storageUrl: ep.url.replace(/\/+$/, ""), token };
}

function transientStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408 || status === 498;
}

function encodeName(name: string): string {
  return name.split("/").map(encodeURIComponent).join("/");
}

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
  const timeoutMs = options.timeoutMs ?? defaults.timeoutMs;
  const location = `swift:${container}:/${prefix}`;
  const env = (n: string) => {
    try {
      return Deno.env.get(n);
    } catch {
      return undefined;
    }
  };

  let auth: Promise<SwiftAuth> | undefined;
  let segmentsReady: Promise<void> | undefined;
  let settings: AuthSettings | undefined;

  async function authenticate(signal?: AbortSignal): Promise<SwiftAuth> {
    settings ??= authSettings(options, env);
    const s = settings;
    const storageUrl = options.storageUrl ?? env("OS_STORAGE_URL");
    let res: Response;
    try {
      if (s.version === 1) {
        if (!s.user || !s.key) {
          throw new StorageError("auth", `${location}: no user/key (set ST_USER and ST_KEY)`);
        }
        res = await fetch(s.authUrl, {
          headers: { "X-Auth-User": s.user, "X-Auth-Key": s.key },
          signal: timeoutSignal(signal),
        });
      } else {
        if (!s.username || !s.password) {
          throw new StorageError(
            "auth",
            `${location}: no Keystone user/password (set OS_USERNAME and OS_PASSWORD)`,
          );
        }
        const req = keystoneRequest(s);
        res = await fetch(req.url, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(req.body),
          signal: timeoutSignal(signal),
        });
      }
    } catch (e) {
      throw netError(e, "auth", signal);
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new StorageError("auth", `${location}: credentials refused by ${s.authUrl} (HTTP ${res.status})`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new StorageError(
        transientStatus(res.status) ? "transient" : "permanent",
        `${location}: auth at ${s.authUrl} failed with HTTP ${res.status}`,
      );
    }
    if (s.version === 1) {
      await res.body?.cancel();
      const token = res.headers.get("x-auth-token") ?? res.headers.get("x-storage-token");
      const url = storageUrl ?? res.headers.get("x-storage-url");
      if (!token || !url) {
        throw new StorageError("auth", `${location}: auth answered without token or storage URL`);
      }
      return { storageUrl: url.replace(/\/+$/, ""), token };
    }
    const parsed = parseKeystoneResponse(
      res.headers.get("x-subject-token"),
      await res.json().catch(() => null),
      s.regionName,
      s.interface,
    );
    return storageUrl ? { ...parsed, storageUrl: storageUrl.replace(/\/+$/, "") } : parsed;
  }

  let uploader: Uploader | undefined;
  let downloader: Downloader | undefined;

  function timeoutSignal(signal?: AbortSignal): AbortSignal {
    const t = AbortSignal.timeout(timeoutMs);
    return signal ? AbortSignal.any([signal, t]) : t;
  }

  function netError(e: unknown, what: string, signal?: AbortSignal): unknown {
    if (isStorageError(e)) return e;
    if (signal?.aborted) return signal.reason ?? e;
    const msg = (e as Error)?.message ?? String(e);
    return new StorageError("transient", `${location}: ${what}: ${msg}`, { cause: e });
  }

  /** One request with the token; a 401 renews the token once and retries. */
  async function request(
    method: string,
    path: string,
    init: {
      headers?: Record<string, string>;
      body?: Uint8Array | string;
      query?: string;
      signal?: AbortSignal;
    } = {},
  ): Promise<Response> {
    init.signal?.throwIfAborted();
    for (let attempt = 0;; attempt++) {
      const current = auth ??= authenticate(init.signal);
      let a: SwiftAuth;
      try {
        a = await current;
      } catch (e) {
        if (auth === current) auth = undefined;
        throw e;
      }
      let res: Response;
      const url = `${a.storageUrl}/${path}${init.query ? `?${init.query}` : ""}`;
      const headers = { "X-Auth-Token": a.token, ...init.headers };
      try {
        // Large bodies (objects, SLO segments) through node:http/https: no copies (see ../upload.ts).
        if (takesUpload(url, init.body)) {
          res = await (uploader ??= new Uploader({ caCerts: [] })).send(url, {
            method,
            headers,
            body: init.body,
            signal: timeoutSignal(init.signal),
          });
        } else if (takesDownload(url, method)) {
          res = await (downloader ??= new Downloader({ caCerts: [] })).get(url, {
            headers,
            signal: timeoutSignal(init.signal),
          });
        } else {
          res = await fetch(url, {
            method,
            headers,
            body: init.body as BodyInit | undefined,
            signal: timeoutSignal(init.signal),
          });
        }
      } catch (e) {
        throw netError(e, `${method} ${path}`, init.signal);
      }
      if (res.status === 401 && attempt === 0) {
        await res.body?.cancel();
        if (auth === current) auth = undefined; // renew the token and retry once
        continue;
      }
      return res;
    }
  }

  async function failFor(res: Response, what: string): Promise<never> {
    const text = (await res.text().catch(() => "")).slice(0, 200).trim();
    const detail = `HTTP ${res.status}${text && !text.startsWith("<") ? `: ${text}` : ""}`;
    if (res.status === 404) throw new StorageError("not-found", `${location}: ${what}: no such object`);
    if (res.status === 401 || res.status === 403) {
      throw new StorageError("auth", `${location}: access refused for ${what} (HTTP ${res.status})`);
    }
    if (res.status === 412) throw new StorageError("exists", `${location}: ${what}: already exists`);
    throw new StorageError(
      transientStatus(res.status) ? "transient" : "permanent",
      `${location}: ${what}: ${detail}`,
    );
  }

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
      auth = undefined;
      uploader?.destroy();
      uploader = undefined;
      downloader?.destroy();
      downloader = undefined;
      return Promise.resolve();
    },
  };
}
