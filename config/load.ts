/**
 * Reads floe's config file: TOML (smol-toml), then the schema (schema.ts). Every problem is a
 * {@link ConfigError} with a one-line message naming the file, the line and the key path:
 *
 * ```
 * floe.toml:14: jobs.home.schedule: "0 3 * *" is not a cron expression (5 or 6 fields) or "every <n><unit>"
 * ```
 *
 * The file is untrusted input: at most 1 MiB, UTF-8, and a `__proto__` key anywhere is refused.
 *
 * @example
 * ```ts
 * import { parseConfig } from "./load.ts";
 * const config = parseConfig('[repositories.main]\nlocation = "/srv/backup"\n', "floe.toml");
 * config.repositories.main.location; // ["/srv/backup"]
 * ```
 * @module
 */
import { parse, TomlError } from "smol-toml";
import type { z } from "zod";
import { locateKeys, positionOf } from "./_locate.ts";
import { type Config, configSchema } from "./schema.ts";

/** The largest config file read, in bytes. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** What went wrong, for programs. */
export type ConfigErrorCode =
  | "config-not-found"
  | "config-unreadable"
  | "config-too-large"
  | "config-syntax"
  | "config-invalid"
  | "config-no-home";

/** One problem of a config file. */
export interface ConfigProblem {
  /** Line, from 1, when known. */
  line?: number;
  /** Column, from 1, when known. */
  column?: number;
  /** The key path as written (`jobs.home.schedule`), when the problem has one. */
  key?: string;
  /** What is wrong, without file, line or key. */
  message: string;
}

/** A config file that cannot be used; `message` is one line. */
export class ConfigError extends Error {
  /** Which kind of problem. */
  readonly code: ConfigErrorCode;
  /** The file, as given. */
  readonly file: string;
  /** Line of the (first) problem, from 1. */
  readonly line?: number;
  /** Its column, from 1. */
  readonly column?: number;
  /** Its key path (`jobs.home.schedule`). */
  readonly key?: string;
  /** Every problem found, in file order; the message names the first. */
  readonly problems: ConfigProblem[];

