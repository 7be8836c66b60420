/**
 * Attacks on lock liveness (security review #19, finding 6): a lock must not look dead to a process that
 * cannot tell (another container with the same host name, another boot), must look dead when its holder
 * certainly is, and a holder whose lock went stale must not commit (no snapshot, no deletion).
 */
import { assert, assertEquals, assertRejects, assertStringIncludes, assertThrows } from "../assert.ts";
import { newEngine, randomBytes, tempDir } from "../helpers.ts";
import { loadPlugin } from "../../core/registry.ts";
import { type Engine, internals } from "../../core/engine.ts";
import { FloeError } from "../../core/errors.ts";
import { encodeHex } from "../../core/encoding.ts";
import { acquireLock, listLocks, type LockInfo, STALE_MS } from "../../core/repository/locks.ts";

const BOOT_ID = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
const PID_NS = Deno.readLinkSync("/proc/self/ns/pid");

function startOf(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
}

/** The pid of a process that has ended. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true", { stdout: "null", stderr: "null" }).spawn();
  await child.status;
  return child.pid;
}

/** A lock as another process would write it, with every field given. */
function lockOf(fields: Partial<LockInfo> & { pid: number }): Record<string, unknown> {
  return {
    exclusive: false,
    host: Deno.hostname(),
    purpose: "backup",
    time: Date.now(),
    bootId: BOOT_ID,
    pidNs: PID_NS,
    start: 1234,
    ...fields,
  };
}

async function plant(engine: Engine, info: Record<string, unknown>): Promise<string> {
  const name = `locks/${encodeHex(crypto.getRandomValues(new Uint8Array(16)))}`;
  await internals(engine).repo.storage.put(name, await internals(engine).repo.sealJson("locks", info));
  return name;
}

async function stale(engine: Engine, name: string): Promise<boolean> {
  const l = (await listLocks(internals(engine).repo)).find((l) => l.name === name);
  assert(l, `${name} is listed`);
  return l.stale;
}

async function names(engine: Engine, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of internals(engine).repo.storage.list(prefix)) out.push(o.name);
  return out.sort();
}

