/**
 * `bucket`: backs up object-storage buckets (S3 or Swift) and restores them into a bucket.
 *
 * Locations are spelt as repository locations: `s3:http(s)://host[:port]/bucket[/prefix]`,
 * `s3:bucket[/prefix]` (AWS), `swift:container[:/prefix]`; `s3:http://host:port/`, `s3:` or `swift:`
 * (no bucket) back up every bucket of the account, filtered by `bucketsInclude` / `bucketsExclude`.
 * Credentials as for repositories (`AWS_*`, `ST_*`, `OS_*`, or the `s3` / `swift` options).
 *
 * Layout: each object is the file `/<bucket>/<key>`, its key's segments mapped losslessly to names
 * (./_names.ts documents the mapping: `%` escapes, a trailing `%` marker for `""`, `.`, `..` and for an
 * object that is also a "directory", `%@<version>` for older versions). Metadata per object goes into
 * `SourceEntry.meta` (./_backend.ts lists the keys): ETag, Last-Modified, the content headers, user
 * metadata, storage class, version id, and `kind` (`slo`, `dlo`, `multipart`, `delete-marker`).
 *
 * Incremental: each entry carries `changeToken` = the listed ETag (and version id), so an object whose
 * ETag, size and Last-Modified are those of the parent snapshot costs no request. Listings go level by
 * level (delimiter `/`), a page at a time, so memory does not grow with the number of keys. Objects up
 * to `memory / 8` (at most 8 MiB) are fetched whole, ahead of their turn, within `memory` bytes; larger
 * ones are streamed. A DLO lists with size 0, so it is read again on every run. An object replaced
 * between the listing and its GET is backed up as read (its new content and headers); one replaced
 * while it is streamed fails with a warning and is left out.
 *
 * @example
 * ```ts
 * import bucket from "./mod.ts";
 * const source = bucket({ locations: ["s3:http://127.0.0.1:9000/photos"], exclude: ["*.tmp"] });
 * console.log(source.paths); // ["/photos"]
 * ```
 * @module
 */
import {
  API_VERSION,
  type ContentReader,
  type RestoreEntry,
  type ScanContext,
  type SourceEntry,
  type SourcePlugin,
} from "../../../core/contracts.ts";
import { compileGlobs } from "../../../core/globs.ts";
import { parseS3Location } from "../../storage/s3/location.ts";
import { parseSwiftLocation } from "../../storage/swift/location.ts";
import { LocationError } from "../../storage/location.ts";
import type { S3ClientOptions } from "../../storage/s3/_client.ts";
import type { SwiftClientOptions } from "../../storage/swift/_client.ts";
import { retrying, type RetryPolicy } from "../../storage/retry/mod.ts";
import type { Backend, Listed } from "./_backend.ts";
import { s3Backend } from "./_s3.ts";
import { swiftBackend } from "./_swift.ts";
import { compareBytes, encodeSegment, versionName } from "./_names.ts";
import { Budget, prefetch, streamReader } from "./_reader.ts";
import { restoreToBucket } from "./_restore.ts";

export { restoreToDirectory } from "./_restore.ts";

/** Options of the bucket source. */
export interface Options {
  /** What to back up (or, for `restore`, the one place to restore into). */
  locations: string[];
  /** Only keys matching one of these globs (restic semantics on `/<key>`). */
  include?: string[] | string;
  /** Leave out keys matching one of these globs; a matching "directory" is not even listed. */
  exclude?: string[] | string;
  /** For bucket-less locations: only these buckets (names or globs). */
  bucketsInclude?: string[] | string;
  /** For bucket-less locations: leave these buckets out. */
  bucketsExclude?: string[] | string;
  /** `latest` (default) or `all`: every version and delete marker (S3 API only). */
  versions?: "all" | "latest";
  /** Bytes of object content held in memory at once (default 64 MiB; `64M`, `1G` are read too). */
  memory?: number | string;
  /**
   * Restore: objects written at once (default 16). A backup fetches as many objects at once as the engine
   * opens ahead of their turn (4 per worker), within `memory`.
   */
  connections?: number;
  /** Restore: what to do with an object that exists (default `always`). */
  overwrite?: "always" | "if-changed" | "never";
  /** Restore: the snapshot directory whose files become the target's keys (default: each file's bucket). */
  from?: string;
  /** Restore: objects above this size go up in parts of this size (S3 multipart, Swift SLO; default 16 MiB). */
  partSize?: number;
  /** S3 client settings (credentials, region, CA bundle…) for `s3:` locations. */
  s3?: S3ClientOptions;
  /** Swift auth settings for `swift:` locations. */
  swift?: SwiftClientOptions;
  /** Retries of passing faults (the retry storage wrapper's policy). */
  retry?: RetryPolicy;
}

