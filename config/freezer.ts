/**
 * Converts OpenStack Freezer job documents (what `freezer-scheduler job-create --file` takes) into
 * floe's config TOML, with one readable warning for everything that has no floe equivalent.
 *
 * What maps:
 * - each `backup` action → a `[jobs.NAME]` backup job (`path_to_backup` → `paths`, `exclude`,
 *   `backup_name` → a tag, `hostname` → `host`, `remove_older_than` N → `keep.within = "Nd"`,
 *   `max_retries` → `retries`, `max_retries_interval` (seconds) → `retry-delay`);
 * - `storage` (swift, the default; local; ssh; s3) and `container` → a `[repositories.NAME]` with a
 *   floe location (a list of `storages` → a mirror), `encrypt_pass_file` → `password-file`,
 *   `upload_limit` / `download_limit` → `limit-upload` / `limit-download`;
 * - `admin` actions → a `prune` job on the same repository, their `remove_older_than` → `keep.within`
 *   of the job's backups;
 * - `exec` actions → `before` / `after` hooks of the backup they surround (and `allow-hooks = true`);
 * - `job_schedule`: `schedule_interval` → a cron expression keeping `schedule_start_date`'s phase when
 *   the interval divides a minute, hour, day or is one week, else `every <n><unit>`; the
 *   APScheduler-style `schedule_month/day/day_of_week/hour/minute/second` fields → a cron expression.
 *
 * Freezer's stored backups are not readable by floe: the repositories are new ones (`floe init`).
 *
 * @example
 * ```ts
 * import { freezerToToml } from "./freezer.ts";
 * const { toml, warnings } = freezerToToml({
 *   job_actions: [{ freezer_action: { action: "backup", path_to_backup: "/srv", container: "/backups", storage: "local" } }],
 *   job_schedule: { schedule_interval: "1 days" },
 * });
 * ```
 * @module
 */
import { stringify } from "smol-toml";
import { parseRate } from "../plugins/storage/limit/mod.ts";
import { parseSchedule } from "./schedule.ts";

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Keys of a freezer_action this module reads; the others are reported as ignored. */
const ACTION_KEYS = new Set([
  "action",
  "mode",
  "backup_name",
  "path_to_backup",
  "container",
  "storage",
  "storages",
  "ssh_host",
  "ssh_port",
  "ssh_username",
  "exclude",
  "hostname",
  "remove_older_than",
  "encrypt_pass_file",
  "upload_limit",
  "download_limit",
  "command",
]);

/** Keys whose meaning floe covers in its own way; each gets a specific warning. */
const EXPLAINED: Record<string, string> = {
  max_level: "floe's snapshots are always incremental (deduplicated), there are no levels",
  always_level: "floe's snapshots are always incremental (deduplicated), there are no levels",
  restart_always_level: "floe's snapshots are always incremental (deduplicated), there are no levels",
  no_incremental: "floe's snapshots are always incremental (deduplicated)",
  compression: "compression is chosen per repository (floe init --compression)",
  remove_from_date: "keep rules have no fixed cut-off date; use floe forget --remove-from-date once",
  log_file: "the server keeps each run's log",
  ssh_key: "the SFTP storage takes its key from the SSH agent or ~/.ssh",
  lvm_srcvol: "floe does not take LVM snapshots; use a before hook or a snapshotting source",
  lvm_dirmount: "floe does not take LVM snapshots; use a before hook or a snapshotting source",
  lvm_volgroup: "floe does not take LVM snapshots; use a before hook or a snapshotting source",
  lvm_snapsize: "floe does not take LVM snapshots; use a before hook or a snapshotting source",
  lvm_snapname: "floe does not take LVM snapshots; use a before hook or a snapshotting source",
  snapshot: "floe does not take file system snapshots; use a before hook",
  max_segment_size: "floe sizes its packs itself",
  dereference_symlink: "floe stores symbolic links as links",
};

/** The result of {@link freezerToToml}. */
export interface FreezerConversion {
  /** floe config TOML; it parses with `parseConfig`. */
  toml: string;
  /** One line for each thing that could not be carried over. */
  warnings: string[];
}

interface Repo {
  location: string | string[];
  "password-file"?: string;
  "limit-upload"?: string;
  "limit-download"?: string;
}

/**
 * Converts one Freezer job document, a list of them, or `{ jobs: [...] }` into floe config TOML.
 *
 * @example
 * ```ts
 * import { freezerToToml } from "./freezer.ts";
 * const { toml } = freezerToToml({
 *   description: "etc nightly",
 *   job_actions: [{ freezer_action: { path_to_backup: "/etc", container: "/srv/freezer", storage: "local" } }],
 *   job_schedule: { schedule_hour: "3" },
 * });
 * // [jobs.etc-nightly] … schedule = "0 3 * * *"
 * ```
 */
