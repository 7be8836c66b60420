/**
 * `mysql`: backs up MariaDB and MySQL databases as SQL dumps, one file per database at
 * `/mysql/<db>.sql`, streamed from `mariadb-dump` (or `mysqldump` when that is all there is) into the
 * repository with no temporary file. Each dump is one consistent transaction
 * (`--single-transaction`: consistent for InnoDB tables) with routines, triggers and events, binary
 * columns in hex and utf8mb4 text: `--single-transaction --routines --triggers --events --hex-blob
 * --default-character-set=utf8mb4`.
 *
 * Which databases: the one in the URL, else those of the `databases` option, else every database but
 * `information_schema`, `performance_schema`, `mysql` and `sys`.
 *
 * Each table's rows are regrouped into INSERT statements whose ends depend on the rows' content, not on
 * the byte count (`rebatch`, default true; {@link ./_rebatch.ts}): a day's changes then change a few
 * chunks of a dump instead of a quarter of everything after the first change (a 960 MiB dump after 1 %
 * of its rows changed in 30 runs: 1.6 % of it new instead of 51 %). The rows and their order are the
 * tool's; only where one statement ends differs.
 *
 * `/mysql/_meta.json` records how the dumps were made:
 * `{"format": 1, "tool": "mariadb-dump", "toolVersion": "mariadb-dump from 11.x …", "server":
 * "10.11.19-MariaDB…", "databases": ["shop", …], "options": ["--single-transaction", …], "rebatched":
 * true}`.
 *
 * The password comes from `passwordFile` (its first line), else from `MYSQL_PWD`, else from an option
 * file the tools read themselves (`~/.my.cnf`, `[client] password=…`; an option file's password takes
 * precedence over `MYSQL_PWD`, the tools' own rule). It reaches the tools through their environment
 * (`MYSQL_PWD`), never their command line, and is masked in every message. A password in the URL is
 * refused for that reason.
 *
 * A dump that fails — the tool exits with an error, or its output lacks the `-- Dump completed` line
 * the tool writes last — fails the backup, with the tool's last stderr lines: no snapshot is written.
 *
 * `restore()` feeds each `/mysql/<db>.sql` to `mariadb` (or `mysql`), creating the database when
 * missing; `databases` (or the URL's database) selects which are restored and `rename` restores one
 * under another name: `rename: {shop: "shop_copy"}`.
 *
 * @example
 * ```ts
 * import mysql from "./mod.ts";
 * const source = mysql({ url: "mysql://backup@127.0.0.1:3306", passwordFile: "/etc/floe/mysql.pw" });
 * console.log(source.paths); // ["/mysql"]
 * ```
 * @module
 */
import {
  API_VERSION,
  type RestoreEntry,
  type ScanContext,
  type SourceEntry,
  type SourcePlugin,
} from "../../../core/contracts.ts";
import { bytesEntry, type ChildSpec, feed, findTool, runText, streamed } from "../_child.ts";
import { InsertRebatcher } from "./_rebatch.ts";
import { type Connection, databaseUrl } from "../_connection.ts";

/** Options of the mysql source. */
export interface Options {
  /** `mysql://user@host:port[/db]` (also `mariadb://`), or `mysql://user@localhost?socket=/run/mysqld/mysqld.sock`. */
  url: string;
  /** Databases to back up or restore (default: all but the system ones; the URL's database if it names one). */
  databases?: string[];
  /** A file whose first line is the password. */
  passwordFile?: string;
  /** Restore a database under another name: `{from: to}`. */
  rename?: Record<string, string>;
  /**
   * Regroup each table's rows into INSERT statements whose ends depend on the rows' content (default
   * true), so a day's changes change a few chunks of the dump instead of every chunk after the first
   * change ({@link ./_rebatch.ts}). The rows and their order are unchanged. `false` stores the dump
   * byte for byte as the tool wrote it.
   */
  rebatch?: boolean;
}

/** Databases never dumped unless asked for by name: the server's own. */
export const SYSTEM_DATABASES: readonly string[] = [
  "information_schema",
  "performance_schema",
  "mysql",
  "sys",
];