/** Defaults of the bucket source. */
export const defaults = {
  memory: 64 * 1024 * 1024,
  connections: 16,
  partSize: 16 * 1024 * 1024,
  /** Largest object fetched whole. */
  maxPrefetch: 8 * 1024 * 1024,
  /** Listed items held at one level while waiting to know whether a "directory" of the same name follows. */
  window: 10_000,
};

/** A parsed location: which store, which bucket (none: all) and key prefix. */
export interface BucketLocation {
  /** `s3` or `swift`. */
  scheme: "s3" | "swift";
  /** S3 endpoint (custom stores), none for AWS and Swift. */
  endpoint?: string;
  /** The bucket, or undefined for every bucket of the account. */
  bucket?: string;
  /** A key prefix (a "directory", without leading or trailing `/`). */
  prefix: string;
}

/**
 * Parses a bucket location.
 *
 * @example
 * ```ts
 * import { parseBucketLocation } from "./mod.ts";
 * parseBucketLocation("s3:http://127.0.0.1:9000/"); // { scheme: "s3", endpoint: "http://127.0.0.1:9000", prefix: "" }
 * ```
 */
export function parseBucketLocation(location: string): BucketLocation {
  const loc = location.trim();
  if (loc.startsWith("s3:")) {
    const endpointOnly = /^s3:(https?:\/\/[^/]+)\/*$/i.exec(loc);
    if (endpointOnly) {
      const url = new URL(endpointOnly[1]);
      if (url.username || url.password) {
        throw new LocationError(`invalid s3 location: credentials do not belong in the location`);
      }
      return { scheme: "s3", endpoint: `${url.protocol}//${url.host}`, prefix: "" };
    }
    if (loc === "s3:") return { scheme: "s3", prefix: "" };
    const { options } = parseS3Location(loc);
    return {
      scheme: "s3",
      endpoint: options.endpoint as string | undefined,
      bucket: options.bucket as string,
      prefix: (options.prefix as string | undefined) ?? "",
    };
  }
  if (loc.startsWith("swift:")) {
    if (loc === "swift:") return { scheme: "swift", prefix: "" };
    const { options } = parseSwiftLocation(loc);
    return { scheme: "swift", bucket: options.container as string, prefix: (options.prefix as string) ?? "" };
  }
  throw new LocationError(`invalid bucket location ${JSON.stringify(loc)}: expected s3:… or swift:…`);
}

/** `64M`, `1G`, `512k`, `1048576` → bytes. */
function parseBytes(value: number | string, what: string): number {
  if (typeof value === "number" && Number.isSafeInteger(value) && value > 0) return value;
  const m = /^\s*(\d+)\s*([kmg]?)i?b?\s*$/i.exec(String(value));
  if (!m) throw new Error(`bucket source: invalid ${what} ${JSON.stringify(value)}`);
  return Number(m[1]) * 1024 ** " kmg".indexOf((m[2] || " ").toLowerCase());
}

const list = (v: string[] | string | undefined) =>
  v === undefined ? [] : (Array.isArray(v) ? v : v.split(",")).map((s) => s.trim()).filter(Boolean);

/** A listed item waiting for its turn at its level. */
interface Pending {
  /** Its segment at this level (a prefix without its `/`). */
  raw: string;
  /** Its name in the tree. */
  name: string;
  /** The listing's item. */
  item: Listed;
}

/**
 * Builds the bucket source.
 *
 * @example
 * ```ts
 * import bucket from "./mod.ts";
 * const source = bucket({ locations: ["swift:photos"] });
 * console.log(source.name, source.paths); // bucket ["/photos"]
 * ```
 */
/** Where a snapshot of this source can be restored (`floe restore … --target s3:…` or `swift:…`). */
export const targetSchemes = ["s3", "swift"];

/**
 * Builds the source. From the CLI, the locations come as `paths` (`floe backup --source bucket LOC…`) and a
 * restore's place as `target` (`floe restore … --target s3:…`).
 */
export default function bucket(
  given: Options | (Partial<Options> & { paths?: string[]; target?: string }),
): SourcePlugin & { readonly budget: Budget } {
  const extra = given as { paths?: string[]; target?: string };
  const options = {
    ...given,
    locations: given.locations ?? (extra.target ? [extra.target] : extra.paths),
  } as Options;
  if (!options?.locations?.length) throw new Error("bucket source: option 'locations' is required");
  const locations = options.locations.map(parseBucketLocation).sort((a, b) =>
    compareBytes(a.bucket ?? "", b.bucket ?? "") || compareBytes(a.prefix, b.prefix)
  );
  const versions = (options.versions ?? "latest") === "all";
  if (!["all", "latest"].includes(options.versions ?? "latest")) {
    throw new Error(`bucket source: versions must be all or latest, not ${JSON.stringify(options.versions)}`);
  }
  const memory = parseBytes(options.memory ?? defaults.memory, "memory");
  const partSize = parseBytes(options.partSize ?? defaults.partSize, "partSize");
  const maxPrefetch = Math.min(defaults.maxPrefetch, Math.floor(memory / 8));
  const connections = Math.max(1, options.connections ?? defaults.connections);
  const included = list(options.include);
  const isIncluded = included.length ? compileGlobs(included) : () => true;
  const isExcluded = compileGlobs(list(options.exclude));
  const bucketIncluded = list(options.bucketsInclude);
  const isBucketIncluded = bucketIncluded.length ? compileGlobs(bucketIncluded) : () => true;
  const isBucketExcluded = compileGlobs(list(options.bucketsExclude));
  const budget = new Budget(memory);
  const run = retrying(options.retry);

  const paths = locations.map((l) =>
    l.bucket ? "/" + [l.bucket, ...(l.prefix ? l.prefix.split("/") : [])].map(encodeSegment).join("/") : "/"
  );
  if (new Set(paths).size !== paths.length || (paths.includes("/") && paths.length > 1)) {
    throw new Error("bucket source: the locations overlap");
  }

  const backends = new Map<string, Backend>();
  function backendOf(l: BucketLocation): Backend {
    const id = `${l.scheme}:${l.endpoint ?? ""}`;
    let b = backends.get(id);
    if (!b) {
      b = l.scheme === "s3"
        ? s3Backend({ ...options.s3, ...(l.endpoint ? { endpoint: l.endpoint } : {}) }, id, run)
        : swiftBackend({ ...options.swift }, id, run);
      backends.set(id, b);
    }
    return b;
  }

  /** The entry of one listed object (version). */
  function fileEntry(
    backend: Backend,
    bucket: string,
    path: string,
    o: Listed,
    signal?: AbortSignal,
  ): SourceEntry {
    const meta: Record<string, string> = { etag: o.etag, "last-modified": new Date(o.mtime).toUTCString() };
    if (o.storageClass) meta["storage-class"] = o.storageClass;
    if (o.versionId) meta["version-id"] = o.versionId;
    if (o.deleteMarker) meta.kind = "delete-marker";
    const entry = {
      path,
      type: "file" as const,
      size: o.size,
      mtime: o.mtime,
      mode: 0o644,
      changeToken: o.deleteMarker
        ? `delete-marker@${o.versionId}`
        : o.versionId
        ? `${o.etag}@${o.versionId}`
        : o.etag,
      meta,
      open(): Promise<ContentReader> | ContentReader {
        if (o.deleteMarker) return { read: () => null, close() {} };
        const ctx = {
          backend,
          budget,
          run,
          signal,
          onMeta(m: Record<string, string>) {
            // Keep what only the listing says (storage class) under the GET's headers.
            entry.meta = { ...meta, ...m };
          },
        };
        const ref = {
          bucket,
          key: o.key,
          versionId: o.latest ? undefined : o.versionId,
          etag: o.etag,
          size: o.size,
        };
        return o.size <= maxPrefetch ? prefetch(ref, ctx) : streamReader(ref, ctx);
      },
    };
    return entry;
  }

  /**
   * One level of a bucket in pre-order. Listings come in byte order, where a "directory" `a/` sorts after
   * `a!x`; the tree wants `a` before `a!x`, and the object `a` renamed `a%` when `a/` exists. So each item
   * waits until the listing has passed `<its name>/`, or the window is full.
   */
  async function* level(
    backend: Backend,
    bucket: string,
    prefix: string,
    dir: string,
    ctx: ScanContext,
  ): AsyncGenerator<SourceEntry> {
    const pending: Pending[] = [];
    const forced = new Set<string>(); // objects let out before their same-named "directory" could be seen
    const insert = (p: Pending) => {
      let lo = 0;
      let hi = pending.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (pending[mid].name < p.name) lo = mid + 1;
        else hi = mid;
      }
      pending.splice(lo, 0, p);
    };
    const emit = async function* (p: Pending): AsyncGenerator<SourceEntry> {
      const path = `${dir}/${p.name}`;
      if (p.item.prefix) {
        yield { path, type: "dir", size: 0, mtime: 0, mode: 0o755 };
        yield* level(backend, bucket, p.item.key, path, ctx);
      } else if (isIncluded(`/${p.item.key}`) && !isExcluded(`/${p.item.key}`)) {
        yield fileEntry(backend, bucket, path, p.item, ctx.signal);
      }
    };
    for await (const item of backend.list(bucket, prefix, versions, ctx.signal)) {
      ctx.signal?.throwIfAborted();
      const rest = item.key.slice(prefix.length);
      if (!item.key.startsWith(prefix)) continue;
      const raw = item.prefix ? rest.slice(0, -1) : rest;
      if (item.prefix) {
        if (isExcluded(`/${item.key.slice(0, -1)}`)) continue;
        let name = encodeSegment(raw);
        if (forced.has(raw)) name += "%";
        const twin = pending.findIndex((p) => !p.item.prefix && p.raw === raw && p.item.latest);
        if (twin >= 0) {
          const [file] = pending.splice(twin, 1);
          insert({ ...file, name: `${file.name}%` });
        }
        insert({ raw, name, item });
      } else {
        const base = encodeSegment(raw);
        const name = item.latest ? base : versionName(base, item.versionId ?? "");
        // An older version whose newest is a delete marker keeps its version name; the marker takes the base.
        insert({ raw, name, item });
      }
      while (
        pending.length && (pending.length > defaults.window || compareBytes(rest, `${pending[0].raw}/`) > 0)
      ) {
        const p = pending.shift()!;
        if (!p.item.prefix && compareBytes(rest, `${p.raw}/`) <= 0) forced.add(p.raw);
        yield* emit(p);
      }
    }
    while (pending.length) yield* emit(pending.shift()!);
  }

  async function* bucketNames(backend: Backend, signal?: AbortSignal): AsyncGenerator<string> {
    for await (const name of backend.buckets(signal)) {
      if (isBucketIncluded(`/${name}`) && !isBucketExcluded(`/${name}`)) yield name;
    }
  }

  async function* scanBucket(
    backend: Backend,
    name: string,
    prefix: string,
    ctx: ScanContext,
  ): AsyncGenerator<SourceEntry> {
    let dir = `/${encodeSegment(name)}`;
    yield { path: dir, type: "dir", size: 0, mtime: 0, mode: 0o755 };
    for (const seg of prefix ? prefix.split("/") : []) {
      dir += `/${encodeSegment(seg)}`;
      yield { path: dir, type: "dir", size: 0, mtime: 0, mode: 0o755 };
    }
    yield* level(backend, name, prefix ? `${prefix}/` : "", dir, ctx);
  }

  return {
    kind: "source",
    name: "bucket",
    apiVersion: API_VERSION,
    paths,
    budget,
    capabilities: { remote: true },

    async *scan(ctx: ScanContext): AsyncIterable<SourceEntry> {
      ctx.signal?.throwIfAborted();
      for (const l of locations) {
        const backend = backendOf(l);
        if (l.bucket) {
          yield* scanBucket(backend, l.bucket, l.prefix, ctx);
          continue;
        }
        for await (const name of bucketNames(backend, ctx.signal)) {
          // A bucket that vanished after the account listing is a warning, not a failed run.
          try {
            yield* scanBucket(backend, name, "", ctx);
          } catch (e) {
            if ((e as { code?: string })?.code !== "not-found") throw e;
            ctx.warn({ path: `/${encodeSegment(name)}`, message: (e as Error).message });
          }
        }
      }
    },

    async restore(entries: AsyncIterable<RestoreEntry>, ctx: ScanContext): Promise<void> {
      if (locations.length !== 1) throw new Error("bucket source: restore needs exactly one location");
      const target = locations[0];
      await restoreToBucket(backendOf(target), target, entries, ctx, {
        from: options.from,
        overwrite: options.overwrite ?? "always",
        partSize,
        connections,
        budget,
        run,
      });
    },
  };
}
