/**
 * Password-based key derivation: argon2id (hash-wasm, in a worker that is terminated afterwards, so its
 * 64 MiB go with it; the default for new keys) or scrypt (node:crypto, on the thread pool).
 *
 * Defaults follow OWASP's password storage advice: argon2id 64 MiB, t=3, p=1 (OWASP's first choice);
 * scrypt N=2^17, r=8, p=1 (128 MiB). argon2id is the default because every command derives a key once:
 * measured here, an unchanged re-backup of 5,633 files took 0.70 s and peaked at 155 MB with argon2id
 * against 1.15 s and 210 MB with scrypt, whose 128 MiB is touched in full (`floe snapshots`: 0.46 s and
 * 146 MB against 0.90 s and 195 MB). The parameters are stored in each key file, i.e. on the storage, so {@link checkKdfParams}
 * bounds what a key file may ask for before any derivation starts (see docs/repository_format.md).
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
import type { Argon2Reply } from "./_argon2_worker.ts";
import { argon2Derive, type Argon2Request } from "./_argon2.ts";

/** KDF parameters, stored in each key file. */
export type KdfParams =
  | { name: "scrypt"; N: number; r: number; p: number; salt: string }
  | { name: "argon2id"; iterations: number; memoryKiB: number; parallelism: number; salt: string };

/** A KDF and its cost, without the salt: what a caller may choose instead of the default. */
export type KdfCost =
  | { name: "scrypt"; N: number; r: number; p: number }
  | { name: "argon2id"; iterations: number; memoryKiB: number; parallelism: number };

/**
 * The default costs. One unlock measured 0.7–2.2 s (scrypt) and 0.6–1.1 s (argon2id) on the 2-core CI
 * machine under heavy load (N=2^15, the former default: 0.24–0.48 s); far more for an attacker guessing.
 *
 * @example
 * ```ts
 * import { DEFAULT_KDF } from "./kdf.ts";
 * DEFAULT_KDF.scrypt.N; // 131072
 * ```
 */
export const DEFAULT_KDF = {
  scrypt: { name: "scrypt", N: 1 << 17, r: 8, p: 1 },
  argon2id: { name: "argon2id", iterations: 3, memoryKiB: 64 * 1024, parallelism: 1 },
} as const satisfies Record<string, KdfCost>;

/**
 * Bounds on what a key file may ask for; anything outside is refused before deriving. The upper bounds
 * cap one unlock at 1 GiB of memory and a few tens of seconds; the lower ones refuse costs too cheap to
 * protect a password.
 *
 * @example
 * ```ts
 * import { KDF_BOUNDS } from "./kdf.ts";
 * KDF_BOUNDS.maxMemory; // 1 GiB
 * ```
 */
export const KDF_BOUNDS = {
  /** scrypt N: a power of two in [2^10, 2^20]. */
  scryptLogN: [10, 20],
  /** scrypt r. */
  scryptR: [1, 32],
  /** scrypt p. */
  scryptP: [1, 16],
  /** scrypt's 128·N·r and argon2id's memory: at most 1 GiB. */
  maxMemory: 1 << 30,
  /** argon2id memory in KiB (at least 8·parallelism, as argon2 requires). */
  argonMemoryKiB: [8, 1 << 20],
  /** argon2id passes. */
  argonIterations: [1, 20],
  /** argon2id lanes. */
  argonParallelism: [1, 16],
  /** Salt length in bytes. */
  saltBytes: [16, 64],
} as const;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * What is wrong with `params` (read from a key file), or null when it is a well-formed KDF within
 * {@link KDF_BOUNDS}. Checks types, names, ranges and the salt's encoding and length; exact fields only.
 *
 * @example
 * ```ts
 * import { checkKdfParams } from "./kdf.ts";
 * checkKdfParams({ name: "scrypt", N: 2 ** 24, r: 8, p: 1, salt: "…" }); // "scrypt N=16777216 is not …"
 * ```
 */
