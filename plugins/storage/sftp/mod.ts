/**
 * `sftp`: a repository on an SSH server, over SFTP (OpenSSH's `sftp-server` or `internal-sftp`).
 *
 * - One SSH connection per storage, opened on first use; ssh2 is imported lazily then, so loading
 *   this module costs nothing at CLI start-up. The socket has Nagle off (`setNoDelay`).
 * - Reads and writes are pipelined: an object is moved as many concurrent READ/WRITE requests on
 *   one handle (up to {@link PIPELINE_DEPTH} in flight), and many objects may be moved at once.
 * - Only key authentication. The server's host key is checked against known_hosts (plain and
 *   hashed `|1|` entries; `[host]:port` for ports other than 22); an unknown or changed key is
 *   refused with a StorageError `auth` naming the host and the key's SHA256 fingerprint.
 * - Writes are atomic: a temporary file in the same directory, `fsync@openssh.com` when offered,
 *   then `posix-rename@openssh.com` (replaces the target). `put(..., {create: true})` uses plain
 *   SFTP rename, which OpenSSH implements with link(2) and so refuses an existing target atomically.
 * - The directories below the repository's (`data`, `data/ab`, `index`, …) must be real directories: a
 *   list, write or delete below one that is a symbolic link is refused (one LSTAT per directory and
 *   connection), so a crafted repository cannot make a write or a delete land outside it.
 * - Errors: no such file → `not-found`; key refused or host key not trusted → `auth`; connection
 *   refused/reset/lost or timed out → `transient`; anything else → `permanent`.
 *
 * @example
 * ```ts
 * import sftp from "./mod.ts";
 * const storage = sftp({ host: "nas.example", user: "backup", path: "/srv/floe" });
 * await storage.create();
 * await storage.put("config", new TextEncoder().encode("{}"));
 * await storage.close?.();
 * ```
 * @module
 */
import {
  API_VERSION,
  isStorageError,
  type ObjectInfo,
  StorageError,
  type StoragePlugin,
} from "../../../core/contracts.ts";
import { fromLocation } from "../location.ts";
import { parseSftpLocation } from "./location.ts";
// ssh2's own typings (@types/ssh2) pull in @types/node@18, which would shadow Deno's node types (zstd,
// node:sqlite) for the whole program; the few shapes used here are declared loosely instead.
// deno-lint-ignore no-explicit-any
type Client = any;
// deno-lint-ignore no-explicit-any
type ConnectConfig = any;
// deno-lint-ignore no-explicit-any
type FileEntryWithStats = any;
// deno-lint-ignore no-explicit-any
type SFTPWrapper = any;
// deno-lint-ignore no-explicit-any
type Stats = any;

/** Options of the SFTP storage. */
export interface Options {
  /** The SSH server's host name or address. */
  host: string;
  /** The SSH port (default 22). */
  port?: number;
  /** The login user (default: `$USER`, then `$LOGNAME`). */
  user?: string;
  /** The repository directory: absolute (`/srv/repo`) or relative to the login directory (`repo`). */
  path: string;
  /**
   * The private key file (unencrypted OpenSSH or PEM). Default: `$FLOE_SSH_KEY`, then
   * `~/.ssh/id_ed25519`, then `~/.ssh/id_rsa`.
   */
  keyPath?: string;
  /** The known_hosts file the host key is checked against. Default: `$FLOE_SSH_KNOWN_HOSTS`, then `~/.ssh/known_hosts`. */
  knownHostsPath?: string;
  /** Requests callers should keep in flight (default 8). */
  concurrency?: number;
  /** Milliseconds allowed for TCP connect plus SSH handshake (default 20000). */
  connectTimeout?: number;
}

/** Defaults of the SFTP storage. */
export const defaults: Required<Pick<Options, "port" | "concurrency" | "connectTimeout">> = {
  port: 22,
  concurrency: 8,
  connectTimeout: 20_000,
};

/** READ/WRITE requests kept in flight per object transfer. */
export const PIPELINE_DEPTH = 32;

/** At most this many object operations hold an open SFTP handle at once. */
const MAX_OPEN = 64;

