/**
 * What the database sources (mysql, postgres) share: the connection they hand to their tools, and the
 * reading of a database URL — never with a password in it, where other users would see it.
 *
 * @example
 * ```ts
 * import { databaseUrl } from "./_connection.ts";
 * const url = databaseUrl("postgres source", "postgresql://backup@127.0.0.1:5432/app", {
 *   protocols: ["postgresql:", "postgres:"],
 *   form: "postgresql://user@host:port[/db]",
 *   passwordHint: "use passwordFile, PGPASSWORD or ~/.pgpass",
 * });
 * ```
 * @module
 */

/** Arguments, environment and secrets for a database tool. */
export interface Connection {
  /** Connection arguments for the tool. */
  args: string[];
  /** The databases named, or null for all. */
  databases: string[] | null;
  /** Environment for the child (the password travels here, never in argv). */
  env: Record<string, string> | undefined;
  /** Values masked in messages. */
  secrets: string[];
}

/**
 * Parses a database URL: one of `protocols`, no password; errors begin with `who` (`mysql source`) and
 * name the form.
 */
export function databaseUrl(
  who: string,
  raw: unknown,
  spec: { protocols: string[]; form: string; passwordHint: string },
): URL {
  if (typeof raw !== "string") throw new Error(`${who}: a url is required`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${who}: '${raw}' is not a URL (${spec.form})`);
  }
  if (!spec.protocols.includes(url.protocol)) {
    const starts = spec.protocols.map((p) => `${p}//`).join(" or ");
    throw new Error(`${who}: the URL must start with ${starts} (got ${url.protocol}//)`);
  }
  if (url.password) {
    throw new Error(
      `${who}: no password in the URL (it would be visible to other users): ${spec.passwordHint}`,
    );
  }
  return url;
}
