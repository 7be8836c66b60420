/**
 * Deterministic benchmark dataset: generation, a ~1 % mutation, and tree comparison.
 *
 * Everything is derived from a seed with a xorshift128 PRNG (not crypto), written with
 * `Deno.openSync` + `writeSync` from reused buffers, so a 2 GB tree is produced in tens of seconds.
 *
 * At scale 1 the tree holds ~30,000 small files (1–64 KiB) in ~1,500 directories (a third text-like,
 * a third half-compressible, a third random), ~20 medium files of 5–50 MiB, two 400 MiB files (one
 * random, one made of 16 distinct 1 MiB blocks repeated), ~200 duplicate copies, ~100 symlinks and
 * ~50 empty directories.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join, relative } from "node:path";

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * A xorshift128 pseudo-random generator: fast, deterministic, not cryptographic.
 *
 * @example
 * ```ts
 * import { XorShift128 } from "./dataset.ts";
 * const rng = new XorShift128(42);
 * console.log(rng.int(10)); // 0..9
 * ```
 */
export class XorShift128 {
  #x = 0;
  #y = 0;
  #z = 0;
  #w = 0;

  /** Seed the four state words from `seed` with splitmix32. */
  constructor(seed: number) {
    let s = seed >>> 0;
    const mix = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#x = mix() || 1;
    this.#y = mix();
    this.#z = mix();
    this.#w = mix();
  }

  /** The next unsigned 32-bit value. */
  next(): number {
    const t = this.#x ^ (this.#x << 11);
    this.#x = this.#y;
    this.#y = this.#z;
    this.#z = this.#w;
    this.#w = (this.#w ^ (this.#w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return this.#w;
  }

  /** A uniform integer in `[0, n)`. */
  int(n: number): number {
    return Math.floor((this.next() / 4294967296) * n);
  }

  /** A uniform integer in `[lo, hi]`. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** Fill `bytes[off, off+len)` with random bytes (the buffer must have a 4-byte-aligned offset). */
  fill(bytes: Uint8Array, off: number, len: number): void {
    const start = bytes.byteOffset + off;
    const head = (4 - (start & 3)) & 3;
    let i = 0;
    for (; i < head && i < len; i++) bytes[off + i] = this.next() & 0xff;
    const words = Math.floor((len - i) / 4);
    if (words > 0) {
      const u32 = new Uint32Array(bytes.buffer, start + i, words);
      let x = this.#x, y = this.#y, z = this.#z, w = this.#w;
      for (let k = 0; k < words; k++) {
        const t = x ^ (x << 11);
        x = y;
        y = z;
        z = w;
        w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
        u32[k] = w;
      }
      this.#x = x;
      this.#y = y;
      this.#z = z;
      this.#w = w;
      i += words * 4;
    }
    for (; i < len; i++) bytes[off + i] = this.next() & 0xff;
  }
}

/** Options of {@link generateDataset}. */
export interface DatasetOptions {
  /** PRNG seed; the same seed and options always give the same tree. */
  seed: number;
  /** Overall size factor: 1 ≈ 2 GB, 0.1 ≈ 10× smaller in every respect. */
  scale: number;
  /** Multiplies the number of small files (and their directories). Default 1. */
  smallFilesMultiplier?: number;
  /** Multiplies the bytes in big files: 4 = four times as many medium files and 4× larger large files. */
  bytesMultiplier?: number;
}

/** What a generated (or scanned) tree contains. */
export interface DatasetSummary {
  /** Regular files. */
  files: number;
  /** Directories, the root excluded. */
  dirs: number;
  /** Symbolic links. */
  symlinks: number;
  /** Bytes in regular files. */
  bytes: number;
}

type Kind = "text" | "half" | "random";
const KINDS: readonly Kind[] = ["text", "half", "random"];
const EXT: Record<Kind, string> = { text: ".txt", half: ".dat", random: ".bin" };

/** Reused scratch buffers; the data is produced into them and written from them. */
const CHUNK = 1 * MiB;
const scratch = new Uint8Array(CHUNK + 64);

