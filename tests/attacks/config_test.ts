/**
 * An attacker who can write the storage edits `config`: it must never choose the code floe runs, nor a
 * path floe writes to. Each hostile repository is a real one made by floe, then edited byte by byte.
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { runCli, SMALL_REPO, tempDir } from "../helpers.ts";
import { Engine } from "../../core/engine.ts";
import { FloeError, IntegrityError } from "../../core/errors.ts";
import { fromUtf8, utf8 } from "../../core/encoding.ts";
import { configAad } from "../../core/repository/config.ts";
import { Repository } from "../../core/repository/repository.ts";
import local from "../../plugins/storage/local/mod.ts";

const PASSWORD = "attack-password";

interface Hostile {
  dir: string;
  repo: string;
  /** A module that leaves `marker` behind if anything imports it. */
  evil: string;
  marker: string;
  config: Record<string, unknown>;
  /** Writes `config` with these fields changed. */
  tamper(fields: Record<string, unknown>): void;
  cleanup(): Promise<void>;
}

async function hostile(): Promise<Hostile> {
  const d = await tempDir("floe-attack-config-");
  const repo = `${d.path}/repo`;
  await Repository.init(local({ path: repo }), PASSWORD, SMALL_REPO);
  const marker = `${d.path}/PWNED`;
  const evil = `${d.path}/evil.ts`;
  Deno.writeTextFileSync(
    evil,
    `Deno.writeTextFileSync(${JSON.stringify(marker)}, "ran");\n` +
      `export default () => { Deno.writeTextFileSync(${JSON.stringify(marker)}, "built"); };\n`,
  );
  const config = JSON.parse(Deno.readTextFileSync(`${repo}/config`));
  return {
    dir: d.path,
    repo,
    evil,
    marker,
    config,
    tamper: (fields) =>
      Deno.writeTextFileSync(`${repo}/config`, JSON.stringify({ ...config, ...fields }, null, 2)),
    cleanup: d.cleanup,
  };
}

const open = (h: Hostile) => Repository.open(local({ path: h.repo }), PASSWORD);
const exists = (path: string) => {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
};

/** A server that counts the requests it gets: an `http:` specifier must never be fetched. */
function countingServer() {
  let hits = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    hits++;
    return new Response("export default () => ({});", {
      headers: { "content-type": "application/typescript" },
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/evil.ts`,
    hits: () => hits,
    close: () => server.shutdown(),
  };
}

Deno.test("attack config: cipher as a path, file:, http:, npm: or jsr: specifier is refused before anything loads", async () => {
  const h = await hostile();
  const http = countingServer();
  try {
    const specs = [
      new URL(`file://${h.evil}`).href,
      h.evil,
      "./evil.ts",
      "../evil.ts",
      http.url,
      "https://127.0.0.1:1/evil.ts",
      "npm:floe-evil-cipher@1.0.0",
      "jsr:@evil/cipher",
      "data:application/typescript,Deno.exit(7)",
    ];
    for (const cipher of specs) {
      h.tamper({ cipher });
      const e = await assertRejects(() => open(h), IntegrityError);
      assertEquals(e.code, "integrity");
      assert(e.message.startsWith(`config at ${h.repo} is damaged or altered: cipher`), e.message);
      assert(!e.message.includes("\n"), e.message);
      // The same through the engine, which would otherwise go on to the catalog.
      await assertRejects(
        () => Engine.open({ location: h.repo, password: PASSWORD, catalogPath: `${h.dir}/cat.db` }),
        IntegrityError,
        "cipher",
      );
    }
    assert(!exists(h.marker), "the module named by config ran");
    assertEquals(http.hits(), 0, "floe fetched the http: specifier config named");
    assert(!exists(`${h.dir}/cat.db`), "a catalog was created for a refused repository");
  } finally {
    await http.close();
    await h.cleanup();
  }
});

