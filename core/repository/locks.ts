/**
 * Repository locks: backups take shared locks, maintenance (prune, key removal) takes an exclusive one.
 * A lock is refreshed every {@link REFRESH_MS} and counts as stale after {@link STALE_MS} without a
 * refresh, so a crashed process blocks nobody for long; `floe unlock` removes stale locks at once.
 *
 * @example
 * ```ts
 * import { acquireLock } from "./locks.ts";
 * // const lock = await acquireLock(repo, { exclusive: false }); … await lock.release();
 * ```
 * @module
 */
import { ExitCode, FloeError } from "../errors.ts";
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
}

/** A held lock. */
export interface Lock {
  /** Object name. */
  name: string;
  /** Releases the lock (idempotent). */
  release(): Promise<void>;
}

/**
 * Whether a lock's holder ran on this host and is no longer running (killed, crashed): its lock is stale
 * at once, as restic does. False whenever that cannot be told (another host, no /proc, no permission).
 */
function holderGone(info: LockInfo): boolean {
  if (!Number.isInteger(info.pid) || info.pid <= 0 || info.pid === Deno.pid) return false;
  try {
    if (info.host !== Deno.hostname() || !Deno.statSync("/proc/self").isDirectory) return false;
  } catch {
    return false;
  }
  try {
    Deno.statSync(`/proc/${info.pid}`);
    return false;
  } catch (e) {
    return e instanceof Deno.errors.NotFound;
  }
}

/** Reads every lock, skipping unreadable ones; stale ones are flagged. */
export async function listLocks(
  repo: Repository,
): Promise<{ name: string; info: LockInfo | null; stale: boolean }[]> {
  const out = [];
  for (const id of await repo.listIds("locks")) {
    const name = `locks/${id}`;
    try {
      const info = await repo.openJson<LockInfo>("locks", name, await repo.storage.get(name));
      out.push({ name, info, stale: Date.now() - info.time > STALE_MS || holderGone(info) });
    } catch {
      out.push({ name, info: null, stale: true });
    }
  }
  return out;
}

function conflict(mine: { exclusive: boolean; kind?: "prune" }, other: LockInfo): boolean {
  return mine.exclusive || other.exclusive || (mine.kind === "prune" && other.kind === "prune");
}

/** Takes a lock or throws a busy error (exit code 11) naming the holder. */
export async function acquireLock(
  repo: Repository,
  options: { exclusive: boolean; purpose: string; kind?: "prune" },
): Promise<Lock> {
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
          ExitCode.Busy,
        );
      }
    }
  };
  await check();
  let hostname = "unknown";
  try {
    hostname = Deno.hostname();
  } catch { /* not permitted */ }
  const info = (): LockInfo => ({
    exclusive: options.exclusive,
    host: hostname,
    pid: Deno.pid,
    purpose: options.purpose,
    time: Date.now(),
    ...(options.kind ? { kind: options.kind } : {}),
  });
  const name = `locks/${encodeHex(crypto.getRandomValues(new Uint8Array(16)))}`;
  await repo.storage.put(name, await repo.sealJson("locks", info()));
  try {
    await check(name); // someone may have raced us
  } catch (e) {
    await repo.storage.delete(name);
    throw e;
  }
  let released = false;
  const timer = setInterval(async () => {
    try {
      if (!released) await repo.storage.put(name, await repo.sealJson("locks", info()));
    } catch { /* the next refresh tries again */ }
  }, REFRESH_MS);
  Deno.unrefTimer(timer);
  return {
    name,
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
