/**
 * Reads an HTTP response body (a fetch or {@link ./download.ts} byte stream) into one buffer, for the
 * HTTP storages' `get`: with the size announced, through a BYOB reader straight into the caller's lent
 * buffer (or one fresh buffer of that size), with no chunk copies; without it, by collecting the chunks.
 * A body shorter or longer than announced is a `transient` {@link StorageError} (a cut connection); a
 * failed read cancels the stream.
 *
 * @example
 * ```ts
 * import { readBody } from "./read_body.ts";
 * const bytes = await readBody(new Response("hello").body!, 5, "example: greeting");
 * bytes.length; // 5
 * ```
 * @module
 */
import { StorageError } from "../../core/contracts.ts";

/** Options of {@link readBody}. */
export interface ReadBodyOptions {
  /**
   * A buffer the caller lends (`GetOptions.into`): used when it is a view at the start of its buffer
   * and large enough. The reads transfer it, so the caller uses the result, never the lent view.
   */
  into?: Uint8Array;
  /** Called after each piece read (a stall watch's heartbeat). */
  tick?: () => void;
}

/**
 * Reads `body` to its end into one buffer. `expected` is the announced `Content-Length` (undefined when
 * none was sent); `what` starts the message of a short-body error (`location: name`).
 *
 * @example
 * ```ts
 * import { readBody } from "./read_body.ts";
 * const lent = new Uint8Array(16);
 * const bytes = await readBody(new Response("abc").body!, 3, "example: x", { into: lent });
 * new TextDecoder().decode(bytes); // "abc"
 * ```
 */
export async function readBody(
  body: ReadableStream<Uint8Array>,
  expected: number | undefined,
  what: string,
  options: ReadBodyOptions = {},
): Promise<Uint8Array> {
  const { into, tick } = options;
  if (expected === undefined || !Number.isSafeInteger(expected) || expected < 0) {
    const chunks: Uint8Array[] = [];
    const reader = body.getReader();
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        chunks.push(r.value);
        tick?.();
      }
    } catch (e) {
      await reader.cancel(e).catch(() => {});
      throw e;
    }
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((at, c) => (out.set(c, at), at + c.length), 0);
    return out;
  }
  const reader = body.getReader({ mode: "byob" });
  try {
    let buf = into && into.byteOffset === 0 && into.buffer instanceof ArrayBuffer &&
        !into.buffer.detached && into.length >= expected
      ? into.buffer
      : new ArrayBuffer(expected);
    let n = 0;
    while (n < expected) {
      const r = await reader.read(new Uint8Array(buf, n, expected - n));
      if (r.value) buf = r.value.buffer as ArrayBuffer; // the read transfers the buffer
      if (r.done) break;
      n += r.value.byteLength;
      tick?.();
    }
    if (n < expected) {
      throw new StorageError("transient", `${what}: short body (${n} of ${expected} bytes)`);
    }
    // Read on to the end, so that the response is finished (and its connection reusable).
    if (!(await reader.read(new Uint8Array(1))).done) {
      throw new StorageError("transient", `${what}: body longer than ${expected} bytes`);
    }
    return new Uint8Array(buf, 0, n);
  } catch (e) {
    await reader.cancel(e).catch(() => {});
    throw e;
  }
}
