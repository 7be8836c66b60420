/**
 * The `floe` command line. Global options (`--repo`, `--password-file`, `--json`, `-q`, `-v`) stand
 * before or after the command; each command's module is imported only when it runs.
 *
 * Exit codes: 0 ok, 1 failure, 2 usage, 3 snapshot made but some entries unreadable, 10 no repository,
 * 11 repository busy, 12 wrong password.
 *
 * Relative paths are read from the caller's directory, also under `deno task` (see ./cwd.ts). No line
 * floe prints shows a secret it knows (see ./redact.ts), also not the `-v` stack. When the reader of
 * stdout goes away (`floe snapshots | head -1`), floe says nothing about it: the command still finishes
 * its work and the exit code is the one it would have had (0 for a listing), so a pipeline does not
 * fail because its reader had enough; only `dump` stops writing then.
 *
 * @example
 * ```sh
 * deno task floe backup ~/Documents --tag daily
 * ```
 * @module
 */
import "../plugins/mod.ts"; // the CLI runs with the built-in plugins
import { Command, CommanderError } from "commander";
import { loadUserPlugin, maskLocation } from "../mod.ts";
import { Context, parseGlobals } from "./context.ts";
import { ExitCode, exitCodeOf } from "../jobs/exit_codes.ts";
import { errorLine } from "./remote.ts";
import { isBrokenPipe, writeErr, writeOut } from "./output.ts";
import { callerCwd } from "./cwd.ts";

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** floe's version. */
export const VERSION = "0.1.0";

type Handler = (ctx: Context, args: string[], opts: Record<string, unknown>) => Promise<void>;

function lazy(load: () => Promise<{ default: Handler }>, ctx: Context) {
  return async (...all: unknown[]) => {
    const cmd = all[all.length - 1] as Command;
    const opts = cmd.opts();
    const args = cmd.args;
    const { default: run } = await load();
    await run(ctx, args, opts);
  };
}

