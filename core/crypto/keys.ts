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
import { deriveKey, type KdfParams, newKdfParams } from "./kdf.ts";

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

/** Seals the master keys under a password. */
export async function wrapMasterKeys(
  keys: MasterKeys,
  password: string,
  who: { host: string; username: string },
  kdfName: "scrypt" | "argon2id" = "scrypt",
): Promise<KeyFile> {
  const kdf = newKdfParams(kdfName);
  const wrapKey = await gcmKey(await deriveKey(password, kdf));
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
  return { version: 1, created: new Date().toISOString(), ...who, kdf, data: encodeBase64(data) };
}

/** Opens a key file with a password; `null` when the password does not fit. Throws on a malformed file. */
export async function unwrapMasterKeys(file: KeyFile, password: string): Promise<MasterKeys | null> {
  if (file?.version !== 1 || !file.kdf || typeof file.data !== "string") {
    throw new Error("malformed key file");
  }
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
  const o = JSON.parse(fromUtf8(new Uint8Array(plain)));
  return { encryption: decodeBase64(o.encryption), id: decodeBase64(o.id), chunker: decodeBase64(o.chunker) };
}
