/**
 * `floe dump SNAPSHOT PATH`: a file's content to stdout, or a directory as a tar stream.
 *
 * @example
 * ```sh
 * floe dump latest /etc/hosts
 * floe dump latest /etc > etc.tar
 * ```
 * @module
 */
import type { Context } from "../context.ts";
import { FloeError } from "../../core/errors.ts";
import { writeTar } from "../../core/tar.ts";

async function writeAll(bytes: Uint8Array) {
  let off = 0;
  while (off < bytes.length) off += await Deno.stdout.write(bytes.subarray(off));
}

/** Runs `dump`. */
export default async function dump(ctx: Context, args: string[]): Promise<void> {
  const engine = await ctx.open();
  try {
    const snap = engine.resolveSnapshot(args[0]);
    const node = await engine.trees.find(snap.snapshot.tree, args[1]);
    if (!node) throw new FloeError(`path ${args[1]} is not in snapshot ${snap.id.slice(0, 8)}`);
    if (node.type === "file") {
      for await (const chunk of engine.readFile(node)) await writeAll(chunk);
      return;
    }
    if (node.type !== "dir") {
      throw new FloeError(`${args[1]} is a ${node.type}; dump takes a file or a directory`);
    }
    await writeTar(engine, snap, args[1], writeAll);
  } finally {
    await engine.close();
  }
}
