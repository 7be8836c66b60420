/**
 * The mysql source on a real MariaDB server (one for the whole file): databases with unicode text, binary
 * blobs, JSON, a view, a trigger, a routine and an event are backed up through the engine, dropped,
 * restored through the plugin's `restore()` and compared by `CHECKSUM TABLE`; restored under another
 * name; a dump that fails halfway or ends without its completion line leaves no snapshot; the password
 * shows neither in `ps` during the dump nor in messages.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../../tests/assert.ts";
import { newEngine, tempDir, waitFor } from "../../../tests/helpers.ts";
import { mariadbMissing, type MariadbServer, startMariadb } from "../../../tests/fixtures/servers/mariadb.ts";

import { cmdlinesWith } from "../../../tests/fixtures/proc.ts";
import { validatePlugin } from "../../../core/registry.ts";
import { type Engine, internals } from "../../../core/engine.ts";
import mysql from "./mod.ts";

const why = mariadbMissing();
if (why) console.warn(`skipping the mysql source tests: ${why}`);

const TABLES = { shop: ["audit", "items"], logs: ["lines"] };

const SCHEMA = `
CREATE DATABASE shop CHARACTER SET utf8mb4;
USE shop;
CREATE TABLE items (
  id INT PRIMARY KEY,
  name VARCHAR(100) CHARACTER SET utf8mb4 NOT NULL,
  data LONGBLOB,
  doc JSON
) ENGINE=InnoDB;
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, item INT, note TEXT) ENGINE=InnoDB;
CREATE VIEW item_names AS SELECT id, name FROM items;
CREATE TRIGGER items_audit AFTER INSERT ON items FOR EACH ROW
  INSERT INTO audit (item, note) VALUES (NEW.id, CONCAT('added ', NEW.name));
CREATE FUNCTION item_count() RETURNS INT READS SQL DATA RETURN (SELECT COUNT(*) FROM items);
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DO DELETE FROM audit WHERE id < 0;
INSERT INTO items VALUES
  (1, 'Zürich – 東京 – Αθήνα 🚀', UNHEX(REPEAT('00FF7F80DEADBEEF', 64)), '{"a": [1, 2, {"b": "ü"}], "n": null}'),
  (2, 'line\\nbreak, tab\\t, quote '' and backslash \\\\', NULL, '{}');
INSERT INTO items SELECT seq + 10, CONCAT('item ', seq), RANDOM_BYTES(1024), JSON_OBJECT('seq', seq)
  FROM seq_1_to_2000;
CREATE DATABASE logs;
CREATE TABLE logs.lines (id INT PRIMARY KEY, line TEXT) ENGINE=InnoDB;
INSERT INTO logs.lines SELECT seq, REPEAT('log line ', seq % 50) FROM seq_1_to_500;
`;

async function checksums(db: MariadbServer, database: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const table of TABLES[database as keyof typeof TABLES] ?? TABLES.shop) {
    const line = (await db.sql(`CHECKSUM TABLE \`${database}\`.\`${table}\``)).trim();
    out[table] = line.split("\t")[1];
  }
  return out;
}

async function textOf(engine: Engine, node: Parameters<Engine["readFile"]>[0]): Promise<string> {
  const dec = new TextDecoder();
  let text = "";
  for await (const b of engine.readFile(node)) text += dec.decode(b, { stream: true });
  return text + dec.decode();
}

async function snapshotCount(engine: Engine): Promise<number> {
  let n = 0;
  for await (const _ of internals(engine).repo.storage.list("snapshots/")) n++;
  return n;
}

Deno.test({
  name: "mysql source on a real MariaDB",
  ignore: !!why,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const db = await startMariadb();
    const dir = await tempDir("floe-mysql-");
    const engine = await newEngine(dir.path);
    const passwordFile = `${dir.path}/mysql.pw`;
    Deno.writeTextFileSync(passwordFile, db.password + "\n", { mode: 0o600 });
    const source = (extra: Record<string, unknown> = {}) => mysql({ url: db.url, passwordFile, ...extra });
    try {
      await db.sql(SCHEMA);
      const before = { shop: await checksums(db, "shop"), logs: await checksums(db, "logs") };

      await t.step("satisfies the source contract; refuses a password in the URL", () => {
        validatePlugin("source", source(), "mysql");
        let error: Error | undefined;
        try {
          mysql({ url: `mysql://floe:${db.password}@127.0.0.1:${db.port}` });
        } catch (e) {
          error = e as Error;
        }
        assert(error, "a password in the URL is refused");
        assertStringIncludes(error.message, "no password in the URL");
        assert(!error.message.includes(db.password), "the message does not repeat the password");
      });

      let snapshotId = "";
      await t.step("backs up every user database, then restores them after a drop", async () => {
        const r = await engine.backup(source());
        assertEquals(r.warnings, []);
        snapshotId = r.snapshotId;
        const snap = engine.resolveSnapshot(snapshotId);
        const listed = [];
        for await (const e of engine.ls(snap, "/mysql")) listed.push(e.path);
        assertEquals(listed, ["/mysql/_meta.json", "/mysql/logs.sql", "/mysql/shop.sql"]);
        const metaNode = (await internals(engine).trees.find(snap.snapshot.tree, "/mysql/_meta.json"))!;
        const parts = [];
        for await (const b of engine.readFile(metaNode)) parts.push(new TextDecoder().decode(b));
        const meta = JSON.parse(parts.join(""));
        assertStringIncludes(meta.server, "MariaDB");
        assertStringIncludes(meta.toolVersion, "mariadb-dump");
        assertEquals(meta.databases, ["logs", "shop"]);
        const dumpNode = (await internals(engine).trees.find(snap.snapshot.tree, "/mysql/shop.sql"))!;
        assert((dumpNode.size ?? 0) > 2_000_000, `the dump's size is recorded (${dumpNode.size})`);
        assertEquals(meta.rebatched, true);
        // The 4 MB of items were regrouped into statements of ~256 KiB (the tool's are ~1 MB).
        const dumpText = await textOf(engine, dumpNode);
        const statements = dumpText.split("\nINSERT INTO `items` VALUES").length - 1;
        assert(statements >= 8, `${statements} INSERT statements for items`);

        await db.sql("DROP DATABASE shop; DROP DATABASE logs;");
        await source().restore!(engine.restoreEntries(snap, "/mysql"), { warn: () => {} });
        assertEquals(await checksums(db, "shop"), before.shop);
        assertEquals(await checksums(db, "logs"), before.logs);
        assertEquals((await db.sql("SELECT item_count()", "shop")).trim(), "2002");
        assertEquals(
          (await db.sql("SELECT name FROM item_names WHERE id = 1", "shop")).trim(),
          "Zürich – 東京 – Αθήνα 🚀",
        );
        assertEquals(
          (await db.sql("SELECT JSON_VALUE(doc, '$.a[2].b') FROM items WHERE id = 1", "shop")).trim(),
          "ü",
        );
        assertEquals(
          (await db.sql("SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = 'shop'")).trim(),
          "1",
        );
        await db.sql("INSERT INTO items (id, name) VALUES (9999, 'after restore')", "shop");
        assertEquals(
          (await db.sql("SELECT note FROM audit WHERE item = 9999", "shop")).trim(),
          "added after restore",
          "the trigger was restored",
        );
        await db.sql("DELETE FROM items WHERE id = 9999; DELETE FROM audit WHERE item = 9999", "shop");
      });

      await t.step("rebatch: false stores the tool's statements as they were", async () => {
        const r = await engine.backup(source({ databases: ["shop"], rebatch: false }));
        const snap = engine.resolveSnapshot(r.snapshotId);
        const node = (await internals(engine).trees.find(snap.snapshot.tree, "/mysql/shop.sql"))!;
        const text = await textOf(engine, node);
        const statements = text.split("\nINSERT INTO `items` VALUES").length - 1;
        assert(statements >= 2 && statements <= 6, `${statements} INSERT statements of ~1 MB for items`);
        const meta = JSON.parse(
          await textOf(
            engine,
            (await internals(engine).trees.find(snap.snapshot.tree, "/mysql/_meta.json"))!,
          ),
        );
        assertEquals(meta.rebatched, false);
      });

      await t.step("restores one database under another name", async () => {
        const snap = engine.resolveSnapshot(snapshotId);
        await source({ databases: ["shop"], rename: { shop: "shop_copy" } })
          .restore!(engine.restoreEntries(snap, "/mysql"), { warn: () => {} });
        assertEquals(await checksums(db, "shop_copy"), before.shop);
        assertEquals((await db.sql("SELECT item_count()", "shop_copy")).trim(), "2002");
        const names = (await db.sql("SHOW DATABASES")).split("\n");
        assert(!names.includes("logs_copy"));
        await db.sql("DROP DATABASE shop_copy");
      });

      await t.step("a dump cut halfway fails the backup: no snapshot, no password in ps", async () => {
        const count = await snapshotCount(engine);
        // A session holding a write lock on shop.items: the dump of shop (after logs) waits for it.
        const locker = new Deno.Command("mariadb", {
          args: ["--no-defaults", `--socket=${db.socket}`, "--user=root"],
          stdin: "piped",
          stdout: "null",
          stderr: "null",
        }).spawn();
        const w = locker.stdin.getWriter();
        await w.write(new TextEncoder().encode("LOCK TABLES shop.items WRITE;\nSELECT SLEEP(60);\n"));
        try {
          await waitFor(async () =>
            (await db.sql(
              "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP%'",
            ))
              .trim() === "1"
          );
          const backup = engine.backup(source());
          backup.catch(() => {});
          const waiting = "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'floe' " +
            "AND STATE LIKE 'Waiting for table metadata lock'";
          assert(
            await waitFor(async () => (await db.sql(waiting)).trim() !== ""),
            "the dump waits on the lock",
          );
          assertEquals(cmdlinesWith("mariadb-dump").length > 0, true, "the dump runs now");
          assertEquals(cmdlinesWith(db.password), [], "no process shows the password on its command line");
          await db.sql(`KILL ${(await db.sql(waiting)).trim().split("\n")[0]}`);
          const error = await assertRejects(() => backup, Error, "mariadb-dump of shop failed");
          assert(!error.message.includes(db.password), "the message does not show the password");
          assertEquals(await snapshotCount(engine), count, "no snapshot was written");
        } finally {
          await w.close().catch(() => {});
          locker.kill("SIGKILL");
          await locker.status;
        }
      });

      await t.step("a dump without its completion line fails the backup", async () => {
        const count = await snapshotCount(engine);
        const bin = `${dir.path}/bin`;
        Deno.mkdirSync(bin);
        // A mariadb-dump that stops early but says it succeeded.
        Deno.writeTextFileSync(
          `${bin}/mariadb-dump`,
          '#!/bin/sh\ncase "$1" in --version) echo "mariadb-dump fake";; *) echo "-- partial";; esac\n',
          { mode: 0o755 },
        );
        const path = Deno.env.get("PATH")!;
        Deno.env.set("PATH", `${bin}:${path}`);
        try {
          await assertRejects(() => engine.backup(source({ databases: ["logs"] })), Error, "Dump completed");
        } finally {
          Deno.env.set("PATH", path);
        }
        assertEquals(await snapshotCount(engine), count, "no snapshot was written");
      });

      await t.step("a wrong password fails the backup with the server's answer, masked", async () => {
        const wrong = `${dir.path}/wrong.pw`;
        Deno.writeTextFileSync(wrong, "not-the-password\n", { mode: 0o600 });
        const error = await assertRejects(
          () => engine.backup(mysql({ url: db.url, passwordFile: wrong })),
          Error,
          "Access denied",
        );
        assert(!error.message.includes("not-the-password"));
      });
    } finally {
      await engine.close();
      await db.stop();
      await dir.cleanup();
    }
  },
});
