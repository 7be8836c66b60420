/**
 * A Bloom filter of blob ids: "surely not added" or "maybe added", in a fixed 1 MiB. Blob ids are the hex
 * of a keyed hash, so their digits are already uniform and serve as the filter's hash functions.
 *
 * @example
 * ```ts
 * import { IdFilter } from "./_id_filter.ts";
 * const f = new IdFilter();
 * f.add("2d5d9d19783b0e8b6a8c0054f070e8cc8311c531e7a751decae3ac443346d310");
 * f.mayHave("2d5d9d19783b0e8b6a8c0054f070e8cc8311c531e7a751decae3ac443346d310"); // true
 * ```
 * @module
 */

/** Bits of the filter (1 MiB): false positives stay under 0.1 % up to 300,000 ids and 2 % at 1,000,000. */
const BITS = 1 << 23;
/** Probes per id, each from 6 hex digits (24 bits) of the id. */
const PROBES = 4;
const DIGITS = 6;

/** The bit of probe `k` of `id`. Not a hex digit is read as garbage, the same for `add` and `mayHave`. */
function bit(id: string, k: number): number {
  let h = 0;
  for (let i = k * DIGITS; i < (k + 1) * DIGITS; i++) {
    const c = id.charCodeAt(i) | 0; // NaN past the end (a short id) reads as 0
    h = (h << 4) | ((c <= 57 ? c - 48 : (c | 32) - 87) & 15);
  }
  return h & (BITS - 1);
}

/** A set of blob ids that answers "maybe" for ids never added, rarely, and never "no" for one added. */
export class IdFilter {
  readonly #words = new Uint32Array(BITS / 32);

  /** Adds `id`. */
  add(id: string): void {
    for (let k = 0; k < PROBES; k++) {
      const b = bit(id, k);
      this.#words[b >>> 5] |= 1 << (b & 31);
    }
  }

  /** False when `id` was surely never added; true when it was, or (rarely) was not. */
  mayHave(id: string): boolean {
    for (let k = 0; k < PROBES; k++) {
      const b = bit(id, k);
      if (!(this.#words[b >>> 5] & (1 << (b & 31)))) return false;
    }
    return true;
  }
}
