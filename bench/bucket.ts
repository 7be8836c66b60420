/**
 * `deno task bench:bucket`: floe's bucket source against rclone on a local Swift all-in-one (S3 API).
 *
 * A bucket of 20,000 objects of 1–64 KiB and 20 of 64 MiB (`BENCH_BUCKET_SMALL`, `BENCH_BUCKET_LARGE`
 * override the counts): floe's initial backup against `rclone copy` of the bucket to local disk, the
 * unchanged re-backup against `rclone check`; the requests each run sends (counted at a pass-through
 * proxy both tools go through), peak RSS, objects/s and MB/s; then a bucket of 2 objects of 1 GiB for
 * floe's peak RSS (when /dev/shm has room). Targets (issue #23): initial ≤ 1.0× rclone copy, unchanged
 * ≤ 0.3× rclone check, no request per unchanged object, peak RSS ≤ 200 MiB.
 *
 * `BENCH_BUCKET_MEMORY` sets the source's `memory` option of every floe run.
 *
 * On a shared machine, `BENCH_LOCK=/path/to/lock` makes the bench take that file's exclusive lock (flock)
 * for each phase rather than for the whole run: the fill, floe's initial backup with rclone copy, the
 * re-backup with rclone check, the 1 GiB objects. Each comparison runs within one hold, and the load
 * average is taken inside each hold.
 *
 * @module
 */
import { startSwift } from "../tests/fixtures/servers/swift.ts";
import { start as startProxy } from "../tests/fixtures/fault_proxy.ts";
import { s3Backend } from "../plugins/source/bucket/_s3.ts";
import { retrying } from "../plugins/storage/retry/mod.ts";
import { existsSync } from "node:fs";
import { ensureApt, floe } from "./tools.ts";
import { type CommandSpec, measure, type Measurement } from "./measure.ts";
import { fmtMiB, fmtRatio, fmtSeconds, renderTable } from "./table.ts";

const SMALL = Number(Deno.env.get("BENCH_BUCKET_SMALL") ?? 20_000);
const LARGE = Number(Deno.env.get("BENCH_BUCKET_LARGE") ?? 20);
const MiB = 1024 * 1024;
/** floe's peak RSS in every run, MiB (issue #23). */
const RSS_TARGET = 200;
/** The source's `memory` option for every floe run (`BENCH_BUCKET_MEMORY=32M`); the source's default otherwise. */
const MEMORY = Deno.env.get("BENCH_BUCKET_MEMORY") || undefined;
/** `BENCH_BUCKET_HUGE=0` skips the 2 × 1 GiB run. */
const HUGE = Deno.env.get("BENCH_BUCKET_HUGE") !== "0";

function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Incompressible bytes, unique per object (no chunk deduplicates, no block compresses). */
function bytesOf(size: number, _seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let off = 0; off < size; off += 65536) {
    crypto.getRandomValues(out.subarray(off, Math.min(off + 65536, size)));
  }
  return out;
}

/** 1 GiB in 16 MiB parts. */
async function* hugeParts(seed: number) {
  for (let p = 0; p < 64; p++) yield bytesOf(16 * MiB, seed * 100 + p);
}

const LOCK = Deno.env.get("BENCH_LOCK");
/** The load average (1, 5, 15 min) seen inside each phase's hold. */
const loads: string[] = [];

/** Runs `fn` holding {@link LOCK} (when set), and notes the load average inside the hold. */
async function phase<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const file = LOCK ? await Deno.open(LOCK, { read: true }) : undefined;
  try {
    await file?.lock(true);
    const t = performance.now();
    const out = await fn();
    loads.push(
      `${what}: load ${Deno.loadavg().map((l) => l.toFixed(2)).join(" ")} (${
        ((performance.now() - t) / 1000).toFixed(0)
      } s)`,
    );
    return out;
  } finally {
    await file?.unlock().catch(() => {});
    file?.close();
  }
}

async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

