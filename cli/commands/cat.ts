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
import { ExitCode, FloeError } from "../../core/errors.ts";
import { fromUtf8 } from "../../core/encoding.ts";

function unique(ids: string[], prefix: string, what: string): string {
  const m = ids.filter((i) => i.startsWith(prefix));
  if (m.length === 1) return m[0];
  throw new FloeError(m.length ? `${what} id '${prefix}' is ambiguous` : `no ${what} '${prefix}'`);
}

/** Runs `cat`. */
export default async function cat(ctx: Context, args: string[]): Promise<void> {
  const [type, id] = args;
  if (!["config", "index", "snapshot", "key"].includes(type)) {
    throw new FloeError(`cat takes config, index ID, snapshot ID or key ID (got '${type}')`, ExitCode.Usage);
  }
  if (type !== "config" && !id) throw new FloeError(`cat ${type} needs an id`, ExitCode.Usage);
  const engine = await ctx.open();
  try {
    const repo = engine.repo;
    let value: unknown;
    if (type === "config") value = { ...repo.config, settings: repo.settings };
    else if (type === "snapshot") value = await repo.loadSnapshot(engine.resolveSnapshot(id!).id);
    else if (type === "index") {
      value = await repo.loadIndex(unique(await repo.listIds("index"), id!, "index"));
    } else {
      const name = unique(await repo.listIds("keys"), id!, "key");
      const k = JSON.parse(fromUtf8(await repo.storage.get(`keys/${name}`)));
      value = { ...k, data: "(sealed)" };
    }
    ctx.out(JSON.stringify(value, null, 2));
  } finally {
    await engine.close();
  }
}
