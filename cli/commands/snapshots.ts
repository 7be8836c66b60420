/**
 * `floe snapshots`: list snapshots.
 *
 * @example
 * ```sh
 * floe snapshots --json
 * ```
 * @module
 */
import { snapshotJson } from "../../mod.ts";
import type { Context } from "../context.ts";

/** Runs `snapshots`. */
export default async function snapshots(
  ctx: Context,
  _args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  const engine = await ctx.open();
  try {
    const list = engine.snapshots({
      host: opts.host as string | undefined,
      paths: opts.path as string[] | undefined,
      tags: opts.tag as string[] | undefined,
    });
    if (ctx.globals.json) {
      ctx.json(list.map(snapshotJson));
      return;
    }
    ctx.out(`${"ID".padEnd(10)}${"Time".padEnd(31)}${"Host".padEnd(16)}${"Tags".padEnd(16)}Paths`);
    for (const { id, snapshot: s } of list) {
      ctx.out(
        `${id.slice(0, 8).padEnd(10)}${s.time.padEnd(31)}${s.host.padEnd(16)}${s.tags.join(",").padEnd(16)}${
          s.paths.join(" ")
        }`,
      );
    }
    ctx.out(`${list.length} snapshot${list.length === 1 ? "" : "s"}`);
  } finally {
    await engine.close();
  }
}
