/**
 * Decides cheaply whether a blob is worth compressing: blobs up to 128 KiB are simply compressed; larger
 * ones are compressed only when a 32 KiB sample from their middle shrinks by more than 1/32 — so random or
 * already-compressed data (media, archives, encrypted files) costs one small probe instead of a full pass.
 *
 * @example
 * ```ts
 * import { compressIfWorth } from "./compressibility.ts";
 * // const { body, compressed } = await compressIfWorth(zstdTransform, bytes);
 * ```
 * @module
 */
import type { TransformPlugin } from "./contracts.ts";

const SMALL = 128 * 1024;
const SAMPLE = 32 * 1024;

/** The result: the bytes to seal and whether they are compressed. */
export interface MaybeCompressed {
  /** Compressed bytes, or the input itself. */
  body: Uint8Array;
  /** Whether `body` is compressed. */
  compressed: boolean;
}

/**
 * Room to lend a compressor for the output of `n` bytes: zstd's worst case (ZSTD_compressBound) plus
 * slack, which also covers deflate's. A compressor that needs more simply does not use the lent buffer.
 *
 * @example
 * ```ts
 * import { compressRoom } from "./compressibility.ts";
 * const into = new Uint8Array(compressRoom(8 << 20));
 * ```
 */
export function compressRoom(n: number): number {
  return n + (n >>> 8) + (n < 131072 ? (131072 - n) >>> 11 : 0) + 64;
}

function pays(out: number, input: number): boolean {
  return out < input - (input >>> 5);
}

/**
 * Compresses `plain` with `compression` when that saves more than 1/32 of its size. With a synchronous
 * compressor (the built-ins) the answer is synchronous and `plain` is consumed before this returns; with
 * an asynchronous one, `plain` is copied first, so callers may reuse their buffer at once either way.
 * `into` is lent to the compressor for its output (see `TransformContext.into`): the body may then be a
 * view of it, to be consumed before `into` is lent again.
 */
export function compressIfWorth(
  compression: TransformPlugin,
  plain: Uint8Array,
  into?: Uint8Array,
): MaybeCompressed | Promise<MaybeCompressed> {
  if (plain.length <= 64) return { body: plain, compressed: false };
  let probe: Uint8Array | Promise<Uint8Array> | null = null;
  if (plain.length > SMALL) {
    const mid = (plain.length >>> 1) - (SAMPLE >>> 1);
    // A copy: an asynchronous compressor reads it later. Its output is only measured, so it may use `into`.
    probe = compression.encode(plain.slice(mid, mid + SAMPLE), into ? { into } : undefined);
    if (!(probe instanceof Promise) && !pays(probe.length, SAMPLE)) return { body: plain, compressed: false };
  }
  if (probe instanceof Promise) return decideAsync(compression, plain.slice(), probe);
  const out = compression.encode(plain, into ? { into } : undefined);
  if (out instanceof Promise) {
    const copy = plain.slice();
    return out.then((o) =>
      pays(o.length, copy.length) ? { body: o, compressed: true } : { body: copy, compressed: false }
    );
  }
  return pays(out.length, plain.length)
    ? { body: out, compressed: true }
    : { body: plain, compressed: false };
}

async function decideAsync(
  compression: TransformPlugin,
  copy: Uint8Array,
  probe: Promise<Uint8Array>,
): Promise<MaybeCompressed> {
  if (!pays((await probe).length, SAMPLE)) return { body: copy, compressed: false };
  const out = await compression.encode(copy);
  return pays(out.length, copy.length) ? { body: out, compressed: true } : { body: copy, compressed: false };
}
