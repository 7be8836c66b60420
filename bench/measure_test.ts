import { assert } from "../tests/assert.ts";
import { measure, SAMPLE_MS, treeAnonKiB } from "./measure.ts";

Deno.test("measure: the anonymous peak counts what the program allocated, not its binary's pages", async () => {
  // 64 MiB written (so resident), held for several sampling intervals.
  const code = `globalThis.held = new Uint8Array(64 << 20).fill(1); await new Promise((r) => setTimeout(r, ${
    20 * SAMPLE_MS
  }));`;
  const m = await measure({ cmd: [Deno.execPath(), "eval", code] });
  assert(m.ok, m.error);
  assert(m.anonKiB >= 64 * 1024, `anon ${m.anonKiB} KiB`);
  // The binary's file pages are in the RSS peak only.
  assert(m.rssKiB > m.anonKiB, `rss ${m.rssKiB} KiB, anon ${m.anonKiB} KiB`);
});

Deno.test("treeAnonKiB: this process is read; a process that is gone gives 0", () => {
  assert(treeAnonKiB(Deno.pid) > 0);
  assert(treeAnonKiB(2 ** 22 + 1) === 0);
});
