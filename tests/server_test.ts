/**
 * `floe serve` end to end: a real server on a random loopback port with a temporary config and
 * repository. Routes, auth, SSE replay, cancellation, restart with history, schedules, catch-up, path
 * traversal, and the CLI commands around it (serve, run, jobs, jobs import).
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { standardConfig, startFixture, TOKEN } from "./server_fixture.ts";
import { RunsDb } from "../server/runs_db.ts";
import { runsDbPath } from "../server/serve.ts";
import { parseConfig } from "../config/mod.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const SLOW = new URL("./fixtures/slow_source.ts", import.meta.url).pathname;
const MAIN = new URL("../cli/main.ts", import.meta.url).pathname;

async function runJob(f: Awaited<ReturnType<typeof startFixture>>, job: string) {
  const res = await f.api(`/api/v1/jobs/${job}/runs`, { method: "POST" });
  assertEquals(res.status, 202);
  const { id, status } = await res.json();
  assert(["queued", "running"].includes(status));
  return await f.waitRun(id);
}

/** Reads a whole SSE response into events. */
async function sse(res: Response): Promise<{ id: number; event: string; data: Record<string, unknown> }[]> {
  const text = await res.text();
  return text.split("\n\n").filter((b) => b.trim()).map((block) => {
    const f: Record<string, string> = {};
    for (const line of block.split("\n")) {
      const i = line.indexOf(":");
      f[line.slice(0, i)] = line.slice(i + 1).trimStart();
    }
    return { id: Number(f.id), event: f.event, data: JSON.parse(f.data) };
  });
}

Deno.test("server: auth, OpenAPI, health", opts, async () => {
  const f = await startFixture();
  try {
    assertEquals(await (await fetch(`${f.server.url}/healthz`)).json(), { status: "ok" });
    for (
      const path of [
        "/api/v1/jobs",
        "/api/v1/runs",
        "/metrics",
        "/api/v1/openapi.json",
        "/api/v1/repositories",
      ]
    ) {
      const none = await fetch(f.server.url + path);
      assertEquals(none.status, 401, path);
      assertEquals((await none.json()).error.code, "unauthorized");
      const wrong = await fetch(f.server.url + path, {
        headers: { authorization: "Bearer wrong-token-xxxxxxxx" },
      });
      assertEquals(wrong.status, 401);
      await wrong.body?.cancel();
      const basic = await fetch(f.server.url + path, { headers: { authorization: "Basic dXNlcjpwdw==" } });
      assertEquals(basic.status, 401);
      await basic.body?.cancel();
    }
    const doc = await (await f.api("/api/v1/openapi.json")).json();
    assertEquals(doc.openapi, "3.1.0");
    for (
      const p of [
        "/api/v1/jobs",
        "/api/v1/jobs/{name}/runs",
        "/api/v1/runs/{id}/events",
        "/api/v1/repositories/{name}/snapshots/{id}/content",
        "/api/v1/repositories/{name}/restore",
        "/metrics",
      ]
    ) assert(doc.paths[p], `openapi lacks ${p}`);
    assert(doc.components.schemas.Run);
    // Bounded bodies; no CORS.
    const big = await f.api("/api/v1/repositories/main/forget", {
      method: "POST",
      json: { snapshots: ["a".repeat(2 << 20)] },
    });
    assertEquals(big.status, 413);
    await big.body?.cancel();
    const res = await f.api("/api/v1/jobs", { headers: { origin: "http://evil.example" } });
    assertEquals(res.headers.get("access-control-allow-origin"), null);
    await res.body?.cancel();
    assertEquals((await f.api("/api/v1/nothing")).status, 404);
  } finally {
    await f.close();
  }
});

