/** Messages of failed tools: secrets masked, last lines on one line; a streamed entry's outcome. */
import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { lastLines, mask, streamed } from "./_child.ts";

Deno.test("mask and lastLines hide secrets and keep the last lines", () => {
  assertEquals(mask("user pw1 and pw1 again", ["pw1", ""]), "user *** and *** again");
  assertEquals(lastLines("one\ntwo secret\n\nthree\nfour\n", ["secret"]), "two *** | three | four");
});

Deno.test("a streamed entry rejects its outcome with the tool's masked stderr", async () => {
  const s = streamed(
    { cmd: "sh", args: ["-c", "echo out; echo 'bad s3cr3t' >&2; exit 3"], what: "t", secrets: ["s3cr3t"] },
    { path: "/t", mtime: 0 },
  );
  const reader = await s.entry.open!();
  const buf = new Uint8Array(64);
  assertEquals(await reader.read(buf), 4);
  await assertRejects(async () => await reader.read(buf), Error, "t failed (exit 3): bad ***");
  await reader.close();
  await assertRejects(() => s.finished(), Error, "bad ***");
});
