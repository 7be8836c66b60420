/**
 * Worker side of {@link ./file_pool.ts}: reads local files (openSync + readSync into one reused buffer),
 * cuts them into chunks, ids each chunk, skips chunks the repository (the catalog, opened read-only)
 * or this worker already holds, compresses (when it pays) and seals the rest into a recycled output
 * buffer that travels to the main thread and back. The main thread only packs, uploads and builds trees.
 *
 * Flow control: at most two output buffers are unacknowledged at a time; the main thread acknowledges
 * a buffer once its blobs are copied into a pack, so a slow storage slows the readers down instead of
 * filling memory.
 *
 * @example
 * ```ts
 * // Started by FilePool: new Worker(new URL("./file_worker.ts", import.meta.url), { type: "module" })
 * ```
 * @module
 */
/// <reference lib="deno.worker" />
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { loadPlugin } from "../registry.ts";
import type { EntryAttributes, TransformPlugin } from "../contracts.ts";
import { fgetxattrs } from "../platform/xattr.ts";
import { getflagsFd } from "../platform/flags.ts";
import { Chunker, type ChunkerParams, gearTable } from "../chunker.ts";
import { BlobHasher } from "../crypto/hash.ts";
import { blobAad } from "../repository/pack.ts";
import { compressIfWorth, compressRoom } from "../compressibility.ts";
import { BOUNCE_SIZE, readChunks, readSyncVia } from "./chunk_reader.ts";
import * as libc from "../platform/libc.ts";

/** The first message: keys, chunker, transforms and where the catalog is. */
export interface FileWorkerInit {
  /** Message kind. */
  kind: "init";
  /** Cipher transform module (Repository.modules: built-in or given by the caller). */
  cipher: string;
  /** Encryption key. */
  key: Uint8Array;
  /** Blob id (HMAC) key. */
  idKey: Uint8Array;
  /** Chunker gear seed. */
  chunkerSeed: Uint8Array;
  /** Chunk sizes. */
  chunker: ChunkerParams;
  /** Compression transform module, or null for none. */
  compression: string | null;
  /** Compression options. */
  compressionOptions: Record<string, unknown>;
  /** Try compression at all. */
  compress: boolean;
  /** The catalog database to ask which blobs are stored; null: treat every blob as new. */
  catalogPath: string | null;
}

/** Files to read, in order. */
export interface FileJob {
  /** Message kind. */
  kind: "job";
  /** Job number. */
  job: number;
  /** Local paths. */
  paths: string[];
  /**
   * Only this part of the (one) file: from `start` up to `end` (-1: to the end of the file), chunked as if
   * a chunk began at `start` and the file ended at `end`. See the archiver's split of large files.
   */
  range?: [start: number, end: number];
  /**
   * Also read each file's extended attributes and inode flags on the open file (see
   * `SourceEntry.attributes`): the main thread then need not resolve its path again.
   */
  attributes?: boolean;
}

/** The main thread is done with an output buffer (its blobs are packed); here it is back. */
export interface FileAck {
  /** Message kind. */
  kind: "ack";
  /** The buffer, for reuse. */
  buffer: ArrayBuffer;
}

/** One sealed blob inside an output buffer. */
export interface SealedRecord {
  /** Blob id (hex). */
  id: string;
  /** Offset in the buffer. */
  offset: number;
  /** Sealed length. */
  length: number;
  /** Plaintext length. */
  rawLength: number;
  /** Whether it was compressed. */
  compressed: boolean;
}

/** Sealed new blobs. */
export interface BlobsMessage {
  /** Message kind. */
  kind: "blobs";
  /** The blobs, in `buffer`. */
  blobs: SealedRecord[];
  /** Their bytes (transferred). */
  buffer: ArrayBuffer;
}

/**
 * What became of one file; a failed read says how many bytes it had read (and reported) before. `attributes`
 * when the job asked for them and they could be read on the open file (else the main thread reads them).
 */
export type FileOutcome =
  | { content: string[]; size: number; attributes?: EntryAttributes }
  | { error: string; read?: number };

/** Bytes read since the last report, sent while a job goes on (see {@link REPORT_EVERY}). */
export interface ReadMessage {
  /** Message kind. */
  kind: "read";
  /** Bytes read. */
  bytes: number;
}

