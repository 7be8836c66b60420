import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { tempDir, TEST_KDF } from "../../tests/helpers.ts";
import { FloeError, IntegrityError } from "../errors.ts";
import { sha256Hex } from "../crypto/hash.ts";
import { fromUtf8 } from "../encoding.ts";
import local from "../../plugins/storage/local/mod.ts";
import { Repository } from "./repository.ts";

const SMALL = { chunker: { min: 16384, avg: 65536, max: 262144 }, packSize: 1 << 20, kdfParams: TEST_KDF };

async function withRepo(fn: (ctx: { path: string; repo: Repository }) => Promise<void>, options = {}) {
  const dir = await tempDir("floe-repo-");
  try {
    const repo = await Repository.init(local({ path: `${dir.path}/repo` }), "pw-one", {
      ...SMALL,
      ...options,
    });
    await fn({ path: `${dir.path}/repo`, repo });
  } finally {
    await dir.cleanup();
  }
}

Deno.test("repository: init then open with the password", async () => {
  await withRepo(async ({ path, repo }) => {
    assertEquals(repo.config.format, "floe");
    assertEquals(repo.config.version, 2);
    assertEquals(repo.config.cipher, "chacha20-poly1305");
    assert(/^[0-9a-f]{64}$/.test(repo.id));
    // The settings are sealed: the chunker sizes are not readable in config.
    const raw = fromUtf8(Deno.readFileSync(`${path}/config`));
    assert(!raw.includes("65536"), "settings leak into the plaintext config");
    const again = await Repository.open(local({ path }), "pw-one");
    assertEquals(again.id, repo.id);
    assertEquals(again.settings, repo.settings);
    assertEquals(again.keyId, repo.keyId);
    assertEquals(again.keys, repo.keys);
    assertEquals(again.compression?.id, "zstd");
    assert(await Repository.exists(local({ path })));
  });
});

Deno.test("repository: chacha20-poly1305 and no compression", async () => {
  await withRepo(async ({ path }) => {
    const repo = await Repository.open(local({ path }), "pw-one");
    assertEquals(repo.cipher.id, "chacha20-poly1305");
    assertEquals(repo.compression, null);
    const id = await repo.saveJson("snapshots", { hello: "world" });
    assertEquals(await repo.loadJson("snapshots", id), { hello: "world" });
  }, { cipher: "chacha20-poly1305", compression: "none" });
});

Deno.test("repository: a wrong password is a FloeError with exit code 12", async () => {
  await withRepo(async ({ path }) => {
    const err = await assertRejects(() => Repository.open(local({ path }), "wrong"), FloeError);
    assertEquals(err.code, "wrong-password");
    assert(!(err instanceof IntegrityError));
    assert(err.message.includes("password"), err.message);
  });
});

Deno.test("repository: init on an existing repository refuses and leaves it intact", async () => {
  await withRepo(async ({ path, repo }) => {
    const before = Deno.readFileSync(`${path}/config`);
    await assertRejects(() => Repository.init(local({ path }), "other", SMALL), FloeError, "already exists");
    assertEquals(Deno.readFileSync(`${path}/config`), before);
    assertEquals((await repo.listIds("keys")).length, 1);
    await assertRejects(() => Repository.open(local({ path }), "other"), FloeError);
  });
});

Deno.test("repository: several keys open the same repository; removeKey refuses the current and the last", async () => {
  await withRepo(async ({ path, repo }) => {
    const second = await repo.addKey("pw-two", TEST_KDF);
    const keys = await repo.listKeys();
    assertEquals(keys.length, 2);
    assertEquals(new Set(keys.map((k) => k.id)), new Set([repo.keyId, second]));
    const a = await Repository.open(local({ path }), "pw-one");
    const b = await Repository.open(local({ path }), "pw-two");
    assertEquals(a.keyId, repo.keyId);
    assertEquals(b.keyId, second);
    assertEquals(b.keys, a.keys);
    assertEquals(b.id, a.id);
    // Data sealed through one key reads through the other.
    const id = await a.saveJson("index", { version: 1, packs: [] });
    assertEquals(await b.loadIndex(id), { version: 1, packs: [] });

    await assertRejects(() => a.removeKey(a.keyId), FloeError, "in use");
    await assertRejects(() => a.removeKey(a.keyId.slice(0, 6)), FloeError, "in use");
    await assertRejects(() => a.removeKey("ffffffffffff"), FloeError, "no key");
    await assertRejects(() => a.removeKey(""), FloeError, "ambiguous");

    // b removes a's key; then a (still open, holding a removed key) cannot remove the last one.
    await b.removeKey(a.keyId);
    assertEquals((await b.listKeys()).map((k) => k.id), [second]);
    await assertRejects(() => a.removeKey(second), FloeError, "last");
    assertEquals((await b.listKeys()).length, 1);

    const err = await assertRejects(() => Repository.open(local({ path }), "pw-one"), FloeError);
    assertEquals(err.code, "wrong-password");
    await Repository.open(local({ path }), "pw-two");
  });
});

