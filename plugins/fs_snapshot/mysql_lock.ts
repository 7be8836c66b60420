/**
 * `--fs-snapshot-lock mysql://…`: OpenStack Freezer's (and mylvmbackup's) pattern for MariaDB and MySQL —
 * `FLUSH TABLES WITH READ LOCK`, file-system snapshots of the data directory, `UNLOCK TABLES`, then the
 * backup reads the snapshots while the server runs on.
 *
 * One session of the `mariadb` (or `mysql`) client, its statements written to its stdin, holds the lock:
 *
 * 1. `SELECT VERSION(), @@log_bin, @@datadir, @@innodb_log_group_home_dir, @@innodb_flush_log_at_trx_commit,
 *    @@innodb_flush_log_at_timeout` (a warning when the paths do not hold the data directory: is it the
 *    right server?);
 * 2. `SET SESSION lock_wait_timeout = T`, `FLUSH NO_WRITE_TO_BINLOG TABLES` (closes the tables before the
 *    lock, so that the locked flush has little left to do), `FLUSH TABLES WITH READ LOCK`; the lock is held
 *    once the client prints the marker that follows it;
 * 3. with `innodb_flush_log_at_trx_commit = 0` only: `SHOW ENGINE INNODB STATUS` until the log is flushed
 *    up to the lock (at most `innodb_flush_log_at_timeout`, 1 s by default, plus 5 s; then a warning) —
 *    the last commits would otherwise be in the binary log but not in the InnoDB files snapshotted;
 * 4. with binary logging on, `SHOW MASTER STATUS` (`SHOW BINARY LOG STATUS` on MySQL 8.2 and later) and,
 *    on MariaDB, `@@gtid_binlog_pos`: the position the snapshot corresponds to, returned as the tags
 *    `mysql-binlog=FILE:POS` and `mysql-gtid=GTID`;
 * 5. the snapshots are taken ({@link FsSnapshotter.take}'s `hold`);
 * 6. `UNLOCK TABLES`, then the client's stdin is closed and it exits: the session ends at once.
 *
 * A lock not granted within T seconds (`lock_wait_timeout`, so the server gives up the wait itself, and a
 * client-side deadline 5 s later for a server that does not answer) fails with nothing held and no
 * snapshot taken. The session's end releases the lock server-side whatever ends it. SIGINT/SIGTERM: floe
 * ends the session (killing the client while it waits for the lock: the server abandons the wait). A kill
 * -9 of floe while the lock is held: the client reads the end of its stdin, exits, and the server drops
 * the lock with the connection; while the lock is waited for: the orphaned client still gets its answer, at
 * the latest after T seconds, then exits likewise. The client never reconnects (`--skip-reconnect`), so an
 * `UNLOCK TABLES` that is answered proves that the lock was held throughout; one that is not fails the
 * run: the snapshots are deleted.
 *
 * Privileges: `RELOAD` (the flushes), with binary logging `BINLOG MONITOR` (MariaDB) or `REPLICATION
 * CLIENT` (MySQL), with `innodb_flush_log_at_trx_commit = 0` also `PROCESS`. Tested on MariaDB 10.11;
 * MySQL's statements are the documented ones but untested here.
 *
 * The password goes as for the mysql source (plugins/source/mysql/mod.ts): `passwordFile`, `MYSQL_PWD` or
 * `~/.my.cnf`, through the client's environment, never its command line; masked in every message.
 *
 * @example
 * ```ts
 * import { mysqlLock } from "./mysql_lock.ts";
 * const lock = mysqlLock({ url: "mysql://backup@127.0.0.1:3306", timeoutMs: 60_000 });
 * const held = await lock.acquire({ paths: ["/var/lib/mysql"], warn: console.error, info: console.log });
 * try {
 *   // take the snapshots here
 * } finally {
 *   await held.release();
 * }
 * console.log(held.tags); // ["mysql-binlog=mysql-bin.000012:3481", "mysql-gtid=0-1-4711"]
 * ```
 * @module
 */
import { FloeError } from "../../core/errors.ts";
import { mysqlConnection } from "../source/mysql/mod.ts";
import { findTool, lastLines } from "../source/_child.ts";
import type { Connection } from "../source/_connection.ts";
import type { AcquireOptions, HeldLock, SnapshotLock } from "./mod.ts";

