/**
 * What every command gets: global options, output helpers, and how to open the repository —
 * including the embedded default (a local repository under the user's data directory, its random key
 * under the user's config directory) used when no repository is configured.
 *
 * @example
 * ```ts
 * import { parseGlobals } from "./context.ts";
 * const { globals, rest } = parseGlobals(["--json", "snapshots"]);
 * ```
 * @module
 */
import {
  defaultRepositoryPaths,
  Engine,
  FloeError,
  openDefaultRepository,
  type OpenOptions,
  openStorage,
  readDefaultKey,
  type StorageOpenOptions,
  type StoragePlugin,
} from "../mod.ts";
import { splitLocations, storageBounds } from "./remote.ts";
import { passwordsInUrl, rememberSecret } from "./redact.ts";
import { writeErr, writeOut } from "./output.ts";
import { ProgressView } from "./progress.ts";

/** Options valid before or after the command. */
export interface Globals {
  /** Repository location (the first `--repo`). */
  repo?: string;
  /** Every `--repo` given, in order: several make a mirror. */
  repos?: string[];
  /** `--limit-upload` (alias `--upload-limit`), e.g. `10M`. */
  limitUpload?: string;
  /** `--limit-download` (alias `--download-limit`). */
  limitDownload?: string;
  /** `--connections`. */
  connections?: string;
  /** File holding the password. */
  passwordFile?: string;
  /** Catalog path. */
  catalog?: string;
  /** Plugin modules to load before the command (`--plugin`, repeatable; also `FLOE_PLUGINS`). */
  plugins?: string[];
  /** Machine-readable output. */
  json: boolean;
  /** Less output. */
  quiet: boolean;
  /** More output, stack traces. */
  verbose: boolean;
}

const VALUE_OPTS: Record<string, keyof Globals> = {
  "--repo": "repo",
  "-r": "repo",
  "--password-file": "passwordFile",
  "-p": "passwordFile",
  "--catalog": "catalog",
  "--limit-upload": "limitUpload",
  "--upload-limit": "limitUpload",
  "--limit-download": "limitDownload",
  "--download-limit": "limitDownload",
  "--connections": "connections",
  "--plugin": "plugins",
};
const FLAG_OPTS: Record<string, keyof Globals> = {
  "--json": "json",
  "-q": "quiet",
  "--quiet": "quiet",
  "-v": "verbose",
  "--verbose": "verbose",
};

/** Takes the global options out of argv, wherever they stand (up to a `--`). */
export function parseGlobals(argv: string[]): { globals: Globals; rest: string[] } {
  const globals: Globals = { json: false, quiet: false, verbose: false };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    const eq = a.indexOf("=");
    const head = a.startsWith("--") && eq > 0 ? a.slice(0, eq) : a;
    if (head in VALUE_OPTS) {
      const value = eq > 0 && a.startsWith("--") ? a.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new FloeError(`option ${head} needs a value`, "usage");
      if (VALUE_OPTS[head] === "plugins") (globals.plugins ??= []).push(value);
      else (globals as unknown as Record<string, unknown>)[VALUE_OPTS[head]] = value;
      if (VALUE_OPTS[head] === "repo") (globals.repos ??= []).push(value);
    } else if (a in FLAG_OPTS) {
      (globals as unknown as Record<string, unknown>)[FLAG_OPTS[a]] = true;
    } else {
      rest.push(a);
    }
  }
  if (globals.repos?.length) globals.repo = globals.repos[0];
  storageBounds(globals); // bad --limit-*/--connections values are usage errors before anything runs
  return { globals, rest };
}

async function promptSecret(message: string): Promise<string> {
  const enc = new TextEncoder();
  Deno.stderr.writeSync(enc.encode(message));
  Deno.stdin.setRaw(true);
  const chars: number[] = [];
  const buf = new Uint8Array(1);
  try {
    while (true) {
      const n = await Deno.stdin.read(buf);
      if (n === null || buf[0] === 13 || buf[0] === 10) break;
      if (buf[0] === 3) throw new FloeError("interrupted", "failed");
      if (buf[0] === 127 || buf[0] === 8) chars.pop();
      else chars.push(buf[0]);
    }
  } finally {
    Deno.stdin.setRaw(false);
    Deno.stderr.writeSync(enc.encode("\n"));
  }
  const secret = new TextDecoder().decode(new Uint8Array(chars));
  rememberSecret(secret);
  return secret;
}

/**
 * Reads a password from a file (one trailing newline dropped) and remembers it as a secret, so no
 * message or stack shows it.
 *
 * @example
 * ```ts
 * import { readPasswordFile } from "./context.ts";
 * const password = readPasswordFile("/etc/floe/password");
 * ```
 */
export function readPasswordFile(path: string): string {
  let secret: string;
  try {
    secret = Deno.readTextFileSync(path).replace(/\r?\n$/, "");
  } catch (e) {
    throw new FloeError(`cannot read password file ${path}: ${(e as Error).message}`, "failed");
  }
  rememberSecret(secret);
  return secret;
}

/** The per-run context of a command. */
export class Context {
  /** Global options. */
  readonly globals: Globals;
  /** Set when a command wants a non-zero exit without an error. */
  exitCode = 0;
  /** Locations of the storages opened (the whole, then a mirror's members), for error messages. */
  readonly openedLocations: string[] = [];

  /** Build one. */
  constructor(globals: Globals) {
    this.globals = globals;
  }

  /** A line to stdout. */
  out(line: string): void {
    writeOut(line + "\n");
  }