Deno.test(
  "server: jobs, runs, events, snapshots, tree, content, diff, stats, check, prune, forget, restore, metrics",
  opts,
  async () => {
    const f = await startFixture((d) =>
      standardConfig(d, `[jobs.home.keep]\nlast = 2\n\n[jobs.verify]\nkind = "check"\nrepository = "main"\n`)
    );
    try {
      const jobs = await (await f.api("/api/v1/jobs")).json();
      assertEquals(jobs.map((j: { name: string }) => j.name), ["home", "verify"]);
      assertEquals(jobs[0].last_run, null);
      assertEquals(jobs[0].next_run, null);

      const first = await runJob(f, "home");
      assertEquals(first.status, "succeeded", JSON.stringify(first));
      assert(typeof first.snapshot_id === "string");
      assertEquals((first.summary as Record<string, number>).total_files_processed, 2);
      await Deno.writeTextFile(`${f.dir}/src/c.txt`, "new file\n");
      const second = await runJob(f, "home");
      assertEquals(second.status, "succeeded");

      const listed = await (await f.api("/api/v1/jobs")).json();
      assertEquals(listed[0].last_run.id, second.id);
      assertEquals(listed[0].last_run.snapshot_id, second.snapshot_id);
      const runs = await (await f.api("/api/v1/runs?job=home&status=succeeded&limit=1")).json();
      assertEquals(runs.map((r: { id: string }) => r.id), [second.id]);
      assertEquals((await f.api("/api/v1/runs?limit=0")).status, 400);
      assertEquals((await f.api("/api/v1/runs/0123456789abcdef")).status, 404);
      assertEquals((await f.api("/api/v1/jobs/nope/runs", { method: "POST" })).status, 404);

      // Events of a finished run: all of them, then from Last-Event-ID on; the stream ends.
      const all = await sse(await f.api(`/api/v1/runs/${first.id}/events`));
      assertEquals(all[0].event, "start");
      assertEquals(all.at(-1)!.event, "done");
      assertEquals(all.at(-1)!.data.snapshot_id, first.snapshot_id);
      assertEquals(all.map((e) => e.id), all.map((_, i) => i + 1));
      const later = await sse(
        await f.api(`/api/v1/runs/${first.id}/events`, { headers: { "last-event-id": "1" } }),
      );
      assertEquals(later.map((e) => e.id), all.slice(1).map((e) => e.id));
      assertStringIncludes(await (await f.api(`/api/v1/runs/${first.id}/log`)).text(), "saved");

      // Repositories and snapshots.
      const repos = await (await f.api("/api/v1/repositories")).json();
      assertEquals(repos, [{
        name: "main",
        locations: [`${f.dir}/repo`],
        status: "ok",
        snapshots: 2,
        error: null,
      }]);
      const snaps = await (await f.api("/api/v1/repositories/main/snapshots")).json();
      assertEquals(snaps.map((s: { id: string }) => s.id), [first.snapshot_id, second.snapshot_id]);
      assertEquals(snaps[0].tags, ["nightly"]);
      const one =
        await (await f.api(`/api/v1/repositories/main/snapshots/${String(first.snapshot_id).slice(0, 8)}`))
          .json();
      assertEquals(one.id, first.snapshot_id);
      assertEquals((await f.api("/api/v1/repositories/main/snapshots/ffffffff")).status, 404);
      assertEquals((await f.api("/api/v1/repositories/nope/snapshots")).status, 404);

      const src = `${f.dir}/src`;
      const tree = await (await f.api(`/api/v1/repositories/main/snapshots/latest/tree?path=${src}`)).json();
      assertEquals(tree.map((e: { name: string }) => e.name), ["a.txt", "c.txt", "sub"]);
      assertEquals(tree[0].size, 13);
      const file = await f.api(`/api/v1/repositories/main/snapshots/latest/content?path=${src}/sub/b.txt`);
      assertEquals(file.headers.get("content-length"), "10000");
      assertEquals((await file.text()).length, 10000);
      const part = await f.api(`/api/v1/repositories/main/snapshots/latest/content?path=${src}/sub/b.txt`, {
        headers: { range: "bytes=5-14" },
      });
      assertEquals(part.status, 206);
      assertEquals(part.headers.get("content-range"), "bytes 5-14/10000");
      assertEquals(await part.text(), "5678901234");
      const bad = await f.api(`/api/v1/repositories/main/snapshots/latest/content?path=${src}/a.txt`, {
        headers: { range: "bytes=100-" },
      });
      assertEquals(bad.status, 416);
      await bad.body?.cancel();
      const tar = await f.api(`/api/v1/repositories/main/snapshots/latest/content?path=${src}/sub`);
      assertEquals(tar.headers.get("content-type"), "application/x-tar");
      const tarBytes = new Uint8Array(await tar.arrayBuffer());
      assert(tarBytes.length >= 10_000 + 3 * 512);
      assertStringIncludes(new TextDecoder().decode(tarBytes.subarray(0, 100)), "sub/");

      const diff = await (await f.api(`/api/v1/repositories/main/diff?from=${first.snapshot_id}&to=latest`))
        .json();
      assert(
        diff.changes.some((c: { path: string; modifier: string }) =>
          c.path.endsWith("/c.txt") && c.modifier === "+"
        ),
      );
      const stats = await (await f.api("/api/v1/repositories/main/stats")).json();
      assertEquals(stats.snapshots_count, 2);

      // Keep last = 2: a third run forgets the first snapshot.
      await Deno.writeTextFile(`${f.dir}/src/d.txt`, "another\n");
      const third = await runJob(f, "home");
      assertEquals((third.summary as Record<string, number>).snapshots_forgotten, 1);
      assertEquals((await (await f.api("/api/v1/repositories/main/snapshots")).json()).length, 2);

      // Operations as runs.
      const check =
        await (await f.api("/api/v1/repositories/main/check", { method: "POST", json: { read_data: true } }))
          .json();
      assertEquals((await f.waitRun(check.id)).status, "succeeded");
      assertEquals((await runJob(f, "verify")).status, "succeeded");
      const prune = await (await f.api("/api/v1/repositories/main/prune", { method: "POST", json: {} }))
        .json();
      assertEquals((await f.waitRun(prune.id)).status, "succeeded");
      const restore = await f.api("/api/v1/repositories/main/restore", {
        method: "POST",
        json: { snapshot: "latest", path: `${src}/sub`, target: `${f.dir}/restore/out` },
      });
      assertEquals(restore.status, 202);
      assertEquals((await f.waitRun((await restore.json()).id)).status, "succeeded");
      assertEquals((await Deno.readTextFile(`${f.dir}/restore/out/b.txt`)).length, 10_000);
      const forget = await (await f.api("/api/v1/repositories/main/forget", {
        method: "POST",
        json: { keep: { last: 1 } },
      })).json();
      assertEquals((await f.waitRun(forget.id)).status, "succeeded");
      const left = await (await f.api("/api/v1/repositories/main/snapshots")).json();
      assertEquals(left.length, 1);
      const del = await f.api(`/api/v1/repositories/main/snapshots/${left[0].id}`, { method: "DELETE" });
      assertEquals(await del.json(), { forgotten: left[0].id });
      assertEquals((await (await f.api("/api/v1/repositories/main/snapshots")).json()).length, 0);
      assertEquals(
        (await f.api("/api/v1/repositories/main/forget", { method: "POST", json: { keep: {} } })).status,
        400,
      );

      // Pause and resume.
      assertEquals((await (await f.api("/api/v1/jobs/home/pause", { method: "POST" })).json()).paused, true);
      assertEquals(
        (await (await f.api("/api/v1/jobs/home/resume", { method: "POST" })).json()).paused,
        false,
      );

      const metrics = await (await f.api("/metrics")).text();
      assertStringIncludes(metrics, `floe_job_runs_total{job="home",status="succeeded"} 3`);
      assertStringIncludes(metrics, `floe_job_last_files{job="home"} 4`);
      assertStringIncludes(metrics, `floe_repository_snapshots{repository="main"} 0`);
      assertStringIncludes(metrics, `floe_repository_last_check_success{repository="main"} 1`);
      assertStringIncludes(metrics, "floe_queue_depth 0");
      assert(/floe_job_last_success_timestamp_seconds\{job="home"\} \d{10}/.test(metrics));
      assert(/floe_job_last_duration_seconds\{job="home"\} [\d.]+/.test(metrics));
    } finally {
      await f.close();
    }
  },
);

