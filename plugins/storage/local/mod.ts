/**
 * `local`: a repository in a directory on a local (or mounted) file system.
 *
 * Writes are atomic: a temporary file in the same directory, fsync, rename, fsync of the directory.
 * Large objects (packs) are written with direct I/O where the file system allows (`direct.ts`).
 *
 * The directories below the repository's (`data`, `data/ab`, `index`, …) must be real directories: one
 * that is a symbolic link is refused with a {@link StorageError}, so that a crafted repository cannot make
 * a write or a delete land outside it. (The repository directory itself may be a link.)
 *
 * @example
 * ```ts
 * import local from "./mod.ts";
 * const storage = local({ path: "/srv/backup/repo" });
 * await storage.create();
 * ```
 * @module
 */
import {
  API_VERSION,
  isStorageError,
  type ObjectInfo,
  StorageError,
  type StoragePlugin,
} from "../../../core/contracts.ts";
import { makePrivateDir } from "../../../core/platform/private_dir.ts";
import { writeDirect } from "./direct.ts";
import { fromLocation } from "../location.ts";
import { parseLocalLocation } from "./location.ts";

/**
 * Mode of every file written: a repository is encrypted, yet its object names, sizes and times are
 * nobody else's business. Directories are 0700 ({@link makePrivateDir}). Files of an existing
 * repository keep the mode they were written with.
 */
const FILE_MODE = 0o600;

/** Options of the local storage. */
export interface Options {
  /** The repository directory. */
  path: string;
  /** Requests kept in flight by callers (default 2: a local disk gains nothing from more, and each pack in flight holds its buffer). */
  concurrency?: number;
  /**
   * Write objects of {@link DIRECT_MIN} bytes and more (packs) with direct I/O (`O_DIRECT`; Linux
   * with FFI permitted, else ignored): no copy into the page cache, which costs more CPU than anything
   * else in writing a pack. A file system that refuses it is written the ordinary way. Default true.
   */
  directIo?: boolean;
}

/** Defaults of the local storage. */
export const defaults: Omit<Options, "path"> = { concurrency: 2, directIo: true };

/**
 * Smallest object written with direct I/O: below it, the page-cache copy costs less than the device round trips.
 *
 * @example
 * ```ts
 * import { DIRECT_MIN } from "./mod.ts";
 * console.log(DIRECT_MIN); // 1048576
 * ```
 */
export const DIRECT_MIN = 1 << 20;

function mapError(e: unknown, what: string): never {
  if (e instanceof Deno.errors.NotFound) {
    throw new StorageError("not-found", `${what}: no such object`, { cause: e });
  }
  if (e instanceof Deno.errors.AlreadyExists) {
    throw new StorageError("exists", `${what}: already exists`, { cause: e });
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    throw new StorageError("permanent", `${what}: permission denied`, { cause: e });
  }
  if (e instanceof DOMException && e.name === "AbortError") throw e;
  throw new StorageError("permanent", `${what}: ${(e as Error)?.message ?? e}`, { cause: e });
}

function checkName(name: string): void {
  if (
    !/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(name) ||
    name.split("/").some((s) => s === "." || s === "..")
  ) {
    throw new StorageError("permanent", `invalid object name ${JSON.stringify(name)}`);
  }
}

let tmpCounter = 0;

/** The most an asynchronous write hands over at once (see `put`). */
const WRITE_PIECE = 1 << 20;

/** Builds a local storage. */
/** The location schemes this storage opens (`--repo local:…`). */
export const schemes = ["local", "file"];

/**
 * Builds the storage from its options, or from a `location` string as given to `--repo` (read into the
 * options above; options given beside it win).
 */