// SFTP status codes (draft-ietf-secsh-filexfer-02).
const FX_NO_SUCH_FILE = 2;
const FX_PERMISSION_DENIED = 3;
const FX_NO_CONNECTION = 6;
const FX_CONNECTION_LOST = 7;

/**
 * Modes of what this storage creates on the server (its umask may only take bits away): the repository
 * is its owner's alone. Files of an existing repository keep the mode they were written with.
 */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

const TRANSIENT_NET = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ENETDOWN",
  "EAI_AGAIN",
]);

function checkName(name: string): void {
  if (
    !/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(name) ||
    name.split("/").some((s) => s === "." || s === "..")
  ) {
    throw new StorageError("permanent", `invalid object name ${JSON.stringify(name)}`);
  }
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

function home(): string {
  return env("HOME") ?? "/root";
}

/** `host` for port 22, `[host]:port` otherwise: how OpenSSH names a host in known_hosts. */
function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Formats a location `sftp://user@host[:port]//abs` or `sftp://user@host[:port]/rel`. */
function formatLocation(user: string, host: string, port: number, path: string): string {
  const h = host.includes(":") ? `[${host}]` : host;
  return `sftp://${encodeURIComponent(user)}@${h}${port === 22 ? "" : `:${port}`}/${path}`;
}

// ---------------------------------------------------------------------------------------------
// known_hosts
// ---------------------------------------------------------------------------------------------

/** One known_hosts line that names our host. */
interface HostKey {
  readonly type: string;
  readonly blob: string;
  readonly line: number;
  readonly revoked: boolean;
}

function globToRegExp(glob: string): RegExp {
  const re = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${re}$`, "i");
}

type Hmac = (salt: Uint8Array, text: string) => Uint8Array;

function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function bytesToBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin);
}

function hostFieldMatches(field: string, name: string, hmac: Hmac): boolean {
  if (field.startsWith("|1|")) {
    const [, , salt, hash] = field.split("|");
    if (!salt || !hash) return false;
    try {
      return bytesToBase64(hmac(base64ToBytes(salt), name)) === hash;
    } catch {
      return false;
    }
  }
  let matched = false;
  for (const pattern of field.split(",")) {
    if (pattern.startsWith("!")) {
      if (globToRegExp(pattern.slice(1)).test(name)) return false;
    } else if (globToRegExp(pattern).test(name)) matched = true;
  }
  return matched;
}

/**
 * The keys a known_hosts text lists for `name` (`host` or `[host]:port`).
 *
 * @example
 * ```ts
 * import { createHmac } from "node:crypto";
 * import { knownHostKeys } from "./mod.ts";
 * const hmac = (salt: Uint8Array, text: string) => createHmac("sha1", salt).update(text).digest();
 * knownHostKeys("[nas]:2222 ssh-ed25519 AAAAC3Nza...\n", "[nas]:2222", hmac);
 * ```
 */
export function knownHostKeys(text: string, name: string, hmac: Hmac): HostKey[] {
  const out: HostKey[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const fields = line.split(/\s+/);
    let marker = "";
    if (fields[0].startsWith("@")) marker = fields.shift()!;
    if (marker === "@cert-authority" || fields.length < 3) return;
    if (!hostFieldMatches(fields[0], name, hmac)) return;
    out.push({ type: fields[1], blob: fields[2], line: i + 1, revoked: marker === "@revoked" });
  });
  return out;
}

/** The key type named inside an SSH public key blob. */
function blobType(blob: Uint8Array): string {
  if (blob.length < 4) return "unknown";
  const n = (blob[0] << 24 | blob[1] << 16 | blob[2] << 8 | blob[3]) >>> 0;
  return new TextDecoder().decode(blob.subarray(4, 4 + Math.min(n, 64)));
}

/** Host key algorithms ssh2 can negotiate, per known_hosts key type. */
const HOST_KEY_ALGORITHMS: Record<string, string[]> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

const CHACHA = "chacha20-poly1305@openssh.com";

/** An ssh2 algorithm list: its defaults with `first` moved to the front. */
function reorder<T>(first: string[]): T {
  return { remove: first, prepend: first } as unknown as T;
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

interface Ssh2Error extends Error {
  code?: number | string;
  level?: string;
}

function mapError(e: unknown, what: string): StorageError {
  if (isStorageError(e)) return e;
  if (e instanceof DOMException && e.name === "AbortError") throw e;
  const err = e as Ssh2Error;
  const msg = err?.message ?? String(e);
  const opts = { cause: e };
  if (err?.code === FX_NO_SUCH_FILE) return new StorageError("not-found", `${what}: no such object`, opts);
  if (err?.code === FX_PERMISSION_DENIED) {
    return new StorageError("permanent", `${what}: permission denied`, opts);
  }
  if (err?.code === FX_NO_CONNECTION || err?.code === FX_CONNECTION_LOST) {
    return new StorageError("transient", `${what}: connection lost`, opts);
  }
  if (typeof err?.code === "string" && TRANSIENT_NET.has(err.code)) {
    return new StorageError("transient", `${what}: ${err.code} (${msg})`, opts);
  }
  if (err?.level === "client-authentication") {
    return new StorageError("auth", `${what}: authentication failed`, opts);
  }
  if (err?.level === "client-timeout" || err?.level === "client-socket") {
    return new StorageError("transient", `${what}: ${msg}`, opts);
  }
  if (
    /No response from server|Not connected|Channel (?:not open|closed)|Connection lost|socket|ended/i.test(
      msg,
    )
  ) {
    return new StorageError("transient", `${what}: connection lost (${msg})`, opts);
  }
  return new StorageError("permanent", `${what}: ${msg}`, opts);
}

// ---------------------------------------------------------------------------------------------
// Small promise helpers over ssh2's callback API
// ---------------------------------------------------------------------------------------------

type Buf = Parameters<SFTPWrapper["write"]>[1];

function call<T>(fn: (cb: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    try {
      fn((err, value) => err ? reject(err) : resolve(value as T));
    } catch (e) {
      reject(e);
    }
  });
}

class Semaphore {
  #free: number;
  #waiting: (() => void)[] = [];
  constructor(n: number) {
    this.#free = n;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((r) => this.#waiting.push(r));
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

interface Connection {
  client: Client;
  sftp: SFTPWrapper;
  /** Buffer factory from node:buffer (a view, no copy). */
  view(data: Uint8Array): Buf;
  readLen: number;
  writeLen: number;
  extensions: Record<string, string>;
}

let tmpCounter = 0;

/**
 * Builds an SFTP storage. Nothing is connected until the first call.
 *
 * @example
 * ```ts
 * import sftp from "./mod.ts";
 * const storage = sftp({ host: "127.0.0.1", port: 2222, user: "backup", path: "repo", keyPath: "/etc/floe/id_ed25519" });
 * for await (const o of storage.list("snapshots/")) console.log(o.name, o.size);
 * ```
 */
/** The location schemes this storage opens (`--repo sftp:…`). */
export const schemes = ["sftp"];

/**
 * Builds the storage from its options, or from a `location` string as given to `--repo` (read into the
 * options above; options given beside it win).
 */
export default function sftp(given: Options | (Partial<Options> & { location: string })): StoragePlugin {
  const options = fromLocation(given as Options & { location?: string }, parseSftpLocation);
  if (!options?.host) throw new Error("sftp storage: option 'host' is required");
  if (!options.path) throw new Error("sftp storage: option 'path' is required");
  const host = options.host;
  const port = options.port ?? defaults.port;
  const user = options.user ?? env("USER") ?? env("LOGNAME") ?? "root";
  const root = options.path === "/" ? "/" : options.path.replace(/\/+$/, "");
  const concurrency = options.concurrency ?? defaults.concurrency;
  const connectTimeout = options.connectTimeout ?? defaults.connectTimeout;
  const location = formatLocation(user, host, port, root);
  const full = (name: string) => root === "/" ? `/${name}` : `${root}/${name}`;
  const gate = new Semaphore(MAX_OPEN);
  const madeDirs = new Map<string, Promise<void>>();

  let current: Promise<Connection> | undefined;
  let closed = false;

  async function readKey(): Promise<{ path: string; key: Uint8Array }> {
    const explicit = options.keyPath ?? env("FLOE_SSH_KEY");
    const candidates = explicit ? [explicit] : [`${home()}/.ssh/id_ed25519`, `${home()}/.ssh/id_rsa`];
    for (const path of candidates) {
      try {
        return { path, key: await Deno.readFile(path) };
      } catch (e) {
        if (explicit || !(e instanceof Deno.errors.NotFound)) {
          throw new StorageError(
            "auth",
            `${location}: cannot read SSH key ${path}: ${(e as Error).message}`,
            {
              cause: e,
            },
          );
        }
      }
    }
    throw new StorageError(
      "auth",
      `${location}: no SSH key found (tried ${candidates.join(", ")}); set keyPath or FLOE_SSH_KEY`,
    );
  }

  async function readKnownHosts(): Promise<{ path: string; text: string }> {
    const path = options.knownHostsPath ?? env("FLOE_SSH_KNOWN_HOSTS") ?? `${home()}/.ssh/known_hosts`;
    try {
      return { path, text: await Deno.readTextFile(path) };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return { path, text: "" };
      throw new StorageError(
        "permanent",
        `${location}: cannot read known_hosts ${path}: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
  }

  async function connect(): Promise<Connection> {
    const [{ path: keyPath, key }, known] = await Promise.all([readKey(), readKnownHosts()]);
    const [ssh2, net, crypto, { Buffer }] = await Promise.all([
      import("ssh2"),
      import("node:net"),
      import("node:crypto"),
      import("node:buffer"),
    ]);
    const Ssh2Client = (ssh2 as unknown as { Client?: Client }).Client ??
      (ssh2 as unknown as { default: { Client: Client } }).default.Client;
    const hostName = knownHostsName(host, port);
    const hmac: Hmac = (salt, text) => crypto.createHmac("sha1", salt).update(text).digest();
    const keys = knownHostKeys(known.text, hostName, hmac);

    // Socket first, so Nagle is off from the first packet and connect errors are clear.
    const deadline = Date.now() + connectTimeout;
    const sock = await new Promise<import("node:net").Socket>((resolve, reject) => {
      const s = net.connect({ host, port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new StorageError("transient", `${location}: cannot connect to ${host}:${port}: timed out`));
      }, connectTimeout);
      s.once("connect", () => {
        clearTimeout(timer);
        s.setNoDelay(true);
        resolve(s);
      });
      s.once("error", (e: Ssh2Error) => {
        clearTimeout(timer);
        const code = typeof e.code === "string" ? e.code : "";
        const why = code === "ECONNREFUSED"
          ? "connection refused (is an SSH server listening there?)"
          : code === "ENOTFOUND"
          ? "no such host"
          : e.message;
        reject(
          new StorageError(
            code === "ENOTFOUND" ? "permanent" : "transient",
            `${location}: cannot connect to ${host}:${port}: ${why}`,
            {
              cause: e,
            },
          ),
        );
      });
    });

    let hostKeyProblem: string | undefined;
    const hostVerifier = (blob: Uint8Array): boolean => {
      const b64 = bytesToBase64(blob);
      const type = blobType(blob);
      const fingerprint = "SHA256:" +
        crypto.createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
      if (keys.some((k) => k.revoked && k.blob === b64)) {
        hostKeyProblem =
          `${location}: the ${type} host key of ${hostName} (${fingerprint}) is marked @revoked in ` +
          `${known.path}; refusing to connect`;
        return false;
      }
      if (keys.some((k) => !k.revoked && k.blob === b64)) return true;
      const others = keys.filter((k) => !k.revoked);
      hostKeyProblem = others.length
        ? `${location}: HOST KEY CHANGED for ${hostName}: the server offers ${type} ${fingerprint}, but ${known.path} ` +
          `lists another key (line ${
            others.map((k) => k.line).join(", ")
          }). Someone may be intercepting the ` +
          `connection, or the server was reinstalled; refusing to connect. If the change is expected, remove ` +
          `the old entry (ssh-keygen -R '${hostName}' -f ${known.path}) and add the new key.`
        : `${location}: unknown host key for ${hostName}: ${type} ${fingerprint} is not in ${known.path}; refusing ` +
          `to connect. Check the fingerprint with the server's administrator, then add it, e.g. ` +
          `ssh-keyscan ${port === 22 ? "" : `-p ${port} `}${host} >> ${known.path}`;
      return false;
    };

    // Prefer the host key types known_hosts lists, as OpenSSH does.
    const preferred = [
      ...new Set(keys.filter((k) => !k.revoked).flatMap((k) => HOST_KEY_ALGORITHMS[k.type] ?? [])),
    ];
    const config: ConnectConfig = {
      sock: sock as unknown as ConnectConfig["sock"],
      username: user,
      privateKey: Buffer.from(key),
      hostVerifier: hostVerifier as unknown as ConnectConfig["hostVerifier"],
      readyTimeout: Math.max(1000, deadline - Date.now()),
      keepaliveInterval: 15_000,
      keepaliveCountMax: 4,
      algorithms: {
        ...(preferred.length ? { serverHostKey: reorder(preferred) } : {}),
        // Deno's node:crypto runs chacha20-poly1305 about twice as fast as AES-GCM (measured on loopback).
        ...(crypto.getCiphers().includes("chacha20") ? { cipher: reorder([CHACHA]) } : {}),
      },
    };

    const classify = (e: Ssh2Error): StorageError => {
      if (hostKeyProblem) return new StorageError("auth", hostKeyProblem, { cause: e });
      if (e.level === "client-authentication") {
        return new StorageError(
          "auth",
          `${location}: authentication as ${
            JSON.stringify(user)
          } with key ${keyPath} was refused by the server`,
          { cause: e },
        );
      }
      if (/passphrase|encrypted/i.test(e.message)) {
        return new StorageError(
          "auth",
          `${location}: SSH key ${keyPath} is passphrase-protected; floe needs an unencrypted key`,
          { cause: e },
        );
      }
      if (/privateKey|Unsupported key/i.test(e.message)) {
        return new StorageError("auth", `${location}: cannot use SSH key ${keyPath}: ${e.message}`, {
          cause: e,
        });
      }
      return mapError(e, `${location}: SSH handshake with ${host}:${port}`);
    };
    const client = new Ssh2Client();
    try {
      await new Promise<void>((resolve, reject) => {
        client.once("ready", () => resolve());
        client.on("error", (e: Ssh2Error) => reject(classify(e)));
        client.once(
          "close",
          () =>
            reject(new StorageError("transient", `${location}: connection closed during the SSH handshake`)),
        );
        try {
          client.connect(config);
        } catch (e) {
          reject(classify(e as Ssh2Error));
        }
      });
      const session = await call<SFTPWrapper>((cb) => client.sftp(cb));
      const internal = session as unknown as {
        _maxReadLen?: number;
        _maxWriteLen?: number;
        _extensions?: Record<string, string>;
      };
      const conn: Connection = {
        client,
        sftp: session,
        view: (data) => Buffer.from(data.buffer, data.byteOffset, data.byteLength) as unknown as Buf,
        readLen: Math.max(4096, internal._maxReadLen ?? 32_768),
        writeLen: Math.max(4096, internal._maxWriteLen ?? 32_768),
        extensions: internal._extensions ?? {},
      };
      const drop = () => {
        if (current === self) current = undefined;
      };
      const self = current;
      // Keep listeners so a late error never goes unhandled; a dead connection is dropped for the next call.
      client.on("error", drop);
      client.on("close", drop);
      client.on("end", drop);
      session.on("error", drop);
      session.on("close", drop);
      return conn;
    } catch (e) {
      client.on("error", () => {});
      client.end();
      sock.destroy();
      throw e;
    }
  }

  function connection(): Promise<Connection> {
    if (closed) return Promise.reject(new StorageError("permanent", `${location}: storage is closed`));
    if (!current) {
      const p = connect();
      current = p;
      p.catch(() => {
        if (current === p) current = undefined;
      });
    }
    return current;
  }

  async function mkdirp(conn: Connection, dir: string): Promise<void> {
    if (dir === "" || dir === "/" || dir === ".") return;
    let p = madeDirs.get(dir);
    if (!p) {
      p = (async () => {
        try {
          await call((cb) => conn.sftp.mkdir(dir, { mode: DIR_MODE }, cb));
        } catch (e) {
          if ((e as Ssh2Error).code === FX_NO_SUCH_FILE) {
            const slash = dir.lastIndexOf("/");
            await mkdirp(conn, slash > 0 ? dir.slice(0, slash) : "");
            try {
              await call((cb) => conn.sftp.mkdir(dir, { mode: DIR_MODE }, cb));
              return;
            } catch { /* made meanwhile? checked below */ }
          }
          const st = await call<Stats>((cb) => conn.sftp.stat(dir, cb)).catch((e2) => {
            throw mapError(e2, `${location}: cannot make directory ${dir}`);
          });
          if (!st.isDirectory()) {
            throw new StorageError("permanent", `${location}: ${dir} is not a directory`);
          }
        }
      })();
      madeDirs.set(dir, p);
      p.catch(() => madeDirs.delete(dir));
    }
    return await p;
  }

  /**
   * Writes `data` at offset 0 with up to {@link PIPELINE_DEPTH} WRITEs in flight, then fsyncs (when
   * the server offers it) and closes the handle. FSYNC and CLOSE go out right behind the last WRITE:
   * requests on one handle are processed in order, so a small object costs one round trip here.
   * The handle is closed whatever happens.
   */
  async function writeAndClose(conn: Connection, handle: Buf, data: Uint8Array, signal?: AbortSignal) {
    const buf = conn.view(data);
    const chunk = conn.writeLen;
    const requests: Promise<unknown>[] = [];
    let free = PIPELINE_DEPTH;
    let failed = false;
    let wake: (() => void) | undefined;
    let stopped: unknown;
    try {
      for (let off = 0; off < data.length && !failed; off += chunk) {
        signal?.throwIfAborted();
        while (free === 0) await new Promise<void>((r) => wake = r);
        free--;
        const len = Math.min(chunk, data.length - off);
        const p = call((cb) => conn.sftp.write(handle, buf, off, len, off, cb));
        p.then(() => {}, () => failed = true).finally(() => {
          free++;
          wake?.();
        });
        requests.push(p);
      }
      if (!failed && conn.extensions["fsync@openssh.com"]) {
        requests.push(call((cb) => conn.sftp.ext_openssh_fsync(handle, cb)));
      }
    } catch (e) {
      stopped = e; // an abort: still close the handle below
    }
    requests.push(call((cb) => conn.sftp.close(handle, cb)));
    // Settle everything before reporting, so no rejection goes unhandled.
    const results = await Promise.allSettled(requests);
    if (stopped !== undefined) throw stopped;
    const bad = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (bad) throw bad.reason;
  }

  async function readAll(
    conn: Connection,
    handle: Buf,
    offset: number,
    length: number,
    what: string,
    signal: AbortSignal | undefined,
    upToEof: boolean,
  ): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let eof = length;
    const buf = conn.view(out);
    const chunk = conn.readLen;
    let next = 0;
    const worker = async () => {
      while (next < length) {
        signal?.throwIfAborted();
        let at = next;
        const end = Math.min(length, at + chunk);
        next = end;
        while (at < end) {
          const n = await call<number>((cb) => conn.sftp.read(handle, buf, at, end - at, offset + at, cb));
          if (!n) {
            if (!upToEof) {
              throw new StorageError("transient", `${what}: short read (object shrank while reading)`);
            }
            eof = Math.min(eof, at);
            break;
          }
          at += n;
        }
      }
    };
    const workers = Math.min(PIPELINE_DEPTH, Math.ceil(length / chunk));
    await Promise.all(Array.from({ length: workers }, worker));
    return eof < length ? out.slice(0, eof) : out;
  }

  const closeHandle = (conn: Connection, handle: Buf) =>
    call((cb) => conn.sftp.close(handle, cb)).catch(() => {/* the server drops it with the session */});

  /** Directories below the root already seen to be real ones (few: the top level and `data/xx`). */
  const realDirs = new Set<string>();
  const refuseLink = (dir: string): never => {
    throw new StorageError(
      "permanent",
      `${location}: ${dir} is a symbolic link: refused (a repository's directories must be real directories)`,
    );
  };
  /** Refuses a name below a directory that is a symbolic link; a directory not there yet is fine. */
  async function checkDirs(conn: Connection, name: string): Promise<void> {
    for (let i = name.indexOf("/"); i >= 0; i = name.indexOf("/", i + 1)) {
      const dir = name.slice(0, i);
      if (realDirs.has(dir)) continue;
      let st: Stats;
      try {
        st = await call<Stats>((cb) => conn.sftp.lstat(full(dir), cb));
      } catch (e) {
        if ((e as Ssh2Error).code === FX_NO_SUCH_FILE) return;
        throw mapError(e, dir);
      }
      if ((st.mode & S_IFMT) === S_IFLNK) refuseLink(dir);
      realDirs.add(dir);
    }
  }

  async function remove(conn: Connection, path: string): Promise<void> {
    try {
      await call((cb) => conn.sftp.unlink(path, cb));
    } catch (e) {
      if ((e as Ssh2Error).code !== FX_NO_SUCH_FILE) throw e;
    }
  }

  async function exists(conn: Connection, path: string): Promise<boolean> {
    try {
      await call<Stats>((cb) => conn.sftp.lstat(path, cb));
      return true;
    } catch (e) {
      if ((e as Ssh2Error).code === FX_NO_SUCH_FILE) return false;
      throw e;
    }
  }

  return {
    kind: "storage",
    name: "sftp",
    apiVersion: API_VERSION,
    location,
    capabilities: {
      maxObjectSize: Number.MAX_SAFE_INTEGER,
      atomicCreate: true,
      concurrency,
      temporaries: true,
    },

    async create(opts) {
      opts?.signal?.throwIfAborted();
      const conn = await connection();
      await mkdirp(conn, root);
    },

    put(name, data, opts) {
      return gate.run(async () => {
        opts?.signal?.throwIfAborted();
        checkName(name);
        const conn = await connection();
        await checkDirs(conn, name);
        const path = full(name);
        const dir = path.slice(0, path.lastIndexOf("/"));
        const tmp = `${dir}/.tmp-${crypto.randomUUID().slice(0, 8)}-${++tmpCounter}-${
          name.slice(name.lastIndexOf("/") + 1)
        }`;
        let handle: Buf | undefined;
        let tmpMade = false;
        try {
          const open = () => call<Buf>((cb) => conn.sftp.open(tmp, "wx", { mode: FILE_MODE }, cb));
          try {
            handle = await open();
          } catch (e) {
            if ((e as Ssh2Error).code !== FX_NO_SUCH_FILE) throw e;
            madeDirs.delete(dir);
            await mkdirp(conn, dir);
            handle = await open();
          }
          tmpMade = true;
          const h = handle;
          handle = undefined;
          await writeAndClose(conn, h, data, opts?.signal);
          opts?.signal?.throwIfAborted();
          if (opts?.create) {
            // Plain SFTP rename refuses an existing target (OpenSSH: link(2) + unlink).
            try {
              await call((cb) => conn.sftp.rename(tmp, path, cb));
              tmpMade = false;
            } catch (e) {
              if (await exists(conn, path)) {
                throw new StorageError("exists", `${name}: already exists`, { cause: e });
              }
              throw e;
            }
          } else if (conn.extensions["posix-rename@openssh.com"]) {
            await call((cb) => conn.sftp.ext_openssh_rename(tmp, path, cb));
            tmpMade = false;
          } else {
            // No posix-rename: plain rename, replacing an existing target by hand (not atomic there).
            try {
              await call((cb) => conn.sftp.rename(tmp, path, cb));
            } catch (e) {
              if (!(await exists(conn, path))) throw e;
              await remove(conn, path);
              await call((cb) => conn.sftp.rename(tmp, path, cb));
            }
            tmpMade = false;
          }
        } catch (e) {
          if (handle) await closeHandle(conn, handle);
          if (tmpMade) await remove(conn, tmp).catch(() => {});
          throw mapError(e, name);
        }
      });
    },

    get(name, opts) {
      return gate.run(async () => {
        opts?.signal?.throwIfAborted();
        checkName(name);
        const conn = await connection();
        let handle: Buf | undefined;
        try {
          handle = await call<Buf>((cb) => conn.sftp.open(full(name), "r", cb));
          const h = handle;
          if (opts?.range && opts.range.length <= 16 * 1024 * 1024) {
            // No FSTAT: read the range and stop at the end of the object.
            const { offset, length } = opts.range;
            return await readAll(conn, h, offset, Math.max(0, length), name, opts.signal, true);
          }
          const st = await call<Stats>((cb) => conn.sftp.fstat(h, cb));
          if ((st.mode & S_IFMT) === S_IFDIR) throw new StorageError("not-found", `${name}: no such object`);
          const offset = Math.min(opts?.range?.offset ?? 0, st.size);
          const length = Math.min(opts?.range?.length ?? st.size, st.size - offset);
          return await readAll(conn, h, offset, Math.max(0, length), name, opts?.signal, false);
        } catch (e) {
          throw mapError(e, name);
        } finally {
          if (handle) closeHandle(conn, handle);
        }
      });
    },

    async stat(name, opts) {
      opts?.signal?.throwIfAborted();
      checkName(name);
      const conn = await connection();
      let st: Stats;
      try {
        st = await call<Stats>((cb) => conn.sftp.stat(full(name), cb));
      } catch (e) {
        throw mapError(e, name);
      }
      if ((st.mode & S_IFMT) !== S_IFREG) throw new StorageError("not-found", `${name}: no such object`);
      return { name, size: st.size };
    },

    async *list(prefix, opts): AsyncIterable<ObjectInfo> {
      const conn = await connection();
      const temporaries = !!opts?.temporaries;
      const slash = prefix.lastIndexOf("/");
      const base = slash >= 0 ? prefix.slice(0, slash) : "";
      if (base) await checkDirs(conn, `${base}/`);
      // Walk directories with several READDIRs in flight; yield as results come.
      const queue: string[] = [base];
      const done: { rel: string; entries?: FileEntryWithStats[]; error?: unknown }[] = [];
      let inflight = 0;
      let wake: (() => void) | undefined;
      const start = (rel: string) => {
        inflight++;
        const dir = rel ? full(rel) : root;
        call<FileEntryWithStats[]>((cb) => conn.sftp.readdir(dir, cb)).then(
          (entries) => done.push({ rel, entries }),
          (error) => done.push({ rel, error }),
        ).finally(() => {
          inflight--;
          wake?.();
        });
      };
      while (queue.length || inflight || done.length) {
        opts?.signal?.throwIfAborted();
        while (queue.length && inflight < PIPELINE_DEPTH) start(queue.pop()!);
        if (!done.length) {
          await new Promise<void>((r) => wake = r);
          wake = undefined;
          continue;
        }
        const { rel, entries, error } = done.shift()!;
        if (error) {
          if ((error as Ssh2Error).code === FX_NO_SUCH_FILE) continue;
          throw mapError(error, `list ${rel || "/"}`);
        }
        for (const e of entries!) {
          if (e.filename === "." || e.filename === "..") continue;
          const name = rel ? `${rel}/${e.filename}` : e.filename;
          const type = e.attrs.mode & S_IFMT;
          // READDIR reports links as links (lstat): neither objects nor directories of a repository.
          if (type === S_IFLNK && (prefix.startsWith(name + "/") || name.startsWith(prefix))) {
            refuseLink(name);
          }
          if (type === S_IFDIR) {
            if (prefix.startsWith(name + "/") || name.startsWith(prefix) || (name + "/").startsWith(prefix)) {
              queue.push(name);
            }
          } else if (type === S_IFREG && name.startsWith(prefix)) {
            // Temporary files of writes (`put`) are listed only when asked for, and then alone.
            if (e.filename.startsWith(".tmp-") !== temporaries) continue;
            yield temporaries
              ? { name, size: e.attrs.size, mtime: e.attrs.mtime * 1000 }
              : { name, size: e.attrs.size };
          }
        }
      }
    },

    async delete(name, opts) {
      opts?.signal?.throwIfAborted();
      checkName(name);
      const conn = await connection();
      await checkDirs(conn, name);
      try {
        await remove(conn, full(name));
      } catch (e) {
        throw mapError(e, name);
      }
    },

    async close() {
      closed = true;
      const p = current;
      current = undefined;
      if (!p) return;
      let conn: Connection;
      try {
        conn = await p;
      } catch {
        return;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        conn.client.once("close", () => {
          clearTimeout(timer);
          resolve();
        });
        conn.client.end();
      });
    },
  };
}
