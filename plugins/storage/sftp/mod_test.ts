import { storageConformance } from "../../../testing/mod.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../../../tests/assert.ts";
import { makeKey, type Sshd, sshdMissing, startSshd } from "../../../tests/fixtures/servers/sshd.ts";
import { StorageError } from "../../../core/contracts.ts";
import { parseLocation } from "../location.ts";
import { parseSftpLocation } from "./location.ts";
import sftp, { type Options } from "./mod.ts";

const missing = sshdMissing();
if (missing) console.log(`%cskipping the sftp server tests: ${missing}`, "color: yellow");
const ignore = missing !== null;

function storageFor(sshd: Sshd, extra: Partial<Options> = {}) {
  return sftp({
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    path: `${sshd.root}/repo`,
    keyPath: sshd.keyPath,
    knownHostsPath: sshd.knownHostsPath,
    ...extra,
  });
}

async function fingerprint(pubPath: string): Promise<string> {
  const out = await new Deno.Command("ssh-keygen", { args: ["-l", "-E", "sha256", "-f", pubPath] }).output();
  return new TextDecoder().decode(out.stdout).split(/\s+/)[1];
}

async function withSshd(fn: (sshd: Sshd) => Promise<void>): Promise<void> {
  const sshd = await startSshd();
  try {
    await fn(sshd);
  } finally {
    await sshd.stop();
  }
}

storageConformance("sftp", async () => {
  const sshd = await startSshd();
  return { storage: storageFor(sshd), cleanup: () => sshd.stop() };
}, { ignore });

Deno.test(
  { name: "sftp: hashed known_hosts entries are accepted", ignore, sanitizeResources: false },
  async () => {
    await withSshd(async (sshd) => {
      const hashed = `${sshd.root}/known_hosts_hashed`;
      await Deno.copyFile(sshd.knownHostsPath, hashed);
      const out = await new Deno.Command("ssh-keygen", { args: ["-H", "-f", hashed], stderr: "null" })
        .output();
      assert(out.success);
      assert((await Deno.readTextFile(hashed)).startsWith("|1|"));
      const storage = storageFor(sshd, { knownHostsPath: hashed });
      try {
        await storage.create();
        await storage.put("config", new Uint8Array([1, 2, 3]));
        assertEquals(await storage.get("config"), new Uint8Array([1, 2, 3]));
        assertEquals(
          await storage.get("config", { range: { offset: 1, length: 5 } }),
          new Uint8Array([2, 3]),
        );
      } finally {
        await storage.close?.();
      }
    });
  },
);

Deno.test({ name: "sftp: an unknown host key is refused", ignore, sanitizeResources: false }, async () => {
  await withSshd(async (sshd) => {
    const known = `${sshd.root}/known_hosts_other`;
    const otherPub = await makeKey(`${sshd.root}/other`);
    await Deno.writeTextFile(known, `otherhost ${otherPub}\n`);
    const storage = storageFor(sshd, { knownHostsPath: known });
    try {
      const e = await assertRejects(() => storage.stat("config"), StorageError);
      assertEquals(e.code, "auth");
      assertStringIncludes(e.message, "unknown host key");
      assertStringIncludes(e.message, `[127.0.0.1]:${sshd.port}`);
      assertStringIncludes(e.message, await fingerprint(`${sshd.hostKeyPath}.pub`));
    } finally {
      await storage.close?.();
    }
  });
});

Deno.test({ name: "sftp: a changed host key is refused", ignore, sanitizeResources: false }, async () => {
  await withSshd(async (sshd) => {
    const known = `${sshd.root}/known_hosts_changed`;
    const otherPub = (await makeKey(`${sshd.root}/other`)).split(" ").slice(0, 2).join(" ");
    await Deno.writeTextFile(known, `# a comment\n[127.0.0.1]:${sshd.port} ${otherPub}\n`);
    const storage = storageFor(sshd, { knownHostsPath: known });
    try {
      const e = await assertRejects(() => storage.put("config", new Uint8Array(1)), StorageError);
      assertEquals(e.code, "auth");
      assertStringIncludes(e.message, "HOST KEY CHANGED");
      assertStringIncludes(e.message, "line 2");
      assertStringIncludes(e.message, await fingerprint(`${sshd.hostKeyPath}.pub`));
    } finally {
      await storage.close?.();
    }
  });
});

Deno.test({
  name: "sftp: a key the server refuses is an auth error naming the location",
  ignore,
  sanitizeResources: false,
}, async () => {
  await withSshd(async (sshd) => {
    const wrong = `${sshd.root}/wrong`;
    await makeKey(wrong);
    const storage = storageFor(sshd, { keyPath: wrong });
    try {
      const e = await assertRejects(
        () => storage.list("snapshots/")[Symbol.asyncIterator]().next(),
        StorageError,
      );
      assertEquals(e.code, "auth");
      assertStringIncludes(e.message, storage.location);
      assertStringIncludes(e.message, "refused");
      const secret = (await Deno.readTextFile(wrong)).split("\n")[1];
      assert(!e.message.includes(secret) && !e.message.includes("PRIVATE KEY"), "the message leaks the key");
      const locked = `${sshd.root}/locked`;
      await new Deno.Command("ssh-keygen", { args: ["-q", "-t", "ed25519", "-N", "sekrit", "-f", locked] })
        .output();
      const lockedStorage = storageFor(sshd, { keyPath: locked });
      const e2 = await assertRejects(() => lockedStorage.stat("config"), StorageError);
      assertEquals(e2.code, "auth");
      assertStringIncludes(e2.message, "passphrase-protected");
      await lockedStorage.close?.();
    } finally {
      await storage.close?.();
    }
  });
});

