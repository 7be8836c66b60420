/**
 * The repository's master keys and the key files that wrap them under passwords.
 *
 * A key file (`keys/<id>`) is JSON: KDF parameters and the master key material sealed with
 * AES-256-GCM under the password-derived key. Several key files may wrap the same master keys.
 *
 * @example
 * ```ts
 * import { newMasterKeys, wrapMasterKeys, unwrapMasterKeys } from "./keys.ts";
 * const keys = newMasterKeys();
 * const file = await wrapMasterKeys(keys, "pw", { host: "h", username: "u" });
 * const back = await unwrapMasterKeys(file, "pw"); // null for a wrong password
 * ```
 * @module
 */
import { decodeBase64, encodeBase64, fromUtf8, utf8 } from "../encoding.ts";
import { checkKdfParams, deriveKey, type KdfCost, type KdfParams, newKdfParams } from "./kdf.ts";

/** The secrets every repository holds. */
export interface MasterKeys {
  /** Blob and file encryption key (32 bytes). */
  encryption: Uint8Array;
  /** Blob id HMAC key (32 bytes). */
  id: Uint8Array;
  /** Seed of the chunker's gear table (32 bytes). */
  chunker: Uint8Array;
}

/** The stored form of a key file. */
export interface KeyFile {
  /** Key file format version (1). */
  version: 1;
  /** When the key was added, ISO 8601. */
  created: string;
  /** Who added it. */
  host: string;
  /** Who added it. */
  username: string;
  /** How the wrapping key is derived from the password. */
  kdf: KdfParams;
  /** nonce ‖ AES-256-GCM(master keys JSON) ‖ tag, base64. */
  data: string;
}

const AAD = utf8("floe key v1") as Uint8Array<ArrayBuffer>;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** The sealed master keys' JSON: three base64 fields of 32 bytes each, in this order. */
const PLAIN_LENGTH =
  utf8(JSON.stringify({ encryption: "A".repeat(44), id: "A".repeat(44), chunker: "A".repeat(44) }))
    .length;
/** base64 length of `data`: nonce₁₂ ‖ ciphertext ‖ tag₁₆. */
const DATA_BASE64_LENGTH = Math.ceil((12 + PLAIN_LENGTH + 16) / 3) * 4;
/** Free-text fields (who added the key) are bounded so a key file stays small. */
const MAX_TEXT = 1024;
/** A key file is under 1 KiB; anything larger is not one. */
export const MAX_KEY_FILE = 64 * 1024;

/** Thrown by {@link parseKeyFile} for bytes that are not a well-formed key file. */
export class MalformedKeyFile extends Error {
  /** Build one saying what is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "MalformedKeyFile";
  }
}

/**
 * Parses a stored key file, checking every field's type, the KDF's bounds and the base64 fields' lengths
 * before any is used; throws {@link MalformedKeyFile} saying what is wrong.
 *
 * @example
 * ```ts
 * import { parseKeyFile } from "./keys.ts";
 * // const file = parseKeyFile(await storage.get("keys/…"));
 * ```
 */
export function parseKeyFile(bytes: Uint8Array): KeyFile {
  if (bytes.length > MAX_KEY_FILE) throw new MalformedKeyFile(`it is ${bytes.length} bytes long`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new MalformedKeyFile(bytes.length ? "it is not JSON (truncated?)" : "it is empty");
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new MalformedKeyFile("not a JSON object");
  const f = raw as Record<string, unknown>;
  const extra = Object.keys(f).filter((k) =>
    !["version", "created", "host", "username", "kdf", "data"].includes(k)
  );
  if (extra.length) throw new MalformedKeyFile(`unknown field ${JSON.stringify(extra[0].slice(0, 40))}`);
  if (f.version !== 1) {
    throw new MalformedKeyFile(`version ${JSON.stringify(f.version)?.slice(0, 20)} is not 1`);
  }
  for (const field of ["created", "host", "username"]) {
    const v = f[field];
    if (typeof v !== "string" || v.length > MAX_TEXT) {
      throw new MalformedKeyFile(`${field} is not a short string`);
    }
  }
  const kdfProblem = checkKdfParams(f.kdf);
  if (kdfProblem) throw new MalformedKeyFile(kdfProblem);
  if (typeof f.data !== "string" || f.data.length !== DATA_BASE64_LENGTH || !BASE64.test(f.data)) {
    throw new MalformedKeyFile(`data is not ${DATA_BASE64_LENGTH} characters of base64`);
  }
  return {
    version: 1,
    created: f.created as string,
    host: f.host as string,
    username: f.username as string,
    kdf: f.kdf as KdfParams,
    data: f.data,
  };
}

/** Fresh random master keys. */
export function newMasterKeys(): MasterKeys {
  const r = () => crypto.getRandomValues(new Uint8Array(32));
  return { encryption: r(), id: r(), chunker: r() };
}

async function gcmKey(raw: Uint8Array): Promise<CryptoKey> {
  return await crypto.subtle.importKey("raw", raw as Uint8Array<ArrayBuffer>, "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
}

/**
 * Seals the master keys under a password, with the default cost of a KDF (`"argon2id"`, the default, or `"scrypt"`) or an
 * explicit {@link KdfCost} (library callers; tests use a cheap one).
 */
export async function wrapMasterKeys(
  keys: MasterKeys,
  password: string,
  who: { host: string; username: string },
  kdf: "scrypt" | "argon2id" | KdfCost = "argon2id",
): Promise<KeyFile> {
  const params = typeof kdf === "string" ? newKdfParams(kdf) : newKdfParams(kdf.name, kdf);
  const wrapKey = await gcmKey(await deriveKey(password, params));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plain = utf8(JSON.stringify({
    encryption: encodeBase64(keys.encryption),
    id: encodeBase64(keys.id),
    chunker: encodeBase64(keys.chunker),
  }));
  const ct = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: AAD },
      wrapKey,
      plain as Uint8Array<ArrayBuffer>,
    ),
  );
  const data = new Uint8Array(12 + ct.length);
  data.set(iv);
  data.set(ct, 12);
  return { version: 1, created: new Date().toISOString(), ...who, kdf: params, data: encodeBase64(data) };
}

/**
 * Opens a key file (as {@link parseKeyFile} returns it) with a password; `null` when the password does not
 * fit. Throws {@link MalformedKeyFile} when what it seals is not three 32-byte keys.
 */
export async function unwrapMasterKeys(file: KeyFile, password: string): Promise<MasterKeys | null> {
  const wrapKey = await gcmKey(await deriveKey(password, file.kdf));
  const data = decodeBase64(file.data);
  let plain: ArrayBuffer;
  try {
    plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: data.subarray(0, 12) as Uint8Array<ArrayBuffer>, additionalData: AAD },
      wrapKey,
      data.subarray(12) as Uint8Array<ArrayBuffer>,
    );
  } catch {
    return null;
  }
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(fromUtf8(new Uint8Array(plain)));
  } catch {
    throw new MalformedKeyFile("its sealed keys are not JSON");
  }
  const key = (name: string) => {
    const v = o?.[name];
    if (typeof v !== "string" || v.length !== 44 || !BASE64.test(v)) {
      throw new MalformedKeyFile(`its sealed ${name} key is not 32 bytes of base64`);
    }
    return decodeBase64(v);
  };
  return { encryption: key("encryption"), id: key("id"), chunker: key("chunker") };
}
