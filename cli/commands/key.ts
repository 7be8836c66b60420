/**
 * `floe key list|add|remove|passwd`: manage the passwords that open a repository.
 *
 * @example
 * ```sh
 * floe key add --new-password-file ~/.floe-second
 * ```
 * @module
 */
import { type Context, readPasswordFile } from "../context.ts";
import { FloeError } from "../../mod.ts";

async function newPassword(ctx: Context, opts: Record<string, unknown>): Promise<string> {
  let pw: string | undefined;
  if (opts.newPasswordFile) pw = readPasswordFile(String(opts.newPasswordFile));
  else pw = Deno.env.get("FLOE_NEW_PASSWORD");
  if (pw === undefined && Deno.stdin.isTerminal()) {
    const saved = Deno.env.get("FLOE_PASSWORD");
    Deno.env.delete("FLOE_PASSWORD");
    try {
      pw = await ctx.password(false, "enter new password: ");
    } finally {
      if (saved !== undefined) Deno.env.set("FLOE_PASSWORD", saved);
    }
  }
  if (!pw) {
    throw new FloeError("no new password: use --new-password-file or FLOE_NEW_PASSWORD", "usage");
  }
  return pw;
}

/** `key list`. */
export async function list(ctx: Context): Promise<void> {
  const engine = await ctx.open();
  try {
    const keys = await engine.listKeys();
    if (ctx.globals.json) ctx.json(keys);
    else {
      for (const k of keys) {
        ctx.out(
          `${k.current ? "*" : " "} ${k.id.slice(0, 8)}  ${k.created}  ${k.username}@${k.host}  ${k.kdf}`,
        );
      }
    }
  } finally {
    await engine.close();
  }
}

/** `key add`. */
export async function add(ctx: Context, _a: string[], opts: Record<string, unknown>): Promise<void> {
  const engine = await ctx.open();
  try {
    const id = await engine.addKey(await newPassword(ctx, opts), opts.kdf as "scrypt" | "argon2id");
    ctx.out(`added key ${id.slice(0, 8)}`);
  } finally {
    await engine.close();
  }
}

/** `key remove ID`. */
export async function remove(ctx: Context, args: string[]): Promise<void> {
  const engine = await ctx.open();
  try {
    await engine.removeKey(args[0]);
    ctx.out(`removed key ${args[0]}`);
  } finally {
    await engine.close();
  }
}

/** `key passwd`: a new key for a new password, then the current key removed. */
export async function passwd(ctx: Context, _a: string[], opts: Record<string, unknown>): Promise<void> {
  const engine = await ctx.open();
  try {
    const id = await engine.changePassword(await newPassword(ctx, opts));
    ctx.out(`password changed (key ${id.slice(0, 8)})`);
  } finally {
    await engine.close();
  }
}
