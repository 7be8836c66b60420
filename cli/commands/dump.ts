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
import type { Engine } from "../../core/engine.ts";
import { FloeError } from "../../core/errors.ts";
import type { Node } from "../../core/repository/types.ts";

/** The part of a tar-stream entry used here. */
interface EntrySink {
  write(chunk: Uint8Array): boolean;
  end(): void;
  once(event: string, fn: (e?: unknown) => void): void;
}

/**
 * A file's content; a blob that is damaged or missing stops it with an error naming the file (what came
 * before it is already out: the output is cut short, never filled in).
 */
async function* contentOf(engine: Engine, node: Node, path: string): AsyncIterable<Uint8Array> {
  try {
    yield* engine.readFile(node);
  } catch (e) {
    if (!(e instanceof FloeError)) throw e;
    throw new FloeError(`${path} is damaged, the output is cut short: ${e.message}`, e.exitCode, {
      cause: e,
    });
  }
}

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
      for await (const chunk of contentOf(engine, node, args[1])) await writeAll(chunk);
      return;
    }
    if (node.type !== "dir") {
      throw new FloeError(`${args[1]} is a ${node.type}; dump takes a file or a directory`);
    }
    const { pack } = await import("tar-stream");
    const tar = pack();
    const done = (async () => {
      for await (const chunk of tar as AsyncIterable<Uint8Array>) await writeAll(chunk);
    })();
    const base = args[1].split("/").filter(Boolean).join("/");
    for await (const { path, node: n } of engine.ls(snap, args[1])) {
      const name = path.slice(1 + (base ? base.length + 1 : 0));
      const header = {
        name: base ? `${base.split("/").pop()}/${name}` : name,
        mode: n.mode & 0o7777,
        mtime: new Date(n.mtime),
        uid: n.uid,
        gid: n.gid,
      };
      if (n.type === "dir") tar.entry({ ...header, type: "directory" });
      else if (n.type === "symlink") tar.entry({ ...header, type: "symlink", linkname: n.linkTarget });
      else if (n.type === "fifo") tar.entry({ ...header, type: "fifo" });
      else if (n.type === "file") {
        const entry = tar.entry({ ...header, type: "file", size: n.size ?? 0 }) as unknown as EntrySink;
        const finished = new Promise<void>((resolve, reject) => {
          entry.once("finish", () => resolve());
          entry.once("error", reject);
        });
        for await (const chunk of contentOf(engine, n, path)) {
          if (!entry.write(chunk)) await new Promise<void>((r) => entry.once("drain", () => r()));
        }
        entry.end();
        await finished;
      }
    }
    tar.finalize();
    await done;
  } finally {
    await engine.close();
  }
}