/** What every dump is made with (besides the connection). */
export const DUMP_OPTIONS: readonly string[] = [
  "--single-transaction",
  "--routines",
  "--triggers",
  "--events",
  "--hex-blob",
  "--default-character-set=utf8mb4",
];

const COMPLETED = "-- Dump completed";

/**
 * The connection arguments, environment and secrets for the MariaDB/MySQL tools: the URL's user, host and
 * port or `?socket=`, the password of `passwordFile` in `MYSQL_PWD`. Errors begin with `who`. Shared with
 * `--fs-snapshot-lock` (plugins/fs_snapshot/mysql_lock.ts).
 *
 * @example
 * ```ts
 * import { mysqlConnection } from "./mod.ts";
 * mysqlConnection({ url: "mysql://backup@db1:3306" }).args; // ["--user=backup", "--host=db1", "--port=3306"]
 * ```
 */
export function mysqlConnection(
  options: Pick<Options, "url" | "databases" | "passwordFile">,
  who = "mysql source",
): Connection {
  const url = databaseUrl(who, options?.url, {
    protocols: ["mysql:", "mariadb:"],
    form: "mysql://user@host:port[/db]",
    passwordHint: "use passwordFile, MYSQL_PWD or ~/.my.cnf",
  });
  const args: string[] = [];
  if (url.username) args.push(`--user=${decodeURIComponent(url.username)}`);
  for (const key of url.searchParams.keys()) {
    if (key !== "socket") throw new Error(`${who}: unknown URL parameter '${key}' (known: socket)`);
  }
  const socket = url.searchParams.get("socket");
  if (socket) args.push(`--socket=${socket}`);
  else if (url.hostname) args.push(`--host=${url.hostname.replace(/^\[|\]$/g, "")}`);
  if (url.port && !socket) args.push(`--port=${url.port}`);
  const db = decodeURIComponent(url.pathname.replace(/^\/+/, ""));
  if (db.includes("/")) throw new Error(`${who}: '${db}' is not a database name`);
  const databases = db ? [db] : options.databases?.length ? [...options.databases] : null;
  let password: string | undefined;
  if (options.passwordFile) {
    try {
      password = Deno.readTextFileSync(options.passwordFile).split("\n")[0].replace(/\r$/, "");
    } catch (e) {
      throw new Error(
        `${who}: cannot read the password file ${options.passwordFile}: ${(e as Error).message}`,
      );
    }
  }
  const secrets = [password, Deno.env.get("MYSQL_PWD")].filter((s): s is string => !!s);
  return { args, databases, env: password === undefined ? undefined : { MYSQL_PWD: password }, secrets };
}

/** A name that can be a file name in the snapshot. */
function nameProblem(db: string): string | null {
  if (!db || db === "." || db === ".." || /[/\0]/.test(db)) return "cannot be a file name";
  return null;
}

function quoteIdentifier(name: string): string {
  return "`" + name.replaceAll("`", "``") + "`";
}

/** Builds the mysql source. */
/** Where a snapshot of this source can be restored (`floe restore … --target mysql://…`). */
export const targetSchemes = ["mysql", "mariadb"];

/**
 * Builds the source. From the CLI, the URL comes as the first of `paths` (`floe backup --source mysql URL`)
 * or as a restore's `target`, and `databases` may be a comma-separated list.
 */
