/**
 * Worker side of the {@link ./decoder_pool.ts} pool: loads the repository's transforms by id and runs a
 * {@link RegionDecoder} on each pack region it is sent. Regions arrive transferred (not copied) and are
 * processed one at a time, in order.
 *
 * @example
 * ```ts
 * // Started by DecoderPool: new Worker(new URL("./decoder_worker.ts", import.meta.url), { type: "module" })
 * ```
 * @module
 */
/// <reference lib="deno.worker" />
import { loadPlugin } from "../registry.ts";
import { BlobHasher } from "../crypto/hash.ts";
import { type BlobJob, createFiles, RegionDecoder, type RegionResult } from "./decoder.ts";

/** The first message: which transforms, with which keys. */
export interface InitMessage {
  /** Message kind. */
  kind: "init";
  /** Cipher transform module (Repository.modules: built-in or given by the caller). */
  cipher: string;
  /** Encryption key. */
  key: Uint8Array;
  /** Blob id (HMAC) key. */
  idKey: Uint8Array;
  /** Compression transform module, or null for none. */
  compression: string | null;
  /** Compression options. */
  compressionOptions: Record<string, unknown>;
}

/** Answer to the {@link InitMessage}: the transforms are loaded, or why they could not be. */
export interface ReadyMessage {
  /** Message kind. */
  kind: "ready";
  /** Why the transforms could not be loaded. */
  error?: string;
}

/** A region to decode and write: a {@link RegionJob} whose bytes travel as a transferred buffer. */
export interface RegionMessage {
  /** Message kind. */
  kind: "region";
  /** Job number. */
  job: number;
  /** Pack id. */
  pack: string;
  /** The buffer holding the sealed region at its start (transferred, and transferred back with the result). */
  buffer: ArrayBuffer;
  /** The region's length in `buffer`. */
  length: number;
  /** Blobs, in pack order. */
  blobs: BlobJob[];
  /** Paths of the target files, by index. */
  paths: [number, string][];
  /** Files with no more writes after this job. */
  closing: number[];
  /** Their full sizes. */
  sizes: number[];
  /** Files to create with their first write. */
  create: number[];
  /** Metadata to set through descriptors: (file index, mode, uid, gid) quadruples. */
  meta: number[];
  /** (atime, mtime) in ns for each quadruple of `meta`. */
  times: bigint[];
}

/** Files to create (empty); answered with a {@link CreatedMessage}. */
export interface CreateMessage {
  /** Message kind. */
  kind: "create";
  /** Batch number. */
  batch: number;
  /** Pairs of (file index, size). */
  files: number[];
  /** Their paths. */
  paths: string[];
}

/** The files of a {@link CreateMessage} that could not be created. */
export interface CreatedMessage {
  /** Message kind. */
  kind: "created";
  /** Batch number. */
  batch: number;
  /** (file index, reason) of each failure. */
  failed: [number, string][];
}

/** Close every open file and answer {@link ClosedMessage}. */
export interface CloseMessage {
  /** Message kind. */
  kind: "close";
}

/** Answer to a {@link RegionMessage}: its result, or why the worker could not run it. */
export interface ResultMessage extends RegionResult {
  /** Message kind. */
  kind: "result";
  /** The transforms could not be loaded (or another failure outside any one file or blob). */
  error?: string;
}

/** Answer to a {@link CloseMessage}. */
export interface ClosedMessage {
  /** Message kind. */
  kind: "closed";
}

let decoder: Promise<RegionDecoder>;
let queue: Promise<void> = Promise.resolve();

async function region(msg: RegionMessage): Promise<ResultMessage> {
  try {
    const d = await decoder;
    const { job, pack, blobs, paths, closing, sizes, create, meta, times } = msg;
    return {
      kind: "result",
      ...await d.run({
        job,
        pack,
        data: new Uint8Array(msg.buffer, 0, msg.length),
        blobs,
        paths,
        closing,
        sizes,
        create,
        meta,
        times,
      }),
    };
  } catch (e) {
    return {
      kind: "result",
      job: msg.job,
      bytes: 0,
      failed: [],
      damaged: [],
      absent: [],
      metaSet: [],
      metaFailed: [],
      error: (e as Error).message ?? String(e),
    };
  }
}

self.onmessage = (e: MessageEvent<InitMessage | CreateMessage | RegionMessage | CloseMessage>) => {
  const msg = e.data;
  if (msg.kind === "create") {
    // Needs no transforms: done at once, while they may still be loading.
    const failed = createFiles(msg.files, msg.paths);
    self.postMessage({ kind: "created", batch: msg.batch, failed } satisfies CreatedMessage);
    return;
  }
  if (msg.kind === "init") {
    decoder = (async () => {
      const cipher = await loadPlugin("transform", msg.cipher, { key: msg.key });
      const compression = msg.compression
        ? await loadPlugin("transform", msg.compression, msg.compressionOptions)
        : null;
      return new RegionDecoder(cipher, compression, new BlobHasher(msg.idKey));
    })();
    decoder.then(
      () => self.postMessage({ kind: "ready" } satisfies ReadyMessage),
      (e) =>
        self.postMessage({ kind: "ready", error: (e as Error).message ?? String(e) } satisfies ReadyMessage),
    );
    return;
  }
  queue = queue.then(async () => {
    if (msg.kind === "region") {
      const result = await region(msg);
      // The region's buffer goes back for the next read.
      if (!msg.buffer.detached) {
        result.buffer = msg.buffer;
        self.postMessage(result, [msg.buffer]);
      } else self.postMessage(result);
    } else {
      try {
        (await decoder).close();
      } catch { /* never started */ }
      self.postMessage({ kind: "closed" } satisfies ClosedMessage);
    }
  });
};
