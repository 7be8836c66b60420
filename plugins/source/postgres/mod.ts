/**
 * `postgres`: backs up PostgreSQL databases with `pg_dump`, one file per database streamed into the
 * repository with no temporary file — `/postgres/<db>.dump` in pg_dump's custom format (`-Fc`, for
 * `pg_restore`), or `/postgres/<db>.sql` with `format: "plain"` — plus the roles and tablespaces from
 * `pg_dumpall --globals-only` at `/postgres/globals.sql` (`globals: false` leaves them out; they need a
 * superuser).
 *
 * The custom format is written uncompressed (`-Z0`): pg_dump's own zlib compression would make each day's
 * dump new bytes from its first change on, so nothing would deduplicate, and the repository compresses
 * with zstd anyway (faster, and better). Its rows are framed one by one, so unchanged rows stay the same
 * bytes from one day to the next.
 *
 * Which databases: the one in the URL, else those of the `databases` option, else every database that
 * accepts connections except the templates. `/postgres/_meta.json` records the server's and pg_dump's
 * versions, the databases and the format: `{"format": 1, "tool": "pg_dump", "toolVersion": "pg_dump
 * (PostgreSQL) 15.x", "server": "15.x …", "databases": […], "dumpFormat": "custom"}`.
 *
 * The password comes from `passwordFile` (its first line), else from `PGPASSWORD`, else from
 * `~/.pgpass` (or `PGPASSFILE`), which the tools read themselves. It reaches them through their
 * environment (`PGPASSWORD`), never their command line, and is masked in every message; the tools
 * never prompt (`-w`). A password in the URL is refused for that reason.
 *
 * A dump that fails — the tool exits with an error, or a plain dump lacks its `dump complete` line —
 * fails the backup with the tool's last stderr lines: no snapshot is written.
 *
 * `restore()` creates each database when missing (`createdb -T template0`) and loads it with
 * `pg_restore --exit-on-error` (custom format) or `psql -v ON_ERROR_STOP=1` (plain); `databases` (or the
 * URL's database) selects which, `rename: {from: to}` restores one under another name, `clean: true`
 * drops the objects first (`--clean --if-exists`), and `globals: true` also runs `globals.sql` (roles
 * that already exist make it fail: meant for an empty server).
 *
 * @example
 * ```ts
 * import postgres from "./mod.ts";
 * const source = postgres({ url: "postgresql://backup@127.0.0.1:5432", passwordFile: "/etc/floe/pg.pw" });
 * console.log(source.paths); // ["/postgres"]
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
import { type Connection, databaseUrl } from "../_connection.ts";

/** Options of the postgres source. */
export interface Options {
  /** `postgresql://user@host:port[/db]` (also `postgres://`); `?host=/run/postgresql` for a socket directory. */
  url: string;
  /** Databases to back up or restore (default: all but the templates; the URL's database if it names one). */
  databases?: string[];
  /** A file whose first line is the password. */
  passwordFile?: string;
  /** `custom` (default: `pg_dump -Fc`, restored with pg_restore) or `plain` (SQL). */
  format?: "custom" | "plain";
  /** Back up the roles and tablespaces (default true); on restore, run globals.sql (default false). */
  globals?: boolean;
  /** The database to connect to for listing and creating databases (default `postgres`). */
  maintenanceDb?: string;
  /** Restore a database under another name: `{from: to}`. */
  rename?: Record<string, string>;
  /** On restore, drop the objects before creating them again (`pg_restore --clean --if-exists`). */
  clean?: boolean;
}

const PLAIN_COMPLETE = "-- PostgreSQL database dump complete";
const GLOBALS_COMPLETE = "-- PostgreSQL database cluster dump complete";

