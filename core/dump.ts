/**
 * `dump`: a file of a snapshot as its bytes, a directory as a tar stream (what `floe dump` writes to stdout
 * and the server's content route sends). A blob that is damaged or missing stops the output with an error
 * naming the file: what came before it is already out, so the output is cut short — never filled in.
 *
 * @example
 * ```ts
 * import type { Engine } from "./engine.ts";
 * declare const engine: Engine;
 * const d = await engine.dump(engine.resolveSnapshot("latest"), "/etc");
 * for await (const chunk of d.stream) await Deno.stdout.write(chunk);
 * ```
 * @module
 */
import type { Engine } from "./engine.ts";
import type { CatalogSnapshot } from "./catalog/catalog.ts";
import { FloeError } from "./errors.ts";
import type { Node } from "./repository/types.ts";

/** What a dump gives: a file's bytes (`size` known) or a directory's tar stream. */
export interface Dump {
  /** `file` or `dir` (a tar stream). */
  type: "file" | "dir";
  /** The name to save it under: the file's name, or the directory's with `.tar`. */
  name: string;
  /** The file's size (files only). */
  size?: number;
  /** The node dumped. */
  node: Node;
  /** The bytes. */
  stream: AsyncIterable<Uint8Array>;
}

/** The part of a tar-stream entry used here. */
interface EntrySink {
  write(chunk: Uint8Array): boolean;
  end(): void;
  once(event: string, fn: (e?: unknown) => void): void;
}

async function* contentOf(engine: Engine, node: Node, path: string, signal?: AbortSignal) {
  try {
    yield* engine.readFile(node, signal);
  } catch (e) {
    if (!(e instanceof FloeError)) throw e;
    throw new FloeError(`${path} is damaged, the output is cut short: ${e.message}`, e.code, { cause: e });
  }
}

/** Dumps `path` of `snapshot` (see the module doc). */
export async function dump(
  engine: Engine,
  snapshot: CatalogSnapshot,
  path: string,
  signal?: AbortSignal,
): Promise<Dump> {
  const node = await engine.node(snapshot, path, signal);
  const base = path.split("/").filter(Boolean).join("/");
  const leaf = base.split("/").pop() || "root";
  if (node.type === "file") {
    return {
      type: "file",
      name: leaf,
      size: node.size ?? 0,
      node,
      stream: contentOf(engine, node, path, signal),
    };
  }
  if (node.type !== "dir") {
    throw new FloeError(`${path} is a ${node.type}; dump takes a file or a directory`, "usage");
  }
  return { type: "dir", name: `${leaf}.tar`, node, stream: tarOf(engine, snapshot, path, base, signal) };
}

async function* tarOf(
  engine: Engine,
  snapshot: CatalogSnapshot,
  path: string,
  base: string,
  signal?: AbortSignal,
): AsyncIterable<Uint8Array> {
  const { pack } = await import("tar-stream");
  const tar = pack();
  let failure: unknown = null;
  const filling = (async () => {
    try {
      for await (const { path: p, node: n } of engine.ls(snapshot, path, { signal })) {
        const name = p.slice(1 + (base ? base.length + 1 : 0));
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
          for await (const chunk of contentOf(engine, n, p, signal)) {
            if (!entry.write(chunk)) await new Promise<void>((r) => entry.once("drain", () => r()));
          }
          entry.end();
          await finished;
        }
      }
      tar.finalize();
    } catch (e) {
      failure = e;
      tar.destroy(e as Error);
    }
  })();
  try {
    for await (const chunk of tar as AsyncIterable<Uint8Array>) yield chunk;
  } catch (e) {
    if (!failure) throw e;
  }
  await filling;
  if (failure) throw failure;
}
