import { assert, assertEquals, assertRejects } from "../../../tests/assert.ts";
import { bytes } from "../../../testing/mod.ts";
import { available } from "../../../core/platform/libc.ts";
import { PIECE, writeDirect } from "./direct.ts";
import local from "./mod.ts";

const linuxFfi = available();

Deno.test({
  name: "local direct writes: sizes around the alignment and the piece size come back byte for byte",
  ignore: !linuxFfi,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "floe-direct-" });
    try {
      const sizes = [1, 4095, 4096, 4097, PIECE - 1, PIECE, PIECE + 1, 3 * PIECE + 1234, 5 * PIECE];
      for (const [i, size] of sizes.entries()) {
        const data = bytes(size, i + 1);
        const path = `${dir}/f${i}`;
        assertEquals(await writeDirect(path, data, 0o640), true);
        const st = Deno.statSync(path);
        assertEquals(st.size, size);
        assertEquals(st.mode! & 0o777, 0o640 & ~Deno.umask());
        assertEquals(Deno.readFileSync(path), data, `size ${size}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "local direct writes: an existing file is not overwritten, a missing directory is NotFound",
  ignore: !linuxFfi,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "floe-direct-" });
    try {
      Deno.writeTextFileSync(`${dir}/there`, "keep");
      await assertRejects(() => writeDirect(`${dir}/there`, bytes(PIECE), 0o644), Deno.errors.AlreadyExists);
      assertEquals(Deno.readTextFileSync(`${dir}/there`), "keep");
      await assertRejects(() => writeDirect(`${dir}/no/such`, bytes(PIECE), 0o644), Deno.errors.NotFound);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "local storage: packs written directly and buffered read back the same, no temporary files left",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "floe-direct-" });
    try {
      const direct = local({ path: `${dir}/a` });
      const buffered = local({ path: `${dir}/b`, directIo: false });
      const data = bytes(2 * PIECE + 777, 9);
      await Promise.all([direct.put("data/aa/p1", data), buffered.put("data/aa/p1", data)]);
      await Promise.all([direct.put("data/aa/p2", data, { create: true }), direct.put("data/aa/p3", data)]);
      assertEquals(await direct.get("data/aa/p1"), data);
      assertEquals(await direct.get("data/aa/p2"), data);
      assertEquals(await buffered.get("data/aa/p1"), data);
      for (const sub of ["a", "b"]) {
        const names = [...Deno.readDirSync(`${dir}/${sub}/data/aa`)].map((e) => e.name);
        assert(names.every((n) => !n.startsWith(".tmp-")), names.join(","));
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("local storage without --allow-ffi: packs are written the ordinary way, no prompt, no error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "floe-direct-noffi-" });
  try {
    const url = new URL("./mod.ts", import.meta.url).href;
    const script = `import local from ${JSON.stringify(url)};
const s = local({ path: ${JSON.stringify(`${dir}/repo`)} });
await s.create();
const data = new Uint8Array(${2 * PIECE + 5}).map((_, i) => i % 251);
await s.put("data/aa/p", data);
const back = await s.get("data/aa/p");
console.log(back.length === data.length && back.every((b, i) => b === data[i]) ? "same" : "differs");`;
    const file = `${dir}/script.ts`;
    Deno.writeTextFileSync(file, script);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-check", "--allow-read", "--allow-write", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    assert(out.success, text.decode(out.stderr));
    assertEquals(text.decode(out.stdout).trim(), "same");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
