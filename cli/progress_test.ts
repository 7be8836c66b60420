import { assert, assertEquals } from "../tests/assert.ts";
import { formatBytes, formatDuration, progressLine, ProgressView } from "./progress.ts";
import type { EngineEvent } from "../mod.ts";

Deno.test("progress: sizes in binary units, durations as m:ss", () => {
  assertEquals(formatBytes(512), "512 B");
  assertEquals(formatBytes(1536), "1.50 KiB");
  assertEquals(formatBytes(20 * 1024 * 1024), "20.0 MiB");
  assertEquals(formatBytes(3 * 1024 ** 3), "3.00 GiB");
  assertEquals(formatDuration(75), "1:15");
  assertEquals(formatDuration(3725), "1:02:05");
});

Deno.test("progress: the line shows done of total, percent, rate, ETA, uploaded and the current file", () => {
  const line = progressLine(
    {
      files: 10,
      filesTotal: 40,
      bytes: 1024 ** 3,
      bytesTotal: 4 * 1024 ** 3,
      bytesUploaded: 512 * 1024 ** 2,
      rate: 100 * 1024 ** 2,
      path: "/home/ann/big.iso",
    },
    12,
    140,
  );
  for (
    const part of [
      "[0:12]",
      "25.0%",
      "10 / 40 files",
      "1.00 GiB / 4.00 GiB",
      "512 MiB uploaded",
      "100 MiB/s",
      "ETA 0:31",
      "/home/ann/big.iso",
    ]
  ) {
    assert(line.includes(part), `${part} not in ${line}`);
  }
});

Deno.test("progress: --json gives restic-style status lines for backup and restore only; warnings go to stderr", () => {
  const out: string[] = [], err: string[] = [];
  const view = new ProgressView({
    err: (t) => err.push(t),
    out: (l) => out.push(l),
    tty: false,
    json: true,
    quiet: false,
    verbose: false,
  });
  const base = { run: "r", time: 0 };
  const ev = (e: Record<string, unknown>) => view.onEvent({ ...base, ...e } as EngineEvent);
  ev({ op: "backup", type: "start" });
  ev({ op: "backup", type: "progress", files: 1, bytes: 5, filesTotal: 2, bytesTotal: 10, time: 1500 });
  ev({ op: "check", type: "progress", files: 1, bytes: 5, time: 3000 });
  ev({ op: "backup", type: "warning", path: "/x", message: "unreadable" });
  assertEquals(out.length, 1);
  const status = JSON.parse(out[0]);
  assertEquals([status.message_type, status.percent_done, status.total_files, status.bytes_done], [
    "status",
    0.5,
    2,
    5,
  ]);
  assertEquals(err, ["warning: /x: unreadable\n"]);
});
