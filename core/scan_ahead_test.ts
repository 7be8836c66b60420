import { assertEquals } from "../tests/assert.ts";
import { API_VERSION, type ScanContext, type SourceEntry, type SourcePlugin } from "./contracts.ts";
import { scanAhead } from "./scan_ahead.ts";

function entry(i: number): SourceEntry {
  return { path: `/f${i}`, type: "file", size: 0, mtime: 0, mode: 0o644 };
}

function source(n: number, async: boolean, log: string[]): SourcePlugin {
  function* gen(ctx: ScanContext) {
    for (let i = 0; i < n; i++) {
      if (i === 3) ctx.warn({ path: `/f${i}`, message: "odd" });
      log.push(`walk ${i}`);
      yield entry(i);
    }
  }
  return {
    kind: "source",
    name: "test",
    apiVersion: API_VERSION,
    paths: ["/"],
    scan: async
      ? async function* (ctx: ScanContext) {
        for (const e of gen(ctx)) yield await Promise.resolve(e);
      }
      : gen,
  };
}

for (const async of [false, true]) {
  Deno.test(`scanAhead (${async ? "async" : "sync"} source): walks while the caller waits, then yields everything once, in order`, async () => {
    const log: string[] = [];
    const s = scanAhead(source(1000, async, log), { maxEntries: 600 });
    await new Promise((r) => setTimeout(r, 50)); // the caller is busy elsewhere (e.g. key derivation)
    assertEquals(log.length, 600); // buffered up to the bound, no further
    const warnings: string[] = [];
    const got: string[] = [];
    for await (const e of s.scan({ warn: (w) => warnings.push(w.path) })) got.push(e.path);
    assertEquals(got, Array.from({ length: 1000 }, (_, i) => `/f${i}`));
    assertEquals(warnings, ["/f3"]); // warnings found early are handed over
  });
}

Deno.test("scanAhead: stop() ends the early walk", async () => {
  const log: string[] = [];
  const s = scanAhead(source(100_000, false, log), { sliceMs: 1 });
  s.stop();
  const before = log.length;
  await new Promise((r) => setTimeout(r, 20));
  assertEquals(log.length, before);
});

Deno.test("scanAhead: a source that waits for its entry to be consumed (a streamed dump) does not deadlock", async () => {
  let consumed: () => void = () => {};
  const source: SourcePlugin = {
    kind: "source",
    name: "streamed",
    apiVersion: API_VERSION,
    paths: ["/"],
    async *scan() {
      yield entry(0);
      const read = new Promise<void>((r) => consumed = r);
      yield entry(1);
      await read; // as the mysql source awaits its dump's end, which comes once the archiver read it
      yield entry(2);
    },
  };
  const s = scanAhead(source);
  await new Promise((r) => setTimeout(r, 20));
  const got: string[] = [];
  for await (const e of s.scan({ warn: () => {} })) {
    got.push(e.path);
    if (e.path === "/f1") consumed();
  }
  assertEquals(got, ["/f0", "/f1", "/f2"]);
});