Deno.test(
  { name: "sftp: an unreachable port is a clear transient error", ignore, sanitizeResources: false },
  async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const storage = sftp({
      host: "127.0.0.1",
      port,
      user: "nobody",
      path: "/srv/repo",
      keyPath: "/dev/null",
    });
    const e = await assertRejects(() => storage.stat("config"), StorageError);
    assertEquals(e.code, "transient");
    assertStringIncludes(e.message, `sftp://nobody@127.0.0.1:${port}//srv/repo`);
    assertStringIncludes(e.message, "connection refused");
    await storage.close?.();
  },
);

Deno.test({
  name: "sftp: a lost connection is transient, and the next call reconnects",
  ignore,
  sanitizeResources: false,
}, async () => {
  await withSshd(async (sshd) => {
    const storage = storageFor(sshd);
    try {
      await storage.create();
      await storage.put("config", new Uint8Array([7]));
      await sshd.dropConnections();
      try {
        await storage.get("config");
      } catch (e) {
        assert(e instanceof StorageError && e.code === "transient", `expected transient, got ${e}`);
      }
      assertEquals(await storage.get("config"), new Uint8Array([7]));
    } finally {
      await storage.close?.();
    }
  });
});

Deno.test("sftp: a missing key file is an auth error", async () => {
  const storage = sftp({
    host: "127.0.0.1",
    port: 1,
    user: "ann",
    path: "repo",
    keyPath: "/nonexistent/key",
  });
  const e = await assertRejects(() => storage.stat("config"), StorageError);
  assertEquals(e.code, "auth");
  assertStringIncludes(e.message, "/nonexistent/key");
  assertEquals(storage.location, "sftp://ann@127.0.0.1:1/repo");
});

Deno.test("sftp: the three location forms parse", () => {
  assertEquals(parseLocation("sftp://ann@nas.example:2222//srv/floe"), {
    storage: "sftp",
    options: { host: "nas.example", path: "/srv/floe", user: "ann", port: 2222 },
  });
  assertEquals(parseLocation("sftp://ann@nas.example/backups/floe/"), {
    storage: "sftp",
    options: { host: "nas.example", path: "backups/floe", user: "ann" },
  });
  assertEquals(parseLocation("sftp:ann@nas.example:/srv/floe"), {
    storage: "sftp",
    options: { host: "nas.example", path: "/srv/floe", user: "ann" },
  });
  assertEquals(parseLocation("sftp:nas.example:floe"), {
    storage: "sftp",
    options: { host: "nas.example", path: "floe" },
  });
  assertEquals(parseSftpLocation("sftp://backup@[::1]:22//srv/r").options, {
    host: "::1",
    path: "/srv/r",
    user: "backup",
    port: 22,
  });
  assertEquals(parseSftpLocation("sftp://b%40x@h//a%20b").options, { host: "h", path: "/a b", user: "b@x" });
  assertThrows(() => parseLocation("sftp://ann@nas"), "has no path");
  assertThrows(() => parseLocation("sftp://ann@nas:99999//x"), "bad port");
  assertThrows(() => parseLocation("sftp:nas"), "cannot read SFTP location");
  const e = assertThrows(() => parseLocation("sftp://ann:hunter2@nas//srv"), "password");
  assert(!e.message.includes("hunter2"));
});

Deno.test("sftp: the location string round-trips through the parser", () => {
  for (const loc of ["sftp://ann@nas:2222//srv/floe", "sftp://ann@nas/floe"]) {
    const { options } = parseLocation(loc);
    assertEquals(sftp(options as unknown as Options).location, loc);
  }
});

Deno.test(
  {
    name: "sftp: a linked repository directory is refused; temporaries are listed apart",
    ignore,
    sanitizeResources: false,
  },
  async () => {
    await withSshd(async (sshd) => {
      const storage = storageFor(sshd);
      try {
        await storage.create();
        const repo = `${sshd.root}/repo`;
        const outside = `${sshd.root}/outside`;
        await Deno.mkdir(`${outside}/ab`, { recursive: true });
        await Deno.writeTextFile(`${outside}/ab/${"ab".repeat(32)}`, "precious");
        await Deno.symlink(outside, `${repo}/data`);
        for (
          const op of [
            () => storage.delete(`data/ab/${"ab".repeat(32)}`),
            () => storage.put(`data/ab/${"cd".repeat(32)}`, new Uint8Array(3)),
            async () => {
              for await (const _ of storage.list("data/")) { /* refused before anything */ }
            },
          ]
        ) {
          const e = await assertRejects(op, StorageError);
          assertStringIncludes((e as Error).message, "data is a symbolic link: refused");
        }
        assertEquals(await Deno.readTextFile(`${outside}/ab/${"ab".repeat(32)}`), "precious");
        await Deno.remove(`${repo}/data`);
        // A temporary file an interrupted write left: never an object, listed (with its mtime) on demand.
        await storage.put("index/i1", new Uint8Array(5));
        await Deno.writeTextFile(`${repo}/index/.tmp-1-1-i2`, "half");
        const objects = [];
        for await (const o of storage.list("index/")) objects.push(o.name);
        assertEquals(objects, ["index/i1"]);
        const temps = [];
        for await (const o of storage.list("", { temporaries: true })) temps.push(o);
        assertEquals(temps.map((o) => [o.name, o.size]), [["index/.tmp-1-1-i2", 4]]);
        assert(Math.abs(temps[0].mtime! - Date.now()) < 120_000, "mtime in ms");
        await storage.delete("index/.tmp-1-1-i2");
      } finally {
        await storage.close?.();
      }
    });
  },
);