function makeVocabulary(rng: XorShift128): Uint8Array[] {
  const letters = "etaoinshrdlucmfwypvbgkqjxz";
  const words: Uint8Array[] = [];
  for (let i = 0; i < 256; i++) {
    const len = rng.range(2, 10);
    const w = new Uint8Array(len + 1);
    for (let k = 0; k < len; k++) {
      // Skewed towards frequent letters, as in text.
      const r = rng.int(letters.length * letters.length);
      w[k] = letters.charCodeAt(letters.length - 1 - Math.floor(Math.sqrt(r)));
    }
    w[len] = 0x20;
    words.push(w);
  }
  return words;
}

/** Produce `len` bytes of content `kind` into `buf[0, len)`. */
function produce(rng: XorShift128, kind: Kind, buf: Uint8Array, len: number, vocab: Uint8Array[]): void {
  if (kind === "random") {
    rng.fill(buf, 0, len);
  } else if (kind === "text") {
    let pos = 0;
    let inLine = 0;
    while (pos < len) {
      const w = vocab[rng.int(vocab.length)];
      const n = Math.min(w.length, len - pos);
      buf.set(n === w.length ? w : w.subarray(0, n), pos);
      pos += n;
      if (++inLine >= 12 && pos < len) {
        buf[pos - 1] = 0x0a;
        inLine = 0;
      }
    }
  } else {
    // Half-compressible: 4 KiB segments alternating between random bytes and a repeated 64-byte pattern.
    const pattern = new Uint8Array(64);
    rng.fill(pattern, 0, 64);
    for (let pos = 0, seg = 0; pos < len; pos += 4 * KiB, seg++) {
      const n = Math.min(4 * KiB, len - pos);
      if (seg % 2 === 0) rng.fill(buf, pos, n);
      else for (let k = 0; k < n; k += 64) buf.set(pattern.subarray(0, Math.min(64, n - k)), pos + k);
    }
  }
}

function writeAll(file: Deno.FsFile, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += file.writeSync(data.subarray(off));
}

/** Write a file of `size` bytes of `kind`, in 1 MiB chunks from the scratch buffer. */
function writeGenerated(
  path: string,
  size: number,
  kind: Kind,
  rng: XorShift128,
  vocab: Uint8Array[],
  mode: number,
): void {
  const f = Deno.openSync(path, { write: true, create: true, truncate: true });
  try {
    for (let done = 0; done < size;) {
      const n = Math.min(CHUNK, size - done);
      produce(rng, kind, scratch, n, vocab);
      writeAll(f, scratch.subarray(0, n));
      done += n;
    }
  } finally {
    f.close();
  }
  Deno.chmodSync(path, mode);
}

function pickMode(rng: XorShift128): number {
  const r = rng.int(100);
  return r < 10 ? 0o600 : r < 15 ? 0o755 : r < 18 ? 0o444 : 0o644;
}

function scaled(n: number, factor: number): number {
  return Math.max(1, Math.round(n * factor));
}

/**
 * Generate the dataset into `dir` (which must not exist or be empty) and return what it holds.
 *
 * @example
 * ```ts
 * import { generateDataset } from "./dataset.ts";
 * const summary = generateDataset("/tmp/floe-bench/data", { seed: 1, scale: 0.01 });
 * console.log(summary.files, summary.bytes);
 * ```
 */
