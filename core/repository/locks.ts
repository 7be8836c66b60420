/**
 * Repository locks: backups take shared locks, maintenance (prune, key removal) takes an exclusive one.
 * A lock is refreshed every {@link REFRESH_MS} and counts as stale after {@link STALE_MS} without a
 * refresh, so a crashed process blocks nobody for long; `floe unlock` removes stale locks at once.
 *
 * The refresh time is the truth. A lock also names its holder by host, boot id, PID namespace, PID and
 * the process's start time: only when host, boot id and namespace are this process's own can the PID be
 * looked up, and a lock whose PID is gone or now belongs to a later process is stale at once. Containers
 * that share a host name but not a PID namespace therefore never see each other's live locks as dead.
 *
 * A holder that could not refresh its lock for most of the stale period (suspended, storage unreachable)
 * may have been judged stale by others, who may then have deleted data it relies on: before its commit
 * point it calls {@link Lock.assertFresh}, which throws instead of letting it write.
 *
 * @example
 * ```ts
 * import { acquireLock } from "./locks.ts";
 * // const lock = await acquireLock(repo, { exclusive: false, purpose: "backup" });
 * // … lock.assertFresh("no snapshot was written; run the backup again"); … await lock.release();
 * ```
 * @module
 */
import { FloeError } from "../errors.ts";
import { encodeHex } from "../encoding.ts";
import type { Repository } from "./repository.ts";

/** How often a held lock is refreshed. */
export const REFRESH_MS = 5 * 60_000;
/** Age after which a lock is stale. */
export const STALE_MS = 30 * 60_000;

/** What a lock file records. */
export interface LockInfo {
  /** Exclusive (maintenance) or shared (backup). */
  exclusive: boolean;
  /** Holder's host. */
  host: string;
  /** Holder's process id. */
  pid: number;
  /** What the holder does. */
  purpose: string;
  /** Last refresh, ms since the epoch. */
  time: number;
  /** `prune`: a shared lock that conflicts with other prune locks (and exclusive ones) only. */
  kind?: "prune";
  /** Holder's `/proc/sys/kernel/random/boot_id` (absent in locks of older versions and off Linux). */
  bootId?: string;
  /** Holder's PID namespace, as `readlink /proc/self/ns/pid` shows it (`pid:[4026531836]`). */
  pidNs?: string;
  /** Holder's start time, clock ticks after boot (field 22 of `/proc/PID/stat`). */
  start?: number;
}

/** Timing of a held lock (defaults: {@link STALE_MS}, {@link REFRESH_MS}). */
export interface LockOptions {
  /**
   * The stale period the holder assumes for its own lock, for {@link Lock.assertFresh}; other processes
   * judge it by {@link STALE_MS}. Tests shorten it to play a holder that could not refresh in time.
   */
  staleMs?: number;
  /** How often the lock is refreshed. */
  refreshMs?: number;
}

/** A held lock. */
export interface Lock {
  /** Object name. */
  name: string;
  /**
   * Throws a {@link FloeError} (exit code 1) unless the lock was refreshed less than the stale period
   * minus a margin ago and never went that long without a refresh: others may have judged it stale and
   * deleted what this process relies on. `outcome` completes the message (what was not done, what to do).
   */
  assertFresh(outcome: string): void;
  /** Releases the lock (idempotent). */
  release(): Promise<void>;
}

/** A third of the stale period: room for clock skew between hosts and for the commit after the check. */
const MARGIN = 1 / 3;

interface Identity {
  bootId?: string;
  pidNs?: string;
  start?: number;
}

/** Field 22 (start time) of a `/proc/PID/stat` line; the command name may hold spaces and parentheses. */
function startOf(stat: string): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const n = Number(fields[22 - 3]);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

let self: Identity | undefined;

/** This process's boot id, PID namespace and start time; fields that cannot be read are left out. */
function identity(): Identity {
  if (self) return self;
  self = {};
  try {
    const id = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
    if (BOOT_ID.test(id)) self.bootId = id;
    const ns = Deno.readLinkSync("/proc/self/ns/pid");
    if (PID_NS.test(ns)) self.pidNs = ns;
    self.start = startOf(Deno.readTextFileSync(`/proc/${Deno.pid}/stat`));
  } catch { /* not Linux, no /proc, or not permitted: the lock is judged by its refresh time only */ }
  return self;
}

/**
 * Whether a lock's holder is certainly gone: it ran on this host, in this boot and PID namespace, and
 * its PID is gone or belongs to a process started at another time. False whenever that cannot be told
 * (locks of older versions, another host or namespace, no /proc, no permission).
 */
