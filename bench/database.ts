/**
 * The database bench (issue 24): a generated MariaDB database of about 1 GB of dump, backed up on day 0,
 * then again after 1 % of its rows changed (day 1), by floe's mysql source, by `mariadb-dump | zstd > file`
 * and by `mariadb-dump | restic backup --stdin`. Targets on day 1: bytes added to floe's repository ≤ 5 % of
 * the dump, floe's wall time ≤ 1.2 × dump | zstd and ≤ 0.8 × dump | restic.
 *
 * ```sh
 * flock /work/wt/cpu.lock deno task bench:database --generate-only   # once: the data (a few minutes)
 * flock /work/wt/cpu.lock deno task bench:database                   # the comparison, in one hold
 * ```
 *
 * Options: `--workdir DIR` (default `/var/tmp/floe-bench-database`: the server's files stay there and
 * are used again), `--rows N` (default 6,000,000 ≈ 1 GB of dump), `--generate-only`.
 *
 * The data: `bench.orders` (id, customer, created, status, amount, note, payload — hex digests, so the dump
 * compresses about 2:1) and `bench.customers` (100,000 rows), filled with INSERT … SELECT from MariaDB's
 * sequence engine. The 1 % change, as a day of an order system makes it: 0.4 % of the orders updated in 20
 * runs of consecutive ids (status and amount), 0.4 % new orders appended, 0.2 % deleted in 10 runs. Changes
 * spread one row here and one there over the whole table would change every chunk of the dump: no
 * chunk-level deduplication (floe's or restic's) keeps those under 5 %.
 *
 * @module
 */
import { startMariadb } from "../tests/fixtures/servers/mariadb.ts";
import { DUMP_OPTIONS } from "../plugins/source/mysql/mod.ts";
import { loadAvg } from "./measure.ts";
import { renderTable } from "./table.ts";

const CONFIG = new URL("../deno.json", import.meta.url).pathname;

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}
const workdir = arg("--workdir") ?? "/var/tmp/floe-bench-database";
const rows = Number(arg("--rows") ?? 6_000_000);
const generateOnly = Deno.args.includes("--generate-only");

function uptime(): string {
  return `load average ${loadAvg().split(" ").slice(0, 3).join(" ")}`;
}