export function generateDataset(dir: string, opts: DatasetOptions): DatasetSummary {
  const rng = new XorShift128(opts.seed);
  const vocab = makeVocabulary(rng);
  const smallMul = opts.smallFilesMultiplier ?? 1;
  const bytesMul = opts.bytesMultiplier ?? 1;
  const s = opts.scale;
  const summary: DatasetSummary = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const mkdir = (p: string) => {
    Deno.mkdirSync(p, { recursive: true });
    Deno.chmodSync(p, 0o755);
    summary.dirs++;
  };

  Deno.mkdirSync(dir, { recursive: true });
  // Directory tree for the small files: each directory hangs under a random earlier one (depth ≤ 4).
  const nDirs = scaled(1500, s * smallMul);
  const dirs: string[] = [];
  const depth: number[] = [];
  mkdir(join(dir, "small"));
  for (let i = 0; i < nDirs; i++) {
    const parent = i === 0 ? -1 : rng.int(i);
    const d = parent < 0 || depth[parent] >= 4 || rng.int(4) === 0 ? -1 : parent;
    const name = `dir-${String(i).padStart(5, "0")}`;
    const p = d < 0 ? join(dir, "small", name) : join(dirs[d], name);
    dirs.push(p);
    depth.push(d < 0 ? 1 : depth[d] + 1);
    mkdir(p);
  }

  // Small files, 1–64 KiB.
  const smallFiles: string[] = [];
  const nSmall = scaled(30000, s * smallMul);
  for (let i = 0; i < nSmall; i++) {
    const kind = KINDS[i % 3];
    const size = rng.range(1 * KiB, 64 * KiB);
    const p = join(dirs[rng.int(dirs.length)], `f-${String(i).padStart(6, "0")}${EXT[kind]}`);
    produce(rng, kind, scratch, size, vocab);
    const f = Deno.openSync(p, { write: true, create: true, truncate: true });
    try {
      writeAll(f, scratch.subarray(0, size));
    } finally {
      f.close();
    }
    Deno.chmodSync(p, pickMode(rng));
    smallFiles.push(p);
    summary.files++;
    summary.bytes += size;
  }

  // Medium files, 5–50 MiB.
  const large = join(dir, "large");
  mkdir(large);
  const nMedium = scaled(20, s * bytesMul);
  const mediumFiles: string[] = [];
  for (let i = 0; i < nMedium; i++) {
    const kind = KINDS[i % 3];
    const size = rng.range(5 * MiB, 50 * MiB);
    const p = join(large, `medium-${String(i).padStart(3, "0")}${EXT[kind]}`);
    writeGenerated(p, size, kind, rng, vocab, 0o644);
    mediumFiles.push(p);
    summary.files++;
    summary.bytes += size;
  }

  // Two large files: one random, one built from 16 distinct 1 MiB blocks repeated.
  const bigSize = Math.max(1, Math.round(400 * s * bytesMul)) * MiB;
  writeGenerated(join(large, "big-random.bin"), bigSize, "random", rng, vocab, 0o644);
  const blocks: Uint8Array[] = [];
  for (let i = 0; i < 16; i++) {
    const b = new Uint8Array(MiB);
    rng.fill(b, 0, MiB);
    blocks.push(b);
  }
  {
    const p = join(large, "big-blocks.bin");
    const f = Deno.openSync(p, { write: true, create: true, truncate: true });
    try {
      for (let done = 0; done < bigSize; done += MiB) writeAll(f, blocks[rng.int(16)]);
    } finally {
      f.close();
    }
    Deno.chmodSync(p, 0o644);
  }
  summary.files += 2;
  summary.bytes += 2 * bigSize;

  // Duplicate copies of existing files: ~195 small ones (× small-file multiplier) and ~5 medium ones
  // (× bytes multiplier).
  const nSmallDup = scaled(195, s * smallMul);
  const nMediumDup = Math.min(mediumFiles.length, scaled(5, s * bytesMul));
  const nDup = nSmallDup + nMediumDup;
  for (let i = 0; i < nDup; i++) {
    const src = i < nMediumDup
      ? mediumFiles[rng.int(mediumFiles.length)]
      : smallFiles[rng.int(smallFiles.length)];
    const dst = join(
      dirs[rng.int(dirs.length)],
      `copy-${String(i).padStart(4, "0")}-${src.split("/").pop()}`,
    );
    Deno.copyFileSync(src, dst);
    Deno.chmodSync(dst, Deno.lstatSync(src).mode! & 0o7777);
    summary.files++;
    summary.bytes += Deno.lstatSync(dst).size;
  }

  // Symlinks with relative targets (a few to directories, a few dangling).
  const nLinks = scaled(100, s * smallMul);
  for (let i = 0; i < nLinks; i++) {
    const at = dirs[rng.int(dirs.length)];
    const r = rng.int(20);
    const target = r === 0
      ? `does-not-exist-${i}`
      : r < 3
      ? relative(at, dirs[rng.int(dirs.length)])
      : relative(at, smallFiles[rng.int(smallFiles.length)]);
    Deno.symlinkSync(target || ".", join(at, `link-${String(i).padStart(4, "0")}`));
    summary.symlinks++;
  }

  // Empty directories.
  const nEmpty = scaled(50, s * smallMul);
  for (let i = 0; i < nEmpty; i++) {
    mkdir(join(dirs[rng.int(dirs.length)], `empty-${String(i).padStart(3, "0")}`));
  }

  return summary;
}

