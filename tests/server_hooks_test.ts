/**
 * Hooks through the HTTP API: `POST /jobs/{name}/runs` may carry `hooks` for that run; they are shell
 * commands run as floe, so the server refuses them (403 `hooks-not-allowed`, nothing run, no run queued)
 * unless the config says `[server] allow-hooks = true`, and then runs them with the job's facts. The
 * other routes that take a body name no hook (strict objects: an unknown `hooks` key is a 400).
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { standardConfig, startFixture } from "./server_fixture.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("server: hooks in a run request are refused unless [server] allow-hooks = true", opts, async () => {
  const f = await startFixture((d) => standardConfig(d).replace("allow-hooks = true", "allow-hooks = false"));
  try {
    const pwned = `${f.dir}/pwned`;
    for (const hooks of [{ before: `touch ${pwned}` }, { after: `touch ${pwned}` }, { finally: "true" }]) {
      const res = await f.api("/api/v1/jobs/home/runs", { method: "POST", json: { hooks } });
      assertEquals(res.status, 403);
      const body = await res.json();
      assertEquals(body.error.code, "hooks-not-allowed");
      assertStringIncludes(body.error.message, "allow-hooks = true");
    }
    assertEquals(await (await f.api("/api/v1/runs")).json(), [], "no run was queued");
    assert(!(await exists(pwned)), "no hook ran");

    // Without hooks the job runs: no body, or an empty object.
    for (const init of [{ method: "POST" }, { method: "POST", json: {} }]) {
      const res = await f.api("/api/v1/jobs/home/runs", init);
      assertEquals(res.status, 202);
      const run = await f.waitRun((await res.json()).id);
      assertEquals(run.status, "succeeded", String(run.error));
    }
    // Anything else in the body is refused, as bad JSON is.
    let res = await f.api("/api/v1/jobs/home/runs", { method: "POST", json: { command: "id" } });
    assertEquals(res.status, 400);
    await res.body?.cancel();
    res = await f.api("/api/v1/jobs/home/runs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    assertEquals(res.status, 400);
    await res.body?.cancel();

    // The other routes with a body take no command: a hooks key is an unknown key.
    res = await f.api("/api/v1/repositories/main/restore", {
      method: "POST",
      json: { snapshot: "latest", target: `${f.dir}/restore/x`, hooks: { before: `touch ${pwned}` } },
    });
    assertEquals(res.status, 400);
    for (const route of ["check", "prune", "forget"]) {
      res = await f.api(`/api/v1/repositories/main/${route}`, {
        method: "POST",
        json: { hooks: { before: `touch ${pwned}` } },
      });
      assertEquals(res.status, 400, route);
    }
    assert(!(await exists(pwned)), "no hook ran");
  } finally {
    await f.close();
  }
});

Deno.test(
  "server: with allow-hooks = true, a run request's hooks run with the job's facts",
  opts,
  async () => {
    const f = await startFixture();
    try {
      let res = await f.api("/api/v1/jobs/home/runs", {
        method: "POST",
        json: {
          hooks: {
            before: `echo "$FLOE_JOB|$FLOE_PATHS" > ${f.dir}/before.txt; echo hello from before`,
            after: `echo "$FLOE_SNAPSHOT_ID" > ${f.dir}/after.txt`,
            "hook-timeout": "30s",
          },
        },
      });
      assertEquals(res.status, 202);
      let run = await f.waitRun((await res.json()).id);
      assertEquals(run.status, "succeeded", String(run.error));
      assertEquals(Deno.readTextFileSync(`${f.dir}/before.txt`).trim(), `home|${f.dir}/src`);
      assertEquals(Deno.readTextFileSync(`${f.dir}/after.txt`).trim(), run.snapshot_id);
      const log = await (await f.api(`/api/v1/runs/${run.id}/log`)).text();
      assertStringIncludes(log, "[before] hello from before");

      // A failing before hook fails the run: no snapshot.
      res = await f.api("/api/v1/jobs/home/runs", { method: "POST", json: { hooks: { before: "exit 3" } } });
      run = await f.waitRun((await res.json()).id);
      assertEquals(run.status, "failed");
      assertEquals(run.error, "before hook exited with 3");
      assertEquals(run.snapshot_id, null);

      // A failing after hook fails the run but keeps the snapshot it came after (its id crosses from the
      // thread that ran the backup to the HTTP worker with the failure).
      res = await f.api("/api/v1/jobs/home/runs", { method: "POST", json: { hooks: { after: "exit 4" } } });
      run = await f.waitRun((await res.json()).id);
      assertEquals(run.status, "failed");
      assertEquals(run.error, "after hook exited with 4");
      assert(/^[0-9a-f]{64}$/.test(String(run.snapshot_id)), String(run.snapshot_id));
      const snaps = await (await f.api("/api/v1/repositories/main/snapshots")).json();
      assert(snaps.some((x: { id: string }) => x.id === run.snapshot_id), "the snapshot is kept");

      // Hooks that do not parse are a 400, not a run.
      res = await f.api("/api/v1/jobs/home/runs", { method: "POST", json: { hooks: { bogus: "x" } } });
      assertEquals(res.status, 400);
      assertStringIncludes((await res.json()).error.message, "hooks");
      res = await f.api("/api/v1/jobs/home/runs", { method: "POST", json: { hooks: { before: 42 } } });
      assertEquals(res.status, 400);
    } finally {
      await f.close();
    }
  },
);
