/**
 * `mirror`: a storage wrapper that keeps the same objects on several storages.
 *
 * - `put` and `delete` go to every storage in parallel and succeed only when all succeed. A
 *   `put(..., {create: true})` refused with `exists` by any storage is undone on the storages where
 *   it succeeded, then fails with `exists`.
 * - `get` and `stat` ask the storages in order and take the first answer, falling back to the next
 *   on `not-found` or `transient` errors (other errors are thrown at once).
 * - `list` is the union of all storages' lists (the first storage's size wins for an object).
 * - {@link compareMirrors} reports objects missing from some storage or differing in size, for
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

/** A mirror storage; `storages` are the mirrored storages, e.g. for {@link compareMirrors}. */
export interface MirrorStorage extends StoragePlugin {
  /** The mirrored storages, in read order. */
  readonly storages: readonly StoragePlugin[];
}

/** One object that differs between mirrored storages. */
export interface Divergence {
  /** The object name. */
  name: string;
  /** `missing`: absent from some storages; `size`: present everywhere but with different sizes. */
  problem: "missing" | "size";
  /** Per storage (same order as given): its location and the object's size there, or null when absent. */
  storages: { location: string; size: number | null }[];
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
  const codes = failed.map((f) => f.r.reason instanceof StorageError ? f.r.reason.code : "permanent");
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
        if (e instanceof StorageError && (e.code === "not-found" || e.code === "transient")) {
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
    storages,
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
      const refused = results.some((r) =>
        r.status === "rejected" && r.reason instanceof StorageError && r.reason.code === "exists"
      );
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

/**
 * Lists every prefix on every storage and reports the objects that are not alike everywhere:
 * missing from some storage, or of different sizes. Sorted by name; empty when the mirrors agree.
 *
 * @example
 * ```ts
 * import { compareMirrors } from "./mod.ts";
 * import local from "../local/mod.ts";
 * const problems = await compareMirrors([local({ path: "/srv/a" }), local({ path: "/srv/b" })], ["data/", "index/"]);
 * for (const p of problems) console.log(p.name, p.problem);
 * ```
 */
export async function compareMirrors(
  storages: readonly StoragePlugin[],
  prefixes: readonly string[],
  options?: CallOptions,
): Promise<Divergence[]> {
  const listings = await Promise.all(storages.map(async (s) => {
    const sizes = new Map<string, number>();
    for (const prefix of prefixes) {
      for await (const o of s.list(prefix, options)) sizes.set(o.name, o.size);
    }
    return sizes;
  }));
  const names = new Set<string>();
  for (const l of listings) for (const n of l.keys()) names.add(n);
  const out: Divergence[] = [];
  for (const name of [...names].sort()) {
    const sizes = listings.map((l) => l.get(name) ?? null);
    const present = sizes.filter((s): s is number => s !== null);
    const problem = present.length < sizes.length
      ? "missing"
      : new Set(present).size > 1
      ? "size"
      : undefined;
    if (problem) {
      out.push({
        name,
        problem,
        storages: storages.map((s, i) => ({ location: s.location, size: sizes[i] })),
      });
    }
  }
  return out;
}
