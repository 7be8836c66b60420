/**
 * An example third-party transform plugin: brotli compression through node:zlib. It imports nothing from
 * floe. A repository created with it records the id `brotli`; opening that repository later needs the
 * plugin loaded again (`--plugin ./examples/plugins/brotli.ts`): a repository never loads code by itself.
 *
 * @example
 * ```ts
 * import brotli from "./brotli.ts";
 * const t = brotli({ quality: 5 });
 * const packed = t.encode(new TextEncoder().encode("hello hello hello"));
 * ```
 * @module
 */
import { brotliCompressSync, brotliDecompressSync, constants } from "node:zlib";

/** Options of the brotli transform. */
export interface Options {
  /** Compression quality, 0 (fastest) to 11 (smallest). */
  quality?: number;
}

/** Quality 5: most of brotli's gain at a fraction of quality 11's time. */
export const defaults: Required<Options> = { quality: 5 };

/** Builds the transform. */
export default function brotli(options: Options = {}) {
  const quality = options.quality ?? defaults.quality;
  if (!Number.isInteger(quality) || quality < 0 || quality > 11) {
    throw new Error(`brotli: quality must be 0 to 11 (got ${quality})`);
  }
  const params = { [constants.BROTLI_PARAM_QUALITY]: quality };
  return {
    kind: "transform" as const,
    name: "brotli",
    apiVersion: 1,
    id: "brotli",
    role: "compression" as const,
    encode: (data: Uint8Array) => new Uint8Array(brotliCompressSync(data, { params })),
    decode: (data: Uint8Array) => new Uint8Array(brotliDecompressSync(data)),
  };
}
