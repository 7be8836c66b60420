/**
 * `floe cat config|index ID|snapshot ID|key ID`: print a repository object, decrypted, as JSON.
 *
 * @example
 * ```sh
 * floe cat snapshot latest
 * ```
 * @module
 */
import type { Context } from "../context.ts";
import { FloeError } from "../../mod.ts";

/** Runs `cat`. */
export default async function cat(ctx: Context, args: string[]): Promise<void> {
  const [type, id] = args;
  if (!["config", "index", "snapshot", "key"].includes(type)) {
    throw new FloeError(`cat takes config, index ID, snapshot ID or key ID (got '${type}')`, "usage");
  }
  if (type !== "config" && !id) throw new FloeError(`cat ${type} needs an id`, "usage");
  const engine = await ctx.open();
  try {
    const value = await engine.cat(type as "config" | "snapshot" | "index" | "key", id);
    ctx.out(JSON.stringify(value, null, 2));
  } finally {
    await engine.close();
  }
}
