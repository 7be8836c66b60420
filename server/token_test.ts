import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { serverToken, tokensEqual } from "./token.ts";

Deno.test("token: generated once into a 0600 file in a 0700 directory, then read back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/conf/floe/server-token`;
    const a = serverToken({ path, env: "" });
    assert(a.generated);
    assert(a.token.length >= 40);
    assertEquals(Deno.statSync(path).mode! & 0o777, 0o600);
    assertEquals(Deno.statSync(`${dir}/conf/floe`).mode! & 0o777, 0o700);
    const b = serverToken({ path, env: "" });
    assertEquals(b, { token: a.token, path, generated: false });
    Deno.chmodSync(path, 0o644);
    assertThrows(() => serverToken({ path, env: "" }), "readable by others");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("token: FLOE_SERVER_TOKEN wins and must be long enough", () => {
  assertEquals(serverToken({ env: "x".repeat(20), path: "/nonexistent/t" }), {
    token: "x".repeat(20),
    generated: false,
  });
  assertThrows(() => serverToken({ env: "short" }), "too short");
});

Deno.test("token: comparison", () => {
  assert(tokensEqual("abcdefghijklmnop", "abcdefghijklmnop"));
  assert(!tokensEqual("abcdefghijklmnop", "abcdefghijklmnoq"));
  assert(!tokensEqual("abcdefghijklmnop", "abc"));
  assert(!tokensEqual("", "abc"));
});
