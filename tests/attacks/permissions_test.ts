/**
 * Attacks on file modes (security review #19, finding 4): another local user must not read or list
 * anything floe writes — repository (local and SFTP), cache and catalog (with SQLite's -wal and -shm),
 * the embedded default's key — under the common umask 022, which leaves 0644 files and 0755 directories
 * to whoever does not ask for less.
 */
import { assert, assertEquals } from "../assert.ts";
import { randomBytes, tempDir } from "../helpers.ts";
import { Engine } from "../../core/engine.ts";
import { loadPlugin } from "../../core/registry.ts";
import { type Sshd, sshdMissing, startSshd } from "../fixtures/servers/sshd.ts";
import sftp from "../../plugins/storage/sftp/mod.ts";

const MAIN = new URL("../../cli/main.ts", import.meta.url).pathname;

/** Every path below `root` (and `root`) whose mode is not 0600 (files) or 0700 (directories). */
function loose(root: string): string[] {
  const out: string[] = [];
  let seen = 0;
  const visit = (p: string) => {
    const st = Deno.lstatSync(p);
    seen++;
    const mode = st.mode! & 0o7777;
    if (st.isDirectory) {
      if (mode !== 0o700) out.push(`${p}: dir ${mode.toString(8)}`);
      for (const e of Deno.readDirSync(p)) visit(`${p}/${e.name}`);
    } else if (mode !== 0o600) out.push(`${p}: ${st.isFile ? "file" : "other"} ${mode.toString(8)}`);
  };
  visit(root);
  assert(seen > 1, `${root} holds something`);
  return out;
}

/** Runs the CLI in a shell whose umask is 022, with only the given environment. */
async function cli022(args: string[], env: Record<string, string>): Promise<void> {
  const out = await new Deno.Command("sh", {
    args: ["-c", 'umask 022; exec "$0" "$@"', Deno.execPath(), "run", "-A", "--quiet", MAIN, ...args],
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      NO_COLOR: "1",
      DENO_DIR: Deno.env.get("DENO_DIR") ??
        `${Deno.env.get("XDG_CACHE_HOME") || `${Deno.env.get("HOME") ?? "/root"}/.cache`}/deno`,
      ...env,
    },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assertEquals(out.code, 0, `floe ${args.join(" ")}: ${dec.decode(out.stdout)}${dec.decode(out.stderr)}`);
}

function sourceTree(dir: string): string {
  const src = `${dir}/src`;
  Deno.mkdirSync(`${src}/sub`, { recursive: true });
  Deno.writeFileSync(`${src}/big.bin`, randomBytes(2_500_000, 7)); // packs of direct I/O size
  Deno.writeFileSync(`${src}/sub/small.txt`, new TextEncoder().encode("hello"));
  return src;
}

Deno.test({
  name: "attack permissions: under umask 022 a local repository, its cache and catalog are 0600/0700",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-attack-perms-");
    try {
      const src = sourceTree(dir.path);
      // Parents floe has to create itself: each of them, not only the last one, must be private.
      const env = {
        HOME: `${dir.path}/home`,
        FLOE_REPOSITORY: `${dir.path}/made/by/floe/repo`,
        FLOE_CACHE_DIR: `${dir.path}/cache/made/by/floe`,
        FLOE_PASSWORD: "pw",
      };
      await cli022(["init"], env);
      await cli022(["backup", src], env);
      await cli022(["backup", src], env);
      assertEquals(loose(`${dir.path}/made`), []);
      assertEquals(loose(`${dir.path}/cache`), []);

      // The catalog's -wal and -shm exist only while it is open: look at them then.
      const previous = Deno.umask(0o022);
      try {
        const catalogPath = `${dir.path}/cache2/x/catalog.db`;
        const engine = await Engine.open({ location: env.FLOE_REPOSITORY, password: "pw", catalogPath });
        try {
          const source = await loadPlugin("source", "fs", { paths: [src] });
          await engine.backup(source);
          for (const suffix of ["", "-wal", "-shm"]) {
            assertEquals(Deno.statSync(catalogPath + suffix).mode! & 0o777, 0o600, `catalog.db${suffix}`);
          }
          assertEquals(loose(`${dir.path}/cache2`), []);
        } finally {
          await engine.close();
        }
      } finally {
        Deno.umask(previous);
      }
      assertEquals(loose(`${dir.path}/made`), []);
    } finally {
      await dir.cleanup();
    }
  },
});

Deno.test({
  name: "attack permissions: the embedded default repository and its key are 0600/0700 under umask 022",
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-attack-perms-");
    try {
      const src = sourceTree(dir.path);
      const home = `${dir.path}/home`;
      await cli022(["backup", src], { HOME: home });
      await cli022(["backup", src], { HOME: home });
      assert(Deno.statSync(`${home}/.config/floe/key`).isFile);
      assert(Deno.statSync(`${home}/.local/share/floe/repository/config`).isFile);
      assertEquals(loose(home), []);
    } finally {
      await dir.cleanup();
    }
  },
});

const missing = sshdMissing();
if (missing) console.log(`%cskipping the sftp permission test: ${missing}`, "color: yellow");

Deno.test({
  name: "attack permissions: an SFTP repository is 0600/0700 on the server under umask 022",
  ignore: missing !== null,
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir("floe-attack-perms-");
    // The server inherits this process's umask: the common 022, the one that leaves files readable.
    const previous = Deno.umask(0o022);
    let sshd: Sshd | undefined;
    try {
      sshd = await startSshd();
      const src = sourceTree(dir.path);
      const storage = sftp({
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        path: `${sshd.root}/made/by/floe/repo`,
        keyPath: sshd.keyPath,
        knownHostsPath: sshd.knownHostsPath,
      });
      const engine = await Engine.init({
        storage,
        password: "pw",
        catalogPath: `${dir.path}/cache/catalog.db`,
      });
      try {
        const source = await loadPlugin("source", "fs", { paths: [src] });
        await engine.backup(source);
        await engine.backup(source);
      } finally {
        await engine.close();
      }
      // Same machine: the server's files are looked at directly.
      assertEquals(loose(`${sshd.root}/made`), []);
    } finally {
      Deno.umask(previous);
      await sshd?.stop();
      await dir.cleanup();
    }
  },
});
