/**
 * The schema of floe's config file (`floe.toml`): `[server]`, `[repositories.NAME]` and `[jobs.NAME]`
 * tables with kebab-case keys, validated strictly (an unknown key is an error) and turned into a typed
 * object with camelCase keys, durations in milliseconds, rates in bytes per second and `listen` split
 * into host name and port. Every key and its default is documented in docs/configuration.md.
 *
 * Use {@link configSchema} through `parseConfig` (load.ts), which adds file and line to each problem.
 *
 * @example
 * ```ts
 * import { configSchema } from "./schema.ts";
 * const r = configSchema.safeParse({ server: { listen: "0.0.0.0:8470" } });
 * r.success && r.data.server.listen; // { hostname: "0.0.0.0", port: 8470 }
 * ```
 * @module
 */
import { z } from "zod";
import { parseDuration as parseRetentionDuration } from "../core/policy.ts";
import { parseRate } from "../plugins/storage/limit/mod.ts";
import { parseLocation } from "../plugins/storage/location.ts";
import { parseSchedule } from "./schedule.ts";
import { parseDurationMs, parseListen } from "./units.ts";

type Camel<S extends string> = S extends `${infer A}-${infer B}` ? `${A}${Capitalize<Camel<B>>}` : S;

/** `T` with its kebab-case keys in camelCase (`password-file` → `passwordFile`). */
export type CamelKeys<T> = { [K in keyof T as K extends string ? Camel<K> : K]: T[K] };

/** Copies an object's defined entries under camelCase keys. */
function camel<T extends object>(o: T): CamelKeys<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v !== undefined) out[k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  }
  return out as CamelKeys<T>;
}

/** A strict table whose unknown-key message lists the keys it takes. */
function table<S extends z.core.$ZodLooseShape>(shape: S, what: string) {
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === "unrecognized_keys"
        ? `unknown key (${what} takes ${Object.keys(shape).join(", ")})`
        : undefined,
  });
}

/** A string read by `parse`, whose thrown message becomes the problem's message. */
function parsed<T>(parse: (text: string) => T) {
  return z.string().transform((text, ctx): T => {
    try {
      return parse(text);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message, input: text });
      return z.NEVER;
    }
  });
}

const nonEmpty = z.string().min(1, { error: "must not be empty" });
const absolutePath = z.string().refine((p) => p.startsWith("/"), { error: "must be an absolute path" });
const duration = parsed(parseDurationMs);
const strings = z.array(nonEmpty);

/** Repository and job names: they appear in URLs, logs and the runs database. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const name = z.string().regex(NAME, {
  error:
    "is not a valid name (letters, digits, '.', '_', '-', at most 64, not starting with '.', '_' or '-')",
});

const rate = z.union([z.int().min(0), z.string()], {
  error: 'must be a rate such as "10M" or a number of bytes',
})
  .transform((v, ctx) => {
    try {
      return parseRate(String(v));
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
      return z.NEVER;
    }
  });

/** `[server]`. */
export const serverSchema = table({
  listen: parsed(parseListen).prefault("127.0.0.1:8470"),
  "tls-cert": absolutePath.optional(),
  "tls-key": absolutePath.optional(),
  "restore-roots": z.array(absolutePath).default([]),
  "history-days": z.int().min(1).max(36500).default(90),
  "allow-hooks": z.boolean().default(false),
  "catch-up": z.boolean().default(true),
}, "[server]").superRefine((s, ctx) => {
  if ((s["tls-cert"] === undefined) !== (s["tls-key"] === undefined)) {
    const missing = s["tls-cert"] === undefined ? "tls-cert" : "tls-key";
    const given = missing === "tls-cert" ? "tls-key" : "tls-cert";
    ctx.addIssue({ code: "custom", path: [given], message: `needs ${missing} as well` });
  }
}).transform(camel);