export default function mysql(
  given: Options | (Partial<Options> & { paths?: string[]; target?: string; databases?: string[] | string }),
): SourcePlugin {
  const extra = given as { paths?: string[]; target?: string; databases?: string[] | string };
  const options = {
    ...given,
    url: given.url ?? extra.target ?? extra.paths?.[0],
    databases: typeof extra.databases === "string"
      ? extra.databases.split(",").filter(Boolean)
      : extra.databases,
  } as Options;
  const conn = mysqlConnection(options);
  const rebatch = options.rebatch !== false;
  if (typeof options.rebatch !== "boolean" && options.rebatch !== undefined) {
    throw new Error(`mysql source: rebatch must be true or false (got ${JSON.stringify(options.rebatch)})`);
  }
  const spec = (cmd: string, args: string[], what: string): ChildSpec => ({
    cmd,
    args: [...conn.args, ...args],
    env: conn.env,
    what,
    secrets: conn.secrets,
  });
  const client = () => {
    const tool = findTool(["mariadb", "mysql"]);
    if (!tool) throw new Error("mysql source: neither mariadb nor mysql (the client) is installed");
    return tool;
  };
  const query = async (sql: string, what: string): Promise<string[]> => {
    const out = await runText(spec(client(), ["--batch", "--skip-column-names", "--raw", "-e", sql], what));
    return out.split("\n").filter((l) => l !== "");
  };

  return {
    kind: "source",
    name: "mysql",
    apiVersion: API_VERSION,
    paths: ["/mysql"],
    async *scan(ctx: ScanContext): AsyncGenerator<SourceEntry> {
      const dumper = findTool(["mariadb-dump", "mysqldump"]);
      if (!dumper) throw new Error("mysql source: neither mariadb-dump nor mysqldump is installed");
      const [server] = await query("SELECT VERSION()", "reading the server version");
      const toolVersion = (await runText({ cmd: dumper, args: ["--version"], what: dumper })).trim();
      let databases = conn.databases ??
        (await query("SHOW DATABASES", "listing the databases")).filter((d) => !SYSTEM_DATABASES.includes(d));
      databases = databases.filter((db) => {
        const problem = nameProblem(db);
        if (problem) ctx.warn({ path: "/mysql", message: `database '${db}' ${problem}; skipped` });
        return !problem;
      });
      const now = Date.now();
      yield { path: "/mysql", type: "dir", size: 0, mtime: now, mode: 0o700 };
      const meta = new TextEncoder().encode(
        JSON.stringify(
          {
            format: 1,
            tool: dumper.split("/").pop(),
            toolVersion,
            server,
            databases,
            options: DUMP_OPTIONS,
            rebatched: rebatch,
          },
          null,
          2,
        ) + "\n",
      );
      const files = [
        ...databases.map((db) => ({ name: `${db}.sql`, db })),
        { name: "_meta.json", db: null },
      ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const { name, db } of files) {
        ctx.signal?.throwIfAborted();
        const path = `/mysql/${name}`;
        if (db === null) {
          yield bytesEntry(path, meta, now);
          continue;
        }
        const dump = streamed(
          {
            ...spec(dumper, [...DUMP_OPTIONS, db], `${dumper.split("/").pop()} of ${db}`),
            checkEnd: (tail) =>
              tail.includes(COMPLETED) ? null : `the dump ended without its '${COMPLETED}' line (cut short?)`,
            transform: rebatch ? () => new InsertRebatcher() : undefined,
            stdoutBuffer: "1M",
          },
          { path, mtime: Date.now() },
        );
        yield dump.entry;
        await dump.finished(ctx.signal);
      }
    },
    async restore(entries: AsyncIterable<RestoreEntry>, ctx: ScanContext): Promise<void> {
      const wanted = conn.databases ? new Set(conn.databases) : null;
      for await (const e of entries) {
        ctx.signal?.throwIfAborted();
        const name = e.path.split("/").pop() ?? "";
        if (e.type !== "file" || !name.endsWith(".sql") || !e.open) continue;
        const db = name.slice(0, -".sql".length);
        if (wanted && !wanted.has(db)) continue;
        const target = options.rename?.[db] ?? db;
        if (nameProblem(target)) throw new Error(`mysql restore: '${target}' is not a database name`);
        const tool = client();
        await runText(
          spec(
            tool,
            ["-e", `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(target)}`],
            `creating ${target}`,
          ),
        );
        await feed(
          spec(
            tool,
            ["--default-character-set=utf8mb4", `--database=${target}`],
            `restoring ${db} into ${target}`,
          ),
          e.open(),
        );
      }
    },
  };
}
