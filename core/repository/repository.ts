/**
 * A floe repository on any storage: config, keys, packs, index files, snapshots, locks.
 * See docs/repository_format.md for the byte-level format.
 *
 * @example
 * ```ts
 * import { Repository } from "./repository.ts";
 * import local from "../../plugins/storage/local/mod.ts";
 * const repo = await Repository.init(local({ path: "/tmp/r" }), "pw");
 * ```
 * @module
 */
import type { StoragePlugin, TransformPlugin } from "../contracts.ts";
import { isStorageError } from "../contracts.ts";
import { FloeError, IntegrityError } from "../errors.ts";
import { decodeBase64, encodeBase64, fromUtf8, utf8 } from "../encoding.ts";
import { BlobHasher, sha256Hex } from "../crypto/hash.ts";
import {
  MalformedKeyFile,
  type MasterKeys,
  MAX_KEY_FILE,
  newMasterKeys,
  parseKeyFile,
  unwrapMasterKeys,
  wrapMasterKeys,
} from "../crypto/keys.ts";
import type { KdfCost } from "../crypto/kdf.ts";
import { Chunker, type ChunkerParams, DEFAULT_CHUNKER, gearTable } from "../chunker.ts";
import { loadPlugin } from "../registry.ts";
import {
  configAad,
  type ConfigFile,
  FORMAT_VERSION,
  isTransformId,
  parseConfig,
  parseSettings,
  type RepoSettings,
  transformModule,
  type TrustedTransforms,
} from "./config.ts";
import { blobAad, decodeHeader, encodeHeader, type PackBlob, packId } from "./pack.ts";
import { compressIfWorth } from "../compressibility.ts";
import type { BlobType, IndexEntry, IndexFile, Snapshot } from "./types.ts";

/** floe's version, recorded in snapshots. */
export const VERSION = "0.1.0";

export { type ConfigFile, FORMAT_VERSION, type RepoSettings, type TrustedTransforms } from "./config.ts";

/** Options of {@link Repository.open}. */
export interface OpenRepositoryOptions {
  /**
   * Transforms trusted beyond the built-ins, id → module specifier. The repository's `config` only ever
   * names transform ids; this is the one way to make it use a third-party transform.
   */
  transforms?: TrustedTransforms;
  /**
   * Called with the config once it is read, before the key is derived (which takes a while on another
   * thread): what needs only the repository's id can start then.
   */
  onConfig?: (config: ConfigFile) => void;
}

/** Options of {@link Repository.init}. */
export interface InitOptions {
  /** Compression transform (`zstd` default). */
  compression?: string;
  /** Its level (`--compression fastest|default|max` → zstd 1, 2, 19). */
  compressionLevel?: number;
  /** Cipher (`chacha20-poly1305` default — node:crypto seals it ~4× faster than WebCrypto AES-GCM here — or `aes-256-gcm`). */
  cipher?: string;
  /** Chunk sizes. */
  chunker?: ChunkerParams;
  /** Target pack size (16 MiB default). */
  packSize?: number;
  /** Key derivation function, at its default cost. */
  kdf?: "scrypt" | "argon2id";
  /**
   * An explicit KDF and cost instead (within the bounds of core/crypto/kdf.ts): for library callers, e.g.
   * tests that create many repositories. The default (OWASP's advice) is what passwords deserve.
   */
  kdfParams?: KdfCost;
  /** Third-party transforms `cipher` and `compression` may name (see {@link OpenRepositoryOptions}). */
  transforms?: TrustedTransforms;
}

/** A blob ready to go into a pack. */
export interface EncodedBlob extends PackBlob {
  /** The sealed bytes. */
  sealed: Uint8Array;
}

function whoami() {
  let host = "unknown";
  try {
    host = Deno.hostname();
  } catch { /* not permitted */ }
  return { host, username: Deno.env.get("USER") ?? Deno.env.get("LOGNAME") ?? "unknown" };
}

const HEADER_AAD = utf8("floe pack header");

/** Modules of a repository's transforms, for worker threads that load them again. */
export interface TransformModules {
  /** The cipher's module URL. */
  cipher: string;
  /** The compression's module URL, or null for none. */
  compression: string | null;
}

/** A key file's name as it may appear in a one-line message. */
function keyName(name: string): string {
  return /^keys\/[A-Za-z0-9._-]{1,100}$/.test(name) ? name : JSON.stringify(name.slice(0, 80));
}

