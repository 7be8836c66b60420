import { assert, assertEquals, assertRejects } from "../tests/assert.ts";
import { storageConformance } from "../testing/mod.ts";
import { relative } from "node:path";
import { API_VERSION } from "./contracts.ts";
import { Engine, internals } from "./engine.ts";
import { builtins as BUILTINS } from "../plugins/mod.ts";
import {
  contractProblems,
  loadBuiltin,
  loadPlugin,
  PluginError,
  resolveBuiltin,
  resolveSpecifier,
} from "./registry.ts";
import { tempDir, TEST_KDF } from "../tests/helpers.ts";

const fixtures = new URL("../tests/fixtures/plugins/", import.meta.url);
const abs = (name: string) => new URL(name, fixtures).pathname;
/** The fixture as a `./` or `../` path relative to the working directory. */
const rel = (name: string) => {
  const r = relative(Deno.cwd(), abs(name));
  return r.startsWith("../") ? r : `./${r}`;
};

Deno.test("registry: built-ins load by name and satisfy their contracts", async () => {
  const local = await loadPlugin("storage", "local", { path: "/tmp/floe-registry-unused" });
  assertEquals([local.kind, local.name], ["storage", "local"]);
  const fs = await loadPlugin("source", "fs", { paths: ["/tmp"] });
  assertEquals([fs.kind, fs.name], ["source", "fs"]);
  for (const name of ["zstd", "gzip", "none"]) {
    const t = await loadPlugin("transform", name, {});
    assertEquals([t.kind, t.id, t.role, t.apiVersion], ["transform", name, "compression", API_VERSION]);
  }
  for (const name of ["aes-256-gcm", "chacha20-poly1305"]) {
    const t = await loadPlugin("transform", name, { key: new Uint8Array(32) });
    assertEquals([t.id, t.role], [name, "cipher"]);
  }
  // Every listed built-in resolves to a module that exists.
  for (const kind of ["storage", "source", "transform"] as const) {
    for (const [name, url] of Object.entries(BUILTINS[kind])) {
      assertEquals(resolveSpecifier(kind, name), url);
      Deno.statSync(new URL(url));
    }
  }
});

Deno.test("registry: a third-party transform loads from a relative path, an absolute path and a file: URL", async () => {
  const specs = [rel("rot13.ts"), abs("rot13.ts"), new URL("rot13.ts", fixtures).href];
  assert(specs[0].startsWith("./") || specs[0].startsWith("../"), specs[0]);
  for (const spec of specs) {
    const t = await loadPlugin("transform", spec, { suffix: "-x" });
    assertEquals([t.kind, t.name, t.id, t.role], ["transform", "rot13-x", "rot13", "compression"]);
    const data = new TextEncoder().encode("Hello, floe!");
    const enc = await t.encode(data);
    assertEquals(new TextDecoder().decode(enc), "Uryyb, sybr!");
    assertEquals(await t.decode(enc), data);
  }
});

Deno.test("registry: a path relative to the working directory is resolved against it", () => {
  assertEquals(
    resolveSpecifier("transform", "./plug ins/x.ts", "/srv/a"),
    "file:///srv/a/plug%20ins/x.ts",
  );
  assertEquals(resolveSpecifier("transform", "../x.ts", "/srv/a"), "file:///srv/x.ts");
  assertEquals(resolveSpecifier("transform", "npm:floe-rot13@1"), "npm:floe-rot13@1");
  assertEquals(resolveSpecifier("transform", "jsr:@x/rot13"), "jsr:@x/rot13");
});

Deno.test("registry: resolveBuiltin and loadBuiltin take built-in names only", async () => {
  for (const [name, url] of Object.entries(BUILTINS.transform)) {
    assertEquals(resolveBuiltin("transform", name), url);
  }
  const refused = [
    abs("rot13.ts"),
    rel("rot13.ts"),
    new URL("rot13.ts", fixtures).href,
    "npm:floe-x@1",
    "jsr:@x/y",
  ];
  for (const spec of [...refused, "http://127.0.0.1:1/x.ts", "constructor", "__proto__", "toString", ""]) {
    const e = await assertRejects(() => loadBuiltin("transform", spec), PluginError, "not a built-in");
    assert(!e.message.includes("\n"), e.message);
  }
  const zstd = await loadBuiltin("transform", "zstd", { level: 3 });
  assertEquals(zstd.id, "zstd");
  // The open-ended resolver no longer mistakes Object.prototype's members for built-ins either.
  await assertRejects(() => loadPlugin("transform", "constructor"), PluginError, "unknown transform plugin");
});