Deno.test("server: path traversal on tree, content and restore targets", opts, async () => {
  const f = await startFixture();
  try {
    assertEquals((await runJob(f, "home")).status, "succeeded");
    for (const path of ["../../etc/passwd", `${f.dir}/src/../src/a.txt`, "/./etc", "relative", "/a\0b"]) {
      for (const what of ["tree", "content"]) {
        const res = await f.api(
          `/api/v1/repositories/main/snapshots/latest/${what}?path=${encodeURIComponent(path)}`,
        );
        assertEquals(res.status, 400, `${what} ${path}`);
        assertEquals((await res.json()).error.code, "invalid-path");
      }
    }
    assertEquals((await f.api(`/api/v1/repositories/main/snapshots/latest/tree?path=/etc`)).status, 404);
    await Deno.symlink("/tmp", `${f.dir}/restore/escape`);
    const cases: [string, number][] = [
      [`${f.dir}/restore/../pw-dir`, 400],
      [`${f.dir}/elsewhere`, 403],
      [`${f.dir}/restore/escape/x`, 403],
      ["/etc", 403],
      ["restore", 400],
    ];
    for (const [target, status] of cases) {
      const res = await f.api("/api/v1/repositories/main/restore", {
        method: "POST",
        json: { snapshot: "latest", target },
      });
      assertEquals(res.status, status, target);
      await res.body?.cancel();
    }
  } finally {
    await f.close();
  }
  const g = await startFixture((d) => standardConfig(d).replace(/restore-roots = .*\n/, ""));
  try {
    const res = await g.api("/api/v1/repositories/main/restore", {
      method: "POST",
      json: { snapshot: "latest", target: `${g.dir}/restore` },
    });
    assertEquals(res.status, 403);
    assertStringIncludes((await res.json()).error.message, "restore-roots");
  } finally {
    await g.close();
  }
});

