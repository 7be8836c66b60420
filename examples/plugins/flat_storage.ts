/**
 * An example third-party storage plugin: every object is one file in a single directory, its name the
 * object name with `/` written as `%2F` (some NAS shares allow no subdirectories). It imports nothing from
 * floe: a plain object with the contract's fields, and errors as `Error`s named `StorageError` with a
 * `code`, which is how floe's core recognises them.
 *
 * It claims the location scheme `flat`, so once loaded (`floe --plugin ./examples/plugins/flat_storage.ts`)
 * `--repo flat:/srv/backup` opens it.
 *
 * @example
 * ```ts
 * import flat from "./flat_storage.ts";
 * const storage = flat({ location: "flat:/tmp/flat-repo" });
 * await storage.create();
 * await storage.put("config", new TextEncoder().encode("{}"));
 * ```
 * @module
 */

/** The location schemes this plugin opens. */
export const schemes = ["flat"];

/** Options of the flat storage. */
export interface Options {
  /** `flat:/absolute/dir` (as given to `--repo`), or set `path`. */
  location?: string;
  /** The directory, when no location is given. */
  path?: string;
}

/** No defaults: a directory must be named. */
export const defaults: Options = {};

function storageError(code: string, message: string, cause?: unknown): Error {
  const e = new Error(message, { cause });
  e.name = "StorageError";
  (e as Error & { code: string }).code = code;
  return e;
}

const encode = (name: string) => name.replaceAll("%", "%25").replaceAll("/", "%2F");
const decode = (file: string) => file.replaceAll("%2F", "/").replaceAll("%25", "%");

/** Builds the storage. */
export default function flat(options: Options = defaults) {
  const dir = options.path ?? options.location?.replace(/^flat:/, "");
  if (!dir || !dir.startsWith("/")) throw new Error("flat storage: give flat:/absolute/directory");
  const file = (name: string) => `${dir}/${encode(name)}`;
  const fail = (name: string, e: unknown): never => {
    if (e instanceof Deno.errors.NotFound) throw storageError("not-found", `${name}: no such object`, e);
    if (e instanceof Deno.errors.AlreadyExists) throw storageError("exists", `${name}: exists`, e);
    throw storageError("permanent", `${name}: ${(e as Error).message}`, e);
  };
  return {
    kind: "storage" as const,
    name: "flat",
    apiVersion: 1,
    location: `flat:${dir}`,
    capabilities: { maxObjectSize: 2 ** 40, atomicCreate: true, concurrency: 4 },
    async create() {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    },
    async put(name: string, data: Uint8Array, opts: { create?: boolean; signal?: AbortSignal } = {}) {
      opts.signal?.throwIfAborted();
      const tmp = `${dir}/.tmp-${crypto.randomUUID()}`;
      try {
        await Deno.writeFile(tmp, data, { mode: 0o600 });
        if (opts.create) {
          await Deno.link(tmp, file(name)); // fails when the object exists: atomic create
          await Deno.remove(tmp);
        } else await Deno.rename(tmp, file(name));
      } catch (e) {
        await Deno.remove(tmp).catch(() => {});
        fail(name, e);
      }
    },
    async get(name: string, opts: { range?: { offset: number; length: number } } = {}) {
      try {
        if (!opts.range) return await Deno.readFile(file(name));
        using f = await Deno.open(file(name));
        await f.seek(opts.range.offset, Deno.SeekMode.Start);
        const out = new Uint8Array(opts.range.length);
        let n = 0;
        while (n < out.length) {
          const r = await f.read(out.subarray(n));
          if (r === null) break;
          n += r;
        }
        return out.subarray(0, n);
      } catch (e) {
        return fail(name, e);
      }
    },
    async stat(name: string) {
      try {
        return { name, size: (await Deno.stat(file(name))).size };
      } catch (e) {
        return fail(name, e);
      }
    },
    async *list(prefix: string) {
      for await (const e of Deno.readDir(dir)) {
        if (!e.isFile || e.name.startsWith(".tmp-")) continue;
        const name = decode(e.name);
        if (name.startsWith(prefix)) yield { name, size: (await Deno.stat(`${dir}/${e.name}`)).size };
      }
    },
    async delete(name: string) {
      await Deno.remove(file(name)).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) fail(name, e);
      });
    },
  };
}
