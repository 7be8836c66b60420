/**
 * `deno task bench:server`: the HTTP server under load. A repository with 1,000 snapshots (one real
 * backup, 999 snapshot objects written through the engine with other times), `floe serve` as a child
 * process, a backup job of ~100 MB of fresh random files (rewritten before each run). Measures `GET /repositories/{name}/snapshots` latency
 * while that backup runs, the backup's slowdown with 100 SSE clients following it, failed requests, and
 * the server's idle RSS.
 *
 * Targets (issue #21): snapshots p99 ≤ 50 ms during a backup; 100 SSE clients slow the backup ≤ 5%;
 * no request fails.
 *
 * @example
 * ```sh
 * deno task bench:server
 * ```
 * @module
 */
import { Engine, internals } from "../core/engine.ts";
import { renderTable } from "./table.ts";

const SNAPSHOTS = 1000;
const SSE_CLIENTS = 100;
const TOKEN = "bench-token-0123456789abcdef";
const PASSWORD = "bench-password";
const MAIN = new URL("../cli/main.ts", import.meta.url).pathname;
const FILES = Number(Deno.env.get("BENCH_FILES") ?? 400);
const SIZE = 256 * 1024;
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 3);

const dir = await Deno.makeTempDir({ prefix: "floe-bench-server-" });
const env = { FLOE_CACHE_DIR: `${dir}/cache`, FLOE_SERVER_TOKEN: TOKEN };
Deno.env.set("FLOE_CACHE_DIR", env.FLOE_CACHE_DIR);

/** Fresh random content in every file, so that each backup reads, chunks, compresses and stores it all. */
async function freshData() {
  await Deno.mkdir(`${dir}/data`, { recursive: true });
  const buf = new Uint8Array(SIZE);
  for (let i = 0; i < FILES; i++) {
    for (let o = 0; o < SIZE; o += 65536) crypto.getRandomValues(buf.subarray(o, o + 65536));
    await Deno.writeFile(`${dir}/data/f${String(i).padStart(5, "0")}`, buf);
  }
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) : NaN;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p / 100 * sorted.length))];
}