/** A repository with one forgotten snapshot: a prune has packs to delete. */
async function withPrunable(fn: (engine: Engine, dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir("floe-attack-locks-");
  try {
    const engine = await newEngine(dir.path);
    try {
      const src = `${dir.path}/src`;
      Deno.mkdirSync(src);
      Deno.writeFileSync(`${src}/a.bin`, randomBytes(1_500_000, 3));
      const source = await loadPlugin("source", "fs", { paths: [src] });
      const { snapshotId } = await engine.backup(source);
      await internals(engine).repo.storage.delete(`snapshots/${snapshotId}`);
      internals(engine).catalog.removeSnapshot(snapshotId);
      await fn(engine, dir.path);
    } finally {
      await engine.close();
    }
  } finally {
    await dir.cleanup();
  }
}

Deno.test({
  name: "attack locks: same host, dead pid, but another boot id or PID namespace and a recent refresh: " +
    "live, and prune only marks",
  sanitizeResources: false,
  fn: async () => {
    for (const other of [{ bootId: "00000000-1111-2222-3333-444444444444" }, { pidNs: "pid:[4026530000]" }]) {
      await withPrunable(async (engine) => {
        const name = await plant(engine, lockOf({ pid: await deadPid(), ...other }));
        assertEquals(await stale(engine, name), false, JSON.stringify(other));
        const packs = await names(engine, "data/");
        const r = await engine.prune();
        assertEquals(r.otherLocks, [name]);
        assertEquals(r.deleted.packs, 0, JSON.stringify(r));
        assert(r.marked.packs > 0, JSON.stringify(r));
        assertEquals(await names(engine, "data/"), packs, "no pack deleted while the other lock is live");
      });
    }
  },
});

Deno.test({
  name: "attack locks: same host, boot and PID namespace: a dead pid or a recycled one is stale, and " +
    "prune deletes; the live holder is not",
  sanitizeResources: false,
  fn: async () => {
    await withPrunable(async (engine) => {
      const dead = await plant(engine, lockOf({ pid: await deadPid() }));
      // This very process, but started at another time: the pid was reused, its locker is gone.
      const recycled = await plant(engine, lockOf({ pid: Deno.pid, start: startOf(Deno.pid) + 1 }));
      const sleeper = new Deno.Command("sleep", { args: ["30"], stdout: "null", stderr: "null" }).spawn();
      try {
        const live = await plant(engine, lockOf({ pid: sleeper.pid, start: startOf(sleeper.pid) }));
        assertEquals(await stale(engine, dead), true);
        assertEquals(await stale(engine, recycled), true);
        assertEquals(await stale(engine, live), false);
        await internals(engine).repo.storage.delete(live);
      } finally {
        sleeper.kill();
        await sleeper.status;
      }
      const r = await engine.prune();
      assertEquals(r.otherLocks, []);
      assert(r.deleted.packs > 0 && r.marked.packs === 0, JSON.stringify(r));
    });
  },
});

Deno.test({
  name: "attack locks: a lock of an older floe (no boot id, namespace, start time) with a dead pid is " +
    "judged by its refresh time only",
  sanitizeResources: false,
  fn: async () => {
    await withPrunable(async (engine) => {
      const pid = await deadPid();
      const recent = await plant(engine, {
        exclusive: false,
        host: Deno.hostname(),
        pid,
        purpose: "backup",
        time: Date.now(),
      });
      const old = await plant(engine, {
        exclusive: false,
        host: Deno.hostname(),
        pid,
        purpose: "backup",
        time: Date.now() - STALE_MS - 60_000,
      });
      assertEquals(await stale(engine, recent), false);
      assertEquals(await stale(engine, old), true);
      const r = await engine.prune();
      assertEquals(r.otherLocks, [recent]);
      assertEquals(r.deleted.packs, 0, JSON.stringify(r));
    });
  },
});

Deno.test({
  name: "attack locks: a lock not refreshed for the stale period is stale even when its holder runs",
  sanitizeResources: false,
  fn: async () => {
    await withPrunable(async (engine) => {
      const name = await plant(
        engine,
        lockOf({ pid: Deno.pid, start: startOf(Deno.pid), time: Date.now() - STALE_MS - 1 }),
      );
      assertEquals(await stale(engine, name), true);
      assertEquals(await engine.unlock(), 1);
      assertEquals(await names(engine, "locks/"), []);
    });
  },
});

Deno.test({
  name: "attack locks: malformed lock content (wrong types, control characters) blocks nobody",
  sanitizeResources: false,
  fn: async () => {
    await withPrunable(async (engine) => {
      for (
        const bad of [
          [],
          "lock",
          lockOf({ pid: -1 }),
          lockOf({ pid: 1.5 }),
          { ...lockOf({ pid: Deno.pid }), time: "now" },
          { ...lockOf({ pid: Deno.pid }), host: "evil\x1b]0;pwned\x07" },
          { ...lockOf({ pid: Deno.pid }), bootId: { toString: 1 } },
          { ...lockOf({ pid: Deno.pid }), exclusive: "yes" },
        ]
      ) {
        const name = await plant(engine, bad as Record<string, unknown>);
        const l = (await listLocks(internals(engine).repo)).find((l) => l.name === name)!;
        assertEquals([l.info, l.stale], [null, true], JSON.stringify(bad));
        await internals(engine).repo.storage.delete(name);
      }
    });
  },
});

Deno.test({
  name: "attack locks: a backup whose lock went stale writes no snapshot and fails with exit code 1",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-attack-locks-");
    try {
      const engine = await newEngine(dir.path);
      try {
        const src = `${dir.path}/src`;
        Deno.mkdirSync(src);
        Deno.writeFileSync(`${src}/a.bin`, randomBytes(300_000, 5));
        const source = await loadPlugin("source", "fs", { paths: [src] });
        // A stale period of 1 ms and no refresh in time: the state a suspended laptop wakes up in.
        const e = await assertRejects(
          () => engine.backup(source, { lockOptions: { staleMs: 1 } }),
          FloeError,
        );
        assertEquals(e.code, "failed");
        assertStringIncludes(e.message, "the repository lock went stale at ");
        assertStringIncludes(e.message, "(the process was suspended or could not reach the storage)");
        assertStringIncludes(e.message, "no snapshot was written; run the backup again");
        assertEquals(await names(engine, "snapshots/"), []);
        assertEquals(await names(engine, "index/"), [], "no index file either");
        assertEquals(await names(engine, "locks/"), [], "the lock is released");
        // The same backup with a lock that stays fresh works.
        const ok = await engine.backup(source);
        assertEquals(await names(engine, "snapshots/"), [`snapshots/${ok.snapshotId}`]);
      } finally {
        await engine.close();
      }
    } finally {
      await dir.cleanup();
    }
  },
});

Deno.test({
  name: "attack locks: a prune whose lock went stale deletes nothing",
  sanitizeResources: false,
  fn: async () => {
    await withPrunable(async (engine) => {
      const before = await names(engine, "");
      const e = await assertRejects(() => engine.prune({ lockOptions: { staleMs: 1 } }), FloeError);
      assertEquals(e.code, "failed");
      assertStringIncludes(e.message, "prune stopped before deleting or writing anything more");
      assertEquals(await names(engine, ""), before);
    });
  },
});

Deno.test({
  name: "attack locks: refreshed in time a lock stays fresh; after the process was frozen past its " +
    "deadline it stays lapsed even once refreshed again",
  sanitizeResources: false,
  fn: async () => {
    await withPrunable(async (engine) => {
      const lock = await acquireLock(internals(engine).repo, {
        exclusive: false,
        purpose: "backup",
        staleMs: 900,
        refreshMs: 50,
      });
      try {
        await new Promise((r) => setTimeout(r, 1_200));
        lock.assertFresh("test"); // refreshed all along: past the stale period, still fresh
        // Frozen: no timer runs (as in a suspended process) for longer than the stale period.
        const until = Date.now() + 1_000;
        while (Date.now() < until) { /* busy: the event loop does not turn */ }
        await new Promise((r) => setTimeout(r, 300)); // the refresh timer runs again
        const e = assertThrows(() => lock.assertFresh("nothing written"), "nothing written");
        assert(e instanceof FloeError, "a lapsed lock is not fresh again");
        assertStringIncludes(e.message, "nothing written");
      } finally {
        await lock.release();
      }
    });
  },
});
