/**
 * `none`: stores blobs as they are (no compression).
 *
 * @example
 * ```ts
 * import none from "./mod.ts";
 * none().encode(new Uint8Array([1, 2, 3])); // the same bytes
 * ```
 * @module
 */
import { API_VERSION, type TransformPlugin } from "../../../core/contracts.ts";

/** The none transform takes no options. */
export type Options = Record<string, never>;

/** No defaults. */
export const defaults: Options = {};

/** Builds the identity transform. */
export default function none(_options?: Options): TransformPlugin {
  return {
    kind: "transform",
    name: "none",
    apiVersion: API_VERSION,
    id: "none",
    role: "compression",
    // A copy: the caller may reuse `data` as soon as encode returns (the contract); repositories with no
    // compression never call it (the engine skips the `none` transform), so the copy costs nothing there.
    encode: (data) => data.slice(),
    decode: (data) => data,
  };
}
