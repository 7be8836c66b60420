/**
 * The real `floe serve` for the web UI's tests and bench, on real data. Built once per process (a
 * template): a source tree (`photos/` two levels deep with binary files, a 10,000-file `photos/2024/`,
 * `mail/` with a file whose name is not UTF-8 so a backup warns), a repository holding two real
 * backups of it (a file changed between them, so a diff has content) and 998 more snapshot objects written
 * straight through the engine internals with older times and two hosts (as bench/server.ts does: a
 * thousand backups would take minutes). Each {@link startServer} then takes a fresh copy of the repository
 * (and its catalog) in a directory of tests/server_fixture.ts and starts the server on a random
 * loopback port with jobs over that tree, a slow source to cancel and a yearly job whose time passed two
 * hours ago while the server was down (overdue), and a restore root.
 *
 * @example
 * ```ts
 * import { startServer } from "./_server.ts";
 * const s = await startServer();
 * const res = await fetch(`${s.url}/api/v1/jobs`, { headers: { authorization: `Bearer ${s.token}` } });
 * await res.body?.cancel();
 * await s.close();
 * ```
 * @module
 */
import { Engine, internals } from "../../core/engine.ts";
import { loadPlugin } from "../../core/registry.ts";
import { SMALL_REPO } from "../helpers.ts";
import { startFixture, TOKEN } from "../server_fixture.ts";
import { RunsDb } from "../../server/runs_db.ts";
import { runsDbPath } from "../../server/serve.ts";

/** What the UI tests need to know about the server they drive. */
export interface UiTestServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** The bearer token. */
  token: string;
  /**
   * A backup job over part of the source tree: a few MB read in full, paced (tests/fixtures/paced_source.ts)
   * so that its progress shows for about a second.
   */
  job: string;
  /** A job whose run lasts long enough to be cancelled. */
  longJob: string;
  /** A job that is overdue: its only scheduled time, two hours ago, passed with no run. */
  overdueJob: string;
  /** The repository holding the snapshots. */
  repository: string;
  /** How many snapshots it holds. */
  snapshotCount: number;
  /** A host only some snapshots have, and how many. */
  otherHost: { name: string; count: number };
  /** The source tree on disk (the snapshots hold it under the same absolute path). */
  source: string;
  /** A directory one level below {@link source}, one below that, then a file in it: `[dir1, dir2, file]`. */
  browse: [string, string, string];
  /** A directory of the newest snapshot to restore, as an absolute path. */
  restoreFolder: string;
  /** A restore target the server accepts (under its restore root; not there yet). */
  restoreTarget: string;
  /** The directory with 10,000 entries, as an absolute path. */
  bigDir: string;
  /** Strings only an authenticated client may ever see (job, repository, host names, snapshot ids, paths). */
  privateStrings: string[];
  /** Stops the server and removes its directory. */
  close(): Promise<void>;
}

const PASSWORD = "server-test-password"; // the one tests/server_fixture.ts writes to its pw file
const REPO = "vault-east";
const JOB = "photos-nightly";
const LONG = "long-export";
const OVERDUE = "mail-yearly";
const HOST = "atlas-host";
const OTHER_HOST = "boreal-host";
const SNAPSHOTS = 1000;
const SLOW = new URL("../fixtures/slow_source.ts", import.meta.url).pathname;
/** The fs source with paced reads: a run of the job shows progress for about a second on any machine. */
const PACED = new URL("../fixtures/paced_source.ts", import.meta.url).pathname;

interface Template {
  dir: string;
  src: string;
  newest: string;
  otherHostCount: number;
}

let template: Promise<Template> | undefined;

function random(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

async function writeTree(src: string): Promise<void> {
  await Deno.mkdir(`${src}/photos/2023`, { recursive: true });
  await Deno.mkdir(`${src}/photos/2024`);
  await Deno.mkdir(`${src}/mail`);
  for (let i = 0; i < 5; i++) {
    await Deno.writeFile(`${src}/photos/2023/trip-${i}.jpg`, random(600_000 + i * 100_003, i + 1));
  }
  await Deno.writeTextFile(`${src}/photos/readme.txt`, "Holiday photos, sorted by year.\n");
  await Deno.writeFile(`${src}/photos/index.db`, random(3_000_000, 99));
  await Deno.writeFile(`${src}/mail/inbox.mbox`, random(2_000_000, 7));
  for (let i = 0; i < 10_000; i += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, j) => {
      const n = i + j;
      return Deno.writeFile(
        `${src}/photos/2024/img-${String(n).padStart(5, "0")}.jpg`,
        random(64 + n % 200, n),
      );
    }));
  }
  // A name that is not UTF-8 (backed up as bytes); the job's path `gone` does not exist, so a run has a
  // warning to show.
  const made = await new Deno.Command("sh", {
    args: ["-c", `printf x > "${src}/mail/$(printf 'draft-\\377.txt')"`],
  }).output();
  if (!made.success) {
    throw new Error(`cannot make the non-UTF-8 file: ${new TextDecoder().decode(made.stderr)}`);
  }
}