export default function local(given: Options | (Partial<Options> & { location: string })): StoragePlugin {
  const options = fromLocation(given as Options & { location?: string }, parseLocalLocation);
  if (!options?.path) throw new Error("local storage: option 'path' is required");
  const root = options.path.replace(/\/+$/, "") || "/";
  const concurrency = options.concurrency ?? defaults.concurrency!;
  /** Cleared once direct I/O turns out unavailable or refused here: a file system stays what it is. */
  let directIo = options.directIo ?? defaults.directIo!;
  const full = (name: string) => `${root}/${name}`;
  /** Directories below the root already seen to be real ones (few: the top level and `data/xx`). */
  const real = new Set<string>();
  const refuseLink = (dir: string): never => {
    throw new StorageError(
      "permanent",
      `${full(dir)} is a symbolic link: refused (a repository's directories must be real directories)`,
    );
  };
  /** Refuses a name below a directory that is a symbolic link; a directory not there yet is fine. */
  const checkDirs = (name: string) => {
    for (let i = name.indexOf("/"); i >= 0; i = name.indexOf("/", i + 1)) {
      const dir = name.slice(0, i);
      if (real.has(dir)) continue;
      let st: Deno.FileInfo;
      try {
        st = Deno.lstatSync(full(dir));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return;
        mapError(e, dir);
      }
      if (st.isSymlink) refuseLink(dir);
      real.add(dir);
    }
  };

  const fsyncDir = async (dir: string) => {
    try {
      const f = await Deno.open(dir, { read: true });
      try {
        await f.sync();
      } finally {
        f.close();
      }
    } catch { /* some file systems refuse fsync on directories */ }
  };

  return {
    kind: "storage",
    name: "local",
    apiVersion: API_VERSION,
    location: root,
    capabilities: {
      maxObjectSize: Number.MAX_SAFE_INTEGER,
      atomicCreate: true,
      concurrency,
      temporaries: true,
    },

    // deno-lint-ignore require-await
    async create() {
      try {
        makePrivateDir(root);
      } catch (e) {
        mapError(e, root);
      }
    },

    async put(name, data, opts) {
      opts?.signal?.throwIfAborted();
      checkName(name);
      checkDirs(name);
      const path = full(name);
      const dir = path.slice(0, path.lastIndexOf("/"));
      const tmp = `${dir}/.tmp-${Deno.pid}-${++tmpCounter}-${name.slice(name.lastIndexOf("/") + 1)}`;
      try {
        makePrivateDir(dir);
        // Writes and fsync run off the main thread either way, so packing goes on meanwhile.
        const direct = directIo && data.length >= DIRECT_MIN && await writeDirect(tmp, data, FILE_MODE);
        if (!direct) {
          if (data.length >= DIRECT_MIN) directIo = false;
          const f = await Deno.open(tmp, { write: true, createNew: true, mode: FILE_MODE });
          try {
            // In pieces: an asynchronous write copies its buffer into fresh memory first, and a copy of
            // a whole pack (16 MiB) page-faults on every page: 80 such writes took 3.7 s of system time
            // here, in 1 MiB pieces 0.47 s (as a synchronous write of the whole).
            for (let off = 0; off < data.length;) {
              off += await f.write(data.subarray(off, Math.min(off + WRITE_PIECE, data.length)));
            }
            await f.sync();
          } finally {
            f.close();
          }
        }
        if (opts?.create) {
          // link() fails when the target exists: an atomic create-if-absent.
          try {
            await Deno.link(tmp, path);
          } finally {
            await Deno.remove(tmp);
          }
        } else {
          await Deno.rename(tmp, path);
        }
        await fsyncDir(dir);
      } catch (e) {
        try {
          Deno.removeSync(tmp);
        } catch { /* already gone */ }
        mapError(e, name);
      }
    },

    // deno-lint-ignore require-await
    async get(name, opts) {
      opts?.signal?.throwIfAborted();
      checkName(name);
      checkDirs(name);
      try {
        // Synchronous reads: measured faster than async ones for restore's many small range reads.
        const f = Deno.openSync(full(name), { read: true });
        try {
          let offset = 0;
          let length: number;
          const size = f.statSync().size;
          if (opts?.range) {
            offset = opts.range.offset;
            length = Math.max(0, Math.min(opts.range.length, size - offset));
            f.seekSync(offset, Deno.SeekMode.Start);
          } else {
            length = size;
          }
          const into = opts?.into; // detached (length 0) or too small: not used
          const out = into && into.length >= length ? into.subarray(0, length) : new Uint8Array(length);
          let got = 0;
          while (got < length) {
            const n = f.readSync(out.subarray(got));
            if (n === null || n === 0) break;
            got += n;
          }
          if (got !== length) {
            throw new StorageError("transient", `${name}: short read (${got} of ${length})`);
          }
          return out;
        } finally {
          f.close();
        }
      } catch (e) {
        if (isStorageError(e)) throw e;
        mapError(e, name);
      }
    },

    async stat(name, opts) {
      opts?.signal?.throwIfAborted();
      checkName(name);
      checkDirs(name);
      try {
        const st = await Deno.stat(full(name));
        if (!st.isFile) throw new Deno.errors.NotFound(name);
        return { name, size: st.size };
      } catch (e) {
        mapError(e, name);
      }
    },

    async *list(prefix, opts): AsyncIterable<ObjectInfo> {
      // Walk the directory holding the prefix; names are filtered by the full prefix.
      const temporaries = !!opts?.temporaries;
      const slash = prefix.lastIndexOf("/");
      const base = slash >= 0 ? prefix.slice(0, slash) : "";
      const start = base ? full(base) : root;
      if (base) checkDirs(`${base}/`);
      const stack: [string, string][] = [[start, base]];
      while (stack.length) {
        opts?.signal?.throwIfAborted();
        const [dir, rel] = stack.pop()!;
        let entries: Deno.DirEntry[];
        try {
          entries = [...Deno.readDirSync(dir)];
        } catch (e) {
          if (e instanceof Deno.errors.NotFound) continue;
          mapError(e, rel || "/");
        }
        for (const e of entries) {
          const name = rel ? `${rel}/${e.name}` : e.name;
          // Symbolic links are neither objects nor directories of a repository: never followed.
          if (e.isSymlink) {
            if (prefix.startsWith(name + "/") || name.startsWith(prefix)) refuseLink(name);
            continue;
          }
          if (e.isDirectory) {
            if (prefix.startsWith(name + "/") || name.startsWith(prefix) || (name + "/").startsWith(prefix)) {
              stack.push([`${dir}/${e.name}`, name]);
            }
            continue;
          }
          // Temporary files of writes (`put`) are listed only when asked for, and then alone.
          if (!e.isFile || !name.startsWith(prefix) || e.name.startsWith(".tmp-") !== temporaries) continue;
          let st: Deno.FileInfo;
          try {
            st = Deno.statSync(`${dir}/${e.name}`);
          } catch {
            continue; // deleted meanwhile
          }
          yield temporaries
            ? { name, size: st.size, mtime: st.mtime?.getTime() ?? 0 }
            : { name, size: st.size };
        }
      }
    },

    async delete(name, opts) {
      opts?.signal?.throwIfAborted();
      checkName(name);
      checkDirs(name);
      try {
        await Deno.remove(full(name));
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) mapError(e, name);
      }
    },
  };
}
