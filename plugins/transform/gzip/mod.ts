/**
 * `gzip`: gzip compression of each blob (node:zlib), for repositories read by tools without zstd.
 *
 * @example
 * ```ts
 * import gzip from "./mod.ts";
 * const t = gzip({ level: 6 });
 * const packed = t.encode(new TextEncoder().encode("hello hello hello"));
 * ```
 * @module
 */
import zlib from "node:zlib";
import { API_VERSION, type TransformPlugin } from "../../../core/contracts.ts";

/** Options of the gzip transform. */
export interface Options {
  /** Compression level, 1 to 9. */
  level?: number;
}

/** Defaults: level 6. */
export const defaults: Required<Options> = { level: 6 };

/** Builds the gzip transform. */
export default function gzip(options: Options = {}): TransformPlugin {
  const level = options.level ?? defaults.level;
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new RangeError(`gzip level must be 1–9, got ${level}`);
  }
  return {
    kind: "transform",
    name: "gzip",
    apiVersion: API_VERSION,
    id: "gzip",
    role: "compression",
    encode: (data) => zlib.gzipSync(data, { level }),
    decode: (data) => zlib.gunzipSync(data),
  };
}