function connection(options: Options): Connection {
  const url = databaseUrl("postgres source", options?.url, {
    protocols: ["postgresql:", "postgres:"],
    form: "postgresql://user@host:port[/db]",
    passwordHint: "use passwordFile, PGPASSWORD or ~/.pgpass",
  });
  // -w: never prompt; a missing password fails at once instead of waiting on a terminal.
  const args = ["-w"];
  for (const key of url.searchParams.keys()) {
    if (key !== "host") throw new Error(`postgres source: unknown URL parameter '${key}' (known: host)`);
  }
  const host = url.searchParams.get("host") ?? url.hostname.replace(/^\[|\]$/g, "");
  if (host) args.push("-h", host);
  if (url.port) args.push("-p", url.port);
  if (url.username) args.push("-U", decodeURIComponent(url.username));
  const db = decodeURIComponent(url.pathname.replace(/^\/+/, ""));
  const databases = db ? [db] : options.databases?.length ? [...options.databases] : null;
  let password: string | undefined;
  if (options.passwordFile) {
    try {
      password = Deno.readTextFileSync(options.passwordFile).split("\n")[0].replace(/\r$/, "");
    } catch (e) {
      throw new Error(
        `postgres source: cannot read the password file ${options.passwordFile}: ${(e as Error).message}`,
      );
    }
  }
  const secrets = [password, Deno.env.get("PGPASSWORD")].filter((s): s is string => !!s);
  return { args, databases, env: password === undefined ? undefined : { PGPASSWORD: password }, secrets };
}

function nameProblem(db: string): string | null {
  if (!db || db === "." || db === ".." || /[/\0\n\r]/.test(db)) return "cannot be a file name";
  return null;
}

function tool(name: string): string {
  const found = findTool([name]);
  if (!found) throw new Error(`postgres source: ${name} is not installed (Debian: postgresql-client)`);
  return found;
}

/** Builds the postgres source. */
/** Where a snapshot of this source can be restored (`floe restore … --target postgresql://…`). */
export const targetSchemes = ["postgresql", "postgres"];

/**
 * Builds the source. From the CLI, the URL comes as the first of `paths` (`floe backup --source postgres URL`)
 * or as a restore's `target`, and `databases` may be a comma-separated list.
 */