/** Options of {@link mysqlLock}. */
export interface Options {
  /** `mysql://user@host:port` or `mysql://user@localhost?socket=/run/mysqld/mysqld.sock` (no database). */
  url: string;
  /** A file whose first line is the password. */
  passwordFile?: string;
  /** How long to wait for the lock (rounded up to whole seconds; default {@link DEFAULT_TIMEOUT_MS}). */
  timeoutMs?: number;
}

/** How long the lock is waited for by default. */
export const DEFAULT_TIMEOUT_MS = 60_000;

/** How much longer than the server's `lock_wait_timeout` the client waits for its answer. */
const GRACE_MS = 5_000;

/** How long the client gets to exit once its stdin is closed. */
const EXIT_MS = 5_000;

const WHO = "--fs-snapshot-lock";

/** Reads the client's stdout line by line and writes statements to its stdin. */
class Session {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #stderr: Promise<string>;
  readonly #secrets: readonly string[];
  readonly #lines: string[] = [];
  readonly #started = performance.now();
  #ended = false;
  #wake: () => void = () => {};

  constructor(cmd: string, conn: Connection, timeoutMs: number) {
    this.#secrets = conn.secrets;
    try {
      this.#child = new Deno.Command(cmd, {
        args: [
          ...conn.args,
          "--batch",
          "--skip-column-names",
          "--raw",
          "--unbuffered",
          "--skip-reconnect",
          `--connect-timeout=${Math.ceil(timeoutMs / 1000)}`,
        ],
        env: conn.env,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound ? "not found" : (e as Error).message;
      throw new FloeError(`${WHO}: cannot run ${cmd}: ${why}`);
    }
    this.#writer = this.#child.stdin.getWriter();
    this.#stderr = new Response(this.#child.stderr).text().catch(() => "");
    this.#pump();
  }

  async #pump(): Promise<void> {
    let rest = "";
    try {
      for await (const text of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
        const parts = (rest + text).split("\n");
        rest = parts.pop()!;
        this.#lines.push(...parts);
        this.#wake();
      }
    } catch { /* the client was killed */ }
    this.#ended = true;
    this.#wake();
  }

  /** Writes statements; a client that has gone is found out by {@link until}. */
  async send(sql: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(sql)).catch(() => {});
  }

  /**
   * Waits for the line `marker[\tvalue…]` (the client prints it after the statements before it succeeded);
   * returns its values and the lines before it. Throws `what` with the client's error when it exits first,
   * and when `deadline` (ms, `performance.now()`) passes or `signal` aborts.
   */
  async until(
    marker: string,
    what: string,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<{ values: string[]; before: string[] }> {
    for (;;) {
      const at = this.#lines.findIndex((l) => l === marker || l.startsWith(`${marker}\t`));
      if (at >= 0) {
        const before = this.#lines.splice(0, at + 1);
        return { values: before.pop()!.split("\t").slice(1), before };
      }
      signal?.throwIfAborted();
      if (this.#ended) {
        const said = lastLines(await this.#stderr, this.#secrets, 1).replace(/ at line \d+/, "");
        throw new FloeError(`${WHO}: ${what} failed: ${said || `the client exited (${await this.#exit()})`}`);
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        const waited = Math.round((performance.now() - this.#started) / 1000);
        throw new FloeError(`${WHO}: ${what}: no answer from the server (waited ${waited} s)`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        signal?.addEventListener("abort", done, { once: true });
        this.#wake = done;
        function done() {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          resolve();
        }
      });
      this.#wake = () => {};
    }
  }

  async #exit(): Promise<string> {
    const s = await this.#child.status;
    return s.signal ? `killed by ${s.signal}` : `exit ${s.code}`;
  }

  /** Ends the session: stdin closed, so the client exits (killed if it has not within {@link EXIT_MS}). */
  async end(): Promise<void> {
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => this.kill(), EXIT_MS);
    await this.#child.status;
    clearTimeout(timer);
    await this.#stderr;
  }

  /** Kills the client: its connection closes and the server releases what the session held. */
  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* gone */ }
  }
}

/** `path` without `.`, `..` and trailing slashes, its symbolic links resolved when it exists here. */
function resolved(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "..") parts.pop();
    else if (part && part !== ".") parts.push(part);
  }
  const p = "/" + parts.join("/");
  try {
    return Deno.realPathSync(p);
  } catch {
    return p; // not on this machine (a remote server), or gone
  }
}

function within(path: string, dirs: string[]): boolean {
  return dirs.some((d) => path === d || d === "/" || path.startsWith(d + "/"));
}