Deno.test(
  "server: cancelling a running backup leaves no snapshot and no lock; SSE follows it live",
  opts,
  async () => {
    const f = await startFixture((d) =>
      standardConfig(
        d,
        `
[jobs.slow]
repository = "main"
source = "${SLOW}"
source-options = { files = 400, size = 8192, delay_ms = 10 }
`,
      )
    );
    try {
      const { id } = await (await f.api("/api/v1/jobs/slow/runs", { method: "POST" })).json();
      const stream = await f.api(`/api/v1/runs/${id}/events`);
      const again = await f.api("/api/v1/jobs/slow/runs", { method: "POST" });
      assertEquals(again.status, 409); // a job never overlaps itself
      await again.body?.cancel();
      // Follow the events live; cancel once the backup reports progress.
      let text = "";
      let cancelled = false;
      for await (const chunk of stream.body!.pipeThrough(new TextDecoderStream())) {
        text += chunk;
        if (!cancelled && text.includes("event: progress")) {
          cancelled = true;
          assertEquals((await f.api(`/api/v1/runs/${id}`, { method: "DELETE" })).status, 202);
        }
      }
      assert(cancelled, "progress streamed live");
      const run = await f.waitRun(id);
      assertEquals(run.status, "cancelled");
      const seen = await sse(new Response(text));
      assertEquals(seen[0].event, "start");
      assert(seen.some((e) => e.event === "progress"), "progress streamed live");
      assertEquals(seen.at(-1)!.event, "error");
      assertEquals(seen.at(-1)!.data.code, "cancelled");
      assertEquals((await (await f.api("/api/v1/repositories/main/snapshots")).json()).length, 0);
      assertEquals([...Deno.readDirSync(`${f.dir}/repo/locks`)].length, 0);
      assertEquals((await f.api(`/api/v1/runs/${id}`, { method: "DELETE" })).status, 409);
      // The repository is usable afterwards.
      assertEquals((await runJob(f, "home")).status, "succeeded");
      // Stopping the server (as on SIGTERM) cancels a run still going after the grace period.
      const last = await (await f.api("/api/v1/jobs/slow/runs", { method: "POST" })).json();
      await new Promise((r) => setTimeout(r, 500));
      await f.server.stop(200);
      const db = RunsDb.open(runsDbPath(f.configPath));
      assertEquals(db.get(last.id)!.status, "cancelled");
      db.close();
      assertEquals([...Deno.readDirSync(`${f.dir}/repo/snapshots`)].length, 1);
      assertEquals([...Deno.readDirSync(`${f.dir}/repo/locks`)].length, 0);
    } finally {
      await f.close();
    }
  },
);

