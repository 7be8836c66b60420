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

async function writeAll(bytes: Uint8Array) {
  let off = 0;
  while (off < bytes.length) off += await Deno.stdout.write(bytes.subarray(off));
}

/** Runs `dump`. */
export default async function dump(ctx: Context, args: string[]): Promise<void> {
  const engine = await ctx.open();
  try {
    const d = await engine.dump(engine.resolveSnapshot(args[0]), args[1], { signal: ctx.signal });
    for await (const chunk of d.stream) await writeAll(chunk);
  } finally {
    await engine.close();
  }
}