/**
 * Generate the small-files-heavy dataset into `dir`: at scale 1, 100,000 files of 0–8 KiB (a third each
 * text-like, half-compressible and random; about 400 MB) in ~4,000 directories up to 12 deep, plus four
 * large files (two 64 MiB and two 32 MiB: random, text, half-compressible, random). It measures what a
 * restore does per file (create, write, metadata), where the mixed dataset measures bytes.
 *
 * @example
 * ```ts
 * import { generateSmallFilesDataset } from "./dataset.ts";
 * const summary = generateSmallFilesDataset("/tmp/floe-bench/small", { seed: 1, scale: 0.01 });
 * console.log(summary.files, summary.dirs);
 * ```
 */
export function generateSmallFilesDataset(dir: string, opts: DatasetOptions): DatasetSummary {
  const rng = new XorShift128(opts.seed ^ 0x2c1b3c6d);
  const vocab = makeVocabulary(rng);
  const s = opts.scale;
  const summary: DatasetSummary = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  Deno.mkdirSync(dir, { recursive: true });
  // A deep tree: each directory hangs under a random earlier one, mostly the last few made, so chains
  // reach down to 12 levels while the fan-out stays moderate.
  const nDirs = scaled(4000, s);
  const dirs: string[] = [];
  const depth: number[] = [];
  for (let i = 0; i < nDirs; i++) {
    const parent = i === 0 || rng.int(8) === 0 ? -1 : Math.max(0, i - 1 - rng.int(Math.min(i, 6)));
    const d = parent >= 0 && depth[parent] < 12 ? parent : -1;
    const p = join(d < 0 ? dir : dirs[d], `d${String(i).padStart(4, "0")}`);
    Deno.mkdirSync(p);
    Deno.chmodSync(p, 0o755);
    dirs.push(p);
    depth.push(d < 0 ? 1 : depth[d] + 1);
    summary.dirs++;
  }
  const nSmall = scaled(100_000, s);
  for (let i = 0; i < nSmall; i++) {
    const kind = KINDS[i % 3];
    const size = rng.range(0, 8 * KiB);
    const p = join(dirs[rng.int(dirs.length)], `f${String(i).padStart(6, "0")}${EXT[kind]}`);
    produce(rng, kind, scratch, size, vocab);
    const f = Deno.openSync(p, { write: true, create: true, truncate: true });
    try {
      writeAll(f, scratch.subarray(0, size));
    } finally {
      f.close();
    }
    Deno.chmodSync(p, pickMode(rng));
    summary.files++;
    summary.bytes += size;
  }
  const large = join(dir, "large");
  Deno.mkdirSync(large);
  summary.dirs++;
  const bigKinds: Kind[] = ["random", "text", "half", "random"];
  for (let i = 0; i < bigKinds.length; i++) {
    const size = Math.max(1, Math.round((i < 2 ? 64 : 32) * s)) * MiB;
    writeGenerated(join(large, `big-${i}${EXT[bigKinds[i]]}`), size, bigKinds[i], rng, vocab, 0o644);
    summary.files++;
    summary.bytes += size;
  }
  return summary;
}

/** One entry of a {@link manifest}. */
export interface ManifestEntry {
  /** Entry type. */
  type: "file" | "dir" | "symlink" | "other";
  /** Size in bytes (files only; 0 otherwise). */
  size: number;
  /** Permission bits (`mode & 0o7777`); symlinks report 0. */
  mode: number;
  /** Hex sha256 of the content (files only). */
  hash?: string;
  /** Link target (symlinks only). */
  target?: string;
}

const hashBuf = new Uint8Array(4 * MiB);