/** Builds the command tree for one run. */
export function program(ctx: Context): Command {
  const p = new Command("floe")
    .description("floe — fast, safe, encrypted, deduplicating backups")
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut, writeErr: () => {}, outputError: () => {} })
    .addHelpText(
      "after",
      `
Global options (before or after the command):
  -r, --repo LOCATION      repository (or FLOE_REPOSITORY); default: the embedded local repository.
                           Path, s3:http(s)://host/bucket/prefix, s3:bucket/prefix, swift:container:/prefix,
                           sftp://user@host[:port]//abs/path. Given several times (or FLOE_REPOSITORY
                           "LOC1 , LOC2"): a mirror, written to all, read from the first that answers
  --limit-upload RATE      upload bandwidth per storage, e.g. 512K, 10M, 1G (alias --upload-limit)
  --limit-download RATE    download bandwidth per storage (alias --download-limit)
  --connections N          at most N requests in flight per storage
  -p, --password-file F    password file (or FLOE_PASSWORD_FILE, FLOE_PASSWORD)
  --catalog FILE           the local catalog (default: ~/.cache/floe/<repository id>/catalog.db)
  --plugin SPEC            load a plugin (path, file:, npm:, jsr:) before the command; repeatable (or
                           FLOE_PLUGINS, comma-separated). A storage plugin adds its location scheme.
  --json                   machine-readable output
  -q, --quiet              print nothing but warnings and errors
  -v, --verbose            more detail, and stack traces on errors

Examples:
  floe init
  floe backup ~/Documents --tag daily
  floe snapshots
  floe restore latest --target /tmp/restore
  floe --repo s3:https://s3.example.com/bucket/host1 check --read-data-subset 5%

Exit codes: 0 ok, 1 failure, 2 usage, 3 snapshot made but some entries unreadable,
            10 no repository, 11 repository busy, 12 wrong password`,
    );

  p.command("version").description("print floe's version")
    .action(() => writeOut(`floe ${VERSION}\n`));

  p.command("init").description("create a repository")
    .option("--compression <level>", "off|fastest|default|max", "default")
    .option("--cipher <name>", "chacha20-poly1305 (default, faster here) or aes-256-gcm", "chacha20-poly1305")
    .option("--kdf <name>", "argon2id|scrypt", "argon2id")
    .addHelpText(
      "after",
      "\nExamples:\n  floe --repo /srv/backup init\n  floe --repo s3:bucket/host1 init --compression max",
    )
    .action(lazy(() => import("./commands/init.ts"), ctx));

  p.command("backup").description("back up files and directories (or what another source reads)")
    .argument("[arg...]", "paths for the fs source; for another source, its arguments")
    .option("--source <spec>", "the source: fs (default), mysql, postgres, command, or a plugin path", "fs")
    .option("--source-option <key=value>", "an option of the source (repeatable)", collect)
    .option("--tag <tag>", "tag the snapshot (repeatable)", collect)
    .option("--host <name>", "host name to record")
    .option("--time <date>", "snapshot time (ISO 8601)")
    .option("--parent <id>", "parent snapshot for change detection")
    .option("--force", "read every file again")
    .option("--stdin", "back up standard input as one file (no paths with it)")
    .option("--stdin-filename <name>", "with --stdin: the file's name in the snapshot (default: stdin)")
    .option("--hook-before <cmd>", "run CMD (sh -c) first; if it fails: no backup, exit 1")
    .option("--hook-after <cmd>", "run CMD after the snapshot is saved; if it fails: exit 1, snapshot kept")
    .option("--hook-on-failure <cmd>", "run CMD when the backup or a hook failed")
    .option("--hook-finally <cmd>", "run CMD at the end, whatever happened")
    .option("--hook-timeout <duration>", "stop a hook that runs longer (e.g. 30s, 5m)")
    .option("-e, --exclude <glob>", "exclude paths (repeatable)", collect)
    .option("--exclude-file <file>", "read exclude patterns from a file (repeatable)", collect)
    .option("--exclude-if-present <name>", "exclude directories containing this file (repeatable)", collect)
    .option("-x, --one-file-system", "do not cross file system boundaries")
    .option("--exclude-nodump", "exclude files and directories with the nodump flag (chattr +d)")
    .option("--no-xattrs", "do not record extended attributes and ACLs")
    .option("--xattr-include <glob>", "record only matching attribute names (repeatable)", collect)
    .option("--xattr-exclude <glob>", "do not record matching attribute names (repeatable)", collect)
    .option("--compression <level>", "off|fastest|default|max")
    .option("--fs-snapshot <kind>", "back up from a read-only snapshot of the paths (btrfs), deleted after")
    .option(
      "--fs-snapshot-lock <url>",
      "hold FLUSH TABLES WITH READ LOCK on mysql://user@host:port while the snapshots are taken",
    )
    .option(
      "--fs-snapshot-lock-option <key=value>",
      "password-file=F for --fs-snapshot-lock (repeatable)",
      collect,
    )
    .option("--fs-snapshot-lock-timeout <duration>", "fail when the lock is not had in time (default 60s)")
    .addHelpText(
      "after",
      "\nExamples:\n  floe backup /etc /home --tag nightly --exclude '*.tmp'\n" +
        "  floe backup --source ./examples/plugins/sqlite_source.ts /var/lib/app/app.db\n" +
        "  pg_dump -Fc shop | floe backup --stdin --stdin-filename shop.dump\n" +
        "  floe backup --source mysql mysql://backup@127.0.0.1:3306 --hook-after 'touch /run/backup-ok'\n" +
        "  floe backup --fs-snapshot btrfs --fs-snapshot-lock 'mysql://backup@localhost?socket=/run/mysqld/mysqld.sock' \\\n" +
        "    --fs-snapshot-lock-option password-file=/etc/floe/mysql.pw /var/lib/mysql",
    )
    .action(lazy(() => import("./commands/backup.ts"), ctx));

  p.command("snapshots").description("list snapshots")
    .option("--host <name>", "only snapshots of this host")
    .option("--path <path>", "only snapshots of exactly these paths (repeatable)", collect)
    .option("--tag <tag>", "only snapshots with all these tags (repeatable)", collect)
    .action(lazy(() => import("./commands/snapshots.ts"), ctx));

  p.command("ls").description("list files in a snapshot").argument("<snapshot>").argument("[path]")
    .option("-l, --long", "long listing")
    .action(lazy(() => import("./commands/ls.ts"), ctx));

  p.command("dump").description("write a file (or a directory as tar) from a snapshot to stdout")
    .argument("<snapshot>").argument("<path>")
    .action(lazy(() => import("./commands/dump.ts"), ctx));

  p.command("restore").description("restore a snapshot").argument(
    "<snapshot>",
    "id, prefix or latest, [:PATH]",
  )
    .requiredOption(
      "-t, --target <dir>",
      "target directory, or the source's own kind of place (s3:…, swift:…, mysql://…, postgresql://…)",
    )
    .option("--as-of <date>", "newest snapshot taken at or before this date")
    .option("-i, --include <glob>", "restore only matching paths (repeatable)", collect)
    .option("-e, --exclude <glob>", "leave out matching paths (repeatable)", collect)
    .option("--overwrite <mode>", "always|if-changed|never", "always")
    .option(
      "--target-option <key=value>",
      "an option of the source restoring into its place (repeatable)",
      collect,
    )
    .option("--no-xattrs", "do not restore extended attributes and ACLs")
    .option("--xattr-include <glob>", "restore only matching attribute names (repeatable)", collect)
    .option("--xattr-exclude <glob>", "do not restore matching attribute names (repeatable)", collect)
    .option("--host <name>", "with latest: only snapshots of this host")
    .option("--path <path>", "with latest: only snapshots of these paths (repeatable)", collect)
    .option("--tag <tag>", "with latest: only snapshots with these tags (repeatable)", collect)
    .addHelpText(
      "after",
      "\nExamples:\n  floe restore latest --target /tmp/restore\n  floe restore latest:/etc --target /tmp/etc\n" +
        "  floe restore latest --target /tmp/r --as-of 2024-05-23T23:23:23",
    )
    .action(lazy(() => import("./commands/restore.ts"), ctx));

  p.command("check").description("verify the repository")
    .option("--read-data", "read and verify all data")
    .option("--read-data-subset <n/t|x%>", "read and verify a subset of the data")
    .action(lazy(() => import("./commands/check.ts"), ctx));

  const repair = p.command("repair").description("repair a damaged repository");
  repair.command("index").description("rebuild the index from the pack headers")
    .option("-n, --dry-run", "only report")
    .action(lazy(() => import("./commands/repair.ts").then((m) => ({ default: m.index })), ctx));
  repair.command("snapshots").description("write repaired copies of snapshots that reference lost data")
    .argument("[ids...]").option("--read-data", "read every referenced blob back")
    .option("--forget", "remove the damaged originals").option("-n, --dry-run", "only report")
    .action(lazy(() => import("./commands/repair.ts").then((m) => ({ default: m.snapshots })), ctx));

  p.command("diff").description("show what changed between two snapshots")
    .argument("<snapshot1>").argument("<snapshot2>").option(
      "--no-metadata",
      "leave out metadata-only changes",
    )
    .action(lazy(() => import("./commands/diff.ts"), ctx));

  p.command("find").description("find files matching patterns across snapshots").argument("<pattern...>")
    .option("-s, --snapshot <id>", "only this snapshot (repeatable)", collect)
    .option("-i, --ignore-case", "match names without regard to case")
    .option("--host <name>", "only snapshots of this host")
    .option("--path <path>", "only snapshots of these paths (repeatable)", collect)
    .option("--tag <tag>", "only snapshots with these tags (repeatable)", collect)
    .action(lazy(() => import("./commands/find.ts"), ctx));

  p.command("stats").description("sizes, deduplication and compression figures").argument("[snapshots...]")
    .option("--mode <mode>", "all|restore-size|files-by-contents|raw", "all")
    .option("--host <name>", "only snapshots of this host")
    .option("--path <path>", "only snapshots of these paths (repeatable)", collect)
    .option("--tag <tag>", "only snapshots with these tags (repeatable)", collect)
    .action(lazy(() => import("./commands/stats.ts"), ctx));

  p.command("cat").description("print a repository object").argument("<type>", "config|index|snapshot|key")
    .argument("[id]")
    .action(lazy(() => import("./commands/cat.ts"), ctx));

  const key = p.command("key").description("manage passwords")
    .action(() => {
      writeErr(key.helpInformation());
      throw new CommanderError(2, "floe.subcommand", "key needs a subcommand: list, add, remove or passwd");
    });
  key.command("list").description("list the key files").action(
    lazy(() => import("./commands/key.ts").then((m) => ({ default: m.list })), ctx),
  );
  key.command("add").description("add a key for another password")
    .option("--new-password-file <file>", "the new password (or FLOE_NEW_PASSWORD; a prompt on a terminal)")
    .option("--kdf <name>", "argon2id|scrypt", "argon2id")
    .action(lazy(() => import("./commands/key.ts").then((m) => ({ default: m.add })), ctx));
  key.command("remove").description("remove a key (not the one in use)").argument("<id>", "key id or prefix")
    .action(lazy(() => import("./commands/key.ts").then((m) => ({ default: m.remove })), ctx));
  key.command("passwd").description("change the password: a new key, the current one removed")
    .option("--new-password-file <file>", "the new password (or FLOE_NEW_PASSWORD; a prompt on a terminal)")
    .action(lazy(() => import("./commands/key.ts").then((m) => ({ default: m.passwd })), ctx));

  p.command("unlock").description("remove stale locks").option(
    "--remove-all",
    "remove every lock, live ones too",
  )
    .action(lazy(() => import("./commands/unlock.ts"), ctx));

  const mirror = p.command("mirror").description(
    "repositories kept on several storages (--repo given twice or more)",
  );
  mirror.command("sync").description("copy what some storages of the mirror lack from the others")
    .action(lazy(() => import("./commands/mirror.ts").then((m) => ({ default: m.sync })), ctx));

  const cat = p.command("catalog").description("manage the local catalog");
  cat.command("rebuild").description("rebuild the catalog from the repository")
    .action(lazy(() => import("./commands/catalog.ts"), ctx));

  p.command("forget").description("remove snapshots by policy")
    .option("--keep-last <n>", "keep the newest N snapshots (-1: all)")
    .option("--keep-hourly <n>", "keep the newest snapshot of each of the last N hours")
    .option("--keep-daily <n>", "keep the newest snapshot of each of the last N days")
    .option("--keep-weekly <n>", "keep the newest snapshot of each of the last N weeks")
    .option("--keep-monthly <n>", "keep the newest snapshot of each of the last N months")
    .option("--keep-yearly <n>", "keep the newest snapshot of each of the last N years")
    .option("--keep-within <duration>", "keep snapshots newer than the newest minus this (e.g. 1y2m3d4h)")
    .option("--keep-tag <tags>", "keep snapshots with these tags (repeatable; t1,t2 = both)", collect)
    .option("--remove-older-than <days>", "remove snapshots older than this many days (Freezer)")
    .option("--remove-from-date <date>", "remove snapshots taken before this date (Freezer)")
    .option("--group-by <fields>", "host,paths,tags", "host,paths")
    .option("--host <name>", "only snapshots of this host")
    .option("--path <path>", "only snapshots of these paths (repeatable)", collect)
    .option("--tag <tag>", "only snapshots with these tags (repeatable)", collect)
    .option("--unsafe-allow-remove-all", "allow a group to lose every snapshot")
    .option("-n, --dry-run", "only report what would be removed")
    .option("--prune", "prune after forgetting").option("--max-unused <x%>", "with --prune (default 5%)")
    .argument("[ids...]")
    .action(lazy(() => import("./commands/forget.ts"), ctx));

  p.command("prune").description("delete data no snapshot needs; repack mostly-unused packs")
    .option("--max-unused <x%>", "unused space tolerated before repacking (or 'unlimited')", "5%")
    .option("-n, --dry-run", "only report what would be done")
    .action(lazy(() => import("./commands/prune.ts"), ctx));

  p.command("serve").description("the HTTP control API, the scheduler and the web UI (see README: Server)")
    .option("--config <file>", "config file (default: $XDG_CONFIG_HOME/floe/floe.toml)")
    .option("--listen <host:port>", "overrides [server] listen")
    .option("--insecure", "allow plain HTTP beyond loopback")
    .option("--grace <duration>", "how long running runs may finish on SIGTERM", "30s")
    .action(lazy(() => import("./commands/serve.ts"), ctx));
  p.command("run").description("run one job of the config in the foreground").argument("<job>")
    .option("--config <file>", "config file")
    .action(lazy(() => import("./commands/run.ts"), ctx));
  const jobs = p.command("jobs").description("list the config's jobs and their next run")
    .option("--config <file>", "config file")
    .action(lazy(() => import("./commands/jobs.ts"), ctx));
  jobs.command("import").description("convert an OpenStack Freezer job document into config TOML")
    .requiredOption("--freezer <file>", "Freezer job JSON")
    .action(lazy(() => import("./commands/jobs.ts").then((m) => ({ default: m.importJobs })), ctx));
  return p;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let globals;
  let rest: string[];
  try {
    ({ globals, rest } = parseGlobals(argv));
  } catch (e) {
    writeErr(`floe: ${(e as Error).message}\n`);
    return ExitCode.Usage;
  }
  const ctx = new Context(globals);
  // The first SIGINT or SIGTERM cancels the command cleanly (no partial snapshot, locks released,
  // temporary files removed); a second SIGINT ends the process at once.
  let interrupted = false;
  const onSignal = (name: "SIGINT" | "SIGTERM") => () => {
    if (interrupted && name === "SIGINT") Deno.exit(130);
    interrupted = true;
    ctx.cancel.abort(new DOMException(`interrupted (${name})`, "AbortError"));
  };
  const listeners = (["SIGINT", "SIGTERM"] as const).map((name) => [name, onSignal(name)] as const);
  for (const [name, fn] of listeners) Deno.addSignalListener(name, fn);
  try {
    await loadPlugins(globals.plugins ?? [], ctx);
    await program(ctx).parseAsync(rest, { from: "user" });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0) {
        return 0;
      }
      if (e.code === "commander.help") return 0;
      writeErr(`floe: ${e.message.replace(/^error: /, "")} (see 'floe --help')\n`);
      return ExitCode.Usage;
    }
    if (isBrokenPipe(e)) return ctx.exitCode; // the reader of the output had enough: not an error
    const err = e as Error & { exitCode?: number; code?: string };
    const exit = exitCodeOf(e);
    writeErr(`floe: ${errorLine(e, ctx.openedLocations)}\n`);
    // The stack's first line repeats the raw message: the location in it is masked like the line above.
    if (globals.verbose && err?.stack) writeErr(`${maskLocation(err.stack)}\n`);
    return exit;
  } finally {
    for (const [name, fn] of listeners) Deno.removeSignalListener(name, fn);
  }
}

/**
 * Loads the plugins named by `--plugin` and `FLOE_PLUGINS` (specs separated by commas): storages by the
 * schemes they claim, sources by name, transforms by id (so a repository using one can be opened).
 */
async function loadPlugins(specs: string[], ctx: Context): Promise<void> {
  const fromEnv = (Deno.env.get("FLOE_PLUGINS") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  for (const spec of [...fromEnv, ...specs]) {
    const p = await loadUserPlugin(spec);
    if (ctx.globals.verbose) {
      ctx.info(
        `loaded ${p.kind} plugin ${p.name}${
          p.schemes.length ? ` (${p.schemes.map((s) => `${s}:`).join(", ")})` : ""
        }`,
      );
    }
  }
}

if (import.meta.main) {
  Deno.chdir(callerCwd());
  const code = await main(Deno.args);
  Deno.exit(code);
}
