/**
 * The Swift client shared by the `swift` storage and the `bucket` source: auth (tempauth v1 or Keystone
 * v3, from options or the `ST_*` / `OS_*` environment, a 401 renews the token once), requests with
 * the token (large bodies up through ../upload.ts, GETs through ../download.ts), and the mapping of
 * answers to {@link StorageError} codes.
 *
 * @example
 * ```ts
 * import { connectSwift } from "./_client.ts";
 * const swift = connectSwift({ authUrl: "http://127.0.0.1:8080/auth/v1.0", user: "test:tester", key: "testing" }, "swift:c:/");
 * const res = await swift.request("HEAD", "c");
 * await res.body?.cancel();
 * swift.close();
 * ```
 * @module
 */
import { hasDotSegment, takesUpload, Uploader, viaProxy } from "../upload.ts";
import { Downloader, takesDownload } from "../download.ts";
import { isStorageError, StorageError } from "../../../core/contracts.ts";

/** How to reach and authenticate to a Swift account. */
export interface SwiftClientOptions {
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
  /** Per-request timeout in milliseconds (default 120 000). */
  timeoutMs?: number;
}

/** Defaults of the client. */
export const clientDefaults = {
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
export function authSettings(
  options: SwiftClientOptions & { container?: string },
  env: (name: string) => string | undefined,
): AuthSettings {
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
    userDomainName: options.userDomainName ?? env("OS_USER_DOMAIN_NAME") ?? clientDefaults.userDomainName,
    projectDomainName: options.projectDomainName ?? env("OS_PROJECT_DOMAIN_NAME") ??
      clientDefaults.projectDomainName,
    regionName: options.regionName ?? env("OS_REGION_NAME"),
    interface: options.interface ?? env("OS_INTERFACE")?.replace(/URL$/i, "") ?? clientDefaults.interface,
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

/** Whether an HTTP status is worth retrying. */
export function transientStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408 || status === 498;
}

/** Escapes an object name for a URL path, keeping its `/`. */
export function encodeName(name: string): string {
  return name.split("/").map(encodeURIComponent).join("/");
}

/** An authenticated Swift account. */
export interface SwiftConnection {
  /** One request on `path` (relative to the storage URL); a 401 renews the token once. */
  request(
    method: string,
    path: string,
    init?: {
      headers?: Record<string, string>;
      body?: Uint8Array | string;
      query?: string;
      signal?: AbortSignal;
    },
  ): Promise<Response>;
  /** Throws the {@link StorageError} of a failed answer about `what`. */
  failFor(res: Response, what: string): Promise<never>;
  /** A network failure as a transient {@link StorageError} (an abort as the signal's reason). */
  netError(e: unknown, what: string, signal?: AbortSignal): unknown;
  /** Forgets the token and closes the connections. */
  close(): void;
}

/**
 * Builds the client for `location`, which names the place in messages.
 *
 * @example
 * ```ts
 * import { connectSwift } from "./_client.ts";
 * const swift = connectSwift({}, "swift:c:/"); // auth from ST_* or OS_*
 * swift.close();
 * ```
 */
export function connectSwift(options: SwiftClientOptions, location: string): SwiftConnection {
  const timeoutMs = options.timeoutMs ?? clientDefaults.timeoutMs;
  const env = (n: string) => {
    try {
      return Deno.env.get(n);
    } catch {
      return undefined;
    }
  };

  let auth: Promise<SwiftAuth> | undefined;
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
        // Large bodies (objects, SLO segments) through the uploader: no copies (see ../upload.ts).
        // fetch would resolve the `.`/`..` segments of a name such as `x/../y`: the uploader sends it as is.
        const dots = method !== "GET" && hasDotSegment(url) && !viaProxy(url);
        if (takesUpload(url, init.body) || dots) {
          res = await (uploader ??= new Uploader({ caCerts: [] })).send(url, {
            method,
            headers,
            body: typeof init.body === "string"
              ? new TextEncoder().encode(init.body)
              : init.body ?? new Uint8Array(0),
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

  return {
    request,
    failFor,
    netError,
    close() {
      auth = undefined;
      uploader?.destroy();
      uploader = undefined;
      downloader?.destroy();
      downloader = undefined;
    },
  };
}