/** One location or a list (a mirror), each checked by the storage location parser (whose message masks secrets). */
const locations = z.unknown().transform((v, ctx): string[] => {
  if (v === undefined) {
    ctx.addIssue({ code: "custom", message: "is required" });
    return z.NEVER;
  }
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length === 0 || !list.every((l) => typeof l === "string")) {
    ctx.addIssue({
      code: "custom",
      message: "must be a location or a non-empty list of locations (a mirror)",
    });
    return z.NEVER;
  }
  for (const [n, loc] of list.entries()) {
    try {
      parseLocation(loc);
    } catch (e) {
      ctx.addIssue({ code: "custom", path: typeof v === "string" ? [] : [n], message: (e as Error).message });
    }
  }
  return list;
});

/** `[repositories.NAME]`. */
export const repositorySchema = table({
  location: locations,
  "password-file": absolutePath.optional(),
  "password-command": nonEmpty.optional(),
  "limit-upload": rate.optional(),
  "limit-download": rate.optional(),
  connections: z.int().min(1).max(1024).optional(),
  "max-writers": z.int().min(1).max(64).optional(),
}, "a repository").superRefine((r, ctx) => {
  if (r["password-file"] !== undefined && r["password-command"] !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["password-command"],
      message: "give password-file or password-command, not both",
    });
  }
}).transform(camel);

const count = z.int().min(-1, { error: "must be a whole number ≥ 0 (or -1 for unlimited)" });
const within = z.string().superRefine((text, ctx) => {
  try {
    parseRetentionDuration(text);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
  }
});

/** `[jobs.NAME.keep]`: restic's `forget --keep-*` rules. */
export const keepSchema = table({
  last: count.optional(),
  hourly: count.optional(),
  daily: count.optional(),
  weekly: count.optional(),
  monthly: count.optional(),
  yearly: count.optional(),
  within: within.optional(),
  "within-hourly": within.optional(),
  "within-daily": within.optional(),
  "within-weekly": within.optional(),
  "within-monthly": within.optional(),
  "within-yearly": within.optional(),
  tags: strings.optional(),
}, "keep").refine((k) => Object.values(k).some((v) => v !== undefined), {
  error: "needs at least one rule (an empty keep would forget every snapshot)",
}).transform(camel);

/** `[jobs.NAME.hooks]`: shell commands (`sh -c`). */
export const hooksSchema = table({
  before: nonEmpty.optional(),
  after: nonEmpty.optional(),
  "on-failure": nonEmpty.optional(),
  finally: nonEmpty.optional(),
  "hook-timeout": duration.optional(),
}, "hooks").transform(camel);

const schedule = z.string().transform((text, ctx) => {
  try {
    parseSchedule(text);
    return text.trim();
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return z.NEVER;
  }
});

/** Keys every kind of job takes. */
const common = {
  repository: name,
  schedule: schedule.optional(),
  retries: z.int().min(0).max(100).default(0),
  "retry-delay": duration.prefault("1m"),
  timeout: duration.optional(),
  hooks: hooksSchema.optional(),
};

const sourceOption = z.custom<string | number | boolean>(
  (v) => typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v)),
  { error: "must be a string, a number or a boolean" },
);

/** A `kind = "backup"` job (the default kind). */
export const backupJobSchema = table({
  kind: z.literal("backup").default("backup"),
  ...common,
  source: nonEmpty.default("fs"),
  "source-options": z.record(z.string(), sourceOption).default({}),
  paths: strings.default([]),
  exclude: strings.default([]),
  "exclude-if-present": strings.default([]),
  "one-file-system": z.boolean().default(false),
  tags: strings.default([]),
  host: nonEmpty.optional(),
  keep: keepSchema.optional(),
}, "a backup job").superRefine((j, ctx) => {
  if (j.source === "fs" && j.paths.length === 0) {
    ctx.addIssue({ code: "custom", path: ["paths"], message: "the fs source needs at least one path" });
  }
}).transform(camel);

/** Reads `5%`, `5` (percent) or `unlimited` into a fraction, as `floe prune --max-unused`. */
function maxUnused(v: string | number): number {
  const s = String(v).trim();
  if (s === "unlimited") return 1;
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(s);
  if (!m || +m[1] > 100) throw new Error(`${JSON.stringify(v)} is not a percentage 0–100% or "unlimited"`);
  return +m[1] / 100;
}

