/**
 * Tests for config/load.ts and config/schema.ts: a full file parses to the expected typed object, and
 * each kind of problem gives its one-line message with the right line.
 *
 * @module
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../tests/assert.ts";
import { ConfigError, defaultConfigPath, loadConfig, MAX_CONFIG_BYTES, parseConfig } from "./load.ts";

const FULL = `# floe config
[server]
listen = "127.0.0.1:8470"
tls-cert = "/etc/floe/cert.pem"
tls-key = "/etc/floe/key.pem"
restore-roots = ["/srv/restore"]
history-days = 30
allow-hooks = true
catch-up = false

[repositories.main]
location = "/srv/backup"
password-file = "/etc/floe/pw"
limit-upload = "10M"
limit-download = "512K"
connections = 4
max-writers = 1

[repositories.offsite]
location = ["/srv/a", "s3:my-bucket/floe"]
password-command = "pass show floe"

[jobs.home]
repository = "main"
source = "fs"
paths = ["/home"]
exclude = ["*.tmp"]
tags = ["nightly"]
schedule = "0 3 * * *"
retries = 3
timeout = "4h"
source-options = { follow = false, depth = 3, label = "x" }

[jobs.home.keep]
daily = 7
weekly = 4
within = "1y2m"
tags = ["pinned"]

[jobs.home.hooks]
before = "echo before"
after = "echo after"
on-failure = "echo failed"
finally = "echo done"
hook-timeout = "5m"

[jobs.weekly-check]
kind = "check"
repository = "main"
schedule = "every 7d"
read-data-subset = "10%"

[jobs.prune]
kind = "prune"
repository = "offsite"
schedule = "0 0 4 * * 0"
max-unused = "10%"
`;

/** The problem message of parsing `text`, asserting it is a ConfigError with the given code. */
function problem(text: string, code = "config-invalid"): ConfigError {
  const e = assertThrows(() => parseConfig(text, "floe.toml"));
  assert(e instanceof ConfigError, `not a ConfigError: ${e}`);
  assertEquals(e.name, "ConfigError");
  assertEquals(e.code, code);
  assert(!e.message.includes("\n"), `message has several lines: ${e.message}`);
  return e;
}

Deno.test("the full example parses to the typed object", () => {
  const c = parseConfig(FULL, "floe.toml");
  assertEquals(JSON.parse(JSON.stringify(c)), {
    server: {
      listen: { hostname: "127.0.0.1", port: 8470 },
      tlsCert: "/etc/floe/cert.pem",
      tlsKey: "/etc/floe/key.pem",
      restoreRoots: ["/srv/restore"],
      historyDays: 30,
      allowHooks: true,
      catchUp: false,
    },
    repositories: {
      main: {
        location: ["/srv/backup"],
        passwordFile: "/etc/floe/pw",
        limitUpload: 10 * 1024 * 1024,
        limitDownload: 512 * 1024,
        connections: 4,
        maxWriters: 1,
      },
      offsite: { location: ["/srv/a", "s3:my-bucket/floe"], passwordCommand: "pass show floe" },
    },
    jobs: {
      home: {
        kind: "backup",
        repository: "main",
        schedule: "0 3 * * *",
        retries: 3,
        retryDelay: 60_000,
        timeout: 4 * 3_600_000,
        hooks: {
          before: "echo before",
          after: "echo after",
          onFailure: "echo failed",
          finally: "echo done",
          hookTimeout: 300_000,
        },
        source: "fs",
        sourceOptions: { follow: false, depth: 3, label: "x" },
        paths: ["/home"],
        exclude: ["*.tmp"],
        excludeIfPresent: [],
        oneFileSystem: false,
        tags: ["nightly"],
        keep: { daily: 7, weekly: 4, within: "1y2m", tags: ["pinned"] },
      },
      "weekly-check": {
        kind: "check",
        repository: "main",
        schedule: "every 7d",
        retries: 0,
        retryDelay: 60_000,
        readData: false,
        readDataSubset: { percent: 10 },
      },
      prune: {
        kind: "prune",
        repository: "offsite",
        schedule: "0 0 4 * * 0",
        retries: 0,
        retryDelay: 60_000,
        maxUnused: 0.1,
      },
    },
  });
});

Deno.test("an empty file gives the defaults", () => {
  const c = parseConfig("", "floe.toml");
  assertEquals(JSON.parse(JSON.stringify(c)), {
    server: {
      listen: { hostname: "127.0.0.1", port: 8470 },
      restoreRoots: [],
      historyDays: 90,
      allowHooks: false,
      catchUp: true,
    },
    repositories: {},
    jobs: {},
  });
});

