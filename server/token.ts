/**
 * The server's bearer token: `FLOE_SERVER_TOKEN`, else a random token generated once into a 0600 file
 * beside the config (`$XDG_CONFIG_HOME/floe/server-token`). The token is never printed or logged; only
 * the file's path is. Tokens are compared in constant time.
 *
 * @example
 * ```ts
 * import { serverToken, tokensEqual } from "./token.ts";
 * const { token } = serverToken({ path: "/tmp/floe-example-token" });
 * tokensEqual(token, token); // true
 * ```
 * @module
 */
import { encodeBase64, FloeError, makePrivateDir } from "../mod.ts";
import { createHash, timingSafeEqual } from "node:crypto";

/** Where the token came from. */
export interface ServerToken {
  /** The token. */
  token: string;
  /** The file it was read from or generated into (none when it came from the environment). */
  path?: string;
  /** Generated at this start. */
  generated: boolean;
}

/** The default token file: `$XDG_CONFIG_HOME/floe/server-token`. */
export function defaultTokenPath(): string {
  const xdg = Deno.env.get("XDG_CONFIG_HOME");
  const home = Deno.env.get("HOME") ?? "/root";
  return `${xdg?.startsWith("/") ? xdg : `${home}/.config`}/floe/server-token`;
}

/** Shortest token accepted from the environment or a file: guessing must stay out of reach. */
const MIN_LENGTH = 16;

/** Reads `FLOE_SERVER_TOKEN`, else the token file, else generates the file (0600, in a 0700 directory). */
export function serverToken(options: { path?: string; env?: string } = {}): ServerToken {
  const env = options.env ?? Deno.env.get("FLOE_SERVER_TOKEN");
  if (env) {
    if (env.length < MIN_LENGTH) {
      throw new FloeError(
        `FLOE_SERVER_TOKEN is too short (at least ${MIN_LENGTH} characters)`,
        "usage",
      );
    }
    return { token: env, generated: false };
  }
  const path = options.path ?? defaultTokenPath();
  try {
    const info = Deno.statSync(path);
    if ((info.mode ?? 0) & 0o077) {
      throw new FloeError(`${path} is readable by others: chmod 600 it (it holds the server token)`);
    }
    const token = Deno.readTextFileSync(path).trim();
    if (token.length < MIN_LENGTH) {
      throw new FloeError(`${path} holds no usable token (remove it to make one)`);
    }
    return { token, path, generated: false };
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const token = encodeBase64(crypto.getRandomValues(new Uint8Array(32))).replace(
    /[+/=]/g,
    (c) => c === "+" ? "-" : c === "/" ? "_" : "",
  );
  makePrivateDir(path.slice(0, path.lastIndexOf("/")) || "/");
  Deno.writeTextFileSync(path, token + "\n", { mode: 0o600, createNew: true });
  Deno.chmodSync(path, 0o600);
  return { token, path, generated: true };
}

/** Compares two tokens in time independent of their content: SHA-256 digests, compared whole. */
export function tokensEqual(a: string, b: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}
