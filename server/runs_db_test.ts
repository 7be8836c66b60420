import { assertEquals } from "../tests/assert.ts";
import { RunsDb } from "./runs_db.ts";

Deno.test("runs db: runs, events after a sequence number, logs, crash recovery, expiry", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/floe-server.db`;
    let db = RunsDb.open(path);
    assertEquals(Deno.statSync(path).mode! & 0o777, 0o600);
    const a = db.create({ job: "home", kind: "backup", repository: "main", now: 1000 });
    db.started(a.id, 1500);
    for (const type of ["start", "progress", "done"]) db.addEvent(a.id, { type });
    db.log(a.id, "one\ntwo\n", 1600);
    db.finished(a.id, {
      status: "succeeded",
      snapshotId: "ab".repeat(32),
      summary: { data_added: 5 },
      now: 2000,
    });
    const b = db.create({ job: "home", kind: "backup", repository: "main", now: 3000 });
    db.started(b.id, 3000);
    db.addEvent(b.id, { type: "start" });
    db.close();

    db = RunsDb.open(path, { now: 4000 });
    assertEquals(db.get(a.id)!.status, "succeeded");
    assertEquals(db.get(a.id)!.summary, { data_added: 5 });
    const crashed = db.get(b.id)!;
    assertEquals([crashed.status, crashed.errorCode, crashed.finishedMs], ["failed", "interrupted", 4000]);
    assertEquals(db.events(a.id, 1).map((e) => [e.seq, e.data.type]), [[2, "progress"], [3, "done"]]);
    assertEquals(db.addEvent(b.id, { type: "late" }), 2); // numbering goes on after a restart
    assertEquals(db.logLines(a.id).map((l) => l.line), ["one", "two"]);
    assertEquals(db.list({ job: "home", status: "failed" }).map((r) => r.id), [b.id]);
    assertEquals(db.lastRuns().get("home")!.id, b.id);
    assertEquals(db.lastRuns({ status: "succeeded" }).get("home")!.id, a.id);
    assertEquals(db.lastCreated("home"), 3000);
    db.setPaused("home", true);
    assertEquals([...db.paused()], ["home"]);
    db.setSnapshotCount("main", 3);
    db.setSnapshotCount("main", 4);
    assertEquals(db.snapshotCounts().get("main"), 4);
    assertEquals(db.expire(1, 2000 + 86_400_000 + 1), 1);
    assertEquals(db.get(a.id), undefined);
    assertEquals(db.events(a.id), []);
    db.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
