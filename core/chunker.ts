/**
 * FastCDC content-defined chunking (Xia et al. 2016) with normalized chunking, over a gear table
 * derived from the repository's secret so chunk boundaries do not reveal content to the storage.
 *
 * @example
 * ```ts
 * import { Chunker, gearTable } from "./chunker.ts";
 * const chunker = new Chunker(gearTable(new Uint8Array(32)), { min: 512 << 10, avg: 1 << 20, max: 8 << 20 });
 * const data = new Uint8Array(3 << 20);
 * const n = chunker.cut(data, 0, data.length, true); // length of the first chunk
 * ```
 * @module
 */
import { createHash } from "node:crypto";
import { GEAR_WASM } from "./chunker_wasm.ts";

let gearModule: WebAssembly.Module | null = null;

function instantiate(): WasmGear {
  gearModule ??= new WebAssembly.Module(GEAR_WASM as Uint8Array<ArrayBuffer>);
  const instance = new WebAssembly.Instance(gearModule, {});
  const memory = instance.exports.memory as WebAssembly.Memory;
  const find = instance.exports.find as WasmGear["find"];
  return { memory, find, data: new Uint8Array(0) };
}

/** Chunk size parameters in bytes. */
export interface ChunkerParams {
  /** Smallest chunk (except a file's last). */
  min: number;
  /** Target average chunk size; a power of two. */
  avg: number;
  /** Largest chunk. */
  max: number;
}

/**
 * floe's default chunk sizes: 128 KiB / 256 KiB / 2 MiB. Smaller than restic's 512 KiB / 1 MiB / 8 MiB:
 * content shifted within large files finds its old chunks again sooner (on the bench's 400 MiB file of
 * repeated 1 MiB blocks, ~100 instead of ~315 MiB stay unique), for a per-blob cost the SQLite index
 * carries easily. Recorded in each repository's config, so older repositories keep theirs.
 */
export const DEFAULT_CHUNKER: ChunkerParams = { min: 128 * 1024, avg: 256 * 1024, max: 2 * 1024 * 1024 };

/** Derives the 256-entry gear table from a 32-byte secret seed (SHA-256 in counter mode). */
export function gearTable(seed: Uint8Array): Uint32Array {
  const table = new Uint32Array(256);
  for (let block = 0; block < 32; block++) {
    const h = createHash("sha256").update(seed).update(new Uint8Array([block])).digest();
    for (let j = 0; j < 8; j++) table[block * 8 + j] = h.readUInt32LE(j * 4);
  }
  return table;
}

function highMask(bits: number): number {
  return bits >= 32 ? -1 : ((0xffffffff << (32 - bits)) | 0);
}

/** Where the data starts in the WebAssembly memory (the gear table comes first). */
const WASM_DATA = 1024;

interface WasmGear {
  memory: WebAssembly.Memory;
  find: (i: number, normal: number, limit: number, maskS: number, maskL: number) => number;
  data: Uint8Array;
}

/**
 * Finds content-defined cut points. Stateless between calls: each call scans one chunk. Data in the
 * chunker's own {@link Chunker.buffer} is scanned by a WebAssembly loop (about twice as fast); any other
 * array by the same loop in JavaScript. Both cut at the same points.
 */
export class Chunker {
  readonly params: ChunkerParams;
  readonly #gear: Int32Array;
  readonly #maskS: number;
  readonly #maskL: number;
  #wasm: WasmGear | null = null;

  /** Build a chunker from a gear table and size parameters. */
  constructor(gear: Uint32Array, params: ChunkerParams = DEFAULT_CHUNKER) {
    if (!(params.min > 0 && params.min <= params.avg && params.avg <= params.max)) {
      throw new RangeError(`invalid chunker sizes ${JSON.stringify(params)}`);
    }
    this.params = params;
    // Signed view: keeps `(h << 1) + gear[b] | 0` in int32 arithmetic (uint32 values above 2^31 would
    // push it to float64), about twice as fast. The bits, and so the cut points, are the same.
    this.#gear = new Int32Array(gear.buffer, gear.byteOffset, gear.length);
    const bits = Math.round(Math.log2(params.avg));
    // Normalized chunking, level 2: harder before the average, easier after.
    this.#maskS = highMask(bits + 2);
    this.#maskL = highMask(bits - 2);
  }

  /**
   * A buffer of `size` bytes whose data {@link cut} scans with WebAssembly (its memory holds the gear
   * table too). One per chunker: call it once and reuse the buffer (a second call with a larger size
   * grows the memory, which invalidates the first buffer). Falls back to a plain array where
   * WebAssembly is not available.
   */
  buffer(size: number): Uint8Array {
    if (this.#wasm && this.#wasm.data.length >= size) return this.#wasm.data.subarray(0, size);
    try {
      const wasm = this.#wasm ?? instantiate();
      const pages = Math.ceil((WASM_DATA + size) / 65536);
      const have = wasm.memory.buffer.byteLength / 65536;
      if (pages > have) wasm.memory.grow(pages - have);
      new Int32Array(wasm.memory.buffer, 0, 256).set(this.#gear);
      wasm.data = new Uint8Array(wasm.memory.buffer, WASM_DATA, size);
      this.#wasm = wasm;
      return wasm.data;
    } catch {
      return new Uint8Array(size);
    }
  }

  /**
   * Returns the length of the chunk starting at `start` within `data[start, end)`, or -1 when more data
   * is needed to decide (only when `eof` is false).
   */
  cut(data: Uint8Array, start: number, end: number, eof: boolean): number {
    const { min, avg, max } = this.params;
    const n = end - start;
    if (n <= min) return eof ? n : (n === max ? n : -1);
    const wasm = this.#wasm;
    if (wasm && data.buffer === wasm.memory.buffer && data.byteOffset === WASM_DATA) {
      const limit = n < max ? end : start + max;
      const found = wasm.find(start + min, Math.min(start + avg, limit), limit, this.#maskS, this.#maskL);
      if (found) return found - start;
      if (limit === start + max) return max;
      return eof ? n : -1;
    }
    const gear = this.#gear;
    const maskS = this.#maskS;
    const maskL = this.#maskL;
    const limit = n < max ? end : start + max;
    const normal = Math.min(start + avg, limit);
    let h = 0;
    let i = start + min;
    for (; i < normal; i++) {
      h = ((h << 1) + gear[data[i]]) | 0;
      if ((h & maskS) === 0) return i + 1 - start;
    }
    for (; i < limit; i++) {
      h = ((h << 1) + gear[data[i]]) | 0;
      if ((h & maskL) === 0) return i + 1 - start;
    }
    if (limit === start + max) return max;
    return eof ? n : -1;
  }
}
