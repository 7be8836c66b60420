/**
 * Checks of a tree's format version and of the node fields of version 2 (file-system fidelity: raw names,
 * nanosecond times, extended attributes, flags), which come from storage and are untrusted: a tree of a
 * newer version is refused with a message that says so, rather than misread.
 *
 * @example
 * ```ts
 * import { checkTreeFormat } from "./tree_format.ts";
 * checkTreeFormat({ version: 2, nodes: [] }, "ab".repeat(32)); // fine
 * ```
 * @module
 */
import { FloeError, IntegrityError } from "../errors.ts";
import { decodeBase64 } from "../encoding.ts";
import { quoteName } from "../platform/names.ts";
import { type Node, type Tree, TREE_VERSION } from "./types.ts";

/**
 * A tree in a format version newer than this build reads: upgrading floe is the remedy, not a repair.
 *
 * @example
 * ```ts
 * import { NewerFormatError } from "./tree_format.ts";
 * throw new NewerFormatError("tree abcd is in format version 3; this floe reads up to version 2: upgrade floe");
 * ```
 */
export class NewerFormatError extends FloeError {
  /** Build one. */
  constructor(message: string) {
    super(message, "failed");
    this.name = "NewerFormatError";
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Whether `t` is a time in ns as trees hold it: `/^-?\d{1,20}$/`, tested a character at a time (every node of
 * every tree a backup reads has four).
 */
function isNs(t: unknown): boolean {
  if (typeof t !== "string") return false;
  const from = t.charCodeAt(0) === 0x2d ? 1 : 0;
  const len = t.length - from;
  if (len < 1 || len > 20) return false;
  for (let i = from; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function isBase64(v: unknown): v is string {
  return typeof v === "string" && BASE64.test(v);
}

/**
 * Throws {@link NewerFormatError} for a tree version above {@link TREE_VERSION}, and an `IntegrityError` for a
 * version-2 field that is malformed: `nameBytes` that is not the bytes of the quoted `name` (or could escape a
 * directory), a time that is not a decimal integer, attributes that are not base64 pairs, flags that are not
 * a 32-bit integer.
 *
 * @example
 * ```ts
 * import { checkTreeFormat } from "./tree_format.ts";
 * checkTreeFormat({ nodes: [{ name: '"a\\xff"', type: "file", mode: 0o644, mtime: 0, nameBytes: "Yf8=" }] }, "00");
 * ```
 */
export function checkTreeFormat(tree: Tree, id: string): void {
  const v = tree.version;
  if (v !== undefined) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new IntegrityError(`tree ${id.slice(0, 12)} has a malformed version`);
    }
    if (v > TREE_VERSION) {
      throw new NewerFormatError(
        `tree ${
          id.slice(0, 12)
        } is in format version ${v}; this floe reads up to version ${TREE_VERSION}: upgrade floe`,
      );
    }
  }
  for (const n of tree.nodes) {
    const bad = checkNode(n);
    if (bad) {
      throw new IntegrityError(`tree ${id.slice(0, 12)}: ${JSON.stringify(n.name)} has a malformed ${bad}`);
    }
  }
}

/** The first malformed version-2 field of `n`, or null. */
function checkNode(n: Node): string | null {
  if (n.nameBytes !== undefined) {
    if (!isBase64(n.nameBytes)) return "nameBytes";
    const b = decodeBase64(n.nameBytes);
    // The quoted form is what paths, globs and listings use: the bytes must be exactly what it stands for.
    if (!b.length || b.includes(0) || b.includes(0x2f) || quoteName(b) !== n.name) return "nameBytes";
  }
  if (n.targetBytes !== undefined) {
    if (!isBase64(n.targetBytes) || decodeBase64(n.targetBytes).includes(0)) return "targetBytes";
  }
  if (n.mtimeNs !== undefined && !isNs(n.mtimeNs)) return "mtimeNs";
  if (n.atimeNs !== undefined && !isNs(n.atimeNs)) return "atimeNs";
  if (n.ctimeNs !== undefined && !isNs(n.ctimeNs)) return "ctimeNs";
  if (n.btimeNs !== undefined && !isNs(n.btimeNs)) return "btimeNs";
  if (n.xattrs !== undefined) {
    if (!Array.isArray(n.xattrs)) return "xattrs";
    for (const a of n.xattrs) {
      if (!Array.isArray(a) || a.length !== 2 || !isBase64(a[0]) || !a[0] || !isBase64(a[1])) return "xattrs";
    }
  }
  if (n.flags !== undefined && (!Number.isInteger(n.flags) || n.flags < 0 || n.flags > 0xffffffff)) {
    return "flags";
  }
  return null;
}
