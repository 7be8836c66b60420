/**
 * Nodes of a backup's trees: made from source entries, compared with the parent snapshot's to decide
 * what can be reused without reading it again.
 *
 * @example
 * ```ts
 * import { nodeOf } from "./_nodes.ts";
 * nodeOf({ path: "/a", type: "file", mode: 0o644, mtime: 0, size: 1 }, "a").size; // 1
 * ```
 * @module
 */
import type { EntryAttributes, SourceEntry, SourceWarning } from "../contracts.ts";
import type { Node } from "../repository/types.ts";
import { encodeBase64 } from "../encoding.ts";

/** The node of entry `e`, named `name`, without content, subtree, xattrs or flags. */
export function nodeOf(e: SourceEntry, name: string): Node {
  const n: Node = { name, type: e.type, mode: e.mode, mtime: e.mtime };
  if (e.ctime !== undefined) n.ctime = e.ctime;
  if (e.uid !== undefined) n.uid = e.uid;
  if (e.gid !== undefined) n.gid = e.gid;
  if (e.type === "file") n.size = e.size;
  if (e.inode !== undefined) n.inode = e.inode;
  if (e.device !== undefined) n.device = e.device;
  if (e.links !== undefined && e.type !== "dir") n.links = e.links;
  if (e.rdev !== undefined) n.rdev = e.rdev;
  if (e.linkTarget !== undefined) n.linkTarget = e.linkTarget;
  // File-system fidelity (tree version 2); xattrs and flags are added by withAttributes.
  if (e.nameBytes) n.nameBytes = encodeBase64(e.nameBytes);
  if (e.targetBytes) n.targetBytes = encodeBase64(e.targetBytes);
  if (e.mtimeNs !== undefined) n.mtimeNs = e.mtimeNs;
  if (e.atimeNs !== undefined) n.atimeNs = e.atimeNs;
  if (e.ctimeNs !== undefined) n.ctimeNs = e.ctimeNs;
  if (e.btimeNs !== undefined) n.btimeNs = e.btimeNs;
  if (e.changeToken !== undefined) n.changeToken = e.changeToken;
  // A file's meta may only be known once its content is read: fileNode adds it after the content.
  if (e.meta && e.type !== "file") n.meta = { ...e.meta };
  return n;
}