Deno.test("attack config: a cipher specifier is refused even when the caller trusts third-party transforms", async () => {
  const h = await hostile();
  try {
    h.tamper({ cipher: h.evil });
    await assertRejects(
      () => Repository.open(local({ path: h.repo }), PASSWORD, { transforms: { rot13: h.evil } }),
      IntegrityError,
      "cipher",
    );
    // An id the caller did not hand in names no code at all.
    h.tamper({ cipher: "rot13" });
    const e = await assertRejects(() => open(h), FloeError, "'rot13' is not built-in");
    assert(!(e instanceof IntegrityError) && e.code === "failed", e.message);
    assert(!exists(h.marker), "the module named by config ran");
  } finally {
    await h.cleanup();
  }
});

Deno.test("attack config: every plaintext field is authenticated (cipher, created, id, format, version)", async () => {
  const h = await hostile();
  try {
    const auth = `config at ${h.repo} failed authentication: it was altered or damaged`;
    // Another built-in cipher: it loads (built-in), and its key does not open the settings.
    h.tamper({ cipher: "aes-256-gcm" });
    assertEquals((await assertRejects(() => open(h), IntegrityError)).message, auth);
    // Another well-formed time, id, both sealed with the same key: the associated data no longer matches.
    h.tamper({ created: "2020-01-01T00:00:00.000Z" });
    assertEquals((await assertRejects(() => open(h), IntegrityError)).message, auth);
    h.tamper({ id: "0".repeat(64) });
    assertEquals((await assertRejects(() => open(h), IntegrityError)).message, auth);
    // Malformed values are refused before any key is tried.
    for (
      const [fields, what] of [
        [{ created: "yesterday" }, "created"],
        [{ created: 0 }, "created"],
        [{ format: "other" }, "format"],
        [{ format: undefined }, "format"],
        [{ cipher: "" }, "cipher"],
        [{ cipher: "ChaCha20-Poly1305" }, "cipher"],
        [{ settings: "not base64!" }, "settings"],
        [{ plugins: ["x"] }, "unknown field"],
      ] as const
    ) {
      h.tamper(fields);
      await assertRejects(() => open(h), IntegrityError, what);
    }
    Deno.writeTextFileSync(`${h.repo}/config`, "[1, 2]");
    await assertRejects(() => open(h), IntegrityError, "not a JSON object");
    Deno.writeFileSync(`${h.repo}/config`, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
    await assertRejects(() => open(h), IntegrityError, "not JSON");
    // The untouched config still opens.
    h.tamper({});
    await open(h);
  } finally {
    await h.cleanup();
  }
});

Deno.test("attack config: versions other than 2 are refused naming the version", async () => {
  const h = await hostile();
  try {
    h.tamper({ version: 1 });
    let e = await assertRejects(() => open(h), FloeError);
    assertEquals(
      e.message,
      "repository format version 1 is not supported: this floe reads version 2 only (create a new repository with 'floe init')",
    );
    assertEquals(e.code, "failed");
    h.tamper({ version: 3 });
    e = await assertRejects(() => open(h), FloeError);
    assertEquals(e.message, "repository format version 3 is not supported by this floe (it reads version 2)");
    for (const version of ["2", 2.5, null]) {
      h.tamper({ version });
      await assertRejects(() => open(h), FloeError, "repository format version");
    }
  } finally {
    await h.cleanup();
  }
});

Deno.test("attack config: an id that is not 64 lowercase hex digits is refused before it builds a path", async () => {
  const h = await hostile();
  const cache = `${h.dir}/deep/cache`;
  Deno.mkdirSync(cache, { recursive: true });
  const before = Deno.env.get("FLOE_CACHE_DIR");
  Deno.env.set("FLOE_CACHE_DIR", cache);
  try {
    const ids = [
      "../../x",
      "../../../../../../tmp/floe-attack-escape",
      "/tmp/floe-attack-escape",
      h.config.id as string + "/../../x",
      (h.config.id as string).slice(1),
      (h.config.id as string).toUpperCase(),
      (h.config.id as string) + "0",
      "",
      42,
    ];
    for (const id of ids) {
      h.tamper({ id });
      const e = await assertRejects(
        () => Engine.open({ location: h.repo, password: PASSWORD }),
        IntegrityError,
      );
      assert(e.message.includes("id") && e.message.includes("64 hex"), e.message);
    }
    // A well-formed id of another repository: refused by authentication, before the catalog opens.
    h.tamper({ id: "ab".repeat(32) });
    await assertRejects(
      () => Engine.open({ location: h.repo, password: PASSWORD }),
      IntegrityError,
      "authentication",
    );
    // Nothing was created: not in the cache, not around it, not where the ids pointed.
    assertEquals([...Deno.readDirSync(cache)], []);
    assertEquals([...Deno.readDirSync(`${h.dir}/deep`)].map((e) => e.name), ["cache"]);
    assertEquals([...Deno.readDirSync(h.dir)].map((e) => e.name).sort(), ["deep", "evil.ts", "repo"]);
    assert(!exists("/tmp/floe-attack-escape"));
    // The real id opens, and its catalog lands inside the cache.
    h.tamper({});
    const engine = await Engine.open({ location: h.repo, password: PASSWORD });
    await engine.close();
    assert(exists(`${cache}/${h.config.id}/catalog.db`));
  } finally {
    if (before === undefined) Deno.env.delete("FLOE_CACHE_DIR");
    else Deno.env.set("FLOE_CACHE_DIR", before);
    await h.cleanup();
  }
});

Deno.test("attack config: a compression specifier in the (authenticated) settings is refused", async () => {
  const h = await hostile();
  try {
    // Someone holding the keys reseals the settings: authentication passes, the shape check does not.
    const repo = await open(h);
    const reseal = async (settings: Record<string, unknown>) => {
      const sealed = await repo.cipher.encode(utf8(JSON.stringify(settings)), {
        associatedData: configAad(repo.config),
      });
      h.tamper({ settings: btoa(String.fromCharCode(...sealed)) });
    };
    for (const compression of [h.evil, new URL(`file://${h.evil}`).href, "npm:floe-evil@1", "./evil.ts"]) {
      await reseal({ ...repo.settings, compression });
      const e = await assertRejects(() => open(h), IntegrityError);
      assert(e.message.startsWith("config settings are invalid: compression"), e.message);
    }
    await reseal({ ...repo.settings, compression: "rot13" });
    await assertRejects(() => open(h), FloeError, "'rot13' is not built-in");
    await reseal({ ...repo.settings, packSize: 2 ** 40 });
    await assertRejects(() => open(h), IntegrityError, "packSize");
    await reseal({ ...repo.settings, chunker: { min: 0, avg: 1, max: 2 } });
    await assertRejects(() => open(h), IntegrityError, "chunker");
    assert(!exists(h.marker), "the module named by the settings ran");
    await reseal(repo.settings as unknown as Record<string, unknown>);
    assertEquals((await open(h)).settings, repo.settings);
  } finally {
    await h.cleanup();
  }
});

Deno.test({
  name: "attack config: the CLI refuses a config naming a module with exit code 1 and one line",
  sanitizeResources: false,
  fn: async () => {
    const h = await hostile();
    try {
      h.tamper({ cipher: new URL(`file://${h.evil}`).href });
      Deno.mkdirSync(`${h.dir}/home`);
      const r = await runCli(["--repo", h.repo, "snapshots"], {
        FLOE_PASSWORD: PASSWORD,
        HOME: `${h.dir}/home`,
        FLOE_CACHE_DIR: `${h.dir}/cache`,
      });
      const show = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
      assertEquals(r.code, 1, show);
      const err = r.stderr.split("\n").filter(Boolean);
      assertEquals(err.length, 1, show);
      assert(err[0].includes("config") && err[0].includes("cipher"), show);
      assert(!exists(h.marker), "the module named by config ran");
      assert(!exists(`${h.dir}/cache`), "a cache was created for a refused repository");
    } finally {
      await h.cleanup();
    }
  },
});

Deno.test("attack config: what init writes is exactly the documented v2 config", async () => {
  const h = await hostile();
  try {
    const raw = fromUtf8(Deno.readFileSync(`${h.repo}/config`));
    const c = JSON.parse(raw);
    assertEquals(Object.keys(c), ["format", "version", "id", "created", "cipher", "settings"]);
    assertEquals([c.format, c.version, c.cipher], ["floe", 2, "chacha20-poly1305"]);
    assertEquals(
      fromUtf8(configAad(c)),
      `floe config\n["floe",2,"${c.id}","${c.created}","chacha20-poly1305"]`,
    );
  } finally {
    await h.cleanup();
  }
});
