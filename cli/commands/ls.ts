/**
 * `floe ls SNAPSHOT [PATH]`: list a snapshot's entries.
 *
 * @example
 * ```sh
 * floe ls latest /etc --json
 * ```
 * @module
 */
import type { Context } from "../context.ts";

/** Runs `ls`. */
export default async function ls(ctx: Context, args: string[], opts: Record<string, unknown>): Promise<void> {
  const engine = await ctx.open();
  try {
    const snap = engine.resolveSnapshot(args[0]);
    for await (const { path, node } of engine.ls(snap, args[1] ?? "/")) {
      if (ctx.globals.json) {
        ctx.json({
          name: node.name,
          type: node.type,
          path,
          size: node.size ?? 0,
          mode: node.mode,
          mtime: new Date(node.mtime).toISOString(),
          uid: node.uid,
          gid: node.gid,
          ...(node.linkTarget !== undefined ? { link_target: node.linkTarget } : {}),
        });
      } else if (opts.long) {
        const t = node.type === "dir"
          ? "d"
          : node.type === "symlink"
          ? "l"
          : node.type === "fifo"
          ? "p"
          : "-";
        ctx.out(
          `${t}${(node.mode & 0o7777).toString(8).padStart(4, "0")} ${String(node.uid ?? "").padStart(5)} ${
            String(node.gid ?? "").padStart(5)
          } ${String(node.size ?? 0).padStart(12)} ${new Date(node.mtime).toISOString()} ${path}${
            node.linkTarget !== undefined ? ` -> ${node.linkTarget}` : ""
          }`,
        );
      } else {
        ctx.out(path);
      }
    }
  } finally {
    await engine.close();
  }
}
