/**
 * Tests for config/freezer.ts: the Freezer job documents of config/testdata/ convert to TOML that
 * parseConfig accepts, with the expected jobs, repositories and warnings.
 *
 * @module
 */
import { assert, assertEquals } from "../tests/assert.ts";
import { freezerToToml } from "./freezer.ts";
import { parseConfig } from "./load.ts";

function convert(fixture: string) {
  const json = JSON.parse(Deno.readTextFileSync(new URL(`./testdata/${fixture}.json`, import.meta.url)));
  const { toml, warnings } = freezerToToml(json);
  return { toml, warnings, config: parseConfig(toml, `${fixture}.toml`) };
}

const has = (warnings: string[], part: string) =>
  assert(
    warnings.some((w) => w.includes(part)),
    `no warning with ${JSON.stringify(part)} in\n${warnings.join("\n")}`,
  );

Deno.test("the scheduler README's fs job: interval with a start date becomes a cron at its phase", () => {
  const { config, warnings } = convert("freezer_fs_backup");
  const job = config.jobs["schedule-backups-6"];
  assert(job.kind === "backup");
  assertEquals(job.paths, ["/home/me/datadir"]);
  assertEquals(job.tags, ["backup1"]);
  assertEquals(job.retries, 3);
  assertEquals(job.retryDelay, 60_000);
  // every 4 hours from 17:58 → 01:58, 05:58, … local time, as Freezer ran it.
  assertEquals(job.schedule, "58 1,5,9,13,17,21 * * *");
  assertEquals(config.repositories[job.repository].location, ["swift:freezer_schedule_backups:/floe"]);
  has(warnings, "log_file");
  has(warnings, "no password-file");
  assert(warnings.every((w) => !w.includes("\n")));
});

Deno.test("a MySQL job with exec actions, LVM and ssh storage", () => {
  const { config, warnings } = convert("freezer_mysql_lvm_ssh");
  assertEquals(config.server.allowHooks, true);
  const job = config.jobs["mysql-nightly"];
  assert(job.kind === "backup");
  assertEquals(job.hooks, {
    before: "mysql -e 'FLUSH TABLES WITH READ LOCK'",
    after: "mysql -e 'UNLOCK TABLES'",
  });
  assertEquals(job.keep, { within: "30d" });
  // APScheduler weekdays 0-4 (Monday–Friday) are cron's 1-5.
  assertEquals(job.schedule, "30 2 * * 1-5");
  assertEquals(job.retryDelay, 300_000);
  const repo = config.repositories[job.repository];
  assertEquals(repo.location, ["sftp://freezer@backup.example.net:2222//srv/backups/mysql"]);
  assertEquals(repo.passwordFile, "/etc/freezer/key");
  assertEquals(repo.limitUpload, 10 * 1024 * 1024);
  for (
    const part of [
      "lvm_srcvol",
      "ssh_key",
      "max_level",
      "mode mysql",
      "schedule_end_date",
      "mandatory = false",
      "allow-hooks",
    ]
  ) {
    has(warnings, part);
  }
});

Deno.test("several documents: admin → prune + keep, unsupported modes, restore, a mirror", () => {
  const { config, warnings } = convert("freezer_mixed");
  assertEquals(Object.keys(config.jobs).sort(), [
    "etc-weekly-local",
    "etc-weekly-local-prune",
    "parallel-mirror",
  ]);
  const etc = config.jobs["etc-weekly-local"];
  assert(etc.kind === "backup");
  assertEquals(etc.keep, { within: "90d" });
  assertEquals(etc.exclude, ["*.lock"]);
  // 1 week from Sunday 2024-03-03 04:15.
  assertEquals(etc.schedule, "15 4 * * 0");
  const prune = config.jobs["etc-weekly-local-prune"];
  assertEquals([prune.kind, prune.repository], ["prune", etc.repository]);
  const mirror = config.jobs["parallel-mirror"];
  assertEquals(mirror.schedule, "every 3d");
  assertEquals(config.repositories[mirror.repository].location, [
    "/tmp/backup1/",
    "/tmp/backup2/",
    "swift:freezer_test:/floe",
  ]);
  // Only the repositories of converted jobs.
  assertEquals(Object.keys(config.repositories).length, 2);
  for (
    const part of [
      'mode "cinder"',
      "continuous",
      "restore actions",
      "schedule_date",
      "osrc",
      "from the Unix epoch",
      "always_level",
      "compression",
    ]
  ) {
    has(warnings, part);
  }
});

Deno.test("APScheduler cron fields: omitted lower fields are their minimum", () => {
  const doc = (job_schedule: Record<string, unknown>) => ({
    description: "x",
    job_actions: [{ freezer_action: { path_to_backup: "/x", storage: "local", container: "/r" } }],
    job_schedule,
  });
  const schedule = (s: Record<string, unknown>) => {
    const { toml } = freezerToToml(doc(s));
    return parseConfig(toml, "t").jobs.x.schedule;
  };
  assertEquals(schedule({ schedule_hour: "3" }), "0 3 * * *");
  assertEquals(schedule({ schedule_minute: "*/5" }), "*/5 * * * *");
  assertEquals(schedule({ schedule_day_of_week: "6" }), "0 0 * * 0");
  assertEquals(schedule({ schedule_hour: "1", schedule_second: "30" }), "30 0 1 * * *");
  assertEquals(schedule({ schedule_interval: "90 minutes" }), "every 90m");
  const bad = freezerToToml(doc({ schedule_hour: "25" }));
  assertEquals(parseConfig(bad.toml, "t").jobs.x.schedule, undefined);
  has(bad.warnings, "the job has no schedule");
});

Deno.test("input that is not a Freezer job gives a warning, and still valid TOML", () => {
  const { toml, warnings } = freezerToToml({ hello: 1 });
  has(warnings, "not a Freezer job document");
  assertEquals(parseConfig(toml, "t").jobs, {});
});
