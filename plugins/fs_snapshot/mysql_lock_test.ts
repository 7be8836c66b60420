/**
 * `floe backup --fs-snapshot btrfs --fs-snapshot-lock mysql://…` on real servers: a MariaDB (binary log on,
 * durable commits) whose data directory is on a loop-device btrfs, written to all the while by another
 * session, is backed up under `FLUSH TABLES WITH READ LOCK`; the files are restored to a new directory and
 * a second mariadbd started on them must hold exactly the transactions before the recorded binary log
 * position, its MyISAM table (written by a trigger of the InnoDB one) in step and clean. The lock is
 * gone once the snapshot exists, while the backup still runs; a lock that cannot be had fails in time
 * with no snapshot of either kind; SIGTERM and SIGKILL of floe leave no lock and no waiting session; the
 * password shows neither in `ps` nor in the output.
 *
 * Root, btrfs-progs and mariadb-server are needed (skipped with the reason otherwise); the server, the
 * loop device and the files go away after every test, whatever happened.
 */
import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { cliCommand, denoDir, newEngine, runCli } from "../../tests/helpers.ts";
import { btrfsMissing, sh, withBtrfs } from "../../tests/fixtures/btrfs.ts";
import { mariadbMissing, type MariadbServer, startMariadb } from "../../tests/fixtures/servers/mariadb.ts";
import { cmdlinesWith } from "../../tests/fixtures/proc.ts";
import { parseSnapshotName, SNAPSHOT_DIR } from "./btrfs.ts";

const why = btrfsMissing() ?? mariadbMissing();
if (why) console.error(`mysql_lock_test: skipping the real-server tests: ${why}`);

const PASSWORD = "btrfs-lock-test";
/**
 * Binary log on, in rows (so that mariadb-binlog shows each row); commits durable at once (`1`), or
 * written to the log file once a second (`0`: the lock waits for that write).
 */
const serverArgs = (flushAtCommit: string) => [
  "--log-bin=mysql-bin",
  "--binlog-format=ROW",
  `--innodb-flush-log-at-trx-commit=${flushAtCommit}`,
  `--sync-binlog=${flushAtCommit}`,
];

const SCHEMA = `
CREATE DATABASE shop;
USE shop;
CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(200) NOT NULL) ENGINE=InnoDB;
CREATE TABLE ledger (id INT PRIMARY KEY, note VARCHAR(200) NOT NULL) ENGINE=MyISAM;
CREATE TRIGGER orders_ledger AFTER INSERT ON orders FOR EACH ROW INSERT INTO ledger VALUES (NEW.id, NEW.note);
CREATE TABLE stock (id INT PRIMARY KEY, data LONGBLOB) ENGINE=InnoDB;
INSERT INTO stock SELECT seq, RANDOM_BYTES(1024) FROM seq_1_to_12000;
CREATE TABLE other (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6)) ENGINE=InnoDB;
`;

function assertMatch(text: string, re: RegExp): void {
  assert(re.test(text), `${JSON.stringify(text)} does not match ${re}`);
}

function env(dir: string): Record<string, string> {
  return {
    DENO_DIR: denoDir(),
    HOME: `${dir}/home`,
    FLOE_CACHE_DIR: `${dir}/cache`,
    FLOE_REPOSITORY: `${dir}/repo`,
    FLOE_PASSWORD: PASSWORD,
  };
}

/** `deno task floe …` (the task's narrowed permissions: mariadb and btrfs must be in its --allow-run). */
function task(args: string[], e: Record<string, string>): Deno.ChildProcess {
  return cliCommand(args, e, { task: true }).spawn();
}