/** Whether a node has a field of tree version 2 (tree version 2). */
export function isFine(n: Node): boolean {
  return n.mtimeNs !== undefined || n.nameBytes !== undefined || n.targetBytes !== undefined ||
    n.xattrs !== undefined || n.flags !== undefined || n.ctimeNs !== undefined;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/**
 * Adds `e`'s extended attributes and flags to `node`: copied from the parent snapshot's node when the inode,
 * size and the ns mtime and ctime are the same (writing an attribute, an ACL or a flag changes the ctime), read
 * from the source otherwise — the system calls only for what changed. `read`: what a file worker read on the open
 * file, for the source to keep what it wants of (see `SourceEntry.attributes`).
 */
export function withAttributes(
  node: Node,
  e: SourceEntry,
  old: Node | undefined,
  warn: (w: SourceWarning) => void,
  read?: EntryAttributes,
): void {
  if (!e.attributes) return;
  if (
    old && old.ctimeNs !== undefined && old.type === e.type && old.ctimeNs === e.ctimeNs &&
    old.mtimeNs === e.mtimeNs && old.inode === e.inode && (e.type !== "file" || old.size === e.size)
  ) {
    if (old.xattrs) node.xattrs = old.xattrs;
    if (old.flags !== undefined) node.flags = old.flags;
    return;
  }
  const got = e.attributes((message) => warn({ path: e.path, message }), read);
  if (got.xattrs?.length) {
    node.xattrs = [...got.xattrs].sort((a, b) => compareBytes(a[0], b[0]))
      .map(([k, v]) => [encodeBase64(k), encodeBase64(v)]);
  }
  if (got.flags) node.flags = got.flags;
}

/** Whether the parent's node `old` still describes the file `e`, so that its content can be reused. */
export function unchanged(old: Node | undefined, e: SourceEntry): old is Node & { content: string[] } {
  if (!old || old.type !== "file" || !old.content || old.size !== e.size || old.mtime !== e.mtime) {
    return false;
  }
  // Sources without inodes (buckets) stamp their entries instead: the stamp alone decides, no open().
  if (e.changeToken !== undefined) return old.changeToken === e.changeToken;
  // Nanosecond times, where both snapshots have them, catch a change within the same millisecond.
  return old.inode === e.inode && old.ctime === e.ctime &&
    (e.ctimeNs === undefined || old.ctimeNs === undefined ||
      (old.ctimeNs === e.ctimeNs && old.mtimeNs === e.mtimeNs));
}

/**
 * Whether the parent's node `old` is exactly the node this run would make for the unchanged file `e`
 * ({@link nodeOf}, the attributes {@link withAttributes} copies from `old`, `old`'s content): then `old`
 * itself goes in the new tree, and {@link sameNodes} sees it at a glance. Checks every field nodeOf writes
 * and then the number of `old`'s keys, so that `old` holds nothing more. The rare fields that need work
 * to compare (raw name bytes, meta) take the general way.
 */
export function sameAsOld(old: Node, e: SourceEntry, name: string): boolean {
  if (
    old.name !== name || old.type !== "file" || old.mode !== e.mode || old.mtime !== e.mtime ||
    old.size !== e.size || e.nameBytes || e.meta || old.meta !== undefined || old.nameBytes !== undefined ||
    e.changeToken !== undefined
  ) return false;
  // Field by field, not a loop over key names: this runs for every unchanged file of a backup, and named
  // property reads stay monomorphic where `e[k]` over eleven keys would not.
  let keys = 6; // name, type, mode, mtime, size, content
  if (e.ctime !== undefined) {
    if (old.ctime !== e.ctime) return false;
    keys++;
  }
  if (e.uid !== undefined) {
    if (old.uid !== e.uid) return false;
    keys++;
  }
  if (e.gid !== undefined) {
    if (old.gid !== e.gid) return false;
    keys++;
  }
  if (e.inode !== undefined) {
    if (old.inode !== e.inode) return false;
    keys++;
  }
  if (e.device !== undefined) {
    if (old.device !== e.device) return false;
    keys++;
  }
  if (e.links !== undefined) {
    if (old.links !== e.links) return false;
    keys++;
  }
  if (e.rdev !== undefined) {
    if (old.rdev !== e.rdev) return false;
    keys++;
  }
  if (e.mtimeNs !== undefined) {
    if (old.mtimeNs !== e.mtimeNs) return false;
    keys++;
  }
  if (e.atimeNs !== undefined) {
    if (old.atimeNs !== e.atimeNs) return false;
    keys++;
  }
  if (e.ctimeNs !== undefined) {
    if (old.ctimeNs !== e.ctimeNs) return false;
    keys++;
  }
  if (e.btimeNs !== undefined) {
    if (old.btimeNs !== e.btimeNs) return false;
    keys++;
  }
  if (e.attributes) {
    // withAttributes copies them from `old` exactly when the ns ctime (which any attribute write moves),
    // mtime, inode and size are the same; otherwise it reads them again.
    if (old.ctimeNs === undefined || old.ctimeNs !== e.ctimeNs || old.mtimeNs !== e.mtimeNs) return false;
    if (old.inode !== e.inode) return false;
    if (old.xattrs !== undefined) keys++;
    if (old.flags !== undefined) keys++;
  }
  let n = 0;
  for (const _ in old) n++;
  return n === keys;
}

/** Whether `nodes` serialize exactly as the old tree's nodes (same keys in the same order, same values). */
export function sameNodes(nodes: Node[], old: Map<string, Node>): boolean {
  if (nodes.length !== old.size) return false;
  let i = 0;
  for (const b of old.values()) {
    const a = nodes[i++] as unknown as Record<string, unknown>;
    if (a === b as unknown) continue; // the parent's node itself (sameAsOld)
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    for (let k = 0; k < ka.length; k++) {
      const key = ka[k];
      if (key !== kb[k]) return false;
      const va = a[key];
      const vb = (b as unknown as Record<string, unknown>)[key];
      if (va === vb) continue;
      if (key === "meta") {
        if (JSON.stringify(va) !== JSON.stringify(vb)) return false;
        continue;
      }
      if (!Array.isArray(va) || !Array.isArray(vb) || va.length !== vb.length) return false;
      for (let j = 0; j < va.length; j++) if (va[j] !== vb[j]) return false;
    }
  }
  return true;
}