/** A job is finished: every blob it produced was sent before this message. */
export interface DoneMessage {
  /** Message kind. */
  kind: "done";
  /** Job number. */
  job: number;
  /** One outcome per path. */
  files: FileOutcome[];
  /** Bytes read since the last {@link ReadMessage}. */
  read: number;
}

/** The worker cannot go on (bad init, transform failure). */
export interface FailMessage {
  /** Message kind. */
  kind: "fail";
  /** What went wrong. */
  error: string;
}

/** Output buffers are sent once they hold this much. */
const FLUSH_AT = 2 << 20;
/** Room beyond a body's length that a cipher needs for nonce and tag (28 for the built-ins). */
const SEAL_SLACK = 64;
/** Unacknowledged output buffers at most. */
const WINDOW = 2;
/**
 * Bytes read between two progress reports: the backup's progress follows a large file as it is read (a
 * file of many GB of stored content sends no blobs, only these), at ~60 messages a second per worker.
 */
const REPORT_EVERY = 16 << 20;

let cipher: TransformPlugin;
let compression: TransformPlugin | null = null;
let compress = true;
let chunker: Chunker;
let hasher: BlobHasher;
let hasBlob: StatementSync | null = null;
let readBuf: Uint8Array;
const bounce = new Uint8Array(BOUNCE_SIZE);
/** Lent to the compressor for its output (one blob at a time: blobs are added one after another). */
let compressBuf: Uint8Array;
let outSize = 0;
const seen = new Set<string>();
const free: ArrayBuffer[] = [];
let unacked = 0;
let ackWaiter: (() => void) | null = null;
let out: { bytes: Uint8Array; used: number; blobs: SealedRecord[] };
let ready: Promise<void>;
const queue: FileJob[] = [];
let running = false;
/** Bytes read and not reported yet. */
let unreported = 0;

function freshOut() {
  const buffer = free.pop() ?? new ArrayBuffer(outSize);
  return { bytes: new Uint8Array(buffer), used: 0, blobs: [] as SealedRecord[] };
}

async function flush(): Promise<void> {
  if (!out.blobs.length) return;
  while (unacked >= WINDOW) await new Promise<void>((r) => ackWaiter = r);
  const msg: BlobsMessage = { kind: "blobs", blobs: out.blobs, buffer: out.bytes.buffer as ArrayBuffer };
  unacked++;
  self.postMessage(msg, [msg.buffer]);
  out = freshOut();
}

function known(id: string): boolean {
  if (seen.has(id)) return true;
  return hasBlob !== null && hasBlob.get(id) !== undefined;
}

async function addBlob(id: string, chunk: Uint8Array): Promise<void> {
  const { body, compressed } = compress && compression
    ? await compressIfWorth(compression, chunk, compressBuf)
    : { body: chunk, compressed: false };
  // Sealed straight into the output buffer when the cipher takes the lent room (the built-ins do).
  if (out.used + body.length + SEAL_SLACK > out.bytes.length) await flush();
  const room = out.bytes.subarray(out.used);
  const sealed = await cipher.encode(body, { associatedData: blobAad("data", id), into: room });
  const inPlace = sealed.buffer === room.buffer && sealed.byteOffset === room.byteOffset;
  if (!inPlace) {
    if (out.used + sealed.length > out.bytes.length) {
      await flush();
      if (sealed.length > out.bytes.length) {
        out = { bytes: new Uint8Array(sealed.length), used: 0, blobs: [] };
      }
    }
    out.bytes.set(sealed, out.used);
  }
  out.blobs.push({ id, offset: out.used, length: sealed.length, rawLength: chunk.length, compressed });
  out.used += sealed.length;
  if (out.used >= FLUSH_AT) await flush();
}

/** A file open for reading from a position on; `fd` when it was opened through libc. */
type Input = Pick<Deno.FsFile, "readSync" | "close"> & { fd?: number };

/**
 * Opens `path` to read from `start` on: through libc where it loads, since Deno's open checks the path
 * against the permissions and, short of --allow-all, does so by resolving it a component at a time (a
 * failed readlink per directory level: 12 per file measured on a tree 10 deep); else Deno's.
 */
function openInput(path: string, start: number): Input {
  if (!libc.available()) {
    const file = Deno.openSync(path, { read: true });
    if (start) file.seekSync(start, Deno.SeekMode.Start);
    return file;
  }
  const fd = libc.openRead(path);
  let pos = start;
  return {
    fd,
    readSync(into: Uint8Array): number | null {
      const n = libc.preadFd(fd, into, pos);
      pos += n;
      return n === 0 ? null : n;
    },
    close: () => libc.closeFd(fd),
  };
}

