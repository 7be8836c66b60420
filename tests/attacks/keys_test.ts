/**
 * An attacker who can write the storage edits `keys/*`: a key file must not make floe burn minutes and
 * gigabytes, and a damaged one must be named as damaged, not taken for a wrong password.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { tempDir, TEST_KDF } from "../helpers.ts";
import { FloeError, IntegrityError } from "../../core/errors.ts";
import { sha256Hex } from "../../core/crypto/hash.ts";
import { checkKdfParams, DEFAULT_KDF, newKdfParams } from "../../core/crypto/kdf.ts";
import { Repository } from "../../core/repository/repository.ts";
import local from "../../plugins/storage/local/mod.ts";

const SMALL = { chunker: { min: 16384, avg: 65536, max: 262144 }, packSize: 1 << 20, kdfParams: TEST_KDF };

async function withRepo(fn: (path: string, repo: Repository) => Promise<void>) {
  const d = await tempDir("floe-attack-keys-");
  try {
    const path = `${d.path}/repo`;
    await fn(path, await Repository.init(local({ path }), "pw-one", SMALL));
  } finally {
    await d.cleanup();
  }
}

const open = (path: string, password = "pw-one") => Repository.open(local({ path }), password);

/** Replaces key file `id` by `bytes` stored under their own hash, as a careful attacker would; returns it. */
function forge(path: string, id: string, edit: (file: Record<string, unknown>) => unknown): string {
  const file = JSON.parse(Deno.readTextFileSync(`${path}/keys/${id}`));
  const bytes = new TextEncoder().encode(JSON.stringify(edit(file) ?? file));
  const forged = sha256Hex(bytes);
  Deno.removeSync(`${path}/keys/${id}`);
  Deno.writeFileSync(`${path}/keys/${forged}`, bytes);
  return forged;
}

Deno.test("attack keys: a key file asking for scrypt N=2^24 (or 4 GiB of argon2id) is refused at once", async () => {
  await withRepo(async (path, repo) => {
    const costs: [Record<string, unknown>, string][] = [
      [{ name: "scrypt", N: 2 ** 24, r: 8, p: 1 }, "N=16777216"],
      [{ name: "scrypt", N: 2 ** 20, r: 16, p: 1 }, "more than 1 GiB"],
      [{ name: "scrypt", N: 2 ** 17, r: 8, p: 1000 }, "p=1000"],
      [{ name: "scrypt", N: 3 * 2 ** 15, r: 8, p: 1 }, "power of two"],
      [{ name: "argon2id", iterations: 3, memoryKiB: 4 * 2 ** 20, parallelism: 1 }, "memoryKiB=4194304"],
      [{ name: "argon2id", iterations: 10_000, memoryKiB: 65536, parallelism: 1 }, "iterations=10000"],
      [{ name: "argon2id", iterations: 3, memoryKiB: 65536, parallelism: 255 }, "parallelism=255"],
    ];
    let id = repo.keyId;
    for (const [cost, what] of costs) {
      id = forge(path, id, (f) => ({ ...f, kdf: { ...cost, salt: (f.kdf as { salt: string }).salt } }));
      const t = performance.now();
      const e = await assertRejects(() => open(path), IntegrityError);
      const ms = performance.now() - t;
      assert(ms < 500, `refusing ${what} took ${ms.toFixed(0)} ms`);
      assertEquals(e.code, "integrity");
      assert(e.message.includes(`keys/${id}`) && e.message.includes(what), e.message);
    }
  });
});

Deno.test("attack keys: a truncated key file is damaged (exit 1, naming it), not a wrong password", async () => {
  await withRepo(async (path, repo) => {
    const name = `${path}/keys/${repo.keyId}`;
    const good = Deno.readFileSync(name);
    for (const length of [0, 1, 40, good.length - 2]) {
      Deno.writeFileSync(name, good.subarray(0, length));
      const e = await assertRejects(() => open(path), IntegrityError);
      assertEquals(e.code, "integrity");
      assert(e.message.startsWith(`damaged key file: keys/${repo.keyId} (`), e.message);
      assert(!e.message.includes("password"), e.message);
    }
    // Truncated and renamed to its own hash: still damaged, for what it says.
    Deno.removeSync(name);
    const cut = good.subarray(0, good.length - 5);
    Deno.writeFileSync(`${path}/keys/${sha256Hex(cut)}`, cut);
    await assertRejects(() => open(path), IntegrityError, `keys/${sha256Hex(cut)} (it is not JSON`);
  });
});

