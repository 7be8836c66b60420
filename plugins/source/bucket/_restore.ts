/**
 * Restoring a bucket snapshot: into a bucket (keys, bytes, content headers, user metadata; large
 * objects in parts), or into a directory (files plus one metadata manifest).
 *
 * Which key a file gets: its path below `from` (default: below its bucket's directory, `/<bucket>`),
 * decoded (./_names.ts), after the target's prefix. Older versions (`…%@<id>`) and delete markers are
 * not written back: a restore gives the bucket as it was.
 *
 * @example
 * ```ts
 * import { restoreToDirectory } from "./_restore.ts";
 * // await restoreToDirectory(entries, "/tmp/out"); // files, and /tmp/out/.floe-bucket-meta.jsonl
 * ```
 * @module
 */
import type { ContentReader, RestoreEntry, ScanContext } from "../../../core/contracts.ts";
import type { RetryRunner } from "../../storage/retry/mod.ts";
import type { Backend } from "./_backend.ts";
import { decodeKey, decodeSegment, fsSafeName, versionOf } from "./_names.ts";
import type { Budget } from "./_reader.ts";

/** How {@link restoreToBucket} treats objects that exist. */
export type Overwrite = "always" | "if-changed" | "never";

/** Options of {@link restoreToBucket}. */
export interface RestoreOptions {
  /** The snapshot directory whose files map to the target's keys. */
  from?: string;
  /** What to do with existing objects. */
  overwrite: Overwrite;
  /** Objects above this size go up in parts of this size. */
  partSize: number;
  /** Objects written at once. */
  connections: number;
  /** Bytes of content held at once. */
  budget: Budget;
  /** Retries of passing faults. */
  run: RetryRunner;
}

/** Where a file goes: its bucket (when the target has none) and key. */
function keyOf(path: string, from: string | undefined): { bucket: string; key: string } | null {
  const names = path.split("/").filter(Boolean);
  const base = from ? from.split("/").filter(Boolean) : names.slice(0, 1);
  if (names.length <= base.length || base.some((b, i) => names[i] !== b)) return null;
  return { bucket: decodeSegment(names[0]), key: decodeKey(names.slice(base.length)) };
}

/** Reads a reader to its end (at most `size` bytes are expected). */
async function readAll(reader: ContentReader, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let n = 0;
  try {
    for (;;) {
      if (n === out.length) {
        const probe = new Uint8Array(1);
        if ((await reader.read(probe)) === null) break;
        throw new Error(`content longer than its recorded size ${size}`);
      }
      const k = await reader.read(out.subarray(n));
      if (k === null) break;
      n += k;
    }
  } finally {
    await reader.close();
  }
  if (n !== size) throw new Error(`content of ${n} bytes, recorded size ${size}`);
  return out;
}

/** A reader's content in parts of `partSize` bytes. */
async function* partsOf(reader: ContentReader, partSize: number): AsyncGenerator<Uint8Array> {
  try {
    for (;;) {
      const part = new Uint8Array(partSize);
      let n = 0;
      while (n < partSize) {
        const k = await reader.read(part.subarray(n));
        if (k === null) break;
        n += k;
      }
      if (n > 0) yield part.subarray(0, n);
      if (n < partSize) return;
    }
  } finally {
    await reader.close();
  }
}

/**
 * Writes the files of `entries` into the target bucket (or, for a target without bucket, each into the
 * bucket its path names), creating buckets when missing.
 *
 * @example
 * ```ts
 * import { restoreToBucket } from "./_restore.ts";
 * // await restoreToBucket(backend, { bucket: "b2", prefix: "" }, entries, { warn() {} }, options);
 * ```
 */