async function main() {
  // The repository and its 1,000 snapshots.
  await Deno.mkdir(`${dir}/src`);
  await Deno.writeTextFile(`${dir}/src/a.txt`, "hello\n");
  await Deno.writeTextFile(`${dir}/pw`, PASSWORD);
  const engine = await Engine.init({
    location: `${dir}/repo`,
    password: PASSWORD,
    catalogPath: `${dir}/seed.db`,
  });
  const { loadPlugin } = await import("../core/registry.ts");
  const first = await engine.backup(await loadPlugin("source", "fs", { paths: [`${dir}/src`] }));
  const t0 = Date.parse(first.snapshot.time);
  for (let i = 1; i < SNAPSHOTS; i++) {
    await internals(engine).repo.saveJson("snapshots", {
      ...first.snapshot,
      time: new Date(t0 - i * 3_600_000).toISOString(),
    });
  }
  await engine.close();

  const port = (() => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const p = (l.addr as Deno.NetAddr).port;
    l.close();
    return p;
  })();
  await Deno.writeTextFile(
    `${dir}/floe.toml`,
    `[server]
listen = "127.0.0.1:${port}"
catch-up = false

[repositories.main]
location = "${dir}/repo"
password-file = "${dir}/pw"

[jobs.big]
repository = "main"
paths = ["${dir}/data"]
`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--quiet",
      "--v8-flags=--max-semi-space-size=1,--heap-growing-percent=50",
      MAIN,
      "serve",
      "--config",
      `${dir}/floe.toml`,
    ],
    env,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const base = `http://127.0.0.1:${port}`;
  const headers = { authorization: `Bearer ${TOKEN}` };
  let failed = 0, requests = 0;
  const api = async (path: string, init: RequestInit = {}) => {
    requests++;
    try {
      const res = await fetch(base + path, { ...init, headers });
      if (!res.ok) failed++;
      return res;
    } catch (e) {
      failed++;
      throw e;
    }
  };
  try {
    for (let i = 0;; i++) {
      try {
        await (await fetch(`${base}/healthz`)).body?.cancel();
        break;
      } catch {
        if (i > 200) throw new Error("the server did not start");
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
    const idleRss = rssKiB(child.pid);
    const count = (await (await api("/api/v1/repositories/main/snapshots")).json()).length;
    if (count !== SNAPSHOTS) throw new Error(`expected ${SNAPSHOTS} snapshots, the server lists ${count}`);
    const warmRss = rssKiB(child.pid);
    const idleLatencies: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      await (await api("/api/v1/repositories/main/snapshots")).arrayBuffer();
      idleLatencies.push(performance.now() - t);
    }
    idleLatencies.sort((a, b) => a - b);

    const backup = async (during?: (runId: string, done: Promise<unknown>) => Promise<void>) => {
      await freshData();
      const { id } = await (await api("/api/v1/jobs/big/runs", { method: "POST" })).json();
      let finished!: (v: unknown) => void;
      const done = new Promise((r) => finished = r);
      const extra = during?.(id, done);
      while (true) {
        const r = await (await api(`/api/v1/runs/${id}`)).json();
        if (r.status !== "queued" && r.status !== "running") {
          finished(r);
          await extra;
          if (r.status !== "succeeded") throw new Error(`backup run ${r.status}: ${r.error}`);
          return (Date.parse(r.finished) - Date.parse(r.started)) / 1000;
        }
        await new Promise((res) => setTimeout(res, 100));
      }
    };

    // Latency of the snapshot list during a backup (one client after the other, as a UI polls).
    const latencies: number[] = [];
    const withListing = await backup(async (_id, done) => {
      let over = false;
      done.then(() => over = true);
      while (!over) {
        const t = performance.now();
        const res = await api("/api/v1/repositories/main/snapshots");
        await res.arrayBuffer();
        latencies.push(performance.now() - t);
      }
    });
    // Alternating runs without and with the SSE clients, so that drift in the machine's load hits both.
    const alone: number[] = [];
    const withSse: number[] = [];
    let events = 0;
    for (let round = 0; round < ROUNDS; round++) {
      alone.push(await backup());
      withSse.push(
        await backup(async (id) => {
          await Promise.all(Array.from({ length: SSE_CLIENTS }, async () => {
            const res = await api(`/api/v1/runs/${id}/events`);
            const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
            while (true) {
              const { value, done } = await reader.read();
              if (done) break;
              events += value.split("\n\n").length - 1;
            }
          }));
        }),
      );
    }
    const aloneMin = Math.min(...alone);
    const sseMin = Math.min(...withSse);
    latencies.sort((a, b) => a - b);
    const ms = (v: number) => `${v.toFixed(1)} ms`;
    console.log(
      renderTable(["measure", "value", "target"], [
        ["snapshots listed", String(SNAPSHOTS), ""],
        [
          "GET …/snapshots, no backup: p50 / p99 (200 requests)",
          `${ms(percentile(idleLatencies, 50))} / ${ms(percentile(idleLatencies, 99))}`,
          "",
        ],
        ["GET …/snapshots during a backup: requests", String(latencies.length), ""],
        ["  p50", ms(percentile(latencies, 50)), ""],
        ["  p99", ms(percentile(latencies, 99)), "≤ 50 ms"],
        ["  max", ms(latencies.at(-1)!), ""],
        [`backup (${FILES} × ${SIZE / 1024} KiB) alone, best of ${ROUNDS}`, `${aloneMin.toFixed(2)} s`, ""],
        [`backup with ${SSE_CLIENTS} SSE clients, best of ${ROUNDS}`, `${sseMin.toFixed(2)} s`, ""],
        ["  slowdown (best vs best)", `${((sseMin / aloneMin - 1) * 100).toFixed(1)} %`, "≤ 5 %"],
        [
          "  all runs alone / with clients",
          `${alone.map((t) => t.toFixed(2)).join(", ")} / ${withSse.map((t) => t.toFixed(2)).join(", ")} s`,
          "",
        ],
        ["machine load average (1 min) at the end", Deno.loadavg()[0].toFixed(1), ""],
        ["  events delivered (all clients)", String(events), ""],
        ["backup while listing snapshots", `${withListing.toFixed(2)} s`, ""],
        ["requests / failed", `${requests} / ${failed}`, "0 failed"],
        ["server RSS idle (after start)", `${(idleRss / 1024).toFixed(1)} MiB`, "reported"],
        ["server RSS idle (catalog of 1,000 snapshots open)", `${(warmRss / 1024).toFixed(1)} MiB`, ""],
      ], ["left", "right", "left"]),
    );
  } finally {
    child.kill("SIGTERM");
    const status = await child.status;
    const err = await new Response(child.stderr).text();
    if (status.code !== 0) console.error(`server exited ${status.code}: ${err}`);
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
