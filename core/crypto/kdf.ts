/**
 * Password-based key derivation: scrypt (node:crypto, default) or argon2id (hash-wasm, loaded on demand).
 *
 * @example
 * ```ts
 * import { deriveKey, newKdfParams } from "./kdf.ts";
 * const params = newKdfParams("scrypt");
 * const key = await deriveKey("secret", params); // 32 bytes
 * ```
 * @module
 */
import { scrypt } from "node:crypto";
import { decodeBase64, encodeBase64 } from "../encoding.ts";

/** KDF parameters, stored in each key file. */
export type KdfParams =
  | { name: "scrypt"; N: number; r: number; p: number; salt: string }
  | { name: "argon2id"; iterations: number; memoryKiB: number; parallelism: number; salt: string };

/** Fresh parameters with a random salt. scrypt N=2^15 (32 MiB, ~0.1 s); argon2id t=3, m=64 MiB. */
export function newKdfParams(name: "scrypt" | "argon2id" = "scrypt"): KdfParams {
  const salt = encodeBase64(crypto.getRandomValues(new Uint8Array(32)));
  return name === "scrypt"
    ? { name, N: 1 << 15, r: 8, p: 1, salt }
    : { name, iterations: 3, memoryKiB: 64 * 1024, parallelism: 1, salt };
}

/** Derives a 32-byte key from a password. */
export async function deriveKey(password: string, params: KdfParams): Promise<Uint8Array> {
  const salt = decodeBase64(params.salt);
  if (params.name === "scrypt") {
    return await new Promise((resolve, reject) =>
      scrypt(
        password,
        salt,
        32,
        { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + (16 << 20) },
        (err, key) => err ? reject(err) : resolve(new Uint8Array(key)),
      )
    );
  }
  if (params.name === "argon2id") {
    const { argon2id } = await import("hash-wasm");
    return await argon2id({
      password,
      salt,
      iterations: params.iterations,
      memorySize: params.memoryKiB,
      parallelism: params.parallelism,
      hashLength: 32,
      outputType: "binary",
    });
  }
  throw new Error(`unknown key derivation function ${(params as { name: string }).name}`);
}