/** Loads a transform from a module floe trusts and checks that it is the `role` with id `id`. */
async function loadTransform(
  module: string,
  id: string,
  role: "cipher" | "compression",
  options: Record<string, unknown>,
): Promise<TransformPlugin> {
  const t = await loadPlugin("transform", module, options);
  if (t.id !== id || t.role !== role) {
    throw new FloeError(`transform module for '${id}' is the ${t.role} '${t.id}', not the ${role} '${id}'`);
  }
  return t;
}

/** An unlocked repository. */
export class Repository {
  /** Where it is stored. */
  readonly storage: StoragePlugin;
  /** The config object. */
  readonly config: ConfigFile;
  /** Sealed settings. */
  readonly settings: RepoSettings;
  /** The id of the key file that opened it. */
  readonly keyId: string;
  /** Blob id hasher. */
  readonly hasher: BlobHasher;
  /** Chunker keyed for this repository. */
  readonly chunker: Chunker;
  /** Cipher transform. */
  readonly cipher: TransformPlugin;
  /** Compression transform, or null for none. */
  readonly compression: TransformPlugin | null;
  /** The modules `cipher` and `compression` came from (built-in, or given by the caller). */
  readonly modules: TransformModules;
  /** Master keys, needed to spawn workers and add keys. */
  readonly keys: MasterKeys;

  private constructor(
    storage: StoragePlugin,
    config: ConfigFile,
    settings: RepoSettings,
    keyId: string,
    keys: MasterKeys,
    cipher: TransformPlugin,
    compression: TransformPlugin | null,
    modules: TransformModules,
  ) {
    this.storage = storage;
    this.config = config;
    this.settings = settings;
    this.keyId = keyId;
    this.keys = keys;
    this.hasher = new BlobHasher(keys.id);
    this.chunker = new Chunker(gearTable(keys.chunker), settings.chunker);
    this.cipher = cipher;
    this.compression = compression;
    this.modules = modules;
  }

  /** The repository id. */
  get id(): string {
    return this.config.id;
  }

  /** Creates a repository on an empty storage location. */
  static async init(
    storage: StoragePlugin,
    password: string,
    options: InitOptions = {},
  ): Promise<Repository> {
    const trusted = options.transforms ?? {};
    const cipherId = options.cipher ?? "chacha20-poly1305";
    const settings = parseSettings({
      chunker: options.chunker ?? DEFAULT_CHUNKER,
      compression: options.compression ?? "zstd",
      ...(options.compressionLevel !== undefined ? { compressionLevel: options.compressionLevel } : {}),
      packSize: options.packSize ?? 16 * 1024 * 1024,
    });
    for (const id of [cipherId, settings.compression]) {
      if (!isTransformId(id)) {
        throw new FloeError(
          `'${id}' is not a transform id: to use a third-party transform, give its module in the ` +
            `'transforms' option and its id here`,
        );
      }
    }
    // Checked before anything is written: the repository must open again with the same options.
    const modules: TransformModules = {
      cipher: transformModule(cipherId, trusted, "cipher"),
      compression: settings.compression === "none"
        ? null
        : transformModule(settings.compression, trusted, "compression"),
    };
    if (await Repository.exists(storage)) {
      throw new FloeError(`a repository already exists at ${storage.location}`);
    }
    const keys = newMasterKeys();
    const cipher = await loadTransform(modules.cipher, cipherId, "cipher", { key: keys.encryption });
    const compression = await Repository.#loadCompression(modules, settings);
    const keyFile = await wrapMasterKeys(keys, password, whoami(), options.kdfParams ?? options.kdf);
    await storage.create();
    const plain = {
      format: "floe" as const,
      version: FORMAT_VERSION,
      id: sha256Hex(crypto.getRandomValues(new Uint8Array(32))),
      created: new Date().toISOString(),
      cipher: cipherId,
    };
    const sealedSettings = await cipher.encode(utf8(JSON.stringify(settings)), {
      associatedData: configAad(plain),
    });
    const config: ConfigFile = { ...plain, settings: encodeBase64(sealedSettings) };
    const keyBytes = utf8(JSON.stringify(keyFile, null, 2));
    const keyId = sha256Hex(keyBytes);
    // The key first: a config without a key would be an unreadable repository.
    await storage.put(`keys/${keyId}`, keyBytes);
    try {
      await storage.put("config", utf8(JSON.stringify(config, null, 2)), {
        create: storage.capabilities.atomicCreate,
      });
    } catch (e) {
      await storage.delete(`keys/${keyId}`).catch(() => {}); // leave no orphan key behind
      if (isStorageError(e, "exists")) {
        throw new FloeError(`a repository already exists at ${storage.location}`);
      }
      throw e;
    }
    return new Repository(storage, config, settings, keyId, keys, cipher, compression, modules);
  }

