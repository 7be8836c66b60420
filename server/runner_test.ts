import { assert, assertEquals, assertRejects, assertStringIncludes } from "../tests/assert.ts";
import { standardConfig, startFixture } from "../tests/server_fixture.ts";
import { parseConfig } from "../config/mod.ts";
import { EngineAdapter } from "./_engine.ts";
import { HookError } from "../jobs/hooks.ts";
import { runJob } from "./runner.ts";

async function setup(hooks: string, extra = "") {
  const f = await startFixture((d) => standardConfig(d, `${extra}\n[jobs.home.hooks]\n${hooks}\n`), {
    start: false,
  });
  const config = parseConfig(await Deno.readTextFile(f.configPath), f.configPath);
  const engine = new EngineAdapter(config);
  const lines: string[] = [];
  const ctx = {
    signal: new AbortController().signal,
    onEvent: () => {},
    log: (l: string) => void lines.push(l),
  };
  return { f, config, engine, lines, ctx };
}

Deno.test("hooks: environment and output; a failing after hook fails the run and keeps the snapshot", async () => {
  const { f, config, engine, lines, ctx } = await setup(
    `before = "echo before $FLOE_JOB; echo to-stderr >&2"\n` +
      `after = "echo \\"$FLOE_SNAPSHOT_ID|$FLOE_EXIT_CODE|$FLOE_REPOSITORY|$FLOE_PATHS\\" > env.txt; exit 4"\n` +
      `on-failure = "echo failed: $FLOE_ERROR"\nfinally = "echo finally $FLOE_EXIT_CODE"`,
  );
  try {
    const cwd = Deno.cwd();
    Deno.chdir(f.dir);
    let e: HookError;
    try {
      e = await assertRejects(
        () => runJob(engine, config, "home", ctx),
        HookError,
        "after hook exited with 4",
      );
    } finally {
      Deno.chdir(cwd);
    }
    assert(/^[0-9a-f]{64}$/.test(e.snapshotId!));
    assertEquals(
      (await Deno.readTextFile(`${f.dir}/env.txt`)).trim(),
      `${e.snapshotId}|0|${f.dir}/repo|${f.dir}/src`,
    );
    assertEquals((await engine.snapshots("main")).map((s) => s.id), [e.snapshotId!]);
    assert(lines.includes("[before] before home"));
    assert(lines.includes("[before] to-stderr"));
    assert(lines.includes("[on-failure] failed: after hook exited with 4"));
    assert(lines.includes("[finally] finally 1"));
  } finally {
    await engine.close();
    await f.close();
  }
});

Deno.test("hooks: a failing before hook stops the run; retries with backoff", async () => {
  const { f, config, engine, lines, ctx } = await setup(
    `before = "test -e $FLOE_PATHS/../second || { touch $FLOE_PATHS/../second; exit 3; }"`,
    'retries = 1\nretry-delay = "1s"\n',
  );
  try {
    const result = await runJob(engine, config, "home", ctx);
    assert(result.snapshotId);
    assert(
      lines.some((l) =>
        l.startsWith("attempt 1 of 2 failed: before hook exited with 3; trying again in 1 s")
      ),
    );
    assertEquals((await engine.snapshots("main")).length, 1);
    const once = { ...config, jobs: { home: { ...config.jobs.home, retries: 0 } } };
    await Deno.remove(`${f.dir}/second`);
    await assertRejects(() => runJob(engine, once, "home", ctx), HookError, "before hook exited with 3");
    assertEquals((await engine.snapshots("main")).length, 1);
    assertStringIncludes(lines.join("\n"), "[before] $ test -e");
  } finally {
    await engine.close();
    await f.close();
  }
});