export function checkKdfParams(params: unknown): string | null {
  if (!params || typeof params !== "object" || Array.isArray(params)) return "kdf is not an object";
  const k = params as Record<string, unknown>;
  const within = (v: unknown, [lo, hi]: readonly [number, number]) =>
    Number.isSafeInteger(v) && lo <= (v as number) && (v as number) <= hi;
  const fields = (names: string[]) => {
    const extra = Object.keys(k).filter((f) => !names.includes(f));
    return extra.length ? `kdf has an unknown field ${JSON.stringify(extra[0].slice(0, 40))}` : null;
  };
  if (k.name === "scrypt") {
    const extra = fields(["name", "N", "r", "p", "salt"]);
    if (extra) return extra;
    const [lo, hi] = KDF_BOUNDS.scryptLogN;
    if (!within(k.N, [2 ** lo, 2 ** hi]) || ((k.N as number) & ((k.N as number) - 1)) !== 0) {
      return `scrypt N=${String(k.N).slice(0, 20)} is not a power of two in [2^${lo}, 2^${hi}]`;
    }
    if (!within(k.r, KDF_BOUNDS.scryptR)) return `scrypt r=${String(k.r).slice(0, 20)} is not in [1, 32]`;
    if (!within(k.p, KDF_BOUNDS.scryptP)) return `scrypt p=${String(k.p).slice(0, 20)} is not in [1, 16]`;
    if (128 * (k.N as number) * (k.r as number) > KDF_BOUNDS.maxMemory) {
      return `scrypt N=${k.N}, r=${k.r} needs more than 1 GiB of memory`;
    }
  } else if (k.name === "argon2id") {
    const extra = fields(["name", "iterations", "memoryKiB", "parallelism", "salt"]);
    if (extra) return extra;
    if (!within(k.parallelism, KDF_BOUNDS.argonParallelism)) {
      return `argon2id parallelism=${String(k.parallelism).slice(0, 20)} is not in [1, 16]`;
    }
    const [, maxKiB] = KDF_BOUNDS.argonMemoryKiB;
    if (!within(k.memoryKiB, [8 * (k.parallelism as number), maxKiB])) {
      return `argon2id memoryKiB=${String(k.memoryKiB).slice(0, 20)} is not in [8·parallelism, 1 GiB]`;
    }
    if (!within(k.iterations, KDF_BOUNDS.argonIterations)) {
      return `argon2id iterations=${String(k.iterations).slice(0, 20)} is not in [1, 20]`;
    }
  } else {
    return `unknown key derivation function ${JSON.stringify(k.name)?.slice(0, 40)}`;
  }
  if (typeof k.salt !== "string" || !BASE64.test(k.salt)) return "kdf salt is not base64";
  const [minSalt, maxSalt] = KDF_BOUNDS.saltBytes;
  const saltBytes = k.salt.length / 4 * 3 - (k.salt.endsWith("==") ? 2 : k.salt.endsWith("=") ? 1 : 0);
  if (saltBytes < minSalt || saltBytes > maxSalt) {
    return `kdf salt is ${saltBytes} bytes, not ${minSalt}–${maxSalt}`;
  }
  return null;
}

/**
 * Fresh parameters with a random salt: the default cost of `name`, or `cost` when given (library callers
 * and tests; it must lie within {@link KDF_BOUNDS}).
 */
export function newKdfParams(name: "scrypt" | "argon2id" = "argon2id", cost?: KdfCost): KdfParams {
  const salt = encodeBase64(crypto.getRandomValues(new Uint8Array(32)));
  const params = { ...(cost ?? DEFAULT_KDF[name]), salt } as KdfParams;
  const problem = checkKdfParams(params);
  if (problem) throw new RangeError(problem);
  return params;
}

/** Derives a 32-byte key from a password; refuses parameters outside {@link KDF_BOUNDS}. */
export async function deriveKey(password: string, params: KdfParams): Promise<Uint8Array> {
  const problem = checkKdfParams(params);
  if (problem) throw new RangeError(problem);
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
  const request: Argon2Request = {
    password,
    salt,
    iterations: params.iterations,
    memoryKiB: params.memoryKiB,
    parallelism: params.parallelism,
  };
  let worker: Worker;
  try {
    worker = new Worker(new URL("./_argon2_worker.ts", import.meta.url), { type: "module" });
  } catch {
    return await argon2Derive(request); // no workers where this runs
  }
  try {
    const reply = await new Promise<Argon2Reply>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<Argon2Reply>) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`argon2id: ${e.message}`));
      };
      worker.postMessage(request);
    });
    if ("error" in reply) throw new Error(`argon2id: ${reply.error}`);
    return reply.key;
  } finally {
    worker.terminate(); // and its 64 MiB of WebAssembly memory with it
  }
}