/**
 * Streaming sha256 of a file, read with `readSync` into a reused buffer.
 *
 * @example
 * ```ts
 * import { hashFile } from "./dataset.ts";
 * console.log(hashFile("/etc/hostname"));
 * ```
 */
export function hashFile(path: string): string {
  const h = createHash("sha256");
  const f = Deno.openSync(path, { read: true });
  try {
    for (;;) {
      const n = f.readSync(hashBuf);
      if (n === null || n === 0) break;
      h.update(hashBuf.subarray(0, n));
    }
  } finally {
    f.close();
  }
  return h.digest("hex");
}

/**
 * Walk `root` (without following symlinks) and describe every entry below it by relative path.
 * Reading every file also warms the page cache.
 *
 * @example
 * ```ts
 * import { manifest } from "./dataset.ts";
 * const m = manifest("/tmp/floe-bench/data");
 * console.log(m.size, "entries");
 * ```
 */
export function manifest(root: string, opts: { hash?: boolean } = {}): Map<string, ManifestEntry> {
  const hash = opts.hash ?? true;
  const out = new Map<string, ManifestEntry>();
  const walk = (abs: string, rel: string) => {
    const names = [...Deno.readDirSync(abs)].map((e) => e.name).sort();
    for (const name of names) {
      const p = join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = Deno.lstatSync(p);
      const mode = (st.mode ?? 0) & 0o7777;
      if (st.isSymlink) {
        out.set(r, { type: "symlink", size: 0, mode: 0, target: Deno.readLinkSync(p) });
      } else if (st.isDirectory) {
        out.set(r, { type: "dir", size: 0, mode });
        walk(p, r);
      } else if (st.isFile) {
        out.set(r, { type: "file", size: st.size, mode, ...(hash ? { hash: hashFile(p) } : {}) });
      } else {
        out.set(r, { type: "other", size: 0, mode });
      }
    }
  };
  walk(root, "");
  return out;
}

/**
 * Summarise a manifest as files / dirs / symlinks / bytes.
 *
 * @example
 * ```ts
 * import { manifest, summarize } from "./dataset.ts";
 * console.log(summarize(manifest("/tmp/floe-bench/data", { hash: false })));
 * ```
 */
export function summarize(m: Map<string, ManifestEntry>): DatasetSummary {
  const s: DatasetSummary = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  for (const e of m.values()) {
    if (e.type === "file") {
      s.files++;
      s.bytes += e.size;
    } else if (e.type === "dir") s.dirs++;
    else if (e.type === "symlink") s.symlinks++;
  }
  return s;
}

/**
 * Compare two manifests; returns one human-readable line per difference (empty = identical).
 *
 * @example
 * ```ts
 * import { diffManifests, manifest } from "./dataset.ts";
 * const diffs = diffManifests(manifest("/a"), manifest("/b"));
 * console.log(diffs.length === 0 ? "identical" : diffs.join("\n"));
 * ```
 */
export function diffManifests(a: Map<string, ManifestEntry>, b: Map<string, ManifestEntry>): string[] {
  const diffs: string[] = [];
  for (const [path, ea] of a) {
    const eb = b.get(path);
    if (!eb) {
      diffs.push(`missing: ${path}`);
      continue;
    }
    if (ea.type !== eb.type) diffs.push(`type: ${path}: ${ea.type} vs ${eb.type}`);
    else if (ea.type === "file" && ea.size !== eb.size) diffs.push(`size: ${path}: ${ea.size} vs ${eb.size}`);
    else if (ea.type === "file" && ea.hash !== eb.hash) diffs.push(`content: ${path}`);
    else if (ea.type === "symlink" && ea.target !== eb.target) {
      diffs.push(`link target: ${path}: ${ea.target} vs ${eb.target}`);
    }
    if (ea.type === eb.type && ea.mode !== eb.mode) {
      diffs.push(`mode: ${path}: ${ea.mode.toString(8)} vs ${eb.mode.toString(8)}`);
    }
  }
  for (const path of b.keys()) if (!a.has(path)) diffs.push(`extra: ${path}`);
  return diffs;
}

