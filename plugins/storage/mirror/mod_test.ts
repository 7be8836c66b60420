import { storageConformance } from "../../../testing/mod.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../../../tests/assert.ts";
import { sshdMissing, startSshd } from "../../../tests/fixtures/servers/sshd.ts";
import { StorageError, type StoragePlugin } from "../../../core/contracts.ts";
import local from "../local/mod.ts";
import sftp from "../sftp/mod.ts";
import mirror from "./mod.ts";
import { compareMirrors } from "../../../core/mirrors.ts";

const missing = sshdMissing();
if (missing) console.log(`%cskipping mirror(local, sftp): ${missing}`, "color: yellow");

async function twoLocals() {
  const dir = await Deno.makeTempDir({ prefix: "floe-mirror-" });
  const a = local({ path: `${dir}/a` });
  const b = local({ path: `${dir}/b` });
  return { dir, a, b, cleanup: () => Deno.remove(dir, { recursive: true }) };
}

storageConformance("mirror(local, local)", async () => {
  const { a, b, cleanup } = await twoLocals();
  return { storage: mirror({ storages: [a, b] }), cleanup };
});

storageConformance("mirror(local, sftp)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "floe-mirror-" });
  const sshd = await startSshd();
  const remote = sftp({
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    path: `${sshd.root}/repo`,
    keyPath: sshd.keyPath,
    knownHostsPath: sshd.knownHostsPath,
  });
  return {
    storage: mirror({ storages: [local({ path: `${dir}/a` }), remote] }),
    cleanup: async () => {
      await sshd.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}, { ignore: missing !== null });

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("mirror: divergences are reported", async () => {
  const { a, b, cleanup } = await twoLocals();
  try {
    const m = mirror({ storages: [a, b] });
    await m.create();
    await m.put("data/00/one", enc("one"));
    await m.put("data/00/two", enc("two"));
    await m.put("index/i1", enc("index"));
    assertEquals(await compareMirrors(m.members, ["data/", "index/"]), []);
    await b.delete("data/00/one");
    await a.put("index/i1", enc("index, longer"));
    await a.put("snapshots/s1", enc("not compared"));
    assertEquals(await compareMirrors([a, b], ["data/", "index/"]), [
      {
        name: "data/00/one",
        problem: "missing",
        storages: [{ location: a.location, size: 3 }, { location: b.location, size: null }],
      },
      {
        name: "index/i1",
        problem: "size",
        storages: [{ location: a.location, size: 13 }, { location: b.location, size: 5 }],
      },
    ]);
  } finally {
    await cleanup();
  }
});

Deno.test("mirror: reads fall back to the next storage when one lacks the object", async () => {
  const { a, b, cleanup } = await twoLocals();
  try {
    const m = mirror({ storages: [a, b] });
    await m.create();
    await m.put("data/00/x", enc("hello"));
    await a.delete("data/00/x");
    assertEquals(new TextDecoder().decode(await m.get("data/00/x")), "hello");
    assertEquals(await m.get("data/00/x", { range: { offset: 1, length: 2 } }), enc("el"));
    assertEquals(await m.stat("data/00/x"), { name: "data/00/x", size: 5 });
    const names: string[] = [];
    for await (const o of m.list("data/")) names.push(o.name);
    assertEquals(names, ["data/00/x"]);
    await b.delete("data/00/x");
    const e = await assertRejects(() => m.get("data/00/x"), StorageError);
    assertEquals(e.code, "not-found");
  } finally {
    await cleanup();
  }
});

/** A storage whose every call fails with `code`. */
function broken(code: StorageError["code"]): StoragePlugin {
  const fail = () => Promise.reject(new StorageError(code, `broken (${code})`));
  return {
    kind: "storage",
    name: "broken",
    apiVersion: 1,
    location: `broken:${code}`,
    capabilities: { maxObjectSize: 1 << 20, atomicCreate: true, concurrency: 2 },
    create: fail,
    put: fail,
    get: fail,
    stat: fail,
    delete: fail,
    // deno-lint-ignore require-yield
    async *list() {
      throw new StorageError(code, "broken");
    },
  };
}

Deno.test("mirror: a transient failure of the first storage falls back; a put fails unless all succeed", async () => {
  const { a, cleanup } = await twoLocals();
  try {
    await a.create();
    await a.put("config", enc("c"));
    const m = mirror({ storages: [broken("transient"), a] });
    assertEquals(await m.get("config"), enc("c"));
    assertEquals(m.capabilities.maxObjectSize, 1 << 20);
    assertEquals(m.capabilities.concurrency, 2);
    const e = await assertRejects(() => m.put("data/00/y", enc("y")), StorageError);
    assertEquals(e.code, "transient");
    assert(e.message.includes("broken:transient"), e.message);
    const auth = mirror({ storages: [broken("auth"), a] });
    assertEquals((await assertRejects(() => auth.get("config"), StorageError)).code, "auth");
  } finally {
    await cleanup();
  }
});

Deno.test("mirror: create refused on one storage is undone on the others", async () => {
  const { a, b, cleanup } = await twoLocals();
  try {
    const m = mirror({ storages: [a, b] });
    await m.create();
    await b.put("locks/l1", enc("theirs"));
    const e = await assertRejects(() => m.put("locks/l1", enc("ours"), { create: true }), StorageError);
    assertEquals(e.code, "exists");
    assertEquals((await assertRejects(() => a.stat("locks/l1"), StorageError)).code, "not-found");
    assertEquals(await b.get("locks/l1"), enc("theirs"));
  } finally {
    await cleanup();
  }
});

Deno.test("mirror: needs at least one storage", () => {
  assertThrows(() => mirror({ storages: [] }), "at least one");
});
