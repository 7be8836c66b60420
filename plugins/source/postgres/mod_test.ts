/**
 * The postgres source on a real PostgreSQL server (one for the whole file): databases with unicode text,
 * bytea, jsonb, a view, a trigger and functions are backed up through the engine (custom and plain
 * formats), dropped, restored through the plugin's `restore()` and compared by an md5 over their ordered
 * rows; restored under another name; a dump that fails halfway leaves no snapshot; the password shows
 * neither in `ps` during the dump nor in messages.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../../tests/assert.ts";
import { newEngine, tempDir, waitFor } from "../../../tests/helpers.ts";
import {
  postgresMissing,
  type PostgresServer,
  startPostgres,
} from "../../../tests/fixtures/servers/postgres.ts";

import { cmdlinesWith } from "../../../tests/fixtures/proc.ts";
import { validatePlugin } from "../../../core/registry.ts";
import { type Engine, internals } from "../../../core/engine.ts";
import postgres from "./mod.ts";

const why = postgresMissing();
if (why) console.warn(`skipping the postgres source tests: ${why}`);

const TABLES: Record<string, string[]> = { shop: ["audit", "items"], logs: ["lines"] };

const SHOP = `
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, data bytea, doc jsonb);
CREATE TABLE audit (id serial PRIMARY KEY, item int, note text);
CREATE VIEW item_names AS SELECT id, name FROM items;
CREATE FUNCTION audit_item() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit (item, note) VALUES (NEW.id, 'added ' || NEW.name);
  RETURN NEW;
END $$;
CREATE TRIGGER items_audit AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION audit_item();
CREATE FUNCTION item_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM items';
INSERT INTO items VALUES
  (1, 'Zürich – 東京 – Αθήνα 🚀', decode(repeat('00ff7f80deadbeef', 64), 'hex'), '{"a": [1, 2, {"b": "ü"}], "n": null}'),
  (2, E'line\\nbreak, tab\\t, quote '' and backslash \\\\', NULL, '{}');
INSERT INTO items SELECT g + 10, 'item ' || g,
  decode(repeat(md5(g::text) || md5((g * 7)::text), 32), 'hex'), jsonb_build_object('seq', g)
  FROM generate_series(1, 2000) g;
`;

const LOGS = `
CREATE TABLE lines (id int PRIMARY KEY, line text);
INSERT INTO lines SELECT g, repeat('log line ', g % 50) FROM generate_series(1, 500) g;
`;

async function checksums(
  pg: PostgresServer,
  database: string,
  tablesOf = database,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const table of TABLES[tablesOf]) {
    out[table] = (await pg.sql(`SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM ${table} t`, database))
      .trim();
  }
  return out;
}

async function snapshotCount(engine: Engine): Promise<number> {
  let n = 0;
  for await (const _ of internals(engine).repo.storage.list("snapshots/")) n++;
  return n;
}

Deno.test({
  name: "postgres source on a real PostgreSQL",
  ignore: !!why,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const pg = await startPostgres();
    const dir = await tempDir("floe-postgres-");
    const engine = await newEngine(dir.path);
    const passwordFile = `${dir.path}/pg.pw`;
    Deno.writeTextFileSync(passwordFile, pg.password + "\n", { mode: 0o600 });
    const source = (extra: Record<string, unknown> = {}) => postgres({ url: pg.url, passwordFile, ...extra });
    try {
      await pg.sql("CREATE DATABASE shop; CREATE DATABASE logs;");
      await pg.sql(SHOP, "shop");
      await pg.sql(LOGS, "logs");
      const before = { shop: await checksums(pg, "shop"), logs: await checksums(pg, "logs") };

      await t.step("satisfies the source contract; refuses a password in the URL", () => {
        validatePlugin("source", source(), "postgres");
        let error: Error | undefined;
        try {
          postgres({ url: `postgresql://floe:${pg.password}@127.0.0.1:${pg.port}` });
        } catch (e) {
          error = e as Error;
        }
        assert(error, "a password in the URL is refused");
        assertStringIncludes(error.message, "no password in the URL");
        assert(!error.message.includes(pg.password));
      });

      for (const format of ["custom", "plain"] as const) {
        await t.step(
          `${format} format: backs up every database and the globals, restores after a drop`,
          async () => {
            const r = await engine.backup(source({ format }));
            assertEquals(r.warnings, []);
            const snap = engine.resolveSnapshot(r.snapshotId);
            const listed = [];
            for await (const e of engine.ls(snap, "/postgres")) listed.push(e.path);
            const ext = format === "plain" ? "sql" : "dump";
            assertEquals(listed, [
              "/postgres/_meta.json",
              "/postgres/globals.sql",
              `/postgres/logs.${ext}`,
              `/postgres/postgres.${ext}`,
              `/postgres/shop.${ext}`,
            ]);
            const metaNode =
              (await internals(engine).trees.find(snap.snapshot.tree, "/postgres/_meta.json"))!;
            const parts = [];
            for await (const b of engine.readFile(metaNode)) parts.push(new TextDecoder().decode(b));
            const meta = JSON.parse(parts.join(""));
            assertStringIncludes(meta.toolVersion, "pg_dump (PostgreSQL)");
            assert(/^\d+\.\d+/.test(meta.server), meta.server);
            assertEquals(meta.dumpFormat, format);
            const globals =
              (await internals(engine).trees.find(snap.snapshot.tree, "/postgres/globals.sql"))!;
            assert((globals.size ?? 0) > 0);

            await pg.sql("DROP DATABASE shop; DROP DATABASE logs;");
            await source({ databases: ["logs", "shop"] })
              .restore!(engine.restoreEntries(snap, "/postgres"), { warn: () => {} });
            assertEquals(await checksums(pg, "shop"), before.shop);
            assertEquals(await checksums(pg, "logs"), before.logs);
            assertEquals((await pg.sql("SELECT item_count()", "shop")).trim(), "2002");
            assertEquals(
              (await pg.sql("SELECT name FROM item_names WHERE id = 1", "shop")).trim(),
              "Zürich – 東京 – Αθήνα 🚀",
            );
            await pg.sql("INSERT INTO items (id, name) VALUES (9999, 'after restore')", "shop");
            assertEquals(
              (await pg.sql("SELECT note FROM audit WHERE item = 9999", "shop")).trim(),
              "added after restore",
              "the trigger was restored",
            );
            await pg.sql("DELETE FROM items WHERE id = 9999; DELETE FROM audit WHERE item = 9999", "shop");
          },
        );
      }

      await t.step("restores one database under another name", async () => {
        const snap = engine.resolveSnapshot("latest");
        await source({ databases: ["shop"], rename: { shop: "shop copy" } })
          .restore!(engine.restoreEntries(snap, "/postgres"), { warn: () => {} });
        assertEquals(await checksums(pg, "shop copy", "shop"), before.shop);
        const names = (await pg.sql("SELECT datname FROM pg_database")).split("\n");
        assert(!names.includes("logs copy"));
        await pg.sql('DROP DATABASE "shop copy"');
      });

      await t.step("a dump cut halfway fails the backup: no snapshot, no password in ps", async () => {
        const count = await snapshotCount(engine);
        // A session holding an exclusive lock on shop's items: pg_dump of shop (the last) waits for it.
        const locker = new Deno.Command("psql", {
          args: ["-X", "-q", "-h", pg.socketDir, "-p", String(pg.port), "-U", "postgres", "-d", "shop"],
          stdin: "piped",
          stdout: "null",
          stderr: "null",
        }).spawn();
        const w = locker.stdin.getWriter();
        await w.write(
          new TextEncoder().encode(
            "BEGIN;\nLOCK TABLE items IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(60);\n",
          ),
        );
        try {
          await waitFor(async () =>
            (await pg.sql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'"))
              .trim() === "1"
          );
          const backup = engine.backup(source());
          backup.catch(() => {});
          const waiting = "SELECT pid FROM pg_stat_activity WHERE application_name = 'pg_dump' " +
            "AND wait_event_type = 'Lock'";
          assert(
            await waitFor(async () => (await pg.sql(waiting)).trim() !== ""),
            "the dump waits on the lock",
          );
          assertEquals(cmdlinesWith("pg_dump").length > 0, true, "the dump runs now");
          assertEquals(cmdlinesWith(pg.password), [], "no process shows the password on its command line");
          await pg.sql(`SELECT pg_terminate_backend(${(await pg.sql(waiting)).trim().split("\n")[0]})`);
          const error = await assertRejects(() => backup, Error, "pg_dump of shop failed");
          assert(!error.message.includes(pg.password), "the message does not show the password");
          assertEquals(await snapshotCount(engine), count, "no snapshot was written");
        } finally {
          await w.close().catch(() => {});
          locker.kill("SIGKILL");
          await locker.status;
        }
      });

      await t.step("a wrong password fails the backup with the server's answer", async () => {
        const wrong = `${dir.path}/wrong.pw`;
        Deno.writeTextFileSync(wrong, "not-the-password\n", { mode: 0o600 });
        const error = await assertRejects(
          () => engine.backup(postgres({ url: pg.url, passwordFile: wrong })),
          Error,
          "password authentication failed",
        );
        assert(!error.message.includes("not-the-password"));
      });
    } finally {
      await engine.close();
      await pg.stop();
      await dir.cleanup();
    }
  },
});