/** A `kind = "prune"` job. */
export const pruneJobSchema = table({
  kind: z.literal("prune"),
  ...common,
  "max-unused": z.union([z.string(), z.number()]).transform((v, ctx) => {
    try {
      return maxUnused(v);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
      return z.NEVER;
    }
  }).prefault("5%"),
}, "a prune job").transform(camel);

/** Reads `n/t` or `x%`, as `floe check --read-data-subset`. */
function subset(text: string): { part: number; of: number } | { percent: number } {
  let m = /^(\d+)\/(\d+)$/.exec(text);
  if (m && +m[1] >= 1 && +m[1] <= +m[2]) return { part: +m[1], of: +m[2] };
  m = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (m && +m[1] > 0 && +m[1] <= 100) return { percent: +m[1] };
  throw new Error(`${JSON.stringify(text)} is not n/t (1 ≤ n ≤ t) or x% (0 < x ≤ 100)`);
}

/** A `kind = "check"` job. */
export const checkJobSchema = table({
  kind: z.literal("check"),
  ...common,
  "read-data": z.boolean().default(false),
  "read-data-subset": parsed(subset).optional(),
}, "a check job").transform(camel);

/** A backup job, typed. */
export type BackupJob = z.output<typeof backupJobSchema>;
/** A prune job, typed. */
export type PruneJob = z.output<typeof pruneJobSchema>;
/** A check job, typed. */
export type CheckJob = z.output<typeof checkJobSchema>;
/** Any job. */
export type Job = BackupJob | PruneJob | CheckJob;

const JOB_KINDS = { backup: backupJobSchema, prune: pruneJobSchema, check: checkJobSchema } as const;

/** `[jobs.NAME]`: dispatches on `kind` so that an option of another kind is named as unknown. */
export const jobSchema = z.unknown().transform((input, ctx): Job => {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    ctx.addIssue({ code: "custom", message: "must be a table" });
    return z.NEVER;
  }
  const kind = (input as Record<string, unknown>).kind ?? "backup";
  if (typeof kind !== "string" || !Object.hasOwn(JOB_KINDS, kind)) {
    ctx.addIssue({
      code: "custom",
      path: ["kind"],
      message: `${JSON.stringify(kind)} is not a job kind ("backup", "prune" or "check")`,
    });
    return z.NEVER;
  }
  const r = JOB_KINDS[kind as keyof typeof JOB_KINDS].safeParse(input, { reportInput: true });
  if (r.success) return r.data;
  for (const issue of r.error.issues) ctx.addIssue(issue as z.core.$ZodRawIssue);
  return z.NEVER;
});

/** The whole file. */
export const configSchema = table({
  server: serverSchema.prefault({}),
  repositories: z.record(name, repositorySchema).default({}),
  jobs: z.record(name, jobSchema).default({}),
}, "the file").superRefine((c, ctx) => {
  for (const [jobName, job] of Object.entries(c.jobs)) {
    if (!Object.hasOwn(c.repositories, job.repository)) {
      const known = Object.keys(c.repositories);
      ctx.addIssue({
        code: "custom",
        path: ["jobs", jobName, "repository"],
        message: `${JSON.stringify(job.repository)} is not a repository of this file (${
          known.length ? `defined: ${known.join(", ")}` : "none is defined"
        })`,
      });
    }
    if (job.hooks && !c.server.allowHooks) {
      ctx.addIssue({
        code: "custom",
        path: ["jobs", jobName, "hooks"],
        message: "hooks run shell commands and are off; set allow-hooks = true in [server] to run them",
      });
    }
  }
});

/** The typed config. */
export type Config = z.output<typeof configSchema>;
/** `[server]`, typed. */
export type ServerConfig = Config["server"];
/** A repository, typed; `location` is always a list (more than one: a mirror). */
export type RepositoryConfig = Config["repositories"][string];
/** `keep`, typed. */
export type KeepConfig = z.output<typeof keepSchema>;
/** `hooks`, typed. */
export type HooksConfig = z.output<typeof hooksSchema>;
