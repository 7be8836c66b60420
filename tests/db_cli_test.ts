/**
 * The database sources through the real CLI, on real servers (tests/fixtures/servers/): `floe backup
 * --source mysql URL` / `--source postgres URL` (the password from a file named by `--source-option
 * password-file=F`), the databases dropped, `floe restore SNAP --target mysql://…` / `postgresql://…`
 * (the password from MYSQL_PWD / PGPASSWORD; `--include` picks databases) and the tables compared by
 * checksum; `--target DIR` gives the dump files; no output shows the password. A hook writes a marker
 * after the dump, as a user's would.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { type CliResult, runCli, tempDir } from "./helpers.ts";
import { mariadbMissing, type MariadbServer, startMariadb } from "./fixtures/servers/mariadb.ts";
import { postgresMissing, type PostgresServer, startPostgres } from "./fixtures/servers/postgres.ts";

const MYSQL_SCHEMA = `
CREATE DATABASE shop CHARACTER SET utf8mb4;
USE shop;
CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(100) CHARACTER SET utf8mb4 NOT NULL, data LONGBLOB, doc JSON)
  ENGINE=InnoDB;
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, item INT, note TEXT) ENGINE=InnoDB;
CREATE VIEW item_names AS SELECT id, name FROM items;
CREATE TRIGGER items_audit AFTER INSERT ON items FOR EACH ROW
  INSERT INTO audit (item, note) VALUES (NEW.id, CONCAT('added ', NEW.name));
CREATE FUNCTION item_count() RETURNS INT READS SQL DATA RETURN (SELECT COUNT(*) FROM items);
INSERT INTO items VALUES (1, 'Zürich – 東京 🚀', UNHEX(REPEAT('00FF7F80DEADBEEF', 64)), '{"a": [1, {"b": "ü"}]}');
INSERT INTO items SELECT seq + 10, CONCAT('item ', seq), RANDOM_BYTES(512), JSON_OBJECT('seq', seq)
  FROM seq_1_to_1000;
CREATE DATABASE logs;
CREATE TABLE logs.lines (id INT PRIMARY KEY, line TEXT) ENGINE=InnoDB;
INSERT INTO logs.lines SELECT seq, REPEAT('log line ', seq % 50) FROM seq_1_to_300;
`;

const PG_SHOP = `
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, data bytea, doc jsonb);
CREATE TABLE audit (id serial PRIMARY KEY, item int, note text);
CREATE FUNCTION audit_item() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit (item, note) VALUES (NEW.id, 'added ' || NEW.name);
  RETURN NEW;
END $$;
CREATE TRIGGER items_audit AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION audit_item();
INSERT INTO items VALUES (1, 'Zürich – 東京 🚀', decode(repeat('00ff7f80deadbeef', 64), 'hex'), '{"a": [1, {"b": "ü"}]}');
INSERT INTO items SELECT g + 10, 'item ' || g, decode(repeat(md5(g::text), 16), 'hex'), jsonb_build_object('seq', g)
  FROM generate_series(1, 1000) g;
`;

const PG_LOGS = `
CREATE TABLE lines (id int PRIMARY KEY, line text);
INSERT INTO lines SELECT g, repeat('log line ', g % 50) FROM generate_series(1, 300) g;
`;

async function setup(prefix: string) {
  const t = await tempDir(prefix);
  const env = {
    FLOE_PASSWORD: "db-cli-repository-pw",
    FLOE_REPOSITORY: `${t.path}/repo`,
    FLOE_CACHE_DIR: `${t.path}/cache`,
    HOME: t.path, // no ~/.my.cnf or ~/.pgpass of the machine's
  };
  const init = await runCli(["init"], env);
  assertEquals(init.code, 0, init.stderr);
  return { dir: t.path, env, cleanup: t.cleanup };
}

function ok(r: CliResult, secret: string, what: string): void {
  assertEquals(r.code, 0, `${what}: ${r.stderr}`);
  assert(!r.stdout.includes(secret) && !r.stderr.includes(secret), `${what} printed the password`);
}

async function mysqlChecksums(db: MariadbServer): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const table of ["shop.items", "shop.audit", "logs.lines"]) {
    const [db_, t] = table.split(".");
    out[table] = (await db.sql(`CHECKSUM TABLE \`${db_}\`.\`${t}\``)).trim().split("\t")[1];
  }
  return out;
}

async function pgChecksums(pg: PostgresServer): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [database, table] of [["shop", "items"], ["shop", "audit"], ["logs", "lines"]]) {
    out[`${database}.${table}`] =
      (await pg.sql(`SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM ${table} t`, database)).trim();
  }
  return out;
}

const mysqlWhy = mariadbMissing();
if (mysqlWhy) console.warn(`skipping the mysql CLI test: ${mysqlWhy}`);

Deno.test({
  name: "CLI: backup --source mysql, drop, restore --target mysql://… (and --include, and a directory)",
  ignore: !!mysqlWhy,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const db = await startMariadb();
    const { dir, env, cleanup } = await setup("floe-db-cli-mysql-");
    try {
      await db.sql(MYSQL_SCHEMA);
      const before = await mysqlChecksums(db);
      const pwFile = `${dir}/mysql.pw`;
      Deno.writeTextFileSync(pwFile, db.password + "\n", { mode: 0o600 });

      let r = await runCli([
        "backup",
        "--source",
        "mysql",
        db.url,
        "--source-option",
        `password-file=${pwFile}`,
        "--hook-after",
        `echo "dumped $FLOE_SNAPSHOT_ID" > ${dir}/after.txt`,
      ], env);
      ok(r, db.password, "backup");
      assertStringIncludes(Deno.readTextFileSync(`${dir}/after.txt`), "dumped ");
      r = await runCli(["ls", "latest", "/mysql"], env);
      for (const f of ["/mysql/logs.sql", "/mysql/shop.sql"]) assertStringIncludes(r.stdout, f);

      // Everything back into the server, the password from MYSQL_PWD this time.
      await db.sql("DROP DATABASE shop; DROP DATABASE logs;");
      r = await runCli(["restore", "latest", "--target", db.url], { ...env, MYSQL_PWD: db.password });
      ok(r, db.password, "restore");
      assertEquals(await mysqlChecksums(db), before);
      assertEquals((await db.sql("SELECT item_count()", "shop")).trim(), "1001");
      assertEquals(
        (await db.sql("SELECT name FROM item_names WHERE id = 1", "shop")).trim(),
        "Zürich – 東京 🚀",
      );
      await db.sql("INSERT INTO shop.items (id, name) VALUES (9999, 'after restore')");
      assertEquals(
        (await db.sql("SELECT note FROM shop.audit WHERE item = 9999")).trim(),
        "added after restore",
        "the trigger came back",
      );
      await db.sql("DELETE FROM shop.items WHERE id = 9999; DELETE FROM shop.audit WHERE item = 9999;");

      // --include picks a database; the password from --target-option password-file.
      await db.sql("DROP DATABASE shop; DROP DATABASE logs;");
      r = await runCli([
        "restore",
        "latest",
        "--target",
        db.url,
        "--include",
        "shop.sql",
        "--target-option",
        `password-file=${pwFile}`,
      ], env);
      ok(r, db.password, "restore --include");
      const databases = (await db.sql("SHOW DATABASES")).split("\n");
      assert(databases.includes("shop") && !databases.includes("logs"), databases.join(","));
      assertEquals((await db.sql("CHECKSUM TABLE shop.items")).trim().split("\t")[1], before["shop.items"]);

      // A directory gets the .sql files.
      r = await runCli(["restore", "latest", "--target", `${dir}/out`], env);
      ok(r, db.password, "restore into a directory");
      const shop = Deno.readTextFileSync(`${dir}/out/mysql/shop.sql`);
      assertStringIncludes(shop, "CREATE TABLE `items`");
      assertStringIncludes(shop, "-- Dump completed");
      assert(Deno.statSync(`${dir}/out/mysql/logs.sql`).size > 0);

      // A wrong password: no snapshot, the tool's message, exit 1.
      Deno.writeTextFileSync(`${dir}/wrong.pw`, "not-the-password\n");
      r = await runCli([
        "backup",
        "--source",
        "mysql",
        db.url,
        "--source-option",
        `password-file=${dir}/wrong.pw`,
      ], env);
      assertEquals(r.code, 1, r.stderr);
      assertStringIncludes(r.stderr, "Access denied");
      r = await runCli(["snapshots", "--json"], env);
      assertEquals(JSON.parse(r.stdout).length, 1);
    } finally {
      await db.stop();
      await cleanup();
    }
  },
});

const pgWhy = postgresMissing();
if (pgWhy) console.warn(`skipping the postgres CLI test: ${pgWhy}`);

Deno.test({
  name: "CLI: backup --source postgres, drop, restore --target postgresql://… (and a directory)",
  ignore: !!pgWhy,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const pg = await startPostgres();
    const { dir, env, cleanup } = await setup("floe-db-cli-postgres-");
    try {
      await pg.sql("CREATE DATABASE shop; CREATE DATABASE logs;");
      await pg.sql(PG_SHOP, "shop");
      await pg.sql(PG_LOGS, "logs");
      const before = await pgChecksums(pg);
      const pwFile = `${dir}/pg.pw`;
      Deno.writeTextFileSync(pwFile, pg.password + "\n", { mode: 0o600 });

      let r = await runCli(
        ["backup", "--source", "postgres", pg.url, "--source-option", `password-file=${pwFile}`],
        env,
      );
      ok(r, pg.password, "backup");
      r = await runCli(["ls", "latest", "/postgres"], env);
      for (const f of ["/postgres/globals.sql", "/postgres/logs.dump", "/postgres/shop.dump"]) {
        assertStringIncludes(r.stdout, f);
      }

      await pg.sql("DROP DATABASE shop; DROP DATABASE logs;");
      r = await runCli([
        "restore",
        "latest",
        "--target",
        pg.url,
        "--include",
        "shop.dump",
        "--include",
        "logs.dump",
      ], { ...env, PGPASSWORD: pg.password });
      ok(r, pg.password, "restore");
      assertEquals(await pgChecksums(pg), before);
      await pg.sql("INSERT INTO items (id, name) VALUES (9999, 'after restore')", "shop");
      assertEquals(
        (await pg.sql("SELECT note FROM audit WHERE item = 9999", "shop")).trim(),
        "added after restore",
        "the trigger came back",
      );

      r = await runCli(["restore", "latest", "--target", `${dir}/out`], env);
      ok(r, pg.password, "restore into a directory");
      const magic = Deno.readFileSync(`${dir}/out/postgres/shop.dump`).subarray(0, 5);
      assertEquals(new TextDecoder().decode(magic), "PGDMP", "pg_dump's custom format");
      assertStringIncludes(Deno.readTextFileSync(`${dir}/out/postgres/globals.sql`), "CREATE ROLE");
    } finally {
      await pg.stop();
      await cleanup();
    }
  },
});