export function freezerToToml(json: unknown): FreezerConversion {
  const docs = Array.isArray(json) ? json : isObj(json) && Array.isArray(json.jobs) ? json.jobs : [json];
  const warnings: string[] = [];
  const repositories: Record<string, Repo> = {};
  const repoByLocation = new Map<string, string>();
  const sections: string[] = [];
  const usedNames = new Set<string>();
  let hooks = false;

  const unique = (base: string, taken: Set<string>) => {
    let n = base;
    for (let k = 2; taken.has(n); k++) n = `${base.slice(0, 60)}-${k}`;
    taken.add(n);
    return n;
  };

  for (const [d, doc] of docs.entries()) {
    const label = isObj(doc) && typeof doc.description === "string" && doc.description
      ? `job ${JSON.stringify(doc.description)}`
      : `job ${d + 1}`;
    const warn = (what: string) => warnings.push(`${label}: ${what}`);
    if (!isObj(doc) || !Array.isArray(doc.job_actions)) {
      warn("not a Freezer job document (no job_actions list); skipped");
      continue;
    }
    for (const k of Object.keys(doc)) {
      if (!["job_actions", "job_schedule", "description", "job_id", "client_id", "session_id"].includes(k)) {
        warn(`${k} ignored`);
      }
    }
    const baseName = slug(String(doc.description ?? doc.job_id ?? "")) || `freezer-${d + 1}`;
    const schedule = convertSchedule(isObj(doc.job_schedule) ? doc.job_schedule : {}, warn);

    // First pass: the repository of every action that has one, and the keep rule of admin actions.
    type Out = { name: string; job: Obj };
    const jobs: Out[] = [];
    let pendingBefore: string[] = [];
    let lastBackup: Obj | undefined;
    const withinDays: number[] = [];
    const pruneRepos = new Set<string>();

    for (const [a, entry] of doc.job_actions.entries()) {
      const act = isObj(entry) && isObj(entry.freezer_action) ? entry.freezer_action : undefined;
      const where = `action ${a + 1}`;
      if (!act || !isObj(entry)) {
        warn(`${where}: no freezer_action; skipped`);
        continue;
      }
      const kind = String(act.action ?? "backup");
      if (entry.mandatory === false && kind === "exec") {
        warn(`${where}: mandatory = false not kept: a failing hook fails its job in floe`);
      }
      if (kind === "exec") {
        const command = typeof act.command === "string" ? act.command.trim() : "";
        if (!command) {
          warn(`${where}: exec action without a command; skipped`);
          continue;
        }
        // A command before any backup runs before the next one; after one, it runs after it.
        if (lastBackup) appendHook(lastBackup, "after", command);
        else pendingBefore.push(command);
        hooks = true;
        continue;
      }
      if (kind === "restore" || kind === "info") {
        warn(
          `${where}: ${kind} actions are not scheduled jobs in floe (use floe ${
            kind === "info" ? "snapshots" : "restore"
          }); skipped`,
        );
        continue;
      }
      if (kind !== "backup" && kind !== "admin") {
        warn(`${where}: unknown action ${JSON.stringify(kind)}; skipped`);
        continue;
      }
      const mode = String(act.mode ?? "fs");
      const path = typeof act.path_to_backup === "string" ? act.path_to_backup.trim() : "";
      if (kind === "backup") {
        if (!["fs", "mysql", "mongo"].includes(mode)) {
          warn(`${where}: mode ${JSON.stringify(mode)} has no floe source; skipped`);
          continue;
        }
        if (!path.startsWith("/")) {
          warn(`${where}: path_to_backup ${short(act.path_to_backup)} is not an absolute path; skipped`);
          continue;
        }
      }
      for (const k of Object.keys(act)) {
        if (ACTION_KEYS.has(k)) continue;
        const why = EXPLAINED[k];
        warn(`${where}: ${k} = ${short(act[k])} ignored${why ? `: ${why}` : ""}`);
      }
      const repoName = repository(act, `${where}`, warn, repositories, repoByLocation);
      if (!repoName) continue;
      const days = Number(act.remove_older_than);
      if (act.remove_older_than !== undefined && !(Number.isInteger(days) && days > 0)) {
        warn(
          `${where}: remove_older_than = ${
            short(act.remove_older_than)
          } is not a whole number of days; ignored`,
        );
      }
      const keepDays = Number.isInteger(days) && days > 0 ? days : undefined;
      const retry: Obj = {};
      const retries = Number(entry.max_retries);
      if (entry.max_retries !== undefined) {
        if (Number.isInteger(retries) && retries >= 0 && retries <= 100) retry.retries = retries;
        else warn(`${where}: max_retries = ${short(entry.max_retries)} ignored (0–100)`);
      }
      const interval = Number(entry.max_retries_interval);
      if (entry.max_retries_interval !== undefined) {
        if (Number.isInteger(interval) && interval > 0) retry["retry-delay"] = `${interval}s`;
        else warn(`${where}: max_retries_interval = ${short(entry.max_retries_interval)} ignored`);
      }

      if (kind === "admin") {
        if (keepDays) withinDays.push(keepDays);
        pruneRepos.add(repoName);
        jobs.push({
          name: `${baseName}-prune`,
          job: { kind: "prune", repository: repoName, ...schedule, ...retry },
        });
        continue;
      }

      if (mode !== "fs") {
        warn(
          `${where}: mode ${mode} is backed up as the files under ${path}; without Freezer's LVM snapshot ` +
            `they may be inconsistent (stop the database in a before hook, or use a database source)`,
        );
      }
      const job: Obj = { repository: repoName, paths: [path], ...schedule, ...retry };
      if (typeof act.exclude === "string" && act.exclude) job.exclude = [act.exclude];
      if (typeof act.backup_name === "string" && act.backup_name) job.tags = [act.backup_name];
      if (typeof act.hostname === "string" && act.hostname) job.host = act.hostname;
      if (keepDays) job.keep = { within: `${keepDays}d` };
      for (const c of pendingBefore) appendHook(job, "before", c);
      pendingBefore = [];
      lastBackup = job;
      jobs.push({ name: baseName, job });
    }
    for (const c of pendingBefore) warn(`exec command ${short(c)} has no backup to run around; skipped`);

    if (withinDays.length) {
      const within = `${Math.max(...withinDays)}d`;
      const targets = jobs.filter((j) =>
        j.job.kind === undefined && pruneRepos.has(String(j.job.repository))
      );
      for (const t of targets) t.job.keep ??= { within };
      if (!targets.length) {
        warn(
          `remove_older_than of an admin action kept no backup job of this document to attach keep.within = "${within}" to`,
        );
      }
    }
    for (const { name, job } of jobs) {
      const unique_ = unique(name, usedNames);
      const comment = [
        `# From Freezer${doc.job_id ? ` job ${oneLine(String(doc.job_id))}` : ""}${
          doc.description ? `: ${oneLine(String(doc.description))}` : ""
        }`,
      ];
      sections.push(`${comment.join("\n")}\n${stringify({ jobs: { [unique_]: job } })}`);
    }
  }

  const head: string[] = ["# Converted from OpenStack Freezer jobs by floe. Review the warnings."];
  if (hooks) {
    head.push(stringify({ server: { "allow-hooks": true } }));
    warnings.push("allow-hooks = true was set because Freezer exec actions became hooks");
  }
  if (Object.keys(repositories).length) head.push(stringify({ repositories }));
  if (Object.values(repositories).some((r) => !r["password-file"])) {
    warnings.push(
      "a repository has no password-file (no encrypt_pass_file in Freezer): give one, or FLOE_PASSWORD",
    );
  }
  if (Object.keys(repositories).length) {
    warnings.push("Freezer's stored backups are not readable by floe: create each repository with floe init");
  }
  return { toml: [...head, ...sections].join("\n") + "\n", warnings };
}