Deno.test("a TOML syntax error names line and column", () => {
  const e = problem('[server]\nlisten = = "x"\n', "config-syntax");
  assertEquals([e.line, e.column], [2, 10]);
  assertEquals(e.message, "floe.toml:2:10: invalid value");
});

Deno.test("an unknown key in a nested table names its line and the keys allowed", () => {
  const e = problem(FULL.replace("weekly = 4\n", "weekly = 4\ndayly = 3\n"));
  assertEquals(e.line, 37);
  assertEquals(e.key, "jobs.home.keep.dayly");
  assert(e.message.startsWith("floe.toml:37: jobs.home.keep.dayly: unknown key (keep takes last, hourly"));
});

Deno.test("unknown keys in inline tables and at the top level", () => {
  assertEquals(
    problem(
      '[server]\nlisten = "127.0.0.1:1"\n\n[repositories.r]\nlocation = "/r"\n\n[jobs.j]\nrepository = "r"\npaths = ["/"]\nhooks = { before = "x", bogus = 1 }\n',
    )
      .message.split(" (")[0],
    "floe.toml:10: jobs.j.hooks.bogus: unknown key",
  );
  assertEquals(problem('\n\ncolour = "red"\n').message.split(" (")[0], "floe.toml:3: colour: unknown key");
});

Deno.test("a bad cron expression", () => {
  const e = problem(FULL.replace('"0 3 * * *"', '"0 3 * *"'));
  assertEquals(
    e.message,
    'floe.toml:29: jobs.home.schedule: "0 3 * *" is not a cron expression (5 or 6 fields) or "every <n><unit>"',
  );
  assertEquals(problem(FULL.replace('"every 7d"', '"every 7y"')).line, 50);
  assertEquals(problem(FULL.replace('"0 3 * * *"', '"0 25 * * *"')).key, "jobs.home.schedule");
});

Deno.test("a bad duration", () => {
  const e = problem(FULL.replace('timeout = "4h"', 'timeout = "4x"'));
  assertEquals(e.line, 31);
  assert(e.message.startsWith('floe.toml:31: jobs.home.timeout: "4x" is not a duration'), e.message);
  assertEquals(
    problem(FULL.replace('hook-timeout = "5m"', 'hook-timeout = "0s"')).key,
    "jobs.home.hooks.hook-timeout",
  );
});

Deno.test("a job naming an unknown repository", () => {
  const e = problem(FULL.replace('repository = "main"\nsource', 'repository = "mian"\nsource'));
  assertEquals(
    e.message,
    'floe.toml:24: jobs.home.repository: "mian" is not a repository of this file (defined: main, offsite)',
  );
});

Deno.test("password-file and password-command together", () => {
  const e = problem(
    FULL.replace(
      'password-command = "pass show floe"',
      'password-command = "pass show floe"\npassword-file = "/pw"',
    ),
  );
  assertEquals(
    e.message,
    "floe.toml:21: repositories.offsite.password-command: give password-file or password-command, not both",
  );
});

