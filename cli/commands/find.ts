/**
 * `floe find PATTERN… [--snapshot ID]…`: entries matching glob patterns across snapshots.
 *
 * @example
 * ```sh
 * floe find '*.conf' '/etc/ssh/**' --snapshot latest
 * ```
 * @module
 */
import type { Context } from "../context.ts";

/** Runs `find`. */
export default async function find(
  ctx: Context,
  args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  const engine = await ctx.open();
  try {
    const ids = (opts.snapshot as string[] | undefined) ?? [];
    const snaps = ids.length
      ? [...new Map(ids.map((i) => engine.resolveSnapshot(i)).map((s) => [s.id, s])).values()]
      : engine.snapshots({
        host: opts.host as string | undefined,
        paths: opts.path as string[] | undefined,
        tags: opts.tag as string[] | undefined,
      });
    const matches = await engine.find(args, {
      snapshots: snaps,
      ignoreCase: !!opts.ignoreCase,
      signal: ctx.signal,
    });
    for (const m of matches) {
      const n = m.node;
      if (ctx.globals.json) {
        ctx.json({
          snapshot: m.snapshot,
          path: m.path,
          type: n.type,
          size: n.size ?? 0,
          mode: n.mode,
          mtime: new Date(n.mtime).toISOString(),
          uid: n.uid,
          gid: n.gid,
        });
      } else {
        ctx.out(
          `${m.snapshot.slice(0, 8)}  ${new Date(n.mtime).toISOString()}  ${
            String(n.size ?? 0).padStart(12)
          }  ${m.path}${n.type === "dir" ? "/" : ""}`,
        );
      }
    }
    if (!ctx.globals.json) {
      ctx.info(
        `${matches.length} match(es) in ${
          new Set(matches.map((m) => m.snapshot)).size
        } of ${snaps.length} snapshot(s)`,
      );
    }
  } finally {
    await engine.close();
  }
}
