/**
 * A snapshot's directory as a tar stream (`floe dump` of a directory, the server's content route).
 *
 * @example
 * ```ts
 * import { writeTar } from "./tar.ts";
 * // await writeTar(engine, snapshot, "/etc", async (chunk) => { await file.write(chunk); });
 * ```
 * @module
 */
import type { CatalogSnapshot } from "./catalog/catalog.ts";
import type { Engine } from "./engine.ts";

/** The part of a tar-stream entry used here. */
interface EntrySink {
  write(chunk: Uint8Array): boolean;
  end(): void;
  once(event: string, fn: (e?: unknown) => void): void;
}

/**
 * Writes the directory `path` of `snapshot` as a tar archive (entries named under the directory's own
 * name) to `write`, which applies back-pressure by resolving when it took the chunk.
 */
export async function writeTar(
  engine: Engine,
  snapshot: CatalogSnapshot,
  path: string,
  write: (chunk: Uint8Array) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const { pack } = await import("tar-stream");
  const tar = pack();
  const done = (async () => {
    for await (const chunk of tar as AsyncIterable<Uint8Array>) await write(chunk);
  })();
  try {
    const base = path.split("/").filter(Boolean).join("/");
    for await (const { path: p, node: n } of engine.ls(snapshot, path)) {
      signal?.throwIfAborted();
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
        for await (const chunk of engine.readFile(n, signal)) {
          if (!entry.write(chunk)) await new Promise<void>((r) => entry.once("drain", () => r()));
        }
        entry.end();
        await finished;
      }
    }
    tar.finalize();
  } catch (e) {
    tar.destroy(e as Error);
    await done.catch(() => {});
    throw e;
  }
  await done;
}
