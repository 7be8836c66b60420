/**
 * Repositories kept on several storages at once (`--repo` given several times): what `floe check`
 * reports when the storages diverge, what `floe init` says when only some of them hold the repository,
 * and `floe mirror sync`, which copies what some storages lack from the others.
 *
 * @example
 * ```ts
 * import { mirrorMembers, mirrorProblems } from "./mirrors.ts";
 * // const problems = mirrorMembers(engine.repo.storage) ? await mirrorProblems(engine.repo.storage) : [];
 * ```
 * @module
 */
import type { CallOptions, StoragePlugin } from "./contracts.ts";
import { isStorageError } from "./contracts.ts";
import { FloeError } from "./errors.ts";
import { sha256Hex } from "./crypto/hash.ts";
import { isPackNamed } from "./repository/pack.ts";

/** The object prefixes that make up a repository (locks are left out: they come and go). */
export const REPOSITORY_PREFIXES = ["config", "keys/", "index/", "snapshots/", "data/"] as const;

/** One divergence as `floe check` reports it (a {@link CheckProblem} of kind `mirror`). */
export interface MirrorProblem {
  /** Always `mirror`. */
  kind: "mirror";
  /** The object name, e.g. `data/ab/ab12…`. */
  id: string;
  /** What differs, naming the storages. */
  message: string;
}

/** The storages of a storage made of several copies (a mirror), or null when `storage` is a single one. */
export function mirrorMembers(storage: StoragePlugin): readonly StoragePlugin[] | null {
  const members = storage.members;
  return Array.isArray(members) && members.length > 1 ? members : null;
}

/** Describes one divergence in a line. */
export function describeDivergence(d: Divergence): string {
  if (d.problem === "missing") {
    const absent = d.storages.filter((s) => s.size === null).map((s) => s.location);
    const present = d.storages.filter((s) => s.size !== null).map((s) => s.location);
    return `missing on ${absent.join(", ")} (present on ${present.join(", ")})`;
  }
  return `sizes differ: ${d.storages.map((s) => `${s.location} ${s.size} bytes`).join(", ")}`;
}

/** The objects that are not alike on all storages of a mirror; empty when `storage` is no mirror. */
export async function mirrorProblems(storage: StoragePlugin, signal?: AbortSignal): Promise<MirrorProblem[]> {
  const members = mirrorMembers(storage);
  if (!members) return [];
  const found = await compareMirrors(members, REPOSITORY_PREFIXES, { signal });
  return found.map((d) => ({ kind: "mirror" as const, id: d.name, message: describeDivergence(d) }));
}

/**
 * Before `init` on a mirror: refuses clearly when some storages hold a repository and others do not
 * (`Repository.init` would only say that one exists). Does nothing for a single storage.
 */
export async function checkMirrorInit(storage: StoragePlugin): Promise<void> {
  const members = mirrorMembers(storage);
  if (!members) return;
  const has = await Promise.all(members.map(async (s) => {
    try {
      await s.stat("config");
      return true;
    } catch (e) {
      if (isStorageError(e, "not-found")) return false;
      throw e;
    }
  }));
  if (has.every((h) => !h) || has.every((h) => h)) return;
  const holding = members.filter((_, i) => has[i]).map((s) => s.location);
  const empty = members.filter((_, i) => !has[i]).map((s) => s.location);
  throw new FloeError(
    `a repository already exists at ${holding.join(", ")} but not at ${empty.join(", ")}: ` +
      `to copy it there, run 'floe mirror sync' with the same --repo options (init creates new repositories only)`,
  );
}

/** What {@link syncMirrors} did. */
export interface SyncResult {
  /** Objects copied (one per object and storage it was copied to). */
  copied: number;
  /** Bytes written. */
  bytes: number;
  /** Divergences left as they were: sizes differ and no copy proves itself right. */
  unresolved: { name: string; message: string }[];
}

/** Data first, the config last: an interrupted sync never leaves a config without what it needs. */
function phase(name: string): number {
  const order = ["data/", "index/", "snapshots/", "keys/", "config"];
  const i = order.findIndex((p) => name.startsWith(p));
  return i < 0 ? order.length : i;
}

/**
 * Copies every repository object some storages of a mirror lack from one that has it. When sizes
 * differ, an object named by the SHA-256 of its content (packs, index files, snapshots, keys) is
 * repaired from the copy whose hash matches its name; other differences are reported, not touched.
 */
export async function syncMirrors(
  storage: StoragePlugin,
  options: { signal?: AbortSignal; onCopy?: (name: string, to: string, bytes: number) => void } = {},
): Promise<SyncResult> {
  const members = mirrorMembers(storage);
  if (!members) {
    throw new FloeError("'mirror sync' needs several repository locations (--repo given twice or more)");
  }
  const signal = options.signal;
  const found = (await compareMirrors(members, REPOSITORY_PREFIXES, { signal }))
    .sort((a, b) => phase(a.name) - phase(b.name) || (a.name < b.name ? -1 : 1));
  const result: SyncResult = { copied: 0, bytes: 0, unresolved: [] };
  for (const d of found) {
    signal?.throwIfAborted();
    let source: number;
    let data: Uint8Array;
    let targets: number[];
    if (d.problem === "missing") {
      source = d.storages.findIndex((s) => s.size !== null);
      data = await members[source].get(d.name, { signal });
      targets = d.storages.map((s, i) => s.size === null ? i : -1).filter((i) => i >= 0);
    } else {
      const last = d.name.slice(d.name.lastIndexOf("/") + 1);
      if (!/^[0-9a-f]{64}$/.test(last)) {
        result.unresolved.push({ name: d.name, message: describeDivergence(d) });
        continue;
      }
      const copies = await Promise.all(members.map((s) => s.get(d.name, { signal })));
      const authentic = (c: Uint8Array) =>
        d.name.startsWith("data/") ? isPackNamed(c, last) : sha256Hex(c) === last;
      source = copies.findIndex(authentic);
      if (source < 0) {
        result.unresolved.push({
          name: d.name,
          message: `${describeDivergence(d)}; no copy matches its hash`,
        });
        continue;
      }
      data = copies[source];
      targets = copies.map((c, i) => c.length !== data.length || !authentic(c) ? i : -1).filter((i) =>
        i >= 0
      );
    }
    for (const t of targets) {
      await members[t].put(d.name, data, { signal });
      result.copied++;
      result.bytes += data.length;
      options.onCopy?.(d.name, members[t].location, data.length);
    }
  }
  return result;
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

/**
 * Lists every prefix on every storage and reports the objects that are not alike everywhere:
 * missing from some storage, or of different sizes. Sorted by name; empty when the mirrors agree.
 *
 * @example
 * ```ts
 * import { compareMirrors } from "./mirrors.ts";
 * // storages: two StoragePlugins holding copies of one repository
 * declare const storages: import("./contracts.ts").StoragePlugin[];
 * const problems = await compareMirrors(storages, ["data/", "index/"]);
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