  /** A JSON value on one stdout line. */
  json(value: unknown): void {
    this.out(JSON.stringify(value));
  }

  /** A line to stderr (suppressed by -q unless `always`). */
  info(line: string, always = false): void {
    if (!this.globals.quiet || always) writeErr(line + "\n");
  }

  /** Renders the engine's events (see cli/progress.ts). */
  get onEvent(): ProgressView["onEvent"] {
    this.#view ??= new ProgressView({
      err: writeErr,
      out: (line) => this.out(line),
      tty: Deno.stderr.isTerminal(),
      json: this.globals.json,
      quiet: this.globals.quiet,
      verbose: this.globals.verbose,
      columns: Deno.stderr.isTerminal() ? Deno.consoleSize().columns : 100,
    });
    return this.#view.onEvent;
  }
  #view?: ProgressView;

  /** Aborted by SIGINT or SIGTERM (see main.ts): long commands pass it to the engine and stop cleanly. */
  readonly cancel: AbortController = new AbortController();

  /** The signal of {@link cancel}. */
  get signal(): AbortSignal {
    return this.cancel.signal;
  }

  /** The repository location: --repo, FLOE_REPOSITORY, else the embedded default. */
  location(): { location: string; isDefault: boolean } {
    const { locations, isDefault } = this.locations();
    return { location: locations.length > 1 ? `mirror(${locations.join(", ")})` : locations[0], isDefault };
  }

  /**
   * Every repository location: each `--repo` (several make a mirror), else FLOE_REPOSITORY (several
   * separated by ` , `), else the embedded default.
   */
  locations(): { locations: string[]; isDefault: boolean } {
    const { repos, repo } = this.globals;
    const given = repos?.length
      ? [...repos]
      : repo
      ? [repo]
      : splitLocations(Deno.env.get("FLOE_REPOSITORY") ?? "");
    // A password written into a location must not come back in a message that quotes it.
    for (const l of given) passwordsInUrl(l).forEach(rememberSecret);
    if (given.length) return { locations: given, isDefault: false };
    return { locations: [defaultRepositoryPaths().repository], isDefault: true };
  }

  /** Connection and bandwidth bounds from the global options. */
  storageOptions(): StorageOpenOptions {
    const options = storageBounds(this.globals);
    if (this.globals.verbose) {
      options.retry = {
        onRetry: ({ operation, attempt, delayMs, error }) =>
          this.info(
            `retrying ${operation} (attempt ${attempt + 1} in ${delayMs} ms): ${(error as Error)?.message}`,
          ),
      };
    }
    return options;
  }

  /** Builds the repository's storage (a mirror for several locations) with the global bounds. */
  async storage(): Promise<StoragePlugin> {
    const { locations } = this.locations();
    this.openedLocations.push(...locations);
    const storage = await openStorage(locations, this.storageOptions());
    this.openedLocations.unshift(storage.location, ...(storage.members ?? []).map((s) => s.location));
    return storage;
  }

  /** The password: FLOE_PASSWORD, --password-file / FLOE_PASSWORD_FILE, the default key, or a prompt. */
  async password(isDefault: boolean, prompt = "enter password for repository: "): Promise<string> {
    const env = Deno.env.get("FLOE_PASSWORD");
    if (env !== undefined && env !== "") {
      rememberSecret(env);
      return env;
    }
    const file = this.globals.passwordFile ?? Deno.env.get("FLOE_PASSWORD_FILE");
    if (file) return readPasswordFile(file);
    if (isDefault) {
      try {
        return readPasswordFile(defaultRepositoryPaths().key);
      } catch { /* fall through to a prompt */ }
    }
    if (Deno.stdin.isTerminal()) return await promptSecret(prompt);
    throw new FloeError(
      "no password: set FLOE_PASSWORD or FLOE_PASSWORD_FILE, pass --password-file, or run on a terminal",
      "usage",
    );
  }

  /** Opens the repository (exit 10 when there is none). */
  async open(more: Pick<OpenOptions, "readAheadFor"> = {}): Promise<Engine> {
    const { isDefault } = this.location();
    const password = await this.password(isDefault);
    const storage = await this.storage();
    try {
      return await Engine.open({
        ...more,
        storage,
        password,
        catalogPath: this.globals.catalog,
        onEvent: this.onEvent,
      });
    } catch (e) {
      await storage.close?.().catch(() => {});
      throw e;
    }
  }

  /**
   * Opens the repository, creating the embedded default on first use when nothing is configured and no
   * terminal is attached (the README's one-command start).
   */
  async openOrCreateDefault(more: Pick<OpenOptions, "readAheadFor"> = {}): Promise<Engine> {
    const { location, isDefault } = this.location();
    const hasPassword = !!(Deno.env.get("FLOE_PASSWORD") || this.globals.passwordFile ||
      Deno.env.get("FLOE_PASSWORD_FILE"));
    if (!isDefault || hasPassword) return await this.open(more);
    const known = readDefaultKey();
    if (known !== null) rememberSecret(known);
    this.openedLocations.push(location);
    const { engine, created, keyPath } = await openDefaultRepository({
      ...more,
      create: true,
      catalogPath: this.globals.catalog,
      onEvent: this.onEvent,
    });
    if (created) {
      rememberSecret(readDefaultKey() ?? "");
      this.info(`created repository ${location}`, true);
      this.info(
        `its key is in ${keyPath} (mode 0600): keep a copy somewhere safe — without it the backups`,
        true,
      );
      this.info(`cannot be read. Later commands find both without any option.`, true);
    }
    return engine;
  }
}
