/**
 * One argon2id derivation (hash-wasm), as the KDF worker runs it and as {@link ./kdf.ts} runs it itself
 * where no worker can be started.
 *
 * @example
 * ```ts
 * import { argon2Derive, type Argon2Request } from "./_argon2.ts";
 * const request: Argon2Request = {
 *   password: "secret",
 *   salt: new Uint8Array(16),
 *   iterations: 1,
 *   memoryKiB: 64,
 *   parallelism: 1,
 * };
 * console.log((await argon2Derive(request)).length); // 32
 * ```
 * @module
 */

/** What one derivation needs. */
export interface Argon2Request {
  password: string;
  salt: Uint8Array;
  iterations: number;
  memoryKiB: number;
  parallelism: number;
}

/** A 32-byte argon2id key. */
export async function argon2Derive(r: Argon2Request): Promise<Uint8Array> {
  const { argon2id } = await import("hash-wasm");
  return await argon2id({
    password: r.password,
    salt: r.salt,
    iterations: r.iterations,
    memorySize: r.memoryKiB,
    parallelism: r.parallelism,
    hashLength: 32,
    outputType: "binary",
  });
}
