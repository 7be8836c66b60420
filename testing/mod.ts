/**
 * floe's plugin kit: the conformance suites every storage, source and transform passes — the built-ins
 * in floe's own CI, a third-party plugin in its author's. Each registers one `deno test` with a step per
 * rule of the contract.
 *
 * @example
 * ```ts
 * import { storageConformance } from "./mod.ts";
 * import myStorage from "../examples/plugins/flat_storage.ts";
 * storageConformance("flat", async () => {
 *   const dir = await Deno.makeTempDir();
 *   return { storage: myStorage({ location: `flat:${dir}` }), cleanup: () => Deno.remove(dir, { recursive: true }) };
 * });
 * ```
 * @module
 */
export { bytes, type ConformanceTarget, storageConformance } from "./storage.ts";
export { sourceConformance, type SourceTarget } from "./source.ts";
export { transformConformance } from "./transform.ts";
