/**
 * `floe jobs` lists the config's jobs and their next run; `floe jobs import --freezer FILE.json` turns
 * OpenStack Freezer job documents into config TOML on stdout, with what it could not map on stderr.
 *
 * @example
 * ```sh
 * floe jobs --config /etc/floe/floe.toml
 * floe jobs import --freezer freezer-job.json >> floe.toml
 * ```
 * @module
 */
import { FloeError } from "../../mod.ts";
import type { Context } from "../context.ts";
import { configFromOption } from "../config_file.ts";
import { describeSchedule, freezerToToml, nextRun } from "../../config/mod.ts";

/** Runs `jobs`. */
export default async function jobs(
  ctx: Context,
  _args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  const { config } = await configFromOption(opts);
  const now = new Date();
  const rows = Object.entries(config.jobs).map(([name, job]) => ({
    name,
    kind: job.kind,
    repository: job.repository,
    schedule: job.schedule ?? null,
    next_run: job.schedule ? nextRun(job.schedule, now)?.toISOString() ?? null : null,
  }));
  if (ctx.globals.json) return ctx.json(rows);
  ctx.out(`${"Job".padEnd(20)}${"Kind".padEnd(8)}${"Repository".padEnd(16)}${"Next run".padEnd(26)}Schedule`);
  for (const r of rows) {
    ctx.out(
      `${r.name.padEnd(20)}${r.kind.padEnd(8)}${r.repository.padEnd(16)}${
        (r.next_run ?? "on demand").padEnd(26)
      }${r.schedule ? describeSchedule(r.schedule) : ""}`,
    );
  }
}

/** Largest Freezer document read. */
const MAX_JSON = 4 << 20;

/** Runs `jobs import`. */
export async function importJobs(
  ctx: Context,
  _args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  if (!opts.freezer) throw new FloeError("jobs import needs --freezer FILE.json", "usage");
  const file = String(opts.freezer);
  let text: string;
  try {
    const info = await Deno.stat(file);
    if (info.size > MAX_JSON) throw new FloeError(`${file} is larger than ${MAX_JSON} bytes`, "usage");
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof FloeError) throw e;
    throw new FloeError(`cannot read ${file}: ${(e as Error).message}`, "usage");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FloeError(`${file} is not JSON: ${(e as Error).message}`, "usage");
  }
  let result;
  try {
    result = freezerToToml(json);
  } catch (e) {
    throw new FloeError(`${file}: ${(e as Error).message}`, "usage");
  }
  for (const w of result.warnings) ctx.info(`warning: ${w}`, true);
  ctx.out(result.toml.replace(/\n$/, ""));
}