Deno.test("__proto__ keys are refused wherever they are", () => {
  const e = problem(FULL.replace("[jobs.home.keep]\n", '[jobs.home.keep]\n"__proto__" = { daily = 1 }\n'));
  assertEquals(e.message, 'floe.toml:35: jobs.home.keep.__proto__: the key "__proto__" is not allowed');
  assertEquals(problem('[jobs.__proto__]\nrepository = "x"\n').line, 1);
  assertEquals(problem('[repositories.r]\nlocation = "/r"\n__proto__.polluted = true\n').line, 3);
  assertEquals(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("values of the wrong type, missing keys, bad names, locations and rates", () => {
  assertEquals(
    problem('[repositories.r]\nlocation = "/r"\nconnections = "4"\n').message,
    'floe.toml:3: repositories.r.connections: must be a number, not the string "4"',
  );
  assertEquals(
    problem('[repositories.r]\npassword-file = "/pw"\n').message,
    "floe.toml:1: repositories.r.location: is required",
  );
  assertEquals(problem('[repositories."my repo"]\nlocation = "/r"\n').line, 1);
  assertEquals(
    problem('[repositories.r]\nlocation = ["/a", "ftp://x/y"]\n').key,
    "repositories.r.location[1]",
  );
  assertEquals(problem('[repositories.r]\nlocation = "/a"\nlimit-upload = "10Q"\n').line, 3);
  assertEquals(problem('[server]\nlisten = "localhost:99999"\n').key, "server.listen");
  assertEquals(problem('[server]\ntls-cert = "/c"\n').key, "server.tls-cert");
  assertEquals(problem('[server]\nrestore-roots = ["relative"]\n').key, "server.restore-roots[0]");
});

Deno.test("job kinds: options of another kind, unknown kind, paths for fs, hooks off, empty keep", () => {
  const base = '[repositories.r]\nlocation = "/r"\n\n[jobs.j]\nrepository = "r"\n';
  assert(
    problem(`${base}kind = "check"\npaths = ["/x"]\n`).message.startsWith(
      "floe.toml:7: jobs.j.paths: unknown key (a check job takes",
    ),
  );
  assertEquals(
    problem(`${base}kind = "chek"\n`).message,
    'floe.toml:6: jobs.j.kind: "chek" is not a job kind ("backup", "prune" or "check")',
  );
  assertEquals(problem(base).message, "floe.toml:4: jobs.j.paths: the fs source needs at least one path");
  assertEquals(problem(`${base}paths = ["/x"]\n[jobs.j.hooks]\nbefore = "x"\n`).key, "jobs.j.hooks");
  assertEquals(problem(`${base}paths = ["/x"]\n[jobs.j.keep]\n`).line, 7);
  assertEquals(problem(`${base}paths = ["/x"]\nkeep.within = "2 days"\n`).key, "jobs.j.keep.within");
  assertEquals(problem(`${base}kind = "prune"\nmax-unused = "120%"\n`).key, "jobs.j.max-unused");
  assertEquals(problem(`${base}kind = "check"\nread-data-subset = "3/2"\n`).key, "jobs.j.read-data-subset");
  assertEquals(
    problem(`${base}paths = ["/x"]\nsource-options = { a = [1] }\n`).key,
    "jobs.j.source-options.a",
  );
  // A non-fs source needs no paths.
  assertEquals(parseConfig(`${base}source = "npm:floe-mysql"\n`, "f").jobs.j.kind, "backup");
});

Deno.test("several problems: the first in file order is named, the others counted and kept", () => {
  const e = problem('[repositories.r]\nlocation = "/r"\nconnections = 0\nmax-writers = 0\n');
  assertEquals(e.line, 3);
  assert(e.message.endsWith("(and 1 more problem)"), e.message);
  assertEquals(e.problems.map((p) => p.key), ["repositories.r.connections", "repositories.r.max-writers"]);
});

Deno.test("a file over 1 MiB is refused", () => {
  problem(`# ${"x".repeat(MAX_CONFIG_BYTES)}\n`, "config-too-large");
});

Deno.test("loadConfig: reads a file, reports a missing one, bounds its size", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/floe.toml`, FULL);
    assertEquals((await loadConfig(`${dir}/floe.toml`)).jobs.home.repository, "main");
    const missing = await assertRejects(() => loadConfig(`${dir}/none.toml`), ConfigError);
    assertEquals(missing.code, "config-not-found");
    assertEquals(missing.message, `${dir}/none.toml: no such config file`);
    assertEquals((await assertRejects(() => loadConfig(dir), ConfigError)).code, "config-unreadable");
    await Deno.writeFile(`${dir}/big.toml`, new Uint8Array(MAX_CONFIG_BYTES + 1).fill(0x23));
    assertEquals(
      (await assertRejects(() => loadConfig(`${dir}/big.toml`), ConfigError)).code,
      "config-too-large",
    );
    await Deno.writeFile(`${dir}/latin1.toml`, new Uint8Array([0x23, 0xe9, 0x0a]));
    assertEquals(
      (await assertRejects(() => loadConfig(`${dir}/latin1.toml`), ConfigError)).code,
      "config-syntax",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("defaultConfigPath follows XDG_CONFIG_HOME, else HOME", () => {
  const env = (vars: Record<string, string>) => (k: string) => vars[k];
  assertEquals(
    defaultConfigPath(env({ XDG_CONFIG_HOME: "/x/cfg/", HOME: "/home/a" })),
    "/x/cfg/floe/floe.toml",
  );
  assertEquals(
    defaultConfigPath(env({ XDG_CONFIG_HOME: "rel", HOME: "/home/a" })),
    "/home/a/.config/floe/floe.toml",
  );
  assertEquals((assertThrows(() => defaultConfigPath(env({}))) as ConfigError).code, "config-no-home");
});