const apt = await ensureApt("rclone", ["rclone"]);
if (apt) console.warn(`rclone unavailable: ${apt}`);
const swift = await startSwift();
const proxy = await startProxy({ target: swift.proxyUrl });
const work = await Deno.makeTempDir({ prefix: "floe-bench-bucket-" });
const env = {
  AWS_ACCESS_KEY_ID: swift.accessKey,
  AWS_SECRET_ACCESS_KEY: swift.secretKey,
  AWS_REGION: swift.region,
};
// rclone goes through the Swift API (Debian's rclone 1.60 build fails on S3 with "unsupported
// transport"), with its storage URL pointed at the counting proxy.
const auth = await fetch(swift.authUrl, { headers: { "X-Auth-User": swift.user, "X-Auth-Key": swift.key } });
await auth.body?.cancel();
const storagePath = new URL(auth.headers.get("x-storage-url")!).pathname;
const rcloneConf = `${work}/rclone.conf`;
Deno.writeTextFileSync(
  rcloneConf,
  `[swift]\ntype = swift\nuser = ${swift.user}\nkey = ${swift.key}\nauth = ${swift.authUrl}\n` +
    `storage_url = ${proxy.url}${storagePath}\n`,
);
const backend = s3Backend(
  {
    endpoint: swift.s3Endpoint,
    region: swift.region,
    accessKeyId: swift.accessKey,
    secretAccessKey: swift.secretKey,
    requestTimeoutMs: 600_000,
  },
  "bench",
);