function appendHook(job: Obj, which: "before" | "after", command: string) {
  const hooks = (job.hooks ??= {}) as Obj;
  hooks[which] = hooks[which] ? `${hooks[which]} && ${command}` : command;
}

/** The repository name for an action's storage, registering it; `undefined` when it has none. */
function repository(
  act: Obj,
  where: string,
  warn: (s: string) => void,
  repositories: Record<string, Repo>,
  byLocation: Map<string, string>,
): string | undefined {
  const targets = Array.isArray(act.storages) && act.storages.length ? act.storages.filter(isObj) : [act];
  const locations: string[] = [];
  for (const t of targets) {
    if (t !== act) {
      for (const k of Object.keys(t)) {
        if (!/^(storage|container|ssh_host|ssh_port|ssh_username)$/.test(k)) {
          warn(`${where}: storages entry ${k} = ${short(t[k])} ignored`);
        }
      }
    }
    const loc = location(t, where, warn);
    if (loc) locations.push(loc);
  }
  if (!locations.length) return undefined;
  const key = locations.join(" , ");
  let name = byLocation.get(key);
  if (!name) {
    const taken = new Set(Object.keys(repositories));
    const base = slug(locations[0].replace(/^[a-z0-9]+:/, "")) || "repo";
    name = base;
    for (let k = 2; taken.has(name); k++) name = `${base.slice(0, 60)}-${k}`;
    const repo: Repo = { location: locations.length === 1 ? locations[0] : locations };
    byLocation.set(key, name);
    repositories[name] = repo;
  }
  const repo = repositories[name];
  if (typeof act.encrypt_pass_file === "string" && act.encrypt_pass_file.startsWith("/")) {
    repo["password-file"] ??= act.encrypt_pass_file;
  } else if (act.encrypt_pass_file !== undefined) {
    warn(`${where}: encrypt_pass_file ${short(act.encrypt_pass_file)} is not an absolute path; ignored`);
  }
  for (
    const [from, to] of [["upload_limit", "limit-upload"], ["download_limit", "limit-download"]] as const
  ) {
    if (act[from] === undefined) continue;
    try {
      if (Number(act[from]) === -1) continue; // Freezer's "no limit"
      parseRate(String(act[from]));
      repo[to] ??= String(act[from]);
    } catch {
      warn(`${where}: ${from} = ${short(act[from])} is not a rate; ignored`);
    }
  }
  return name;
}