  /** Whether a repository `config` exists at the storage. */
  static async exists(storage: StoragePlugin): Promise<boolean> {
    try {
      await storage.stat("config");
      return true;
    } catch (e) {
      if (isStorageError(e, "not-found")) return false;
      throw e;
    }
  }

  static async #loadCompression(
    modules: TransformModules,
    settings: RepoSettings,
  ): Promise<TransformPlugin | null> {
    if (!modules.compression) return null;
    const level = settings.compressionLevel;
    return await loadTransform(modules.compression, settings.compression, "compression", {
      ...(level !== undefined ? { level } : {}),
    });
  }

  /**
   * Reads and checks `config` (see {@link parseConfig}): exit code 10 when there is none, an
   * {@link IntegrityError} when it is malformed. Its fields are authenticated only by {@link open}.
   */
  static async readConfig(storage: StoragePlugin): Promise<ConfigFile> {
    let bytes: Uint8Array;
    try {
      bytes = await storage.get("config");
    } catch (e) {
      if (isStorageError(e, "not-found")) {
        throw new FloeError(
          `no repository at ${storage.location} (run 'floe init' to create one)`,
          "no-repository",
        );
      }
      throw e;
    }
    return parseConfig(bytes, storage.location);
  }

  /**
   * Opens a repository with a password. The plaintext `config` fields are authenticated as the associated
   * data of the sealed settings before any transform the settings name is loaded; the cipher that
   * verifies them is a built-in one or one in `options.transforms`. A damaged key file is an
   * {@link IntegrityError} naming it (unless another key opens); exit code 12 only when every key file
   * is well-formed and none opens with the password.
   */
  static async open(
    storage: StoragePlugin,
    password: string,
    options: OpenRepositoryOptions = {},
  ): Promise<Repository> {
    const config = await Repository.readConfig(storage);
    options.onConfig?.(config);
    const trusted = options.transforms ?? {};
    const cipherModule = transformModule(config.cipher, trusted, "cipher");
    const keyObjects: { name: string; size: number }[] = [];
    for await (const o of storage.list("keys/")) keyObjects.push({ name: o.name, size: o.size });
    keyObjects.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    const damaged: string[] = [];
    let configFailure: IntegrityError | null = null;
    for (const { name, size } of keyObjects) {
      let keys: MasterKeys | null;
      try {
        if (size > MAX_KEY_FILE) throw new MalformedKeyFile(`it is ${size} bytes long`);
        const bytes = await storage.get(name);
        const file = parseKeyFile(bytes);
        if (sha256Hex(bytes) !== name.slice(5)) {
          throw new MalformedKeyFile("its content does not match its name");
        }
        keys = await unwrapMasterKeys(file, password);
      } catch (e) {
        // A damaged key file must not stop the others from opening; it is named if none does.
        if (!(e instanceof MalformedKeyFile)) throw e;
        damaged.push(`${keyName(name)} (${e.message})`);
        continue;
      }
      if (!keys) continue;
      const cipher = await loadTransform(cipherModule, config.cipher, "cipher", { key: keys.encryption });
      let settingsJson: unknown;
      try {
        const plain = await cipher.decode(decodeBase64(config.settings), {
          associatedData: configAad(config),
        });
        settingsJson = JSON.parse(fromUtf8(plain));
      } catch (e) {
        // A key left over from another repository's interrupted init opens but does not fit this config.
        configFailure = new IntegrityError(
          `config at ${storage.location} failed authentication: it was altered or damaged`,
          { cause: e },
        );
        continue;
      }
      const settings = parseSettings(settingsJson);
      const modules: TransformModules = {
        cipher: cipherModule,
        compression: settings.compression === "none"
          ? null
          : transformModule(settings.compression, trusted, "compression"),
      };
      const compression = await Repository.#loadCompression(modules, settings);
      return new Repository(storage, config, settings, name.slice(5), keys, cipher, compression, modules);
    }
    if (configFailure) throw configFailure;
    if (!keyObjects.length) throw new IntegrityError(`repository at ${storage.location} has no key files`);
    if (damaged.length) {
      const shown = damaged.slice(0, 3).join(", ") +
        (damaged.length > 3 ? ` and ${damaged.length - 3} more` : "");
      const others = keyObjects.length - damaged.length;
      throw new IntegrityError(
        `damaged key file${damaged.length > 1 ? "s" : ""}: ${shown}` +
          (others
            ? `; the other ${others} key file${others > 1 ? "s" : ""} did not open with this password`
            : ""),
      );
    }
    throw new FloeError("wrong password: no key of this repository opens with it", "wrong-password");
  }

  // ---------------------------------------------------------------------------------------------
  // Keys
  // ---------------------------------------------------------------------------------------------

  /** Adds a key file for another password (a KDF at its default cost, or an explicit cost); returns its id. */
  async addKey(password: string, kdf?: "scrypt" | "argon2id" | KdfCost): Promise<string> {
    const file = await wrapMasterKeys(this.keys, password, whoami(), kdf);
    const bytes = utf8(JSON.stringify(file, null, 2));
    const id = sha256Hex(bytes);
    await this.storage.put(`keys/${id}`, bytes);
    return id;
  }

  /** Lists key files. */
  async listKeys(): Promise<{ id: string; created: string; host: string; username: string; kdf: string }[]> {
    const out = [];
    for await (const o of this.storage.list("keys/")) {
      const id = o.name.slice(5);
      try {
        const f = parseKeyFile(await this.storage.get(o.name));
        out.push({ id, created: f.created, host: f.host, username: f.username, kdf: f.kdf.name });
      } catch {
        out.push({ id, created: "?", host: "?", username: "?", kdf: "damaged" });
      }
    }
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }

  /** Removes a key file; refuses the last one and the one in use. */
  async removeKey(id: string): Promise<void> {
    const keys = await this.listKeys();
    const match = keys.filter((k) => k.id.startsWith(id));
    if (match.length !== 1) {
      throw new FloeError(match.length ? `key id '${id}' is ambiguous` : `no key '${id}'`);
    }
    if (match[0].id === this.keyId) {
      throw new FloeError("refusing to remove the key in use; open with another password");
    }
    if (keys.length < 2) throw new FloeError("refusing to remove the last key");
    await this.storage.delete(`keys/${match[0].id}`);
  }

  // ---------------------------------------------------------------------------------------------
  // Sealed JSON files (snapshots, index)
  // ---------------------------------------------------------------------------------------------

  /** Seals a JSON value as a file of kind `dir` (compressed when a compressor is configured). */
  async sealJson(dir: string, value: unknown): Promise<Uint8Array> {
    const json = utf8(JSON.stringify(value));
    let plain: Uint8Array;
    if (this.compression) {
      const packed = await this.compression.encode(json);
      plain = new Uint8Array(packed.length + 1);
      plain[0] = 1;
      plain.set(packed, 1);
    } else {
      plain = new Uint8Array(json.length + 1);
      plain.set(json, 1);
    }
    return await this.cipher.encode(plain, { associatedData: utf8(dir) });
  }

  /** Opens a sealed JSON file; throws {@link IntegrityError} naming it when altered. */
  async openJson<T>(dir: string, name: string, bytes: Uint8Array): Promise<T> {
    let plain: Uint8Array;
    try {
      plain = await this.cipher.decode(bytes, { associatedData: utf8(dir) });
    } catch (e) {
      throw new IntegrityError(`${name} failed authentication: it was altered, truncated or damaged`, {
        cause: e,
      });
    }
    try {
      const body = plain[0] === 1 ? await this.compression!.decode(plain.subarray(1)) : plain.subarray(1);
      return JSON.parse(fromUtf8(body)) as T;
    } catch (e) {
      throw new IntegrityError(`${name} does not decode`, { cause: e });
    }
  }

  /** Stores a sealed JSON file under `dir/<sha256>` and returns the id. */
  async saveJson(dir: "snapshots" | "index" | "locks", value: unknown): Promise<string> {
    const bytes = await this.sealJson(dir, value);
    const id = sha256Hex(bytes);
    await this.storage.put(`${dir}/${id}`, bytes);
    return id;
  }

  /** Loads `dir/<id>`, checking that its content matches its name. */
  async loadJson<T>(dir: "snapshots" | "index" | "locks", id: string): Promise<T> {
    const name = `${dir}/${id}`;
    const bytes = await this.storage.get(name);
    if (dir !== "locks" && sha256Hex(bytes) !== id) {
      throw new IntegrityError(`${name} is damaged: its content does not match its name`);
    }
    return await this.openJson<T>(dir, name, bytes);
  }

  /** Ids of the objects under `dir/`. */
  async listIds(dir: "snapshots" | "index" | "locks" | "keys"): Promise<string[]> {
    const out: string[] = [];
    for await (const o of this.storage.list(`${dir}/`)) out.push(o.name.slice(dir.length + 1));
    return out.sort();
  }

  /** Loads a snapshot by full id. */
  loadSnapshot(id: string): Promise<Snapshot> {
    return this.loadJson<Snapshot>("snapshots", id);
  }

  /** Loads an index file by id. */
  loadIndex(id: string): Promise<IndexFile> {
    return this.loadJson<IndexFile>("index", id);
  }

  // ---------------------------------------------------------------------------------------------
  // Blobs and packs
  // ---------------------------------------------------------------------------------------------

  /**
   * Compresses (when it helps) and seals one blob whose id is already known. `plain` is consumed before
   * this returns (built-in transforms copy synchronously; asynchronous third-party ones get a copy), so
   * the caller may reuse its buffer at once and keep several encodes in flight.
   *
   * `lent` offers output buffers (see `TransformContext.into`): the compressor's and the cipher's output
   * may be written there, and the result's `sealed` may be a view of `lent.sealed`. The caller must not
   * touch them again until the returned promise has settled and it is done with the result.
   */
  encodeBlob(
    type: BlobType,
    id: string,
    plain: Uint8Array,
    compress = true,
    compressor: TransformPlugin | null = this.compression,
    lent?: { sealed?: Uint8Array; compressed?: Uint8Array },
  ): Promise<EncodedBlob> {
    const rawLength = plain.length;
    const aad = blobAad(type, id);
    const context = lent?.sealed ? { associatedData: aad, into: lent.sealed } : { associatedData: aad };
    const seal = (body: Uint8Array, compressed: boolean) =>
      Promise.resolve(this.cipher.encode(body, context)).then((bytes) => ({
        id,
        type,
        compressed,
        length: bytes.length,
        rawLength,
        sealed: bytes,
      }));
    if (!compress || !compressor) return seal(plain, false);
    const result = compressIfWorth(compressor, plain, lent?.compressed);
    return result instanceof Promise
      ? result.then(({ body, compressed }) => seal(body, compressed))
      : seal(result.body, result.compressed);
  }

  /** Opens a sealed blob and checks its id; throws {@link IntegrityError} when it was altered. */
  async decodeBlob(entry: IndexEntry, sealed: Uint8Array): Promise<Uint8Array> {
    let body: Uint8Array;
    try {
      body = await this.cipher.decode(sealed, { associatedData: blobAad(entry.type, entry.id) });
    } catch (e) {
      throw new IntegrityError(
        `blob ${entry.id.slice(0, 12)} in pack ${
          entry.pack.slice(0, 12)
        } failed authentication (damaged pack)`,
        { cause: e },
      );
    }
    let plain: Uint8Array;
    try {
      plain = entry.compressed
        ? await this.compression!.decode(body, { outputLength: entry.rawLength })
        : body;
    } catch (e) {
      throw new IntegrityError(`blob ${entry.id.slice(0, 12)} does not decompress`, { cause: e });
    }
    if (plain.length !== entry.rawLength || this.hasher.id(plain) !== entry.id) {
      throw new IntegrityError(
        `blob ${entry.id.slice(0, 12)} in pack ${entry.pack.slice(0, 12)} has wrong content`,
      );
    }
    return plain;
  }

  /** Reads one blob from its pack. */
  async loadBlob(entry: IndexEntry, signal?: AbortSignal): Promise<Uint8Array> {
    let sealed: Uint8Array;
    try {
      sealed = await this.storage.get(packName(entry.pack), {
        range: { offset: entry.offset, length: entry.length },
        signal,
      });
    } catch (e) {
      if (isStorageError(e, "not-found")) {
        throw new IntegrityError(
          `pack ${entry.pack.slice(0, 12)} is missing (needed for blob ${entry.id.slice(0, 12)})`,
        );
      }
      throw e;
    }
    if (sealed.length !== entry.length) {
      throw new IntegrityError(`pack ${entry.pack.slice(0, 12)} is truncated`);
    }
    return await this.decodeBlob(entry, sealed);
  }

  /**
   * Assembles a pack from sealed blobs (in their final order); returns bytes, id and entries. With `into`
   * large enough, the pack is written there (a recycled buffer) instead of a new one; blobs that already
   * lie there at their final offsets stay where they are.
   */
  async buildPack(
    blobs: EncodedBlob[],
    into?: Uint8Array,
  ): Promise<{ id: string; bytes: Uint8Array; entries: IndexEntry[] }> {
    const header = await this.cipher.encode(encodeHeader(blobs), { associatedData: HEADER_AAD });
    let size = header.length + 4;
    for (const b of blobs) size += b.length;
    const bytes = into && into.length >= size ? into.subarray(0, size) : new Uint8Array(size);
    let off = 0;
    const entries: IndexEntry[] = [];
    for (const b of blobs) {
      // Blobs already in place (a packer filling `into` in order) are not copied onto themselves.
      if (b.sealed.buffer !== bytes.buffer || b.sealed.byteOffset !== bytes.byteOffset + off) {
        bytes.set(b.sealed, off);
      }
      entries.push({
        id: b.id,
        type: b.type,
        pack: "",
        offset: off,
        length: b.length,
        rawLength: b.rawLength,
        compressed: b.compressed,
      });
      off += b.length;
    }
    bytes.set(header, off);
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(off + header.length, header.length, true);
    const id = packId(bytes, header.length);
    for (const e of entries) e.pack = id;
    return { id, bytes, entries };
  }

  /** Reads a pack's header from storage (for `repair index` and `check`). */
  async readPackHeader(packId: string, size?: number): Promise<IndexEntry[]> {
    const name = packName(packId);
    const total = size ?? (await this.storage.stat(name)).size;
    if (total < 4 + 28) throw new IntegrityError(`pack ${packId.slice(0, 12)} is truncated`);
    const tailLen = Math.min(total, 64 * 1024);
    const tail = await this.storage.get(name, { range: { offset: total - tailLen, length: tailLen } });
    const hlen = new DataView(tail.buffer, tail.byteOffset).getUint32(tail.length - 4, true);
    if (hlen + 4 > total) throw new IntegrityError(`pack ${packId.slice(0, 12)} has a bad header length`);
    let sealed: Uint8Array;
    if (hlen + 4 <= tail.length) sealed = tail.subarray(tail.length - 4 - hlen, tail.length - 4);
    else sealed = await this.storage.get(name, { range: { offset: total - 4 - hlen, length: hlen } });
    let header: Uint8Array;
    try {
      header = await this.cipher.decode(sealed, { associatedData: HEADER_AAD });
    } catch (e) {
      throw new IntegrityError(`pack ${packId.slice(0, 12)} header failed authentication`, { cause: e });
    }
    const entries = decodeHeader(header).map((e) => ({ ...e, pack: packId }));
    const end = entries.length ? entries[entries.length - 1].offset + entries[entries.length - 1].length : 0;
    if (end + hlen + 4 !== total) {
      throw new IntegrityError(`pack ${packId.slice(0, 12)} size does not match its header`);
    }
    return entries;
  }
}