/**
 * Compare two trees: names, types, sizes, content hashes, symlink targets and modes.
 *
 * @example
 * ```ts
 * import { verify } from "./dataset.ts";
 * const diffs = verify("/tmp/floe-bench/data", "/tmp/floe-bench/restore/tmp/floe-bench/data");
 * if (diffs.length) console.log(diffs.slice(0, 10).join("\n"));
 * ```
 */
export function verify(a: string, b: string): string[] {
  return diffManifests(manifest(a), manifest(b));
}

/** Options of {@link mutate}. */
export interface MutateOptions {
  /** PRNG seed for the change. */
  seed: number;
  /** Same meaning as {@link DatasetOptions.scale}; scales the counts. Default 1. */
  scale?: number;
}

/** What {@link mutate} changed. */
export interface MutateSummary {
  /** Small files overwritten in place. */
  modified: number;
  /** Small files added. */
  added: number;
  /** Small files deleted. */
  deleted: number;
  /** Bytes appended to the large file. */
  appended: number;
}

/**
 * Apply a ~1 % change to a generated tree: 300 small files modified, 50 added, 50 deleted and
 * 1 MiB appended to the large random file (counts × `scale`).
 *
 * @example
 * ```ts
 * import { mutate } from "./dataset.ts";
 * const changed = mutate("/tmp/floe-bench/data", { seed: 7 });
 * console.log(changed.modified, "files modified");
 * ```
 */
export function mutate(dir: string, opts: MutateOptions): MutateSummary {
  const rng = new XorShift128(opts.seed ^ 0x5bd1e995);
  const s = opts.scale ?? 1;
  const smallFiles: string[] = [];
  const dirs: string[] = [];
  const walk = (p: string) => {
    const names = [...Deno.readDirSync(p)].map((e) => e.name).sort();
    for (const name of names) {
      const c = join(p, name);
      const st = Deno.lstatSync(c);
      if (st.isDirectory) {
        dirs.push(c);
        walk(c);
      } else if (st.isFile && st.size <= 64 * KiB && name.startsWith("f-")) smallFiles.push(c);
    }
  };
  walk(join(dir, "small"));
  // Shuffle (Fisher–Yates) and take distinct files for modification and deletion.
  for (let i = smallFiles.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [smallFiles[i], smallFiles[j]] = [smallFiles[j], smallFiles[i]];
  }
  const nMod = Math.min(scaled(300, s), Math.floor(smallFiles.length / 2));
  const nDel = Math.min(scaled(50, s), smallFiles.length - nMod);
  const nAdd = scaled(50, s);
  for (const p of smallFiles.slice(0, nMod)) {
    const size = Deno.lstatSync(p).size;
    const len = Math.min(size, rng.range(256, 4 * KiB));
    const off = rng.int(size - len + 1);
    rng.fill(scratch, 0, len);
    const mode = Deno.lstatSync(p).mode! & 0o7777;
    Deno.chmodSync(p, 0o644);
    const f = Deno.openSync(p, { write: true });
    try {
      f.seekSync(off, Deno.SeekMode.Start);
      writeAll(f, scratch.subarray(0, len));
    } finally {
      f.close();
    }
    Deno.chmodSync(p, mode);
  }
  for (const p of smallFiles.slice(nMod, nMod + nDel)) Deno.removeSync(p);
  for (let i = 0; i < nAdd; i++) {
    const size = rng.range(1 * KiB, 64 * KiB);
    rng.fill(scratch, 0, size);
    const p = join(dirs[rng.int(dirs.length)], `new-${opts.seed}-${String(i).padStart(4, "0")}.bin`);
    const f = Deno.openSync(p, { write: true, create: true, truncate: true });
    try {
      writeAll(f, scratch.subarray(0, size));
    } finally {
      f.close();
    }
    Deno.chmodSync(p, 0o644);
  }
  const big = join(dir, "large", "big-random.bin");
  const f = Deno.openSync(big, { append: true });
  try {
    rng.fill(scratch, 0, MiB);
    writeAll(f, scratch.subarray(0, MiB));
  } finally {
    f.close();
  }
  return { modified: nMod, added: nAdd, deleted: nDel, appended: MiB };
}
