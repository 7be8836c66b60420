/**
 * The read-and-cut loop shared by every reader of content: fill one reused buffer, cut it into
 * content-defined chunks, move the unfinished tail to the front, read on. Each chunk is a view into the
 * buffer, valid until the loop resumes.
 *
 * @example
 * ```ts
 * import { readChunks } from "./chunk-reader.ts";
 * import { Chunker, gearTable } from "../chunker.ts";
 * const file = Deno.openSync("/etc/hostname");
 * const chunker = new Chunker(gearTable(new Uint8Array(32)));
 * for await (const chunk of readChunks((b) => file.readSync(b), new Uint8Array(16 << 20), chunker)) {
 *   console.log(chunk.length);
 * }
 * file.close();
 * ```
 * @module
 */
import type { Chunker } from "../chunker.ts";

/** Fills `into` from its start; returns the count, or null (or 0) at the end. */
export type ReadInto = (into: Uint8Array) => number | null | Promise<number | null>;

/** Yields the chunks of what `read` delivers; `buf` must hold at least twice the chunker's maximum. */
export async function* readChunks(
  read: ReadInto,
  buf: Uint8Array,
  chunker: Chunker,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  let start = 0;
  let end = 0;
  let eof = false;
  while (true) {
    while (!eof && end < buf.length) {
      const r = read(buf.subarray(end));
      const n = typeof r === "number" || r === null ? r : await r;
      if (n === null || n === 0) eof = true;
      else end += n;
    }
    while (start < end) {
      const len = chunker.cut(buf, start, end, eof);
      if (len < 0) break;
      yield buf.subarray(start, start + len);
      start += len;
    }
    if (eof && start >= end) return;
    buf.copyWithin(0, start, end);
    end -= start;
    start = 0;
    signal?.throwIfAborted();
  }
}