/** A floe location for one Freezer storage, or `undefined` with a warning. */
function location(t: Obj, where: string, warn: (s: string) => void): string | undefined {
  const storage = String(t.storage ?? "swift");
  const container = typeof t.container === "string" ? t.container.trim() : "";
  switch (storage) {
    case "local":
      if (!container.startsWith("/")) {
        warn(`${where}: local storage needs an absolute container path, got ${short(t.container)}; skipped`);
        return undefined;
      }
      return container;
    case "swift": {
      // Freezer prefixes container names with "freezer_"; a floe repository goes beside its objects.
      const name = container || "freezer_backups";
      const full = name.startsWith("freezer_") ? name : `freezer_${name}`;
      if (!/^[^/:\s]+$/.test(full)) {
        warn(`${where}: swift container ${short(container)} is not a plain name; skipped`);
        return undefined;
      }
      return `swift:${full}:/floe`;
    }
    case "ssh": {
      const host = typeof t.ssh_host === "string" ? t.ssh_host : "";
      if (!host || !container.startsWith("/") || !/^[A-Za-z0-9.-]+$|^\[[0-9a-fA-F:]+\]$/.test(host)) {
        warn(`${where}: ssh storage needs ssh_host and an absolute container path; skipped`);
        return undefined;
      }
      const user = typeof t.ssh_username === "string" && /^[A-Za-z0-9._-]+$/.test(t.ssh_username)
        ? `${t.ssh_username}@`
        : "";
      const port = Number(t.ssh_port);
      const portPart = t.ssh_port !== undefined && Number.isInteger(port) && port !== 22 ? `:${port}` : "";
      return `sftp://${user}${host}${portPart}/${container}`;
    }
    case "s3":
      if (!/^[a-z0-9][a-z0-9.-]*(\/[^\s]*)?$/.test(container)) {
        warn(`${where}: s3 container ${short(container)} is not bucket/path; skipped`);
        return undefined;
      }
      return `s3:${container}`;
    default:
      warn(`${where}: storage ${JSON.stringify(storage)} has no floe equivalent; skipped`);
      return undefined;
  }
}

const INTERVAL_UNITS: Record<string, [string, number]> = {
  second: ["s", 1],
  minute: ["m", 60],
  hour: ["h", 3600],
  day: ["d", 86400],
  week: ["w", 604800],
};