/** What the session asks the server first. */
interface Server {
  version: string;
  logBin: boolean;
  datadir: string;
  logDir: string;
  /** `innodb_flush_log_at_trx_commit`. */
  flushAtCommit: string;
  /** `innodb_flush_log_at_timeout`, in seconds. */
  flushTimeout: number;
}

async function hello(session: Session, deadline: number, signal?: AbortSignal): Promise<Server> {
  await session.send(
    "SELECT 'floe:hello', VERSION(), @@GLOBAL.log_bin, @@GLOBAL.datadir, @@GLOBAL.innodb_log_group_home_dir, " +
      "@@GLOBAL.innodb_flush_log_at_trx_commit, @@GLOBAL.innodb_flush_log_at_timeout;\n",
  );
  const [version, logBin, datadir, logDir, flushAtCommit, flushTimeout] =
    (await session.until("floe:hello", "connecting", deadline, signal)).values;
  return {
    version,
    logBin: logBin === "1",
    datadir,
    logDir,
    flushAtCommit,
    flushTimeout: Number(flushTimeout) || 1,
  };
}

/** Warns when the paths do not hold the server's data and InnoDB log directories. */
function checkPaths(server: Server, paths: string[], warn: (m: string) => void): void {
  const dirs = paths.map(resolved);
  const data = resolved(server.datadir);
  const log = server.logDir
    ? resolved(server.logDir.startsWith("/") ? server.logDir : `${server.datadir}/${server.logDir}`)
    : data;
  if (!within(data, dirs)) {
    warn(`the server's data directory ${data} is not under the paths backed up (is it the right server?)`);
  }
  if (log !== data && !within(log, dirs)) {
    warn(`the server's InnoDB log directory ${log} is not under the paths backed up`);
  }
}

async function lockTables(session: Session, seconds: number, deadline: number, signal?: AbortSignal) {
  await session.send(
    `SET SESSION lock_wait_timeout = ${seconds};\nFLUSH NO_WRITE_TO_BINLOG TABLES;\n` +
      "FLUSH TABLES WITH READ LOCK;\nSELECT 'floe:locked';\n",
  );
  try {
    await session.until("floe:locked", "FLUSH TABLES WITH READ LOCK", deadline, signal);
  } catch (e) {
    if (e instanceof FloeError && /\b1205\b|Lock wait timeout/.test(e.message)) {
      throw new FloeError(
        `${WHO}: FLUSH TABLES WITH READ LOCK was not granted within ${seconds} s (another session ` +
          `holds a conflicting lock: LOCK TABLES, a long ALTER, another backup): nothing was snapshotted`,
      );
    }
    throw e;
  }
}

/** The InnoDB log sequence number and how far the log is flushed, from `SHOW ENGINE INNODB STATUS`. */
async function redoLog(session: Session, deadline: number): Promise<{ lsn: number; flushed: number }> {
  await session.send("SHOW ENGINE INNODB STATUS;\nSELECT 'floe:innodb';\n");
  const text = (await session.until("floe:innodb", "SHOW ENGINE INNODB STATUS", deadline)).before.join("\n");
  const lsn = /^Log sequence number\s+(\d+)/m.exec(text);
  const flushed = /^Log flushed up to\s+(\d+)/m.exec(text);
  if (!lsn || !flushed) {
    throw new FloeError(`${WHO}: SHOW ENGINE INNODB STATUS shows no log sequence numbers`);
  }
  return { lsn: Number(lsn[1]), flushed: Number(flushed[1]) };
}

/**
 * With `innodb_flush_log_at_trx_commit = 0`, the last second's commits may still be in the server's log
 * buffer, which no file-system snapshot sees (the binary log, written at commit, does): waits, under the
 * lock, until InnoDB's once-a-second flush has written the log up to the lock. With 1 and 2, each commit
 * reached the log file before it returned.
 */