async function outputOf(child: Deno.ChildProcess) {
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A session of the `mariadb` client as the server's root, kept open: LOCK TABLES, a steady writer. */
class Client {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #buffer = "";
  #wake: () => void = () => {};
  #ended = false;

  constructor(db: MariadbServer) {
    const child = this.#child = new Deno.Command("mariadb", {
      args: [
        "--no-defaults",
        `--socket=${db.socket}`,
        "--user=root",
        "--batch",
        "--skip-column-names",
        "--unbuffered",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    (async () => {
      for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
        this.#buffer += text;
        this.#wake();
      }
      this.#ended = true;
      this.#wake();
    })();
  }

  /** Runs `sql` and returns the rows it printed. */
  async query(sql: string): Promise<string[]> {
    const marker = `done-${crypto.randomUUID()}`;
    await this.#writer.write(new TextEncoder().encode(`${sql};\nSELECT '${marker}';\n`));
    for (;;) {
      const at = this.#buffer.indexOf(`${marker}\n`);
      if (at >= 0) {
        const rows = this.#buffer.slice(0, at).split("\n").filter(Boolean);
        this.#buffer = this.#buffer.slice(at + marker.length + 1);
        return rows;
      }
      if (this.#ended) throw new Error(`the client ended during: ${sql}`);
      await new Promise<void>((r) => this.#wake = r);
    }
  }

  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#child.status;
  }
}

/** Inserts orders one by one until stopped; counts them and records the longest wait for one. */
function startWriter(db: MariadbServer) {
  const client = new Client(db);
  let stop = false;
  let inserted = 0;
  let longestMs = 0;
  const done = (async () => {
    while (!stop) {
      const t = performance.now();
      await client.query(
        `INSERT INTO shop.orders (note) VALUES (CONCAT('order ', ${inserted + 1}, ' ', UUID()))`,
      );
      longestMs = Math.max(longestMs, performance.now() - t);
      inserted++;
    }
    await client.close();
  })();
  return {
    get inserted() {
      return inserted;
    },
    get longestMs() {
      return longestMs;
    },
    async stop() {
      stop = true;
      await done;
    },
  };
}

/** The sessions of the `floe` user: the lock's (the test's own sessions are the server's root). */
async function floeSessions(db: MariadbServer): Promise<string[]> {
  return (await db.sql(
    "SELECT ID, COMMAND, STATE, INFO FROM information_schema.PROCESSLIST WHERE USER = 'floe'",
  ))
    .split("\n").filter(Boolean);
}

async function until(what: string, ms: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const end = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function btrfsSnapshots(vol: string): string[] {
  try {
    return [...Deno.readDirSync(`${vol}/${SNAPSHOT_DIR}`)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

async function floeSnapshots(dir: string): Promise<{ tags: string[]; paths: string[] }[]> {
  const r = await runCli(["snapshots", "--json"], env(dir));
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** How long an insert into another table takes (ms): a stalled FLUSH TABLES WITH READ LOCK would block it. */
async function otherWrite(db: MariadbServer): Promise<number> {
  const t = performance.now();
  await db.sql("INSERT INTO shop.other (at) VALUES (NOW(6))");
  return performance.now() - t;
}

/** A MariaDB on btrfs, a repository and a password file; all gone after `fn`. */
async function withServerOnBtrfs(
  fn: (s: { db: MariadbServer; vol: string; dir: string; datadir: string; pwFile: string }) => Promise<void>,
  flushAtCommit = "1",
): Promise<void> {
  await withBtrfs(async (vol, dir) => {
    const db = await startMariadb({ dir: `${vol}/mariadb`, args: serverArgs(flushAtCommit) });
    try {
      await db.sql(SCHEMA);
      await (await newEngine(dir, PASSWORD)).close();
      const pwFile = `${dir}/mysql.pw`;
      Deno.writeTextFileSync(pwFile, `${db.password}\n`, { mode: 0o600 });
      await fn({ db, vol, dir, datadir: `${vol}/mariadb/data`, pwFile });
    } finally {
      await db.stop();
    }
  }, "600M");
}

/** `backup --fs-snapshot btrfs --fs-snapshot-lock URL --fs-snapshot-lock-option password-file=F [extra…] PATH`. */
function lockedBackup(url: string, passwordFile: string, path: string, extra: string[] = []): string[] {
  return [
    "backup",
    "--fs-snapshot",
    "btrfs",
    "--fs-snapshot-lock",
    url,
    "--fs-snapshot-lock-option",
    `password-file=${passwordFile}`,
    ...extra,
    path,
  ];
}

for (const flushAtCommit of ["1", "0"]) {
  Deno.test({
    name:
      `fs-snapshot-lock: a MariaDB written to during the backup restores to exactly its state at the lock (innodb_flush_log_at_trx_commit=${flushAtCommit})`,
    ignore: !!why,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await withServerOnBtrfs(async ({ db, vol, dir, datadir, pwFile }) => {
        const stockSum = (await db.sql("CHECKSUM TABLE shop.stock")).split("\t")[1].trim();
        const writer = startWriter(db);
        const seenInPs: string[] = [];
        let r, lockGoneWhileRunning = false, writesAfterLock = 0;
        let running = false;
        let child: Deno.ChildProcess | undefined;
        try {
          await until("the writer's first orders", 10_000, () => writer.inserted >= 20);
          running = true;
          child = task(["--limit-upload", "4M", ...lockedBackup(db.url, pwFile, datadir)], env(dir));
          const result = outputOf(child).finally(() => running = false);
          const watch = (async () => {
            while (running) {
              seenInPs.push(...cmdlinesWith(db.password));
              await new Promise((r) => setTimeout(r, 10));
            }
          })();
          await until(
            "the btrfs snapshot",
            60_000,
            () => !running || btrfsSnapshots(vol).some((n) => !n.endsWith(".lock")),
          );
          if (!running) {
            const early = await result;
            throw new Error(
              `the backup ended before its snapshot was seen: exit ${early.code}: ${early.stderr}`,
            );
          }
          // Once the snapshot exists the lock goes at once, long before the backup (upload-limited) ends.
          await until("the lock's session ending", 5_000, async () => (await floeSessions(db)).length === 0);
          const before = writer.inserted;
          await until("new orders after the snapshot", 5_000, () => writer.inserted > before + 5);
          writesAfterLock = writer.inserted - before;
          assert(await otherWrite(db) < 2000);
          lockGoneWhileRunning = running;
          r = await result;
          await watch;
        } finally {
          if (running) {
            child?.kill("SIGKILL");
            await child?.status;
          }
          await writer.stop();
        }
        assertEquals(r.code, 0, r.stderr);
        assert(lockGoneWhileRunning, "the lock was held until the backup ended");
        assert(writesAfterLock > 5);
        assertEquals(seenInPs, [], "the password in a command line");
        assert(
          !r.stdout.includes(db.password) && !r.stderr.includes(db.password),
          "the password in the output",
        );
        assertMatch(
          r.stderr,
          /tables locked for \d+ ms \(FLUSH TABLES WITH READ LOCK\); binary log mysql-bin\.\d+:\d+; GTID 0-1-\d+/,
        );
        assert(!r.stderr.includes("warning"), r.stderr);
        assertEquals(btrfsSnapshots(vol), [], "the btrfs snapshot is deleted");
        assert(writer.longestMs < 10_000, `a writer waited ${writer.longestMs} ms`);
        console.error(`  ${/tables locked[^\n]*/.exec(r.stderr)?.[0]}`);
        console.error(
          `  ${writer.inserted} orders written during the test; the longest insert took ${
            Math.round(writer.longestMs)
          } ms`,
        );

        const [snap] = await floeSnapshots(dir);
        assertEquals(snap.paths, [datadir]);
        const binlog = snap.tags.find((t) => t.startsWith("mysql-binlog="))!.slice("mysql-binlog=".length);
        const gtid = snap.tags.find((t) => t.startsWith("mysql-gtid="))!.slice("mysql-gtid=".length);
        const [file, pos] = binlog.split(":");

        // What the binary log says was committed before the lock: one row event per order.
        const events = await sh("mariadb-binlog", [
          "--base64-output=decode-rows",
          "--verbose",
          `--stop-position=${pos}`,
          `${datadir}/${file}`,
        ]);
        const ordersAtLock = events.split("\n").filter((l) =>
          l.startsWith("### INSERT INTO `shop`.`orders`")
        ).length;
        assert(ordersAtLock > 0 && ordersAtLock < writer.inserted, `${ordersAtLock} of ${writer.inserted}`);
        assertEquals(
          [...events.matchAll(/\bGTID (\d+-\d+-\d+)/g)].at(-1)?.[1],
          gtid,
          "the last GTID before it",
        );

        const target = `${dir}/restore`;
        const rr = await runCli(["restore", "latest", "--target", target], env(dir));
        assertEquals(rr.code, 0, rr.stderr);
        assertEquals(
          Deno.statSync(`${target}${datadir}/${file}`).size,
          Number(pos),
          "the binary log ends at the tag",
        );
        // A second server on the restored files: InnoDB crash recovery, as after a power cut at the snapshot.
        const copy = await startMariadb({ dir: `${target}${vol}/mariadb`, args: serverArgs(flushAtCommit) });
        try {
          const count = Number(await copy.sql("SELECT COUNT(*) FROM shop.orders"));
          assertEquals(count, ordersAtLock, "the restored orders are those before the recorded position");
          assertEquals(Number(await copy.sql("SELECT MAX(id) FROM shop.orders")), count, "no gap");
          assertEquals(Number(await copy.sql("SELECT COUNT(*) FROM shop.ledger")), count, "MyISAM in step");
          assertMatch(
            await copy.sql("CHECK TABLE shop.ledger, shop.orders"),
            /^(shop\.\w+\tcheck\tstatus\tOK\n){2}$/,
          );
          const rows =
            `SELECT COUNT(*), BIT_XOR(CRC32(CONCAT_WS('|', id, note))) FROM shop.orders WHERE id <= ${count}`;
          assertEquals(await copy.sql(rows), await db.sql(rows), "the same rows as the server had");
          const ledger = rows.replace("shop.orders", "shop.ledger");
          assertEquals(await copy.sql(ledger), await db.sql(ledger));
          assertEquals((await copy.sql("CHECKSUM TABLE shop.stock")).split("\t")[1].trim(), stockSum);
        } finally {
          await copy.stop();
        }
      }, flushAtCommit);
    },
  });
}

Deno.test({
  name:
    "fs-snapshot-lock: a lock not had in time, SIGTERM and SIGKILL leave no lock, no session, no snapshot",
  ignore: !!why,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withServerOnBtrfs(async ({ db, vol, dir, datadir, pwFile }) => {
      const lockArgs = (timeout: string) =>
        lockedBackup(db.url, pwFile, datadir, ["--fs-snapshot-lock-timeout", timeout]);
      const holder = new Client(db);
      try {
        await holder.query("LOCK TABLES shop.orders WRITE");

        const t = performance.now();
        const r = await runCli(lockArgs("2s"), env(dir));
        const took = performance.now() - t;
        assertEquals(r.code, 1, r.stderr);
        assertEquals(
          r.stderr,
          "floe: --fs-snapshot-lock: FLUSH TABLES WITH READ LOCK was not granted within 2 s (another session " +
            "holds a conflicting lock: LOCK TABLES, a long ALTER, another backup): nothing was snapshotted\n",
        );
        assert(took < 15_000, `failed after ${took} ms`);
        assertEquals(btrfsSnapshots(vol), [], "no btrfs snapshot, no lock file");
        assertEquals(await floeSessions(db), []);
        assert(await otherWrite(db) < 2000, "writes to other tables go on");

        for (const signal of ["SIGTERM", "SIGKILL"] as const) {
          const child = cliCommand(lockArgs("5s"), env(dir)).spawn();
          await until(
            "floe waiting for the lock",
            30_000,
            async () => (await floeSessions(db)).some((l) => l.includes("FLUSH TABLES WITH READ LOCK")),
          );
          child.kill(signal);
          const out = await outputOf(child);
          assert(out.code !== 0, `${signal}: exit ${out.code}`);
          // SIGTERM: floe ends the session. SIGKILL: the client, orphaned, gets its answer at the server's
          // lock_wait_timeout (5 s) and exits at the end of its stdin.
          await until(
            `${signal}: no session left`,
            signal === "SIGTERM" ? 3_000 : 10_000,
            async () => (await floeSessions(db)).length === 0,
          );
          assert(await otherWrite(db) < 2000, `${signal}: writes to other tables go on`);
          // No snapshot; after SIGKILL the lock file made before the wait, which the next run removes.
          const left = btrfsSnapshots(vol);
          if (signal === "SIGKILL") {
            assertEquals(left.length, 1, left.join());
            assertEquals(parseSnapshotName(left[0].replace(/\.lock$/, ""))?.pid, child.pid, left[0]);
          } else assertEquals(left, [], signal);
        }
      } finally {
        await holder.close();
      }
      assertEquals(await floeSnapshots(dir), [], "no snapshot in the repository");

      // Wrong password: one line, nothing made, the password not shown.
      Deno.writeTextFileSync(`${dir}/wrong.pw`, "not-the-password-123\n");
      const wrong = await runCli(lockedBackup(db.url, `${dir}/wrong.pw`, datadir), env(dir));
      assertEquals(wrong.code, 1, wrong.stderr);
      assertMatch(
        wrong.stderr,
        /^floe: --fs-snapshot-lock: connecting failed: ERROR 1045 .*Access denied for user 'floe'/,
      );
      assert(!wrong.stderr.includes("not-the-password-123"));
      assertEquals(btrfsSnapshots(vol), [], "the lock file the killed run left is gone too");

      // A path that does not hold the server's files: a warning (is it the right server?), the backup made.
      Deno.mkdirSync(`${vol}/elsewhere`);
      const elsewhere = await runCli(lockedBackup(db.url, pwFile, `${vol}/elsewhere`), env(dir));
      assertEquals(elsewhere.code, 0, elsewhere.stderr);
      assertStringIncludes(
        elsewhere.stderr,
        `warning: the server's data directory ${datadir} is not under the paths backed up (is it the right server?)`,
      );
      assertEquals((await floeSnapshots(dir)).length, 1);
    });
  },
});

Deno.test({
  name: "fs-snapshot-lock: a process killed with SIGKILL while it holds the lock leaves none",
  ignore: !!why,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withServerOnBtrfs(async ({ db, pwFile }) => {
      // The lock module alone, held until killed: floe killed between the lock and UNLOCK TABLES.
      const script = `
        import { mysqlLock } from ${JSON.stringify(new URL("./mysql_lock.ts", import.meta.url).href)};
        await mysqlLock({ url: ${JSON.stringify(db.url)}, passwordFile: ${JSON.stringify(pwFile)} })
          .acquire({ paths: [], warn() {}, info() {} });
        console.log("held");
        await new Promise(() => {});
      `;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["eval", "--quiet", script],
        stdin: "null",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      assertEquals((await reader.read()).value, "held\n");
      const blocked = otherWrite(db);
      let done = false;
      blocked.then(() => done = true);
      await new Promise((r) => setTimeout(r, 500));
      assert(!done, "a write waits while the lock is held");
      child.kill("SIGKILL");
      await child.status;
      await reader.cancel().catch(() => {});
      await until("the blocked write", 5_000, () => done);
      await until("no session left", 5_000, async () => (await floeSessions(db)).length === 0);
    });
  },
});

Deno.test("fs-snapshot-lock: usage errors are one line, exit 2, before anything is made", async () => {
  const e = { FLOE_REPOSITORY: "/nonexistent/repo", FLOE_PASSWORD: "x", HOME: "/nonexistent" };
  const cases: [string[], string][] = [
    [
      ["--fs-snapshot-lock", "mysql://u@h:3306", "/srv"],
      "--fs-snapshot-lock goes with --fs-snapshot (it is held across the snapshots)",
    ],
    [
      ["--fs-snapshot", "btrfs", "--fs-snapshot-lock-timeout", "5s", "/srv"],
      "--fs-snapshot-lock-timeout goes with --fs-snapshot-lock",
    ],
    [
      ["--fs-snapshot", "btrfs", "--fs-snapshot-lock-option", "password-file=/x", "/srv"],
      "--fs-snapshot-lock-option goes with --fs-snapshot-lock",
    ],
    [
      ["--fs-snapshot", "btrfs", "--fs-snapshot-lock", "postgresql://u@h/db", "/srv"],
      "--fs-snapshot-lock: 'postgresql:' is not a server floe can lock (known: mysql://, mariadb://)",
    ],
    [
      ["--fs-snapshot", "btrfs", "--fs-snapshot-lock", "mysql://u:secret-pw@h:3306", "/srv"],
      "--fs-snapshot-lock: no password in the URL (it would be visible to other users): use passwordFile, MYSQL_PWD or ~/.my.cnf",
    ],
    [
      ["--fs-snapshot", "btrfs", "--fs-snapshot-lock", "mysql://u@h:3306/shop", "/srv"],
      "--fs-snapshot-lock: the lock is server-wide: give no database in the URL",
    ],
    [
      [
        "--fs-snapshot",
        "btrfs",
        "--fs-snapshot-lock",
        "mysql://u@h",
        "--fs-snapshot-lock-option",
        "database=x",
        "/srv",
      ],
      "--fs-snapshot-lock-option: unknown key 'database' (known: password-file)",
    ],
    [
      [
        "--fs-snapshot",
        "btrfs",
        "--fs-snapshot-lock",
        "mysql://u@h",
        "--fs-snapshot-lock-timeout",
        "soon",
        "/srv",
      ],
      `--fs-snapshot-lock-timeout: "soon" is not a duration (whole numbers with units w, d, h, m, s, largest first, e.g. "4h", "1h30m", "90s")`,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(["backup", ...args], e);
    assertEquals([r.code, r.stderr], [2, `floe: ${message}\n`], args.join(" "));
  }
});