  /** Build one from its problems (at least one). */
  constructor(
    code: ConfigErrorCode,
    file: string,
    problems: ConfigProblem[],
    options?: { cause?: unknown },
  ) {
    const [p] = problems;
    const where = p.line === undefined
      ? ""
      : p.column === undefined || p.key
      ? `:${p.line}`
      : `:${p.line}:${p.column}`;
    const more = problems.length > 1
      ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? "s" : ""})`
      : "";
    super(`${file}${where}: ${p.key ? `${p.key}: ` : ""}${p.message}${more}`, options);
    this.name = "ConfigError";
    this.code = code;
    this.file = file;
    this.line = p.line;
    this.column = p.column;
    this.key = p.key;
    this.problems = problems;
  }
}

/**
 * Where the config file is by default: `$XDG_CONFIG_HOME/floe/floe.toml` when `XDG_CONFIG_HOME` is an
 * absolute path, else `$HOME/.config/floe/floe.toml`.
 *
 * @example
 * ```ts
 * import { defaultConfigPath } from "./load.ts";
 * defaultConfigPath((k) => ({ HOME: "/home/ann" } as Record<string, string>)[k]);
 * // "/home/ann/.config/floe/floe.toml"
 * ```
 */
export function defaultConfigPath(
  getEnv: (name: string) => string | undefined = (n) => Deno.env.get(n),
): string {
  const xdg = getEnv("XDG_CONFIG_HOME");
  if (xdg?.startsWith("/")) return `${xdg.replace(/\/+$/, "")}/floe/floe.toml`;
  const home = getEnv("HOME");
  if (!home) {
    throw new ConfigError("config-no-home", "floe.toml", [{
      message: "neither XDG_CONFIG_HOME nor HOME is set; give the config file's path",
    }]);
  }
  return `${home.replace(/\/+$/, "")}/.config/floe/floe.toml`;
}

/**
 * Reads and validates the config file at `path` (default {@link defaultConfigPath}).
 *
 * @example
 * ```ts
 * import { loadConfig } from "./load.ts";
 * // const config = await loadConfig("/etc/floe/floe.toml");
 * ```
 */
export async function loadConfig(path: string = defaultConfigPath()): Promise<Config> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ConfigError("config-not-found", path, [{ message: "no such config file" }], { cause: e });
    }
    throw new ConfigError("config-unreadable", path, [{ message: `cannot open: ${(e as Error).message}` }], {
      cause: e,
    });
  }
  let bytes: Uint8Array;
  try {
    const info = await file.stat();
    if (!info.isFile) {
      throw new ConfigError("config-unreadable", path, [{ message: "is not a regular file" }]);
    }
    // Read one byte past the bound, so a file that grew after stat is caught as well.
    const buf = new Uint8Array(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (;;) {
      const got = await file.read(buf.subarray(n));
      if (got === null) break;
      n += got;
      if (n > MAX_CONFIG_BYTES) throw tooLarge(path);
    }
    bytes = buf.subarray(0, n);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError("config-unreadable", path, [{ message: `cannot read: ${(e as Error).message}` }], {
      cause: e,
    });
  } finally {
    file.close();
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (e) {
    throw new ConfigError("config-syntax", path, [{ message: "is not UTF-8 text" }], { cause: e });
  }
  return parseConfig(text, path);
}

function tooLarge(file: string): ConfigError {
  return new ConfigError("config-too-large", file, [{
    message: `is larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB; a config file is expected to be small`,
  }]);
}

/**
 * Parses and validates config text; `path` only names the file in messages.
 *
 * @example
 * ```ts
 * import { parseConfig } from "./load.ts";
 * try {
 *   parseConfig("[jobs.home]\nrepository = \"main\"\nschedule = \"0 3 * *\"\n", "floe.toml");
 * } catch (e) {
 *   // floe.toml:3: jobs.home.schedule: "0 3 * *" is not a cron expression (5 or 6 fields) or …
 * }
 * ```
 */
export function parseConfig(text: string, path: string): Config {
  if (text.length > MAX_CONFIG_BYTES) throw tooLarge(path);
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    const message = e.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
    throw new ConfigError("config-syntax", path, [{ line: e.line, column: e.column, message }], { cause: e });
  }
  const at = locateKeys(text);
  const problems: (ConfigProblem & { order: number })[] = [];
  const add = (keyPath: readonly PropertyKey[], message: string) => {
    const p = positionOf(at, keyPath);
    problems.push({
      line: p?.line,
      column: p?.column,
      key: keyPath.length ? formatPath(keyPath) : undefined,
      message,
      order: p ? p.line * 1e6 + p.column : -1,
    });
  };
  for (const keyPath of protoKeys(raw, [])) {
    add(keyPath, 'the key "__proto__" is not allowed');
  }
  if (!problems.length) {
    const r = configSchema.safeParse(raw, { reportInput: true });
    if (r.success) return r.data;
    for (const issue of r.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const k of issue.keys) add([...issue.path, k], issue.message);
        continue;
      }
      const { path: keyPath, message } = describeIssue(issue);
      add(keyPath, message);
    }
  }
  problems.sort((a, b) => a.order - b.order);
  throw new ConfigError("config-invalid", path, problems.map(({ order: _, ...p }) => p));
}

/** Paths of every `__proto__` key; smol-toml keeps them as own keys of null-prototype tables. */
function protoKeys(v: unknown, path: PropertyKey[]): PropertyKey[][] {
  if (typeof v !== "object" || v === null) return [];
  const out: PropertyKey[][] = [];
  const entries = Array.isArray(v) ? v.entries() : Object.entries(v);
  for (const [k, child] of entries) {
    if (k === "__proto__") out.push([...path, k]);
    out.push(...protoKeys(child, [...path, k]));
  }
  return out;
}

/** `jobs.home.paths[1]`, with keys that are not bare TOML keys quoted. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else {
      const s = String(p);
      const k = /^[A-Za-z0-9_-]+$/.test(s) ? s : JSON.stringify(s);
      out += out ? `.${k}` : k;
    }
  }
  return out;
}

function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object" && v !== null) return v instanceof Date ? "a date" : "a table";
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  array: "a list",
  object: "a table",
  record: "a table",
};

/** Turns a zod issue into a key path (as in the file) and a message without it. */
function describeIssue(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string } {
  const path = [...issue.path];
  switch (issue.code) {
    case "invalid_type":
      if (issue.input === undefined) return { path, message: "is required" };
      return {
        path,
        message: `must be ${EXPECTED[issue.expected] ?? issue.expected}, not ${describeValue(issue.input)}`,
      };
    case "invalid_key":
      return { path, message: issue.issues[0]?.message ?? issue.message };
    case "invalid_value":
      return {
        path,
        message: `must be ${issue.values.map((v) => JSON.stringify(v)).join(" or ")}, not ${
          describeValue(issue.input)
        }`,
      };
    case "too_small":
      return {
        path,
        message: issue.origin === "array"
          ? `needs at least ${issue.minimum} entr${issue.minimum === 1 ? "y" : "ies"}`
          : issue.origin === "string"
          ? "must not be empty"
          : `must be at least ${issue.minimum}`,
      };
    case "too_big":
      return { path, message: `must be at most ${issue.maximum}` };
    default:
      return { path, message: issue.message };
  }
}