async function awaitRedoFlush(session: Session, server: Server, warn: (m: string) => void): Promise<void> {
  if (server.flushAtCommit !== "0") return;
  const limit = performance.now() + server.flushTimeout * 1000 + GRACE_MS;
  const { lsn } = await redoLog(session, limit);
  for (;;) {
    const { flushed } = await redoLog(session, limit);
    if (flushed >= lsn) return;
    if (performance.now() > limit) {
      warn(
        `the InnoDB log was not flushed up to the lock within ${server.flushTimeout + GRACE_MS / 1000} s ` +
          "(innodb_flush_log_at_trx_commit = 0): the last commits may be missing from the snapshot",
      );
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether `version` (`VERSION()`) is a MySQL that names `SHOW MASTER STATUS` `SHOW BINARY LOG STATUS`. */
function binaryLogStatusStatement(version: string): string {
  if (/mariadb/i.test(version)) return "SHOW MASTER STATUS";
  const [major, minor] = version.split(/[.-]/).map(Number);
  return major > 8 || (major === 8 && minor >= 2) ? "SHOW BINARY LOG STATUS" : "SHOW MASTER STATUS";
}

/** The binary log position and GTID under the lock, as tags and as words for the user. */
async function binaryLog(
  session: Session,
  server: Server,
  deadline: number,
): Promise<{ tags: string[]; facts: string[] }> {
  const tags: string[] = [];
  const facts: string[] = [];
  if (!server.logBin) return { tags, facts };
  const mariadb = /mariadb/i.test(server.version);
  await session.send(
    `${binaryLogStatusStatement(server.version)};\n` +
      (mariadb ? "SELECT 'floe:gtid', @@GLOBAL.gtid_binlog_pos;\n" : "") + "SELECT 'floe:status';\n",
  );
  const status = await session.until("floe:status", "reading the binary log position", deadline);
  // One row, or none; MySQL's GTID set may span lines (--raw keeps its newlines).
  const row = status.before.filter((l) => !l.startsWith("floe:gtid")).join("");
  const [file, pos, , , executed] = row.split("\t");
  const gtid = mariadb
    ? status.before.find((l) => l.startsWith("floe:gtid"))?.split("\t")[1]
    : executed?.replace(/\s+/g, "");
  if (file && pos) {
    tags.push(`mysql-binlog=${file}:${pos}`);
    facts.push(`binary log ${file}:${pos}`);
  }
  if (gtid) {
    tags.push(`mysql-gtid=${gtid}`);
    facts.push(`GTID ${gtid}`);
  }
  return { tags, facts };
}

/**
 * The lock of a MariaDB or MySQL server (see the module doc).
 *
 * @example
 * ```ts
 * import { mysqlLock } from "./mysql_lock.ts";
 * const lock = mysqlLock({ url: "mysql://backup@localhost?socket=/run/mysqld/mysqld.sock" });
 * ```
 */
export function mysqlLock(options: Options): SnapshotLock {
  let conn: Connection;
  try {
    conn = mysqlConnection({ url: options.url, passwordFile: options.passwordFile }, WHO);
  } catch (e) {
    throw new FloeError((e as Error).message, "usage");
  }
  if (conn.databases) {
    throw new FloeError(`${WHO}: the lock is server-wide: give no database in the URL`, "usage");
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  return {
    async acquire({ paths, signal, warn, info }: AcquireOptions): Promise<HeldLock> {
      signal?.throwIfAborted();
      const client = findTool(["mariadb", "mysql"]);
      if (!client) throw new FloeError(`${WHO}: neither mariadb nor mysql (the client) is installed`);
      const session = new Session(client, conn, timeoutMs);
      const deadline = performance.now() + seconds * 1000 + GRACE_MS;
      try {
        const server = await hello(session, deadline, signal);
        checkPaths(server, paths, warn);
        await lockTables(session, seconds, deadline, signal);
        const locked = performance.now();
        await awaitRedoFlush(session, server, warn);
        const { tags, facts } = await binaryLog(session, server, performance.now() + seconds * 1000);
        let released = false;
        return {
          tags,
          async release(): Promise<void> {
            if (released) return;
            released = true;
            try {
              await session.send("UNLOCK TABLES;\nSELECT 'floe:unlocked';\n");
              await session.until("floe:unlocked", "UNLOCK TABLES", performance.now() + GRACE_MS);
            } catch (e) {
              session.kill();
              throw new FloeError(
                `${(e as Error).message} — the lock may not have been held throughout the snapshots`,
              );
            } finally {
              await session.end();
            }
            const ms = Math.round(performance.now() - locked);
            info(
              `tables locked for ${ms} ms (FLUSH TABLES WITH READ LOCK)${
                facts.map((f) => `; ${f}`).join("")
              }`,
            );
          },
        };
      } catch (e) {
        session.kill();
        await session.end();
        throw e;
      }
    },
  };
}
