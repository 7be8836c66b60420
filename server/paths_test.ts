import { assertEquals, assertThrows } from "../tests/assert.ts";
import { restoreTarget, snapshotPath } from "./paths.ts";

Deno.test("paths: snapshot paths are absolute, normalised, without . or ..", () => {
  assertEquals(snapshotPath("/"), "/");
  assertEquals(snapshotPath("/etc//hosts/"), "/etc/hosts");
  for (const bad of ["", "etc", "/etc/../root", "/./x", "/a\0b", "/" + "a".repeat(5000)]) {
    assertThrows(() => snapshotPath(bad), "path");
  }
});

Deno.test("paths: restore targets only under a restore root, symbolic links resolved", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.mkdir(`${dir}/root`);
    await Deno.mkdir(`${dir}/rootx`);
    await Deno.symlink("/etc", `${dir}/root/link`);
    const roots = [`${dir}/root`];
    assertEquals(restoreTarget(`${dir}/root`, roots), `${dir}/root`);
    assertEquals(restoreTarget(`${dir}/root/new/deeper/`, roots), `${dir}/root/new/deeper`);
    assertThrows(() => restoreTarget(`${dir}/rootx/a`, roots), "not under a restore root");
    assertThrows(() => restoreTarget(`${dir}/root/link/x`, roots), "not under a restore root");
    assertThrows(() => restoreTarget(`${dir}/root/../rootx`, roots), "'..'");
    assertThrows(() => restoreTarget(`${dir}/root`, []), "restore-roots");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