async function buildTemplate(): Promise<Template> {
  const dir = await Deno.makeTempDir({ prefix: "floe-ui-data-" });
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  const src = `${dir}/src`;
  await writeTree(src);
  const engine = await Engine.init({
    location: `${dir}/repo`,
    password: PASSWORD,
    catalogPath: `${dir}/catalog.db`,
    ...SMALL_REPO,
  });
  try {
    const source = () => loadPlugin("source", "fs", { paths: [src] });
    const first = await engine.backup(await source(), { host: HOST, tags: ["nightly"] });
    await Deno.writeTextFile(`${src}/photos/readme.txt`, "Holiday photos, sorted by year. 2024 added.\n");
    const newest = await engine.backup(await source(), { host: HOST, tags: ["nightly"] });
    const t0 = Date.parse(first.snapshot.time);
    let otherHostCount = 0;
    for (let i = 1; i <= SNAPSHOTS - 2; i++) {
      const host = i % 3 ? HOST : OTHER_HOST;
      if (host === OTHER_HOST) otherHostCount++;
      await internals(engine).repo.saveJson("snapshots", {
        ...first.snapshot,
        time: new Date(t0 - i * 6 * 3_600_000).toISOString(),
        host,
        tags: i % 7 ? ["nightly"] : ["nightly", "weekly"],
      });
    }
    return { dir, src, newest: newest.snapshotId, otherHostCount };
  } finally {
    await engine.close();
  }
}

async function copyDir(from: string, to: string): Promise<void> {
  const r = await new Deno.Command("cp", { args: ["-a", from, to] }).output();
  if (!r.success) throw new Error(`cp ${from}: ${new TextDecoder().decode(r.stderr)}`);
}

/**
 * Starts the real server on a fresh copy of the data.
 *
 * @example
 * ```ts
 * import { startServer } from "./_server.ts";
 * const s = await startServer();
 * await s.close();
 * ```
 */
export async function startServer(): Promise<UiTestServer> {
  const t = await (template ??= buildTemplate());
  // Once a year, at the minute two hours ago (local time, as cron): it fired while the server was down.
  const due = new Date(Date.now() - 2 * 3_600_000);
  const yearly = `${due.getMinutes()} ${due.getHours()} ${due.getDate()} ${due.getMonth() + 1} *`;
  const f = await startFixture((d) =>
    `[server]
listen = "127.0.0.1:8470"
restore-roots = ["${d}/restore"]
catch-up = false

[repositories.${REPO}]
location = "${d}/repo"
password-file = "${d}/pw"

[jobs.${JOB}]
repository = "${REPO}"
source = "${PACED}"
source-options = { delay_ms = 40 }
paths = ["${t.src}/photos/2023", "${t.src}/mail", "${t.src}/gone"]
tags = ["nightly"]
schedule = "0 3 * * *"

[jobs.${OVERDUE}]
repository = "${REPO}"
paths = ["${t.src}/mail"]
schedule = "${yearly}"

[jobs.${LONG}]
repository = "${REPO}"
source = "${SLOW}"
source-options = { files = 100000, size = 65536, delay_ms = 20 }
`, { start: false });
  await Deno.remove(`${f.dir}/repo`, { recursive: true });
  await copyDir(`${t.dir}/repo`, `${f.dir}/repo`);
  // The server has known the jobs since yesterday (it has run before), so the yearly job's time counts.
  const db = RunsDb.open(runsDbPath(f.configPath));
  db.markSeen([JOB, OVERDUE, LONG], Date.now() - 86_400_000);
  db.close();
  await f.start();
  const src = t.src;
  return {
    url: f.server.url,
    token: TOKEN,
    job: JOB,
    longJob: LONG,
    overdueJob: OVERDUE,
    repository: REPO,
    snapshotCount: SNAPSHOTS,
    otherHost: { name: OTHER_HOST, count: t.otherHostCount },
    source: src,
    browse: [`${src}/photos`, `${src}/photos/2023`, `${src}/photos/2023/trip-1.jpg`],
    restoreFolder: `${src}/photos/2023`,
    restoreTarget: `${f.dir}/restore/out`,
    bigDir: `${src}/photos/2024`,
    privateStrings: [JOB, LONG, OVERDUE, REPO, HOST, OTHER_HOST, t.newest.slice(0, 8), src, "trip-1.jpg"],
    close: () => f.close(),
  };
}
