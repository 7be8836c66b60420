/**
 * `floe diff SNAPSHOT1 SNAPSHOT2`: what changed between two snapshots (`+` added, `-` removed, `M`
 * content changed, `U` metadata only).
 *
 * @example
 * ```sh
 * floe diff 1a2b3c4d latest
 * ```
 * @module
 */
import type { Context } from "../context.ts";
import { formatBytes } from "../progress.ts";
import { countChange as count, emptyStats } from "../../mod.ts";

/** Runs `diff`. */
export default async function diff(
  ctx: Context,
  args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  const engine = await ctx.open();
  try {
    const a = engine.resolveSnapshot(args[0]);
    const b = engine.resolveSnapshot(args[1]);
    if (!ctx.globals.json) ctx.info(`comparing snapshot ${a.id.slice(0, 8)} to ${b.id.slice(0, 8)}:`);
    const stats = emptyStats();
    for await (const c of engine.diff(a, b, { signal: ctx.signal })) {
      count(stats, c);
      if (opts.metadata === false && c.modifier === "U") continue;
      if (ctx.globals.json) ctx.json({ message_type: "change", path: c.path, modifier: c.modifier });
      else ctx.out(`${c.modifier.padEnd(4)} ${c.path}`);
    }
    if (ctx.globals.json) {
      ctx.json({
        message_type: "statistics",
        source_snapshot: a.id,
        target_snapshot: b.id,
        changed_files: stats.changed,
        metadata_changed: stats.metadata,
        added: stats.added,
        removed: stats.removed,
      });
    } else {
      const f = (t: typeof stats.added) =>
        `${t.files} files, ${t.dirs} dirs, ${t.others} others (${formatBytes(t.bytes)})`;
      ctx.info("");
      ctx.info(`added:    ${f(stats.added)}`);
      ctx.info(`removed:  ${f(stats.removed)}`);
      ctx.info(`changed:  ${stats.changed} (content), ${stats.metadata} (metadata only)`);
    }
  } finally {
    await engine.close();
  }
}
