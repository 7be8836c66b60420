/**
 * The `floe` command line. Global options (`--repo`, `--password-file`, `--json`, `-q`, `-v`) stand
 * before or after the command; each command's module is imported only when it runs.
 *
 * Exit codes: 0 ok, 1 failure, 2 usage, 3 snapshot made but some entries unreadable, 10 no repository,
 * 11 repository busy, 12 wrong password.
 *
 * @example
 * ```sh
 * deno task floe backup ~/Documents --tag daily
 * ```
 * @module
 */
import { Command, CommanderError } from "commander";
import { Context, parseGlobals } from "./context.ts";
import { ExitCode, FloeError } from "../core/errors.ts";
import { errorLine } from "./remote.ts";

const collect = (v: string, prev: string[] = []) => [...prev, v];

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
    .version("0.1.0")
    .exitOverride()
    .configureOutput({ writeErr: () => {}, outputError: () => {} })
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
  --json                   machine-readable output
  -q, --quiet / -v, --verbose

Exit codes: 0 ok, 1 failure, 2 usage, 3 snapshot made but some entries unreadable,
            10 no repository, 11 repository busy, 12 wrong password`,
    );

  p.command("init").description("create a repository")
    .option("--compression <level>", "off|fastest|default|max", "default")
    .option("--cipher <name>", "chacha20-poly1305 (default, faster here) or aes-256-gcm", "chacha20-poly1305")
    .option("--kdf <name>", "scrypt|argon2id", "scrypt")
    .action(lazy(() => import("./commands/init.ts"), ctx));

  p.command("backup").description("back up files and directories").argument("<path...>")
    .option("--tag <tag>", "tag the snapshot (repeatable)", collect)
    .option("--host <name>", "host name to record")
    .option("--time <date>", "snapshot time (ISO 8601)")
    .option("--parent <id>", "parent snapshot for change detection")
    .option("--force", "read every file again")
    .option("-e, --exclude <glob>", "exclude paths (repeatable)", collect)
    .option("--exclude-file <file>", "read exclude patterns from a file (repeatable)", collect)
    .option("--exclude-if-present <name>", "exclude directories containing this file (repeatable)", collect)
    .option("-x, --one-file-system", "do not cross file system boundaries")
    .option("--exclude-nodump", "exclude files and directories with the nodump flag (chattr +d)")
    .option("--no-xattrs", "do not record extended attributes and ACLs")
    .option("--xattr-include <glob>", "record only matching attribute names (repeatable)", collect)
    .option("--xattr-exclude <glob>", "do not record matching attribute names (repeatable)", collect)
    .option("--compression <level>", "off|fastest|default|max")
    .action(lazy(() => import("./commands/backup.ts"), ctx));

  p.command("snapshots").description("list snapshots")
    .option("--host <name>").option("--path <path>", "", collect).option("--tag <tag>", "", collect)
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
    .requiredOption("-t, --target <dir>", "target directory")
    .option("--as-of <date>", "newest snapshot taken at or before this date")
    .option("-i, --include <glob>", "restore only matching paths (repeatable)", collect)
    .option("-e, --exclude <glob>", "leave out matching paths (repeatable)", collect)
    .option("--overwrite <mode>", "always|if-changed|never", "always")
    .option("--no-xattrs", "do not restore extended attributes and ACLs")
    .option("--xattr-include <glob>", "restore only matching attribute names (repeatable)", collect)
    .option("--xattr-exclude <glob>", "do not restore matching attribute names (repeatable)", collect)
    .option("--host <name>").option("--path <path>", "", collect).option("--tag <tag>", "", collect)
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
    .option("-s, --snapshot <id>", "only this snapshot (repeatable)", collect).option("-i, --ignore-case")
    .option("--host <name>").option("--path <path>", "", collect).option("--tag <tag>", "", collect)
    .action(lazy(() => import("./commands/find.ts"), ctx));

  p.command("stats").description("sizes, deduplication and compression figures").argument("[snapshots...]")
    .option("--mode <mode>", "all|restore-size|files-by-contents|raw", "all")
    .option("--host <name>").option("--path <path>", "", collect).option("--tag <tag>", "", collect)
    .action(lazy(() => import("./commands/stats.ts"), ctx));

  p.command("cat").description("print a repository object").argument("<type>", "config|index|snapshot|key")
    .argument("[id]")
    .action(lazy(() => import("./commands/cat.ts"), ctx));

  const key = p.command("key").description("manage passwords");
  key.command("list").action(lazy(() => import("./commands/key.ts").then((m) => ({ default: m.list })), ctx));
  key.command("add").option("--new-password-file <file>").option("--kdf <name>", "scrypt|argon2id", "scrypt")
    .action(lazy(() => import("./commands/key.ts").then((m) => ({ default: m.add })), ctx));
  key.command("remove").argument("<id>")
    .action(lazy(() => import("./commands/key.ts").then((m) => ({ default: m.remove })), ctx));
  key.command("passwd").option("--new-password-file <file>")
    .action(lazy(() => import("./commands/key.ts").then((m) => ({ default: m.passwd })), ctx));

  p.command("unlock").description("remove stale locks").option("--remove-all", "remove every lock")
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
    .option("--keep-last <n>").option("--keep-hourly <n>").option("--keep-daily <n>")
    .option("--keep-weekly <n>").option("--keep-monthly <n>").option("--keep-yearly <n>")
    .option("--keep-within <duration>").option("--keep-tag <tags>", "", collect)
    .option("--remove-older-than <days>").option("--remove-from-date <date>")
    .option("--group-by <fields>", "host,paths,tags", "host,paths")
    .option("--host <name>").option("--path <path>", "", collect).option("--tag <tag>", "", collect)
    .option("--unsafe-allow-remove-all").option("-n, --dry-run")
    .option("--prune", "prune after forgetting").option("--max-unused <x%>", "with --prune (default 5%)")
    .argument("[ids...]")
    .action(lazy(() => import("./commands/forget.ts"), ctx));

  p.command("prune").description("delete data no snapshot needs; repack mostly-unused packs")
    .option("--max-unused <x%>", "unused space tolerated before repacking (or 'unlimited')", "5%")
    .option("-n, --dry-run", "only report what would be done")
    .action(lazy(() => import("./commands/prune.ts"), ctx));
  return p;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let globals;
  let rest: string[];
  try {
    ({ globals, rest } = parseGlobals(argv));
  } catch (e) {
    console.error(`floe: ${(e as Error).message}`);
    return ExitCode.Usage;
  }
  const ctx = new Context(globals);
  try {
    await program(ctx).parseAsync(rest, { from: "user" });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0) {
        return 0;
      }
      if (e.code === "commander.help") return 0;
      console.error(`floe: ${e.message.replace(/^error: /, "")} (see 'floe --help')`);
      return ExitCode.Usage;
    }
    const err = e as Error & { exitCode?: number; code?: string };
    const exit = e instanceof FloeError ? e.exitCode : ExitCode.Failure;
    console.error(`floe: ${errorLine(e, ctx.openedLocations)}`);
    if (globals.verbose && err?.stack) console.error(err.stack);
    return exit;
  }
}

if (import.meta.main) {
  const code = await main(Deno.args);
  Deno.exit(code);
}
