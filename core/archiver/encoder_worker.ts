/**
 * Worker side of the {@link ./encoder_pool.ts} pool: compresses (when it helps) and seals blobs with the
 * repository's transforms. Input buffers come in transferred and go back transferred for reuse.
 *
 * @example
 * ```ts
 * // Started by EncoderPool: new Worker(new URL("./encoder_worker.ts", import.meta.url), { type: "module" })
 * ```
 * @module
 */
/// <reference lib="deno.worker" />
import { loadPlugin } from "../registry.ts";
import type { TransformPlugin } from "../contracts.ts";
import { blobAad } from "../repository/pack.ts";
import { compressIfWorth, compressRoom } from "../compressibility.ts";

/** The first message: which transforms, with which key. */
export interface InitMessage {
  /** Message kind. */
  kind: "init";
  /** Cipher transform module (Repository.modules: built-in or given by the caller). */
  cipher: string;
  /** Encryption key. */
  key: Uint8Array;
  /** Compression transform module, or null for none. */
  compression: string | null;
  /** Compression options. */
  compressionOptions: Record<string, unknown>;
}

/** A blob to encode. */
export interface JobMessage {
  /** Message kind. */
  kind: "job";
  /** Job number. */
  job: number;
  /** Blob type. */
  type: "data" | "tree";
  /** Blob id (hex). */
  id: string;
  /** The buffer holding the plaintext at [0, length). */
  buffer: ArrayBuffer;
  /** Plaintext length. */
  length: number;
  /** Try compression. */
  compress: boolean;
}

/** The encoded blob, with the input buffer handed back. */
export interface ResultMessage {
  /** Job number. */
  job: number;
  /** Sealed bytes, or an error message. */
  sealed?: Uint8Array;
  /** Whether it was compressed. */
  compressed?: boolean;
  /** Error text. */
  error?: string;
  /** The input buffer, for reuse. */
  buffer: ArrayBuffer;
}

let cipher: TransformPlugin;
let compression: TransformPlugin | null = null;
let ready: Promise<void>;

/** Lent to the compressor for its output; jobs run one after another (see `chain`), so one is enough. */
let compressBuf = new Uint8Array(0);
/** Jobs in arrival order, one at a time. */
let chain: Promise<void> = Promise.resolve();

self.onmessage = (e: MessageEvent<InitMessage | JobMessage>) => {
  const msg = e.data;
  chain = chain.then(() => handle(msg));
};

async function handle(msg: InitMessage | JobMessage): Promise<void> {
  if (msg.kind === "init") {
    ready = (async () => {
      cipher = await loadPlugin("transform", msg.cipher, { key: msg.key });
      if (msg.compression) {
        compression = await loadPlugin("transform", msg.compression, msg.compressionOptions);
      }
    })();
    return;
  }
  await ready;
  const plain = new Uint8Array(msg.buffer, 0, msg.length);
  try {
    if (compressBuf.length < compressRoom(plain.length)) {
      compressBuf = new Uint8Array(compressRoom(plain.length));
    }
    const { body, compressed } = msg.compress && compression
      ? await compressIfWorth(compression, plain, compressBuf)
      : { body: plain, compressed: false };
    const sealed = await cipher.encode(body, { associatedData: blobAad(msg.type, msg.id) });
    const out: ResultMessage = { job: msg.job, sealed, compressed, buffer: msg.buffer };
    self.postMessage(out, [msg.buffer, sealed.buffer as ArrayBuffer]);
  } catch (err) {
    const out: ResultMessage = { job: msg.job, error: (err as Error).message, buffer: msg.buffer };
    self.postMessage(out, [msg.buffer]);
  }
}