/** A pack object's name: `data/<first two hex digits>/<64 hex>`. */
const PACK_NAME = /^data\/([0-9a-f]{2})\/(\1[0-9a-f]{62})$/;

/**
 * Storage object name of a pack. Throws {@link IntegrityError} for an id that is not 64 hex digits, so a
 * name built here (to read, and for prune to delete) always has the documented form.
 *
 * @example
 * ```ts
 * import { packName } from "./repository.ts";
 * packName("ab".repeat(32)); // "data/ab/abab…"
 * ```
 */
export function packName(id: string): string {
  if (!/^[0-9a-f]{64}$/.test(id)) {
    throw new IntegrityError(`${JSON.stringify(id.slice(0, 80))} is not a pack id`);
  }
  return `data/${id.slice(0, 2)}/${id}`;
}

/**
 * The pack id an object name of the documented form `data/xx/<64 hex>` stands for, else undefined (a
 * stray file, a temporary file): callers that list `data/` and may delete what they find use this.
 *
 * @example
 * ```ts
 * import { packIdOf } from "./repository.ts";
 * packIdOf("data/ab/" + "ab".repeat(32)); // "abab…"
 * packIdOf("data/ab/notes.txt"); // undefined
 * ```
 */
export function packIdOf(name: string): string | undefined {
  return PACK_NAME.exec(name)?.[2];
}
