/**
 * `mirror`: a storage wrapper that keeps the same objects on several storages.
 *
 * - `put` and `delete` go to every storage in parallel and succeed only when all succeed. A
 *   `put(..., {create: true})` refused with `exists` by any storage is undone on the storages where
 *   it succeeded, then fails with `exists`.
 * - `get` and `stat` ask the storages in order and take the first answer, falling back to the next
 *   on `not-found` or `transient` errors (other errors are thrown at once).
 * - `list` is the union of all storages' lists (the first storage's size wins for an object).
 * - `compareMirrors` (core/mirrors.ts) reports objects missing from some storage or differing in size, for
 *   `floe check`.
 *
 * @example
 * ```ts
 * import mirror from "./mod.ts";
 * import local from "../local/mod.ts";
 * const storage = mirror({ storages: [local({ path: "/srv/a" }), local({ path: "/mnt/usb/b" })] });
 * await storage.create();
 * ```
 * @module
 */
import {
  API_VERSION,
  type CallOptions,
  isStorageError,
  type ObjectInfo,
  StorageError,
  type StoragePlugin,
} from "../../../core/contracts.ts";

/** Options of the mirror wrapper. */
export interface Options {
  /** The storages to keep alike; reads prefer them in this order. At least one. */
  storages: StoragePlugin[];
}

/** Defaults of the mirror wrapper (none: `storages` is required). */
export const defaults: Partial<Options> = {};

/** A mirror storage: its `members` are the mirrored storages (compared by `floe check`, synced by `floe mirror sync`). */
export interface MirrorStorage extends StoragePlugin {
  /** The mirrored storages, in read order. */
  readonly members: readonly StoragePlugin[];
}

/** Runs `fn` so that a synchronous throw becomes a rejection. */
function attempt<T>(fn: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve) => resolve(fn()));
}

function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === "AbortError";
}

/** Combines the failures of a fan-out into one StorageError naming the storages that failed. */
function combine(
  what: string,
  storages: readonly StoragePlugin[],
  results: PromiseSettledResult<unknown>[],
): never {
  const failed = results
    .map((r, i) => ({ r, s: storages[i] }))
    .filter((x): x is { r: PromiseRejectedResult; s: StoragePlugin } => x.r.status === "rejected");
  const abort = failed.find((f) => isAbort(f.r.reason));
  if (abort) throw abort.r.reason;
  const codes = failed.map((f) => isStorageError(f.r.reason) ? f.r.reason.code : "permanent");
  // Retrying helps only when every failure is passing; otherwise report the first lasting code.
  const code = codes.every((c) => c === "transient") ? "transient" : codes.find((c) => c !== "transient")!;
  const detail = failed.map((f) => `${f.s.location}: ${(f.r.reason as Error)?.message ?? f.r.reason}`).join(
    "; ",
  );
  throw new StorageError(
    code,
    `mirror: ${what} failed on ${failed.length} of ${storages.length} storages (${detail})`,
    {
      cause: failed[0].r.reason,
    },
  );
}

/**
 * Mirrors writes to every storage and reads from the first that answers.
 *
 * @example
 * ```ts
 * import mirror from "./mod.ts";
 * import local from "../local/mod.ts";
 * const m = mirror({ storages: [local({ path: "/tmp/a" }), local({ path: "/tmp/b" })] });
 * await m.put("config", new Uint8Array([1]));
 * ```
 */
export default function mirror(options: Options): MirrorStorage {
  const storages = [...(options?.storages ?? [])];
  if (!storages.length) throw new Error("mirror: option 'storages' needs at least one storage");

  async function all(what: string, fn: (s: StoragePlugin) => Promise<unknown>): Promise<void> {
    const results = await Promise.allSettled(storages.map((s) => attempt(() => fn(s))));
    if (results.some((r) => r.status === "rejected")) combine(what, storages, results);
  }

  async function first<T>(
    what: string,
    fn: (s: StoragePlugin) => Promise<T>,
    opts?: CallOptions,
  ): Promise<T> {
    const errors: StorageError[] = [];
    for (const s of storages) {
      opts?.signal?.throwIfAborted();
      try {
        return await fn(s);
      } catch (e) {
        if ((isStorageError(e, "not-found") || isStorageError(e, "transient"))) {
          errors.push(e);
          continue;
        }
        throw e;
      }
    }
    const transient = errors.find((e) => e.code === "transient");
    if (transient) {
      throw new StorageError(
        "transient",
        `mirror: ${what}: no storage answered (${
          errors.map((e, i) => `${storages[i].location}: ${e.message}`).join("; ")
        })`,
        { cause: transient },
      );
    }
    throw new StorageError("not-found", `${what}: no such object on any mirror`, { cause: errors[0] });
  }

  return {
    kind: "storage",
    name: "mirror",
    apiVersion: API_VERSION,
    location: `mirror(${storages.map((s) => s.location).join(", ")})`,
    members: storages,
    capabilities: {
      maxObjectSize: Math.min(...storages.map((s) => s.capabilities.maxObjectSize)),
      atomicCreate: storages.every((s) => s.capabilities.atomicCreate),
      concurrency: Math.max(1, Math.min(...storages.map((s) => s.capabilities.concurrency))),
      temporaries: storages.some((s) => s.capabilities.temporaries),
    },

    create: (opts) => all("create", (s) => s.create(opts)),

    async put(name, data, opts) {
      opts?.signal?.throwIfAborted();
      const results = await Promise.allSettled(storages.map((s) => attempt(() => s.put(name, data, opts))));
      if (!results.some((r) => r.status === "rejected")) return;
      const refused = results.some((r) => r.status === "rejected" && isStorageError(r.reason, "exists"));
      if (opts?.create && refused) {
        // Someone else holds the name: undo our copies so the mirrors agree again.
        await Promise.allSettled(
          storages.map((s, i) =>
            results[i].status === "fulfilled" ? attempt(() => s.delete(name)) : undefined
          ),
        );
        throw new StorageError("exists", `${name}: already exists`);
      }
      combine(`put ${name}`, storages, results);
    },

    get: (name, opts) => first(name, (s) => s.get(name, opts), opts),

    stat: (name, opts) => first(name, (s) => s.stat(name, opts), opts),

    async *list(prefix, opts): AsyncIterable<ObjectInfo> {
      const seen = new Set<string>();
      for (const s of storages) {
        if (opts?.temporaries && !s.capabilities.temporaries) continue; // it would list its objects
        for await (const o of s.list(prefix, opts)) {
          if (seen.has(o.name)) continue;
          seen.add(o.name);
          yield o;
        }
      }
    },

    delete: (name, opts) => all(`delete ${name}`, (s) => s.delete(name, opts)),

    async close() {
      await Promise.allSettled(storages.map((s) => s.close?.()));
    },
  };
}