/**
 * All extended attributes and the inode flags of the open file `fd`, unfiltered (the source keeps what it
 * wants of them); undefined when one of them cannot be read here, for the main thread to read them as it
 * would without this (and to warn as it would).
 */
function attributesOf(fd: number): EntryAttributes | undefined {
  let xattrs: [Uint8Array, Uint8Array][] = [];
  try {
    xattrs = fgetxattrs(fd);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotSupported)) return undefined;
  }
  let flags: number | null;
  try {
    flags = getflagsFd(fd);
  } catch {
    return undefined;
  }
  return flags === null ? { xattrs } : { xattrs, flags };
}

async function readFile(path: string, range?: [number, number], attributes = false): Promise<FileOutcome> {
  let file: Input;
  try {
    file = openInput(path, range?.[0] ?? 0);
  } catch (e) {
    return { error: (e as Error).message, read: 0 };
  }
  const content: string[] = [];
  let size = 0;
  let attrs: EntryAttributes | undefined;
  try {
    if (attributes && file.fd !== undefined) attrs = attributesOf(file.fd);
    let left = Infinity;
    if (range && range[1] >= 0) left = Math.max(0, range[1] - range[0]);
    const read = left === Infinity
      ? (into: Uint8Array) => readSyncVia(file, into, bounce)
      : (into: Uint8Array) => {
        if (left <= 0) return null;
        const n = readSyncVia(file, left < into.length ? into.subarray(0, left) : into, bounce);
        if (n) left -= n;
        return n;
      };
    for await (const chunk of readChunks(read, readBuf, chunker)) {
      const id = hasher.id(chunk);
      content.push(id);
      if (!known(id)) {
        seen.add(id);
        await addBlob(id, chunk);
      }
      size += chunk.length;
      unreported += chunk.length;
      if (unreported >= REPORT_EVERY) {
        const msg: ReadMessage = { kind: "read", bytes: unreported };
        unreported = 0;
        self.postMessage(msg);
      }
    }
  } catch (e) {
    return { error: (e as Error).message, read: size };
  } finally {
    file.close();
  }
  return attrs ? { content, size, attributes: attrs } : { content, size };
}

async function runQueue(): Promise<void> {
  if (running) return;
  running = true;
  try {
    await ready;
    while (queue.length) {
      const job = queue.shift()!;
      const files: FileOutcome[] = [];
      for (const p of job.paths) files.push(await readFile(p, job.range, job.attributes));
      await flush();
      const done: DoneMessage = { kind: "done", job: job.job, files, read: unreported };
      unreported = 0;
      self.postMessage(done);
    }
  } catch (e) {
    const fail: FailMessage = { kind: "fail", error: (e as Error)?.message ?? String(e) };
    self.postMessage(fail);
  } finally {
    running = false;
  }
}

self.onmessage = (e: MessageEvent<FileWorkerInit | FileJob | FileAck>) => {
  const msg = e.data;
  if (msg.kind === "init") {
    compress = msg.compress;
    chunker = new Chunker(gearTable(msg.chunkerSeed), msg.chunker);
    hasher = new BlobHasher(msg.idKey);
    readBuf = chunker.buffer(Math.max(2 * msg.chunker.max, 4 << 20)); // scanned by the WebAssembly loop
    compressBuf = new Uint8Array(compressRoom(msg.chunker.max));
    outSize = FLUSH_AT + msg.chunker.max + (64 << 10);
    out = freshOut();
    if (msg.catalogPath) {
      const db = new DatabaseSync(msg.catalogPath, { readOnly: true, timeout: 30_000 });
      hasBlob = db.prepare("SELECT 1 FROM blobs WHERE id = ?");
    }
    ready = (async () => {
      cipher = await loadPlugin("transform", msg.cipher, { key: msg.key });
      if (msg.compression) {
        compression = await loadPlugin("transform", msg.compression, msg.compressionOptions);
      }
    })();
    return;
  }
  if (msg.kind === "ack") {
    unacked--;
    if (msg.buffer.byteLength === outSize && free.length < WINDOW) free.push(msg.buffer);
    const w = ackWaiter;
    ackWaiter = null;
    w?.();
    return;
  }
  queue.push(msg);
  void runQueue();
};
