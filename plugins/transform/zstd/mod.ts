/**
 * `zstd`: Zstandard compression of each blob (node:zlib, synchronous calls — the fast path here).
 *
 * @example
 * ```ts
 * import zstd from "./mod.ts";
 * const t = zstd({ level: 3 });
 * const packed = t.encode(new TextEncoder().encode("hello hello hello"));
 * ```
 * @module
 */
import zlib from "node:zlib";
import { API_VERSION, type TransformPlugin } from "../../../core/contracts.ts";

/** Options of the zstd transform. */
export interface Options {
  /** Compression level, 1 (fastest) to 19 (smallest). */
  level?: number;
}

/** Defaults: level 3, zstd's own default. */
export const defaults: Required<Options> = { level: 3 };

/** Builds the zstd transform. */
export default function zstd(options: Options = {}): TransformPlugin {
  const level = options.level ?? defaults.level;
  if (!Number.isInteger(level) || level < 1 || level > 19) {
    throw new RangeError(`zstd level must be 1–19, got ${level}`);
  }
  const params = { [zlib.constants.ZSTD_c_compressionLevel]: level };
  return {
    kind: "transform",
    name: "zstd",
    apiVersion: API_VERSION,
    id: "zstd",
    role: "compression",
    encode: (data) => zlib.zstdCompressSync(data, { params }),
    decode: (data) => zlib.zstdDecompressSync(data),
  };
}