Deno.test("registry: a repository can use a third-party storage and a compression the caller trusts", async () => {
  const dir = await tempDir("floe-registry-");
  try {
    const storage = await loadPlugin("storage", abs("memory_storage.ts"), { name: "registry-engine" });
    const transforms = { rot13: abs("rot13.ts") };
    // A specifier in place of an id is refused: what a repository records must never choose code.
    await assertRejects(
      () => Engine.init({ storage, password: "pw", compression: abs("rot13.ts"), kdfParams: TEST_KDF }),
      Error,
      "not a transform id",
    );
    const engine = await Engine.init({
      storage,
      password: "pw",
      compression: "rot13",
      transforms,
      kdfParams: TEST_KDF,
      catalogPath: `${dir.path}/catalog.db`,
    });
    try {
      assertEquals(internals(engine).repo.compression?.id, "rot13");
      Deno.writeTextFileSync(`${dir.path}/f.txt`, "abc ".repeat(1000));
      const src = await loadPlugin("source", "fs", { paths: [`${dir.path}/f.txt`] });
      await engine.backup(src);
      await engine.restore({ snapshot: engine.resolveSnapshot("latest"), target: `${dir.path}/out` });
      assertEquals(Deno.readTextFileSync(`${dir.path}/out${dir.path}/f.txt`), "abc ".repeat(1000));
    } finally {
      await engine.close();
    }
    // Opening again needs the transform given again: the repository only names its id.
    await assertRejects(
      () => Engine.open({ storage, password: "pw", catalogPath: `${dir.path}/catalog.db` }),
      Error,
      "'rot13' is not built-in",
    );
    const again = await Engine.open({
      storage,
      password: "pw",
      transforms,
      catalogPath: `${dir.path}/catalog.db`,
    });
    assertEquals(internals(again).repo.compression?.id, "rot13");
    await again.close();
  } finally {
    await dir.cleanup();
  }
});

Deno.test("registry: broken modules are refused with a message naming what is missing", async () => {
  let e = await assertRejects(() => loadPlugin("transform", abs("no_default.ts")), PluginError);
  assert(e.message.includes("default export"), e.message);

  e = await assertRejects(() => loadPlugin("transform", abs("wrong_kind.ts")), PluginError);
  assert(e.message.includes('kind must be "transform"') && e.message.includes('"source"'), e.message);

  e = await assertRejects(() => loadPlugin("storage", abs("missing_get.ts")), PluginError);
  assert(e.message.includes("get (function) is missing"), e.message);
  assert(!e.message.includes("put (function)"), e.message);

  e = await assertRejects(() => loadPlugin("transform", abs("wrong_api.ts")), PluginError);
  assert(e.message.includes(`apiVersion must be ${API_VERSION}`) && e.message.includes("99"), e.message);

  e = await assertRejects(() => loadPlugin("transform", abs("throws.ts")), PluginError);
  assert(e.message.includes("option 'ok' is required"), e.message);

  e = await assertRejects(() => loadPlugin("transform", abs("does-not-exist.ts")), PluginError);
  assert(e.message.includes("cannot load") && e.message.includes("does-not-exist.ts"), e.message);

  // A valid transform is not a storage.
  e = await assertRejects(() => loadPlugin("storage", abs("rot13.ts")), PluginError);
  assert(e.message.includes('kind must be "storage"') && e.message.includes("location (string)"), e.message);
});

Deno.test("registry: contractProblems lists every problem", () => {
  assertEquals(contractProblems("transform", null), ["the factory returned no object"]);
  const p = contractProblems("storage", {
    kind: "storage",
    name: "x",
    apiVersion: API_VERSION,
    location: "x",
    capabilities: { maxObjectSize: 1, concurrency: "4" },
    create() {},
    put() {},
    get() {},
    stat() {},
    list() {},
    delete() {},
  });
  assertEquals(p, [
    "capabilities.concurrency (number) is missing",
    "capabilities.atomicCreate (boolean) is missing",
  ]);
  const t = contractProblems("transform", {
    kind: "transform",
    name: "",
    apiVersion: API_VERSION,
    id: "x",
    role: "both",
    encode() {},
    decode() {},
  });
  assertEquals(t, ["name (a non-empty string) is missing", 'role must be "compression" or "cipher"']);
  const source = { kind: "source", name: "s", apiVersion: API_VERSION, paths: ["/"], scan() {} };
  assertEquals(contractProblems("source", { ...source, capabilities: { remote: true } }), []);
  assertEquals(contractProblems("source", { ...source, capabilities: { remote: "yes" } }), [
    "capabilities.remote must be a boolean when given",
  ]);
  assertEquals(contractProblems("source", { ...source, capabilities: null }), [
    "capabilities must be an object when given",
  ]);
});

Deno.test("registry: unknown built-in names are refused, listing the built-ins", async () => {
  for (const [kind, name] of [["storage", "ftp"], ["transform", "lz4"], ["source", "oracle"]] as const) {
    const e = await assertRejects(() => loadPlugin(kind, name), PluginError);
    assert(e.message.includes(`'${name}'`), e.message);
    assert(e.message.includes(`unknown ${kind} plugin`), e.message);
    for (const b of Object.keys(BUILTINS[kind])) assert(e.message.includes(b), e.message);
    assert(!e.message.includes("none installed"), e.message);
  }
  // A built-in of another kind is not found under this kind.
  await assertRejects(() => loadPlugin("storage", "zstd"), PluginError, "unknown storage plugin");
});

storageConformance("third-party memory storage loaded through the registry", async () => ({
  storage: await loadPlugin("storage", rel("memory_storage.ts"), { name: "conformance" }),
}));

Deno.test("registry: every built-in storage exports the schemes plugins/mod.ts lists for it", async () => {
  for (const [name, url] of Object.entries(BUILTINS.storage)) {
    const claimed = Object.entries(BUILTINS.schemes).filter(([, s]) => s === name).map(([scheme]) => scheme);
    assertEquals((await import(url)).schemes, claimed, name);
  }
});
