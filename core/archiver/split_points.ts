/**
 * Where to cut a large file into ranges that workers chunk in parallel, so that the chunks are the ones
 * one sequential pass would cut (see {@link splitPoints}).
 *
 * @example
 * ```ts
 * import { splitPoints } from "./split_points.ts";
 * import { Chunker, gearTable } from "../chunker.ts";
 * splitPoints("/etc/hostname", 10, 2, new Chunker(gearTable(new Uint8Array(32)))); // [0]
 * ```
 * @module
 */
import type { Chunker } from "../chunker.ts";
import { BOUNCE_SIZE, readSyncVia } from "./chunk_reader.ts";

/** How far past a split's nominal offset its boundary is looked for (see {@link splitPoints}). */
const SYNC_SPAN = 4 << 20;
/**
 * Where to split a file of `size` bytes into `parts` ranges for parallel chunking, so that the chunks are
 * (all but surely) the ones one sequential pass would cut. Each range is chunked as if a chunk began at
 * its start and the file ended at the next range's start. From any offset, a content-defined chunker
 * falls into step with a pass from the file's start within a few chunks: its cut points then coincide.
 * So each boundary is the first cut at or beyond `offset + SYNC_SPAN` of a chain of cuts begun at
 * `offset`; the range before it ends with a cut there too when its own pass has fallen into step by then.
 * If it has not (data without cut points, e.g. long runs of one byte value), the chunk before the boundary
 * is merely cut short: the content is stored whole either way, only deduplication there may differ.
 * Returns the start offsets, the first 0; a single range when the file is too small to split.
 *
 * @example
 * ```ts
 * import { splitPoints } from "./split_points.ts";
 * import { Chunker, gearTable } from "../chunker.ts";
 * splitPoints("/etc/hostname", 10, 2, new Chunker(gearTable(new Uint8Array(32)))); // [0]
 * ```
 */
export function splitPoints(path: string, size: number, parts: number, chunker: Chunker): number[] {
  const bounds = [0];
  if (parts < 2) return bounds;
  const { max } = chunker.params;
  const buf = new Uint8Array(SYNC_SPAN + 2 * max);
  const bounce = new Uint8Array(BOUNCE_SIZE);
  const file = Deno.openSync(path, { read: true });
  try {
    for (let j = 1; j < parts; j++) {
      const offset = Math.floor((size * j) / parts);
      if (offset <= bounds[bounds.length - 1]) continue;
      file.seekSync(offset, Deno.SeekMode.Start);
      let got = 0;
      for (let n; got < buf.length && (n = readSyncVia(file, buf.subarray(got), bounce));) got += n;
      let at = 0;
      while (at < SYNC_SPAN) {
        const n = chunker.cut(buf, at, got, got < buf.length);
        if (n <= 0) break;
        at += n;
      }
      // Past the end of what is there (the file is shorter than its size said): no split here.
      if (at < SYNC_SPAN || at >= got) break;
      bounds.push(offset + at);
    }
  } finally {
    file.close();
  }
  return bounds;
}
