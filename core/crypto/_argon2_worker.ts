/**
 * Worker of {@link ../kdf.ts}: derives one argon2id key and is terminated. argon2id's memory is
 * WebAssembly memory, which a module instance never gives back; in a worker it goes with the worker, so a
 * backup does not carry 64 MiB of key derivation to its end, and the main thread stays free meanwhile
 * (the walk starts while the key is derived).
 *
 * @example
 * ```ts
 * // Started by deriveKey: new Worker(new URL("./_argon2_worker.ts", import.meta.url), { type: "module" })
 * ```
 * @module
 */
import { argon2Derive, type Argon2Request } from "./_argon2.ts";

export type { Argon2Request };

/** What it answers. */
export type Argon2Reply = { key: Uint8Array } | { error: string };

// deno-lint-ignore no-explicit-any
const scope = self as any;
scope.onmessage = async (e: MessageEvent<Argon2Request>) => {
  const r = e.data;
  try {
    const key = await argon2Derive(r);
    scope.postMessage({ key } satisfies Argon2Reply);
  } catch (err) {
    scope.postMessage({ error: (err as Error).message } satisfies Argon2Reply);
  }
};