Deno.test(
  "server: restart shows history; a run left running by a crash is failed; catch-up; 1-second schedule",
  opts,
  async () => {
    const f = await startFixture((d) =>
      standardConfig(
        d,
        `schedule = "0 3 * * *"\n\n[jobs.tick]\nrepository = "main"\npaths = ["${d}/src/sub"]\nschedule = "every 1s"\n`,
      )
        .replace("catch-up = false", "catch-up = true")
    );
    try {
      await (await f.api("/api/v1/jobs/tick/pause", { method: "POST" })).body?.cancel();
      const done = await runJob(f, "home");
      await f.server.stop(1_000);
      // Play a crash (a run left running) and a missed 03:00 run (the last one two days ago).
      const db = RunsDb.open(runsDbPath(f.configPath));
      const crashed = db.create({ job: "tick", kind: "backup", repository: "main" });
      db.started(crashed.id);
      const old = db.create({
        job: "home",
        kind: "backup",
        repository: "main",
        now: Date.now() - 2 * 86_400_000,
      });
      db.finished(old.id, { status: "succeeded", now: Date.now() - 2 * 86_400_000 });
      db.db.exec("UPDATE runs SET created_ms = created_ms - 3 * 86400000 WHERE id = '" + done.id + "'");
      db.close();

      await f.start();
      const after = await (await f.api(`/api/v1/runs/${done.id}`)).json();
      assertEquals(after.status, "succeeded");
      const failed = await (await f.api(`/api/v1/runs/${crashed.id}`)).json();
      assertEquals(failed.status, "failed");
      assertEquals(failed.error_code, "interrupted");
      const home = (await (await f.api("/api/v1/runs?job=home")).json()) as { id: string; created: string }[];
      const caughtUp = home.find((r) => r.id !== done.id && r.id !== old.id);
      assert(caughtUp, "catch-up ran the missed job at start");
      assertEquals((await f.waitRun(caughtUp.id)).status, "succeeded");

      // `tick` is still paused after the restart; resumed, it fires every second.
      const jobs = await (await f.api("/api/v1/jobs")).json();
      assertEquals(jobs.find((j: { name: string }) => j.name === "tick").paused, true);
      await (await f.api("/api/v1/jobs/tick/resume", { method: "POST" })).body?.cancel();
      const until = Date.now() + 5_000;
      let ticks: { status: string }[] = [];
      while (Date.now() < until) {
        ticks = await (await f.api("/api/v1/runs?job=tick&status=succeeded")).json();
        if (ticks.length >= 1) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert(ticks.length >= 1, "the 1-second schedule fired");
      const next = (await (await f.api("/api/v1/jobs")).json()).find((j: { name: string }) =>
        j.name === "tick"
      )
        .next_run;
      assert(Date.parse(next) - Date.now() <= 1_100);
    } finally {
      await f.close();
    }
  },
);

Deno.test(
  "server: overdue — a scheduled time passed while the server was down (no catch-up); failed, paused, good runs",
  opts,
  async () => {
    const extra = (d: string) =>
      ["late", "failing", "fine"].map((j) => `\n[jobs.${j}]\nrepository = "main"\npaths = ["${d}/src/sub"]\n`)
        .join("");
    const f = await startFixture((d) => standardConfig(d, extra(d)));
    try {
      const jobs = async () =>
        new Map(
          ((await (await f.api("/api/v1/jobs")).json()) as { name: string; overdue: boolean }[]).map((
            j,
          ) => [j.name, j]),
        );
      assertEquals([...(await jobs()).values()].map((j) => j.overdue), [false, false, false, false]);
      assertEquals((await runJob(f, "late")).status, "succeeded");
      await f.server.stop(1_000);
      // A schedule that fires twice, 4 s apart (grace: half of that), the second time while the server is
      // down; once a year, so it does not fire again during the test. Local time, as cron.
      while (new Date().getSeconds() < 6 || new Date().getSeconds() > 50) {
        await new Promise((r) => setTimeout(r, 500));
      }
      const due = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
      const cron = `${
        due.getSeconds() - 4
      },${due.getSeconds()} ${due.getMinutes()} ${due.getHours()} ${due.getDate()} ${due.getMonth() + 1} *`;
      const config = await Deno.readTextFile(f.configPath);
      await Deno.writeTextFile(
        f.configPath,
        config.replaceAll(
          `paths = ["${f.dir}/src/sub"]`,
          `paths = ["${f.dir}/src/sub"]\nschedule = "${cron}"`,
        ),
      );
      await new Promise((r) => setTimeout(r, due.getTime() + 3_000 - Date.now()));
      // While down, after that time: `failing` ran by hand and failed, `fine` ran and succeeded.
      const db = RunsDb.open(runsDbPath(f.configPath));
      for (const [job, status] of [["failing", "failed"], ["fine", "succeeded"]] as const) {
        const run = db.create({ job, kind: "backup", repository: "main" });
        db.started(run.id);
        db.finished(run.id, { status });
      }
      db.close();
      await f.start();
      let now = await jobs();
      assertEquals(now.get("late")?.overdue, true, "missed while down, no catch-up");
      assertEquals(
        (now.get("late") as unknown as { overdue_since: string }).overdue_since,
        due.toISOString(),
      );
      assertEquals(now.get("failing")?.overdue, true, "a failed run does not count");
      assertEquals(now.get("fine")?.overdue, false, "a run started since and succeeded");
      assertEquals(now.get("home")?.overdue, false, "not scheduled");
      await (await f.api("/api/v1/jobs/late/pause", { method: "POST" })).body?.cancel();
      assertEquals((await jobs()).get("late")?.overdue, false, "paused");
      const resumed = await (await f.api("/api/v1/jobs/late/resume", { method: "POST" })).json();
      assertEquals(resumed.overdue, true);
      assertEquals((await runJob(f, "late")).status, "succeeded");
      now = await jobs();
      assertEquals(now.get("late")?.overdue, false, "a good run since");
      const doc = await (await f.api("/api/v1/openapi.json")).json();
      assert(doc.components.schemas.Job.properties.overdue, "overdue in the OpenAPI document");
    } finally {
      await f.close();
    }
  },
);

async function floe(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", MAIN, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test(
  "cli: floe run, floe jobs, floe jobs import, a malformed config, floe serve and SIGTERM",
  opts,
  async () => {
    const f = await startFixture(
      (d) =>
        standardConfig(
          d,
          `schedule = "every 6h"\n\n[jobs.home.hooks]\nbefore = "echo before $FLOE_JOB"\nafter = "echo snap=$FLOE_SNAPSHOT_ID"\n`,
        ),
      { start: false },
    );
    try {
      const env = { FLOE_CACHE_DIR: `${f.dir}/cache`, XDG_CONFIG_HOME: `${f.dir}/xdg` };
      const run = await floe(["run", "home", "--config", f.configPath], env);
      assertEquals(run.code, 0, run.stderr);
      assertStringIncludes(run.stdout, "saved");
      assertStringIncludes(run.stderr, "[before] before home");
      assert(/\[after\] snap=[0-9a-f]{64}/.test(run.stderr), run.stderr);
      const jobs = await floe(["jobs", "--config", f.configPath, "--json"], env);
      const list = JSON.parse(jobs.stdout);
      assertEquals(list[0].name, "home");
      assert(Date.parse(list[0].next_run) > Date.now());

      const bad = `${f.dir}/bad.toml`;
      await Deno.writeTextFile(
        bad,
        `[repositories.main]\nlocation = "/srv/b"\n\n[jobs.x]\nrepository = "main"\npaths = ["/etc"]\nschedul = "0 3 * * *"\n`,
      );
      const broken = await floe(["serve", "--config", bad], env);
      assertEquals(broken.code, 2);
      assertEquals(broken.stderr.trim().split("\n").length, 1);
      assertStringIncludes(broken.stderr, "bad.toml:7: jobs.x.schedul");
      assertStringIncludes(broken.stderr, "schedul");

      const imported = await floe([
        "jobs",
        "import",
        "--freezer",
        new URL("../config/testdata/freezer_mixed.json", import.meta.url).pathname,
      ]);
      assertEquals(imported.code, 0, imported.stderr);
      const cfg = parseConfig(imported.stdout, "imported.toml");
      assert(Object.keys(cfg.jobs).length >= 1);
      assertStringIncludes(imported.stderr, "warning:");

      // floe serve: generated token file (0600, path printed, token not), API answers, SIGTERM exits 0.
      const port = (() => {
        const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const p = (l.addr as Deno.NetAddr).port;
        l.close();
        return p;
      })();
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          "--quiet",
          MAIN,
          "serve",
          "--config",
          f.configPath,
          "--listen",
          `127.0.0.1:${port}`,
        ],
        env,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let log = "";
      while (!log.includes("token:")) {
        const { value, done } = await stderr.read();
        if (done) break;
        log += value;
      }
      const tokenPath = `${f.dir}/xdg/floe/server-token`;
      assertStringIncludes(log, tokenPath);
      assertEquals(Deno.statSync(tokenPath).mode! & 0o777, 0o600);
      const token = Deno.readTextFileSync(tokenPath).trim();
      assert(!log.includes(token), "the token is never printed");
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/runs`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assertEquals(res.status, 200);
      assertEquals((await res.json()).length, 0); // `floe run` keeps no server history
      child.kill("SIGTERM");
      const status = await child.status;
      assertEquals(status.code, 0);
      stderr.releaseLock();
      await child.stderr.cancel().catch(() => {});
      await child.stdout.cancel();
      assert(TOKEN);
    } finally {
      await f.close();
    }
  },
);