export default function postgres(
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
  const conn = connection(options);
  const format = options.format ?? "custom";
  if (format !== "custom" && format !== "plain") {
    throw new Error(`postgres source: format must be "custom" or "plain" (got ${JSON.stringify(format)})`);
  }
  const maintenance = options.maintenanceDb ?? "postgres";
  // The database goes in PGDATABASE, not -d: the tools read a -d value holding `=` as a connection string.
  const spec = (cmd: string, args: string[], what: string, database = maintenance): ChildSpec => ({
    cmd: tool(cmd),
    args: [...conn.args, ...args],
    env: { ...conn.env, PGDATABASE: database },
    what,
    secrets: conn.secrets,
  });
  const psql = (sql: string, what: string, vars: Record<string, string> = {}) =>
    runText(
      spec("psql", [
        "-X",
        "-q",
        "-At",
        "-v",
        "ON_ERROR_STOP=1",
        ...Object.entries(vars).flatMap(([k, v]) => ["-v", `${k}=${v}`]),
      ], what),
      sql, // on stdin: psql interpolates :'variables' there, not in -c
    );

  return {
    kind: "source",
    name: "postgres",
    apiVersion: API_VERSION,
    paths: ["/postgres"],
    async *scan(ctx: ScanContext): AsyncGenerator<SourceEntry> {
      const server = (await psql("SHOW server_version", "reading the server version")).trim();
      const toolVersion = (await runText({ cmd: tool("pg_dump"), args: ["--version"], what: "pg_dump" }))
        .trim();
      let databases = conn.databases ?? (await psql(
        "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname",
        "listing the databases",
      )).split("\n").filter(Boolean);
      databases = databases.filter((db) => {
        const problem = nameProblem(db) ??
          (format === "plain" && options.globals !== false && db === "globals"
            ? "collides with globals.sql"
            : null);
        if (problem) ctx.warn({ path: "/postgres", message: `database '${db}' ${problem}; skipped` });
        return !problem;
      });
      const ext = format === "plain" ? ".sql" : ".dump";
      const now = Date.now();
      yield { path: "/postgres", type: "dir", size: 0, mtime: now, mode: 0o700 };
      const meta = new TextEncoder().encode(
        JSON.stringify(
          { format: 1, tool: "pg_dump", toolVersion, server, databases, dumpFormat: format },
          null,
          2,
        ) + "\n",
      );
      type Item = { name: string; db: string | null; kind: "meta" | "globals" | "db" };
      const items: Item[] = [
        ...databases.map((db): Item => ({ name: db + ext, db, kind: "db" })),
        { name: "_meta.json", db: null, kind: "meta" },
        ...(options.globals === false ? [] : [{ name: "globals.sql", db: null, kind: "globals" } as Item]),
      ];
      items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const item of items) {
        ctx.signal?.throwIfAborted();
        const path = `/postgres/${item.name}`;
        if (item.kind === "meta") {
          yield bytesEntry(path, meta, now);
          continue;
        }
        const dumpSpec: ChildSpec = item.kind === "globals"
          ? {
            ...spec("pg_dumpall", ["--globals-only", "-l", maintenance], "pg_dumpall --globals-only"),
            checkEnd: (tail) =>
              tail.includes(GLOBALS_COMPLETE) ? null : "the dump ended before its last line",
          }
          : {
            ...spec(
              "pg_dump",
              format === "plain" ? ["-Fp"] : ["-Fc", "-Z0"],
              `pg_dump of ${item.db}`,
              item.db!,
            ),
            checkEnd: format === "plain"
              ? (tail) => tail.includes(PLAIN_COMPLETE) ? null : "the dump ended before its last line"
              : undefined,
            stdoutBuffer: "1M", // pg_dump writes through a 4 KiB stdio buffer too (see ChildSpec)
          };
        const dump = streamed(dumpSpec, { path, mtime: Date.now() });
        yield dump.entry;
        await dump.finished(ctx.signal);
      }
    },
    async restore(entries: AsyncIterable<RestoreEntry>, ctx: ScanContext): Promise<void> {
      const wanted = conn.databases ? new Set(conn.databases) : null;
      for await (const e of entries) {
        ctx.signal?.throwIfAborted();
        const name = e.path.split("/").pop() ?? "";
        if (e.type !== "file" || !e.open) continue;
        if (name === "globals.sql") {
          if (options.globals !== true) continue;
          await feed(
            spec("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1"], "restoring globals.sql"),
            e.open(),
          );
          continue;
        }
        const plain = name.endsWith(".sql");
        if (!plain && !name.endsWith(".dump")) continue;
        const db = name.slice(0, name.lastIndexOf("."));
        if (wanted && !wanted.has(db)) continue;
        const target = options.rename?.[db] ?? db;
        if (nameProblem(target)) throw new Error(`postgres restore: '${target}' is not a database name`);
        const exists = await psql(
          "SELECT 1 FROM pg_database WHERE datname = :'name'",
          `looking for ${target}`,
          {
            name: target,
          },
        );
        if (!exists.trim()) {
          await runText(
            spec(
              "createdb",
              ["-T", "template0", "--maintenance-db", maintenance, target],
              `createdb ${target}`,
            ),
          );
        }
        const what = `restoring ${db} into ${target}`;
        await feed(
          plain
            ? spec("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1"], what, target)
            // pg_restore needs -d to restore into a database (else it prints SQL): a quoted conninfo.
            : spec(
              "pg_restore",
              [
                "--exit-on-error",
                ...(options.clean ? ["--clean", "--if-exists"] : []),
                "-d",
                `dbname='${target.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`,
              ],
              what,
              target,
            ),
          e.open(),
        );
      }
    },
  };
}