Deno.test("attack keys: a key file whose shape is wrong is named as damaged before any field is used", async () => {
  await withRepo(async (path, repo) => {
    const edits: [(f: Record<string, unknown>) => unknown, string][] = [
      [(f) => ({ ...f, version: 2 }), "version 2 is not 1"],
      [(f) => ({ ...f, data: (f.data as string).slice(4) }), "data is not"],
      [(f) => ({ ...f, data: 42 }), "data is not"],
      [(f) => ({ ...f, data: "!" + (f.data as string).slice(1) }), "data is not"],
      [(f) => ({ ...f, kdf: { ...(f.kdf as object), salt: "AAAA" } }), "salt is 3 bytes"],
      [(f) => ({ ...f, kdf: { ...(f.kdf as object), salt: "%%%%" } }), "salt is not base64"],
      [(f) => ({ ...f, kdf: { ...(f.kdf as object), name: "pbkdf2" } }), "unknown key derivation function"],
      [(f) => ({ ...f, kdf: { ...(f.kdf as object), N: "1024" } }), "scrypt N="],
      [(f) => ({ ...f, kdf: { ...(f.kdf as object), module: "npm:x" } }), "unknown field"],
      [(f) => ({ ...f, kdf: null }), "kdf is not an object"],
      [(f) => ({ ...f, host: 7 }), "host is not a short string"],
      [(f) => ({ ...f, username: "u".repeat(5000) }), "username is not a short string"],
      [(f) => ({ ...f, extra: true }), "unknown field"],
      [() => [1, 2], "not a JSON object"],
    ];
    const original = Deno.readFileSync(`${path}/keys/${repo.keyId}`);
    for (const [edit, what] of edits) {
      const id = forge(path, repo.keyId, edit);
      const e = await assertRejects(() => open(path), IntegrityError);
      assert(e.message.includes(`keys/${id}`) && e.message.includes(what), `${what}: ${e.message}`);
      Deno.removeSync(`${path}/keys/${id}`);
      Deno.writeFileSync(`${path}/keys/${repo.keyId}`, original);
    }
    // Content that does not match the name (a careless edit) is damage as well.
    const f = JSON.parse(new TextDecoder().decode(original));
    Deno.writeTextFileSync(`${path}/keys/${repo.keyId}`, JSON.stringify({ ...f, host: "elsewhere" }));
    await assertRejects(() => open(path), IntegrityError, "does not match its name");
    // An oversized object is refused by its listed size, unread.
    Deno.writeFileSync(`${path}/keys/${repo.keyId}`, new Uint8Array(1 << 20));
    await assertRejects(() => open(path), IntegrityError, "1048576 bytes long");
  });
});

Deno.test("attack keys: a damaged key file does not stop a good one; none opening names the damaged ones", async () => {
  await withRepo(async (path, repo) => {
    const second = await repo.addKey("pw-two", TEST_KDF);
    Deno.writeTextFileSync(`${path}/keys/${repo.keyId}`, '{"version": 1, "kdf":');
    // The good key opens whatever its neighbour holds.
    assertEquals((await open(path, "pw-two")).keyId, second);
    // The damaged one held pw-one: say so, and that the other did not open with it.
    let e = await assertRejects(() => open(path, "pw-one"), IntegrityError);
    assertEquals(
      e.message,
      `damaged key file: keys/${repo.keyId} (it is not JSON (truncated?)); ` +
        "the other 1 key file did not open with this password",
    );
    // Two damaged, none left: both named.
    Deno.writeTextFileSync(`${path}/keys/${second}`, "");
    e = await assertRejects(() => open(path, "pw-two"), IntegrityError);
    assert(e.message.startsWith("damaged key files: ") && e.message.includes(second), e.message);
    assert(e.message.includes(repo.keyId) && !e.message.includes("did not open"), e.message);
  });
});

Deno.test("attack keys: exit code 12 only when every key file is well-formed and none opens", async () => {
  await withRepo(async (path, repo) => {
    await repo.addKey("pw-two", TEST_KDF);
    const e = await assertRejects(() => open(path, "wrong"), FloeError);
    assert(!(e instanceof IntegrityError));
    assertEquals(e.code, "wrong-password");
  });
});

Deno.test("attack keys: default KDF costs follow OWASP and stay within the bounds; a cost outside is refused", () => {
  const scrypt = newKdfParams("scrypt");
  const argon = newKdfParams("argon2id");
  assertEquals({ ...scrypt, salt: undefined }, { ...DEFAULT_KDF.scrypt, salt: undefined });
  assertEquals([DEFAULT_KDF.scrypt.N, DEFAULT_KDF.scrypt.r, DEFAULT_KDF.scrypt.p], [2 ** 17, 8, 1]);
  assertEquals([DEFAULT_KDF.argon2id.memoryKiB, DEFAULT_KDF.argon2id.iterations], [65536, 3]);
  assertEquals([checkKdfParams(scrypt), checkKdfParams(argon)], [null, null]);
  const e = assertThrows(() => newKdfParams("scrypt", { name: "scrypt", N: 2 ** 9, r: 8, p: 1 }));
  assert(e instanceof RangeError && e.message.includes("N=512"), String(e));
});