Deno.test("repository: a damaged key file does not stop another key from opening; no keys at all is an IntegrityError", async () => {
  await withRepo(async ({ path, repo }) => {
    const second = await repo.addKey("pw-two", TEST_KDF);
    Deno.writeTextFileSync(`${path}/keys/${repo.keyId}`, "{ not json");
    const b = await Repository.open(local({ path }), "pw-two");
    assertEquals(b.keyId, second);
    Deno.removeSync(`${path}/keys`, { recursive: true });
    Deno.mkdirSync(`${path}/keys`);
    await assertRejects(() => Repository.open(local({ path }), "pw-two"), IntegrityError, "no key");
  });
});

Deno.test("repository: sealed JSON round trip and tampered snapshot/index files name themselves", async () => {
  await withRepo(async ({ path, repo }) => {
    const snap = { version: 1, time: "2024-01-01T00:00:00.000+00:00", paths: ["/x"], tree: "00".repeat(32) };
    const sid = await repo.saveJson("snapshots", snap);
    const iid = await repo.saveJson("index", { version: 1, packs: [] });
    assertEquals(await repo.loadSnapshot(sid), snap);
    assertEquals(await repo.listIds("snapshots"), [sid]);
    // Compressed and sealed: the plaintext is not visible.
    assert(!fromUtf8(Deno.readFileSync(`${path}/snapshots/${sid}`)).includes("2024-01-01"));

    // A flipped byte: the content no longer matches the name.
    for (const [dir, id] of [["snapshots", sid], ["index", iid]] as const) {
      const file = `${path}/${dir}/${id}`;
      const good = Deno.readFileSync(file);
      const bad = new Uint8Array(good);
      bad[20] ^= 1;
      Deno.writeFileSync(file, bad);
      const err = await assertRejects(() => repo.loadJson(dir, id), IntegrityError);
      assertEquals(err.code, "integrity");
      assert(err.message.includes(`${dir}/${id}`), err.message);
      // Renamed to match its new content: authentication fails, naming the file.
      const newId = sha256Hex(bad);
      Deno.writeFileSync(`${path}/${dir}/${newId}`, bad);
      const err2 = await assertRejects(() => repo.loadJson(dir, newId), IntegrityError, "authentication");
      assert(err2.message.includes(`${dir}/${newId}`), err2.message);
      Deno.removeSync(`${path}/${dir}/${newId}`);
      Deno.writeFileSync(file, good);
    }

    // An index file copied into snapshots/ does not open there (the directory is authenticated).
    Deno.copyFileSync(`${path}/index/${iid}`, `${path}/snapshots/${iid}`);
    await assertRejects(() => repo.loadSnapshot(iid), IntegrityError, `snapshots/${iid}`);
    // Truncated.
    const truncated = Deno.readFileSync(`${path}/snapshots/${sid}`).subarray(0, 30);
    const tid = sha256Hex(truncated);
    Deno.writeFileSync(`${path}/snapshots/${tid}`, truncated);
    await assertRejects(() => repo.loadSnapshot(tid), IntegrityError, `snapshots/${tid}`);
  });
});

Deno.test("repository: a missing config is exit code 10; a foreign or tampered one is an IntegrityError", async () => {
  const dir = await tempDir("floe-repo-");
  try {
    const empty = local({ path: `${dir.path}/empty` });
    await empty.create();
    const err = await assertRejects(() => Repository.open(empty, "pw"), FloeError, "no repository");
    assertEquals(err.code, "no-repository");
    assertEquals(await Repository.exists(empty), false);
    // A directory that does not exist at all.
    const none = await assertRejects(
      () => Repository.open(local({ path: `${dir.path}/nope` }), "pw"),
      FloeError,
    );
    assertEquals(none.code, "no-repository");

    const path = `${dir.path}/repo`;
    await Repository.init(local({ path }), "pw", SMALL);
    const good = Deno.readTextFileSync(`${path}/config`);
    const config = JSON.parse(good);

    Deno.writeTextFileSync(`${path}/config`, JSON.stringify({ ...config, format: "other" }));
    await assertRejects(() => Repository.open(local({ path }), "pw"), IntegrityError, "format");

    Deno.writeTextFileSync(`${path}/config`, JSON.stringify({ ...config, version: 99 }));
    await assertRejects(() => Repository.open(local({ path }), "pw"), FloeError, "99");

    Deno.writeTextFileSync(`${path}/config`, "not json");
    await assertRejects(() => Repository.open(local({ path }), "pw"), IntegrityError, "config");

    // Sealed settings altered: authentication fails.
    const sealed = Uint8Array.from(atob(config.settings), (c) => c.charCodeAt(0));
    sealed[sealed.length - 1] ^= 1;
    const settings = btoa(String.fromCharCode(...sealed));
    Deno.writeTextFileSync(`${path}/config`, JSON.stringify({ ...config, settings }));
    await assertRejects(() => Repository.open(local({ path }), "pw"), IntegrityError, "config");

    Deno.writeTextFileSync(`${path}/config`, good);
    await Repository.open(local({ path }), "pw");
  } finally {
    await dir.cleanup();
  }
});