function holderGone(info: LockInfo, host: string): boolean {
  const me = identity();
  if (info.bootId === undefined || info.pidNs === undefined || info.start === undefined) return false;
  if (!me.bootId || info.host !== host || info.bootId !== me.bootId || info.pidNs !== me.pidNs) return false;
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${info.pid}/stat`);
  } catch (e) {
    return e instanceof Deno.errors.NotFound;
  }
  return startOf(stat) !== info.start;
}

const BOOT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PID_NS = /^pid:\[\d{1,20}\]$/;
/** Printable text without control characters: host and purpose end up in messages on a terminal. */
const TEXT = /^[^\p{Cc}]{1,255}$/u;

/** A lock file's content checked field by field (it comes from storage), or null when malformed. */
function parseLockInfo(v: unknown): LockInfo | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (
    typeof o.exclusive !== "boolean" || typeof o.host !== "string" || !TEXT.test(o.host) ||
    typeof o.purpose !== "string" || !TEXT.test(o.purpose) || !Number.isSafeInteger(o.pid) ||
    (o.pid as number) <= 0 || typeof o.time !== "number" || !Number.isFinite(o.time) ||
    (o.kind !== undefined && o.kind !== "prune") ||
    (o.bootId !== undefined && (typeof o.bootId !== "string" || !BOOT_ID.test(o.bootId))) ||
    (o.pidNs !== undefined && (typeof o.pidNs !== "string" || !PID_NS.test(o.pidNs))) ||
    (o.start !== undefined && (!Number.isSafeInteger(o.start) || (o.start as number) < 0))
  ) return null;
  const info: LockInfo = {
    exclusive: o.exclusive,
    host: o.host,
    pid: o.pid as number,
    purpose: o.purpose,
    time: o.time,
  };
  if (o.kind === "prune") info.kind = "prune";
  if (o.bootId !== undefined) info.bootId = o.bootId as string;
  if (o.pidNs !== undefined) info.pidNs = o.pidNs as string;
  if (o.start !== undefined) info.start = o.start as number;
  return info;
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown"; // not permitted
  }
}

/** Reads every lock; unreadable or malformed ones count as stale (`info` null). */
export async function listLocks(
  repo: Repository,
): Promise<{ name: string; info: LockInfo | null; stale: boolean }[]> {
  const out = [];
  const host = hostname();
  for (const id of await repo.listIds("locks")) {
    const name = `locks/${id}`;
    let info: LockInfo | null = null;
    try {
      info = parseLockInfo(await repo.openJson<unknown>("locks", name, await repo.storage.get(name)));
    } catch { /* unreadable: stale */ }
    out.push({ name, info, stale: !info || Date.now() - info.time > STALE_MS || holderGone(info, host) });
  }
  return out;
}

function conflict(mine: { exclusive: boolean; kind?: "prune" }, other: LockInfo): boolean {
  return mine.exclusive || other.exclusive || (mine.kind === "prune" && other.kind === "prune");
}

/** Takes a lock or throws a busy error (exit code 11) naming the holder. */
export async function acquireLock(
  repo: Repository,
  options: { exclusive: boolean; purpose: string; kind?: "prune" } & LockOptions,
): Promise<Lock> {
  const staleMs = options.staleMs ?? STALE_MS;
  const refreshMs = options.refreshMs ?? REFRESH_MS;
  if (!(staleMs > 0 && refreshMs > 0)) throw new FloeError("lock periods must be positive");
  const check = async (own?: string) => {
    for (const l of await listLocks(repo)) {
      if (l.name === own || l.stale || !l.info) continue;
      if (conflict(options, l.info)) {
        const i = l.info;
        throw new FloeError(
          `repository is busy: ${
            i.exclusive ? "exclusively " : ""
          }locked by ${i.purpose} (pid ${i.pid} on ${i.host}, ` +
            `${new Date(i.time).toISOString()}); if that process is gone, run 'floe unlock'`,
          "busy",
        );
      }
    }
  };
  await check();
  const host = hostname();
  const me = identity();
  const info = (time: number): LockInfo => ({
    exclusive: options.exclusive,
    host,
    pid: Deno.pid,
    purpose: options.purpose,
    time,
    ...(options.kind ? { kind: options.kind } : {}),
    ...me,
  });
  const name = `locks/${encodeHex(crypto.getRandomValues(new Uint8Array(16)))}`;
  // Wall-clock time, not performance.now(): the monotonic clock stops while the machine sleeps, and a
  // sleep is what most often lets a lock go stale.
  let refreshed = Date.now();
  await repo.storage.put(name, await repo.sealJson("locks", info(refreshed)));
  try {
    await check(name); // someone may have raced us
  } catch (e) {
    await repo.storage.delete(name);
    throw e;
  }
  const deadline = () => refreshed + staleMs * (1 - MARGIN);
  let lapsed = false;
  let released = false;
  const timer = setInterval(async () => {
    if (released || lapsed) return;
    // A refresh after a lapse would make the lock look live again to others, yet they may have acted
    // on it meanwhile: a lapsed lock stays lapsed.
    if (Date.now() >= deadline()) {
      lapsed = true;
      clearInterval(timer);
      return;
    }
    const time = Date.now();
    try {
      await repo.storage.put(name, await repo.sealJson("locks", info(time)));
      // A write that lands only after the deadline came too late: others may have seen the old one stale.
      if (Date.now() < deadline()) refreshed = time;
      else lapsed = true;
    } catch { /* the next refresh tries again */ }
  }, refreshMs);
  Deno.unrefTimer(timer);
  return {
    name,
    assertFresh(outcome: string) {
      if (!lapsed && Date.now() < deadline()) return;
      lapsed = true;
      throw new FloeError(
        `the repository lock went stale at ${new Date(deadline()).toISOString()} (the process was ` +
          `suspended or could not reach the storage); ${outcome}`,
      );
    },
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      await repo.storage.delete(name);
    },
  };
}

/** Removes stale locks (or all, with `all`); returns how many. */
export async function removeLocks(repo: Repository, all = false): Promise<number> {
  let n = 0;
  for (const l of await listLocks(repo)) {
    if (all || l.stale) {
      await repo.storage.delete(l.name);
      n++;
    }
  }
  return n;
}
