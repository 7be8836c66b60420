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

/**
 * Makes hash-wasm's instances write one byte per page of the memory they grow (`Hash_SetMemorySize`) right
 * after growing it. argon2 reads its fresh blocks before it writes them, so each page was faulted twice:
 * mapped to the shared zero page on the read, then copied on the write, with a TLB flush that interrupts
 * every core running a thread of the process (perf: 15 % of this worker's samples in
 * smp_call_function_many_cond and its IPIs). Written first, each page is faulted once. The bytes written
 * are zeros into memory that is zero, so what the module computes is unchanged; modules without that
 * export are left as they are. This worker runs nothing else.
 */
function prefaultGrownMemory(): void {
  const instantiate = WebAssembly.instantiate;
  // deno-lint-ignore no-explicit-any
  (WebAssembly as any).instantiate = async (...args: Parameters<typeof WebAssembly.instantiate>) => {
    // deno-lint-ignore no-explicit-any
    const made: any = await instantiate(...args);
    const instance: WebAssembly.Instance = made instanceof WebAssembly.Instance ? made : made.instance;
    const ex = instance.exports as Record<string, unknown>;
    const grow = ex.Hash_SetMemorySize, memory = ex.memory;
    if (typeof grow !== "function" || !(memory instanceof WebAssembly.Memory)) return made;
    const exports = Object.freeze({
      ...ex,
      Hash_SetMemorySize: (size: number) => {
        const from = memory.buffer.byteLength;
        const out = grow(size);
        const bytes = new Uint8Array(memory.buffer);
        for (let at = from; at < bytes.length; at += 4096) bytes[at] = 0;
        return out;
      },
    });
    const wrapped = { exports } as WebAssembly.Instance;
    return made instanceof WebAssembly.Instance ? wrapped : { module: made.module, instance: wrapped };
  };
}

prefaultGrownMemory();

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
