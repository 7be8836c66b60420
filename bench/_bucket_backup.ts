/**
 * Child process of bench/bucket.ts: one floe backup of a bucket through the library (the CLI's
 * `--source bucket` wiring lives on another branch), so that its wall time and peak RSS are its own.
 *
 * Usage: `deno run -A bench/_bucket_backup.ts REPO_DIR LOCATION [MEMORY]`; S3 credentials from `AWS_*`.
 * Prints one JSON line: the summary and the source's budget peak.
 *
 * @module
 */
import { Engine } from "../mod.ts";
import bucket from "../plugins/source/bucket/mod.ts";

const [dir, location, memory] = Deno.args;
const options = { location: `${dir}/repo`, password: "bench", catalogPath: `${dir}/catalog.db` };
let exists = true;
try {
  Deno.statSync(`${dir}/repo/config`);
} catch {
  exists = false;
}
const engine = exists ? await Engine.open(options) : await Engine.init(options);
try {
  const source = bucket({ locations: [location], ...(memory ? { memory } : {}) });
  const r = await engine.backup(source);
  console.log(
    JSON.stringify({
      summary: r.snapshot.summary,
      warnings: r.warnings.length,
      budgetPeak: source.budget.peak,
    }),
  );
} finally {
  await engine.close();
}