/** `{ schedule }` for a job_schedule, or `{}` with a warning. */
function convertSchedule(s: Obj, warn: (w: string) => void): { schedule?: string } {
  for (const k of Object.keys(s)) {
    if (k === "schedule_end_date") warn(`schedule_end_date ${short(s[k])} ignored: floe jobs do not expire`);
    else if (k === "schedule_date") {
      warn(`schedule_date ${short(s[k])} (a single run) ignored: run it with floe run`);
    } else if (k === "schedule_week" || k === "schedule_year") warn(`${k} ignored: no cron equivalent`);
    else if (k === "status" || k === "event" || k === "result" || k === "current_pid") continue;
    else if (!/^schedule_(interval|start_date|month|day|day_of_week|hour|minute|second)$/.test(k)) {
      warn(`job_schedule.${k} ignored`);
    }
  }
  const interval = typeof s.schedule_interval === "string" ? s.schedule_interval.trim() : undefined;
  if (interval === "continuous") {
    warn(
      "schedule_interval continuous has no floe equivalent; the job has no schedule (start it with floe run)",
    );
    return {};
  }
  if (interval !== undefined) {
    const m = /^(\d+)\s*(second|minute|hour|day|week)s?$/i.exec(interval);
    if (!m || Number(m[1]) < 1) {
      warn(`schedule_interval ${JSON.stringify(interval)} not understood; the job has no schedule`);
      return {};
    }
    const n = Number(m[1]);
    const [unit] = INTERVAL_UNITS[m[2].toLowerCase()];
    const start = typeof s.schedule_start_date === "string" ? new Date(s.schedule_start_date) : undefined;
    if (start && !Number.isNaN(start.getTime())) {
      const cron = phaseCron(n, unit, start);
      if (cron) return { schedule: cron };
      warn(
        `schedule_interval ${
          JSON.stringify(interval)
        } from ${s.schedule_start_date}: floe counts "every ${n}${unit}" ` +
          `from the Unix epoch, not from schedule_start_date`,
      );
    } else if (s.schedule_start_date !== undefined) {
      warn(`schedule_start_date ${short(s.schedule_start_date)} is not a date; ignored`);
    }
    return { schedule: `every ${n}${unit}` };
  }
  const fields = [
    "schedule_second",
    "schedule_minute",
    "schedule_hour",
    "schedule_day",
    "schedule_month",
    "schedule_day_of_week",
  ];
  if (fields.some((f) => s[f] !== undefined)) {
    const cron = apschedulerCron(s);
    try {
      parseSchedule(cron);
      return { schedule: cron };
    } catch (e) {
      warn(`the cron fields give ${(e as Error).message}; the job has no schedule`);
      return {};
    }
  }
  warn("no schedule: the job runs only when started (floe run)");
  return {};
}

/** A cron expression firing every n units at the phase of `start` (local time), when one exists. */
function phaseCron(n: number, unit: string, start: Date): string | undefined {
  const list = (first: number, size: number) => {
    const out: number[] = [];
    for (let v = first % n; v < size; v += n) out.push(v);
    return out.join(",");
  };
  const [sec, min, hour] = [start.getSeconds(), start.getMinutes(), start.getHours()];
  const secPart = sec ? `${sec} ` : "";
  if (unit === "s" && 60 % n === 0) return `${list(sec, 60)} * * * * *`;
  if (unit === "m" && 60 % n === 0) return `${secPart}${list(min, 60)} * * * *`;
  if (unit === "h" && 24 % n === 0) return `${secPart}${min} ${list(hour, 24)} * * *`;
  if (unit === "d" && n === 1) return `${secPart}${min} ${hour} * * *`;
  if (unit === "w" && n === 1) return `${secPart}${min} ${hour} * * ${start.getDay()}`;
  return undefined;
}

/**
 * APScheduler's cron fields → cron. Omitted fields below the most significant given one default to
 * their minimum, above it to `*`; APScheduler numbers weekdays from Monday = 0, cron from Sunday = 0.
 */
function apschedulerCron(s: Obj): string {
  const order = [
    "schedule_month",
    "schedule_day",
    "schedule_day_of_week",
    "schedule_hour",
    "schedule_minute",
    "schedule_second",
  ];
  const first = order.findIndex((f) => s[f] !== undefined);
  const value = (f: string, min: string) => {
    const v = s[f];
    if (v !== undefined) return String(v).replace(/\s+/g, "");
    return order.indexOf(f) > first && !["schedule_day", "schedule_month", "schedule_day_of_week"].includes(f)
      ? min
      : "*";
  };
  const dow = value("schedule_day_of_week", "*").replace(/\d/g, (d) => String((Number(d) + 1) % 7));
  const second = value("schedule_second", "0");
  const fields = [
    value("schedule_minute", "0"),
    value("schedule_hour", "0"),
    value("schedule_day", "*"),
    value("schedule_month", "*"),
    dow,
  ];
  return (second === "0" ? fields : [second, ...fields]).join(" ");
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64).replace(
    /-+$/,
    "",
  );
}

function oneLine(text: string): string {
  // deno-lint-ignore no-control-regex -- control characters are what is removed
  return text.replace(/[\u0000-\u001f\u007f]+/g, " ").slice(0, 200);
}

function short(v: unknown): string {
  const s = typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  return oneLine(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}