/** Runs `script` through `bash -o pipefail -c` with `env` added; returns wall seconds and stdout, throws on failure. */
async function timed(
  script: string,
  env: Record<string, string>,
): Promise<{ wall: number; stdout: string }> {
  console.error(`[bench] ${script.slice(0, 100)}`);
  const t0 = performance.now();
  const out = await new Deno.Command("bash", {
    args: ["-o", "pipefail", "-c", script],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wall = (performance.now() - t0) / 1000;
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(`${script.slice(0, 120)}: exit ${out.code}: ${dec.decode(out.stderr).slice(-800)}`);
  }
  return { wall, stdout: dec.decode(out.stdout) };
}

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

async function du(path: string): Promise<number> {
  return Number((await timed(`du -sb ${q(path)}`, {})).stdout.split(/\s/)[0]);
}

const db = await startMariadb({ dir: `${workdir}/mariadb`, bufferPool: "1G" });
try {
  const have = await db.sql(
    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='bench' AND table_name='generated'",
  );
  if (have.trim() !== "1") {
    console.error(`[bench] generating ${rows.toLocaleString("en")} orders …`);
    const t0 = performance.now();
    await db.sql(
      "DROP DATABASE IF EXISTS bench; CREATE DATABASE bench; USE bench;" +
        "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(64), email VARCHAR(128), city VARCHAR(32)," +
        " since DATE);" +
        "INSERT INTO customers SELECT seq, CONCAT('Customer ', seq), CONCAT(LEFT(MD5(seq), 12), '@example.com')," +
        " ELT(1 + seq % 5, 'Lyon', 'Zürich', 'Kraków', 'Porto', 'Tromsø'), '2015-01-01' + INTERVAL seq % 3000 DAY" +
        " FROM seq_1_to_100000;" +
        "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer INT NOT NULL, created DATETIME NOT NULL," +
        " status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL, note VARCHAR(255), payload VARCHAR(255)," +
        " KEY (customer));",
    );
    const batch = 500_000;
    for (let from = 1; from <= rows; from += batch) {
      const to = Math.min(rows, from + batch - 1);
      await db.sql(
        "INSERT INTO orders SELECT seq, 1 + (seq * 7919) % 100000, '2020-01-01' + INTERVAL seq * 13 SECOND," +
          " ELT(1 + seq % 4, 'new', 'paid', 'shipped', 'closed'), ROUND((seq * 104729 % 100000) / 100, 2)," +
          ` CONCAT('order note ', MD5(seq)), SHA2(seq, 256) FROM seq_${from}_to_${to};`,
        "bench",
      );
    }
    await db.sql(
      "CREATE TABLE generated (rows_made BIGINT); INSERT INTO generated VALUES (" + rows + ");",
      "bench",
    );
    console.error(`[bench] generated in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  if (!generateOnly) await compare();
} finally {
  await db.stop();
}

async function compare(): Promise<void> {
  const env = {
    MYSQL_PWD: db.password,
    RESTIC_PASSWORD: "bench",
    RESTIC_CACHE_DIR: `${workdir}/restic-cache`,
    FLOE_PASSWORD: "bench",
    FLOE_REPOSITORY: `${workdir}/floe-repo`,
    FLOE_CACHE_DIR: `${workdir}/floe-cache`,
  };
  for (const d of ["floe-repo", "floe-cache", "restic-repo", "restic-cache", "dump.sql.zst"]) {
    await Deno.remove(`${workdir}/${d}`, { recursive: true }).catch(() => {});
  }
  const conn = `--user=${db.user} --host=127.0.0.1 --port=${db.port}`;
  const dump = `mariadb-dump ${conn} ${DUMP_OPTIONS.join(" ")} bench`;
  const floe = `${q(Deno.execPath())} task --quiet --config ${q(CONFIG)} floe`;
  const url = `mysql://${db.user}@127.0.0.1:${db.port}`;
  const steps = {
    dump: `${dump} > /dev/null`,
    zstd: `${dump} | zstd -q > ${q(`${workdir}/dump.sql.zst`)}`,
    restic: `${dump} | restic -r ${q(`${workdir}/restic-repo`)} backup -q --stdin ` +
      `--stdin-filename bench.sql`,
    floe: `${floe} backup --source mysql ${url} --json`,
  };
  const loadBefore = uptime();
  await timed(`restic -r ${q(`${workdir}/restic-repo`)} init -q`, env);
  await timed(`${floe} init`, env);
  const dumpBytes = Number((await timed(`${dump} | wc -c`, env)).stdout.trim()); // also warms the caches
  const day0 = {
    zstd: (await timed(steps.zstd, env)).wall,
    restic: (await timed(steps.restic, env)).wall,
    floe: (await timed(steps.floe, env)).wall,
  };

  // The day's 1 %: 0.4 % updated in 20 runs, 0.4 % appended, 0.2 % deleted in 10 runs.
  const [n, max] = (await db.sql("SELECT COUNT(*), MAX(id) FROM orders", "bench")).trim().split("\t").map(
    Number,
  );
  const upd = Math.round(n * 0.004 / 20), del = Math.round(n * 0.002 / 10), add = Math.round(n * 0.004);
  const at = (i: number, k: number) => 1 + Math.floor(((i * 2654435761) % 1000003) / 1000003 * (max - k));
  let change = "";
  for (let i = 1; i <= 20; i++) {
    const a = at(i, upd);
    change += `UPDATE orders SET status = 'refunded', amount = amount + 1 WHERE id BETWEEN ${a} AND ${
      a + upd - 1
    };`;
  }
  for (let i = 21; i <= 30; i++) {
    const a = at(i, del);
    change += `DELETE FROM orders WHERE id BETWEEN ${a} AND ${a + del - 1};`;
  }
  change += "INSERT INTO orders SELECT seq, 1 + (seq * 7919) % 100000, NOW(), 'new', 9.99," +
    ` CONCAT('order note ', MD5(seq)), SHA2(seq, 256) FROM seq_${max + 1}_to_${max + add};`;
  await db.sql(change, "bench");

  const repo0 = await du(`${workdir}/floe-repo`);
  const restic0 = await du(`${workdir}/restic-repo`);
  const dumpDay1 = (await timed(steps.dump, env)).wall;
  const zstd = (await timed(steps.zstd, env)).wall;
  const restic = (await timed(steps.restic, env)).wall;
  const floeRun = await timed(steps.floe, env);
  const floeSummary = JSON.parse(floeRun.stdout.trim().split("\n").at(-1)!);
  const added = (await du(`${workdir}/floe-repo`)) - repo0;
  const resticAdded = (await du(`${workdir}/restic-repo`)) - restic0;
  const loadAfter = uptime();

  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const mark = (ok: boolean) => (ok ? "✓" : "✗");
  console.log(`# Database bench (${new Date().toISOString()})\n`);
  console.log(
    `MariaDB ${(await db.sql("SELECT VERSION()")).trim()}; ${n.toLocaleString("en")} orders; dump ` +
      `${mib(dumpBytes)} (${dumpBytes.toLocaleString("en")} bytes); day 1 changed ${
        (20 * upd + 10 * del + add).toLocaleString("en")
      } rows (${(100 * (20 * upd + 10 * del + add) / n).toFixed(2)} %).`,
  );
  console.log(`before: ${loadBefore}; after: ${loadAfter}; ${navigator.hardwareConcurrency} cores\n`);
  console.log(
    renderTable(["", "day 0 s", "day 1 s", "added day 1"], [
      ["mariadb-dump > /dev/null", "—", dumpDay1.toFixed(2), "—"],
      ["mariadb-dump | zstd > file", day0.zstd.toFixed(2), zstd.toFixed(2), "—"],
      ["mariadb-dump | restic backup --stdin", day0.restic.toFixed(2), restic.toFixed(2), mib(resticAdded)],
      ["floe backup --source mysql", day0.floe.toFixed(2), floeRun.wall.toFixed(2), mib(added)],
    ]),
  );
  console.log();
  console.log(
    renderTable(["target (day 1)", "measured", "target", ""], [
      [
        "bytes added to floe's repository",
        `${mib(added)} = ${(100 * added / dumpBytes).toFixed(2)} % of the dump`,
        "≤ 5 %",
        mark(added <= 0.05 * dumpBytes),
      ],
      [
        "floe wall ÷ (dump | zstd)",
        (floeRun.wall / zstd).toFixed(2),
        "≤ 1.2",
        mark(floeRun.wall <= 1.2 * zstd),
      ],
      [
        "floe wall ÷ (dump | restic --stdin)",
        (floeRun.wall / restic).toFixed(2),
        "≤ 0.8",
        mark(floeRun.wall <= 0.8 * restic),
      ],
    ]),
  );
  console.log(
    `\nfloe day 1: data_added ${mib(floeSummary.data_added)}, processed ${
      mib(floeSummary.total_bytes_processed)
    } in ${floeSummary.total_duration.toFixed(2)} s (engine time)`,
  );
}