export async function restoreToBucket(
  backend: Backend,
  target: { bucket?: string; prefix: string },
  entries: AsyncIterable<RestoreEntry>,
  ctx: ScanContext,
  options: RestoreOptions,
): Promise<void> {
  const signal = ctx.signal;
  const created = new Map<string, Promise<void>>();
  const ensure = (bucket: string) => {
    let p = created.get(bucket);
    if (!p) {
      p = options.run(`create bucket ${bucket}`, signal, () => backend.createBucket(bucket, signal));
      created.set(bucket, p);
    }
    return p;
  };

  async function write(e: RestoreEntry, bucket: string, key: string) {
    await ensure(bucket);
    const meta: Record<string, string> = { ...(e.meta ?? {}) };
    if (options.overwrite !== "always") {
      const existing = await options.run(
        `HEAD ${bucket}/${key}`,
        signal,
        () => backend.head(bucket, key, signal),
      );
      if (
        existing &&
        (options.overwrite === "never" || (existing.etag === meta.etag && existing.size === e.size))
      ) {
        return;
      }
    }
    const partSize = Math.max(options.partSize, backend.minPartSize);
    if (e.size > partSize) {
      await backend.putParts(bucket, key, partsOf(e.open!(), partSize), meta, signal);
      return;
    }
    await options.budget.acquire(e.size);
    try {
      const data = await readAll(e.open!(), e.size);
      await options.run(`PUT ${bucket}/${key}`, signal, () => backend.put(bucket, key, data, meta, signal));
    } finally {
      options.budget.release(e.size);
    }
  }

  const iterator = entries[Symbol.asyncIterator]();
  let next: Promise<IteratorResult<RestoreEntry>> = Promise.resolve({
    done: false,
    value: undefined as never,
  });
  const take = () => (next = next.then((r) => (r.done ? r : iterator.next())));
  let failure: unknown;
  const worker = async () => {
    for (;;) {
      const r = await take();
      if (r.done || failure) return;
      const e = r.value;
      signal?.throwIfAborted();
      const name = e.path.slice(e.path.lastIndexOf("/") + 1);
      if (e.type !== "file" || versionOf(name) !== undefined || e.meta?.kind === "delete-marker") continue;
      const place = keyOf(e.path, options.from);
      if (!place) continue;
      const bucket = target.bucket ?? place.bucket;
      const key = (target.prefix ? `${target.prefix}/` : "") + place.key;
      try {
        await write(e, bucket, key);
      } catch (err) {
        if (signal?.aborted) throw err;
        if ((err as { code?: string })?.code === "auth") {
          failure = err;
          throw err;
        }
        ctx.warn({ path: e.path, message: `cannot restore to ${bucket}/${key}: ${(err as Error).message}` });
      }
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  if (failure) throw failure;
}

/** One line of the manifest {@link restoreToDirectory} writes. */
export interface ManifestLine {
  /** The file written, relative to the target directory. */
  file: string;
  /** The bucket. */
  bucket: string;
  /** The object's key. */
  key: string;
  /** Size in bytes. */
  size: number;
  /** Last-Modified, ms since the epoch. */
  mtime: number;
  /** The object's metadata (etag, content headers, user metadata…). */
  meta: Record<string, string>;
}

/** The manifest's file name in the target directory. */
export const MANIFEST = ".floe-bucket-meta.jsonl";

/**
 * Restores a bucket snapshot into a directory: each object becomes the file `<dir>/<bucket>/<key>`
 * (names as in the snapshot, those above 255 bytes shortened, see `fsSafeName`), with its mtime, and
 * `<dir>/.floe-bucket-meta.jsonl` gets one JSON line per object ({@link ManifestLine}: the file, the
 * bucket, the full key, the size and the metadata), so nothing of the object is lost.
 *
 * @example
 * ```ts
 * import { restoreToDirectory } from "./_restore.ts";
 * // const lines = await restoreToDirectory(restoreEntries(engine, snapshot, "/"), "/tmp/out");
 * ```
 */
export async function restoreToDirectory(
  entries: AsyncIterable<RestoreEntry>,
  dir: string,
  options: { from?: string } = {},
): Promise<number> {
  await Deno.mkdir(dir, { recursive: true });
  const manifest = await Deno.open(`${dir}/${MANIFEST}`, { write: true, create: true, truncate: true });
  const encoder = new TextEncoder();
  let count = 0;
  try {
    for await (const e of entries) {
      const names = e.path.split("/").filter(Boolean);
      const from = options.from?.split("/").filter(Boolean) ?? [];
      if (names.length <= from.length || from.some((f, i) => names[i] !== f)) continue;
      const rel = names.slice(from.length).map(fsSafeName);
      if (rel.some((n) => n === "." || n === ".." || n === "") || (rel.length === 1 && rel[0] === MANIFEST)) {
        continue;
      }
      const file = `${dir}/${rel.join("/")}`;
      if (e.type === "dir") {
        await Deno.mkdir(file, { recursive: true });
        continue;
      }
      if (e.type !== "file") continue;
      await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
      const out = await Deno.open(file, { write: true, create: true, truncate: true });
      try {
        const reader = e.open?.();
        if (reader) {
          const buf = new Uint8Array(1 << 20);
          try {
            for (let n = await reader.read(buf); n !== null; n = await reader.read(buf)) {
              let off = 0;
              while (off < n) off += await out.write(buf.subarray(off, n));
            }
          } finally {
            await reader.close();
          }
        }
      } finally {
        out.close();
      }
      const mtime = new Date(e.mtime);
      await Deno.utime(file, mtime, mtime);
      const place = keyOf(e.path, undefined);
      const line: ManifestLine = {
        file: rel.join("/"),
        bucket: place?.bucket ?? "",
        key: place?.key ?? "",
        size: e.size,
        mtime: e.mtime,
        meta: { ...(e.meta ?? {}) },
      };
      const bytes = encoder.encode(JSON.stringify(line) + "\n");
      for (let off = 0; off < bytes.length;) off += await manifest.write(bytes.subarray(off));
      count++;
    }
  } finally {
    manifest.close();
  }
  return count;
}