try {
  // The data set.
  const name = "bench-objects";
  await backend.createBucket(name);
  const rnd = prng(23);
  const small = Array.from(
    { length: SMALL },
    (_, i) => ({ key: `d${i % 50}/obj-${i}.bin`, size: 1024 + Math.floor(rnd() * 63 * 1024) }),
  );
  const large = Array.from({ length: LARGE }, (_, i) => ({ key: `large/big-${i}.bin`, size: 64 * MiB }));
  const t0 = performance.now();
  // A loaded machine makes the all-in-one slow to answer: the fill retries.
  const fill = retrying({ maxAttempts: 10, maxElapsedMs: 600_000 });
  await phase("fill", async () => {
    await pool(
      small,
      8,
      (o) => fill(`put ${o.key}`, undefined, () => backend.put(name, o.key, bytesOf(o.size, o.size), {})),
    );
    await pool(
      large,
      2,
      (o) => fill(`put ${o.key}`, undefined, () => backend.put(name, o.key, bytesOf(o.size, o.size + 1), {})),
    );
  });
  const objects = SMALL + LARGE;
  const bytes = small.reduce((n, o) => n + o.size, 0) + LARGE * 64 * MiB;
  console.error(
    `bucket filled in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${objects} objects, ${
      fmtMiB(bytes)
    }`,
  );

  // floe as a user runs it, through its CLI with the floe task's flags (tools.ts): `floe init` (not
  // measured), then `floe backup --source bucket`, so that what the CLI does at start (the malloc arena
  // cap, the V8 flags, the key derivation) is in the figures.
  const tool = floe({ home: `${work}/floe-home`, password: "bench" });
  await tool.prepare();
  const withEnv = (spec: CommandSpec): CommandSpec => ({ ...spec, env: { ...spec.env, ...env } });
  const floeRun = async (repo: string, bucketName: string, memory?: string) => {
    if (!existsSync(`${repo}/config`)) {
      const init = await measure(withEnv(tool.init(repo)));
      if (!init.ok) throw new Error(`floe init: ${init.error}`);
    }
    const backup = withEnv(tool.backup(repo, `s3:${proxy.url}/${bucketName}`, "bucket"));
    // `backup LOCATION` becomes `backup --source bucket LOCATION [--source-option memory=…]`.
    backup.cmd.splice(
      -1,
      0,
      "--source",
      "bucket",
      ...(memory ? ["--source-option", `memory=${memory}`] : []),
    );
    const before = proxy.stats.requests;
    const m = await measure(backup);
    return { m, requests: proxy.stats.requests - before };
  };
  const rclone = async (args: string[]) => {
    const before = proxy.stats.requests;
    const m = await measure({
      cmd: ["rclone", "--config", rcloneConf, "--transfers", "16", "--checkers", "16", ...args],
    });
    return { m, requests: proxy.stats.requests - before };
  };

  const [initial, copy] = await phase("initial backup vs rclone copy", async () => [
    await floeRun(`${work}/floe`, name, MEMORY),
    await rclone(["copy", `swift:${name}`, `${work}/rclone-copy`]),
  ]);
  const [unchanged, check, checkSize] = await phase("re-backup vs rclone check", async () => [
    await floeRun(`${work}/floe`, name, MEMORY),
    await rclone(["check", `swift:${name}`, `${work}/rclone-copy`]),
    await rclone(["check", "--size-only", `swift:${name}`, `${work}/rclone-copy`]),
  ]);

  /** Peak RSS, judged against {@link RSS_TARGET} on floe's rows. */
  const peak = (m: Measurement, judged: boolean) =>
    `${fmtMiB(m.rssKiB * 1024)}${judged ? (m.rssKiB <= RSS_TARGET * 1024 ? " ✓" : " ✗") : ""}`;
  const rate = (m: Measurement) =>
    m.ok ? `${(objects / m.wall).toFixed(0)} obj/s, ${(bytes / MiB / m.wall).toFixed(1)} MiB/s` : "";
  // A failed run shows what failed and no figure: its wall time is no result, let alone a ✓.
  const row = (what: string, r: { m: Measurement; requests: number }, vs?: Measurement, target?: number) => [
    what,
    r.m.ok ? fmtSeconds(r.m.wall) : `failed: ${r.m.error?.split("\n").pop()}`,
    vs && r.m.ok && vs.ok ? fmtRatio(r.m.wall / vs.wall, target) : "",
    String(r.requests),
    (r.requests / objects).toFixed(3),
    r.m.ok ? peak(r.m, what.startsWith("floe")) : "",
    r.m.ok ? fmtMiB(r.m.anonKiB * 1024) : "",
    rate(r.m),
  ];
  const rows = [
    row("floe initial backup", initial, copy.m, 1.0),
    row("rclone copy", copy),
    row("floe unchanged re-backup", unchanged, check.m, 0.3),
    row("rclone check", check),
    row("rclone check --size-only", checkSize),
  ];

  // Two objects of 1 GiB: peak RSS must not follow the object size.
  const df = await new Deno.Command("df", { args: ["--output=avail", "-B1", "/dev/shm"] }).output();
  const shm = Number(new TextDecoder().decode(df.stdout).split("\n")[1] ?? 0);
  if (HUGE && shm > 6 * 1024 * MiB) {
    const huge = "bench-huge";
    const big = await phase("2 x 1 GiB", async () => {
      await backend.createBucket(huge);
      for (let i = 0; i < 2; i++) {
        // Uploaded in parts so that the bench itself does not hold 1 GiB twice.
        await backend.putParts(huge, `huge-${i}.bin`, hugeParts(i), {});
      }
      return await floeRun(`${work}/floe-huge`, huge, MEMORY);
    });
    rows.push([
      "floe initial backup, 2 × 1 GiB",
      big.m.ok ? fmtSeconds(big.m.wall) : "failed",
      "",
      String(big.requests),
      "",
      big.m.ok ? peak(big.m, true) : "",
      big.m.ok ? fmtMiB(big.m.anonKiB * 1024) : "",
      big.m.ok ? `${(2048 / big.m.wall).toFixed(1)} MiB/s` : "",
    ]);
  }
  console.log(
    renderTable(
      ["run", "wall", "vs rclone", "requests", "req/object", "peak RSS", "anon RSS", "throughput"],
      rows,
      [
        "left",
        "right",
        "right",
        "right",
        "right",
        "right",
        "right",
        "right",
      ],
    ),
  );
  for (
    const [label, r] of [["floe initial", initial], ["floe unchanged", unchanged], [
      "rclone copy",
      copy,
    ]] as const
  ) {
    if (!r.m.ok) console.log(`${label}: ${r.m.error}`);
  }
  console.log(`${objects} objects, ${fmtMiB(bytes)} MiB`);
  for (const l of loads) console.log(l);
} finally {
  await backend.close();
  await proxy.stop();
  await swift.stop();
  await Deno.remove(work, { recursive: true }).catch(() => {});
}
