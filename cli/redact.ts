/**
 * The CLI's last line of defence against printing a secret: every line floe writes (messages, `-v`
 * stacks, retry notices, listings, JSON) passes through {@link redact}, which replaces the secret values
 * this run knows — the repository password (from the environment, a file, the default key or a prompt),
 * a new password, the storage credentials of the environment, and passwords written into a location or
 * a proxy URL — with `***`.
 *
 * Messages are meant to hold no secret in the first place (locations are masked where they are
 * formatted); this only catches what slipped through. A value shorter than {@link MIN_SECRET_LENGTH} is
 * not redacted: replacing a short password such as `wrong` would garble ordinary words ("*** password")
 * and show where the secret is.
 *
 * @example
 * ```ts
 * import { redact, rememberSecret } from "./redact.ts";
 * rememberSecret("correct horse battery staple");
 * redact("no repository at /srv/correct horse battery staple"); // "no repository at /srv/***"
 * ```
 * @module
 */

import { URL_PASSWORD } from "../mod.ts";

/**
 * Shortest value redacted: 8 characters, so that common words are never replaced.
 *
 * @example
 * ```ts
 * import { MIN_SECRET_LENGTH } from "./redact.ts";
 * console.log(MIN_SECRET_LENGTH); // 8
 * ```
 */
export const MIN_SECRET_LENGTH = 8;

/** Environment variables whose whole value is a secret. */
const SECRET_VARS = [
  "FLOE_PASSWORD",
  "FLOE_NEW_PASSWORD",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "ST_KEY",
  "OS_PASSWORD",
  "OS_APPLICATION_CREDENTIAL_SECRET",
  "OS_AUTH_TOKEN",
  "OS_TOKEN",
];

/** Environment variables holding URLs that may carry a password (`http://user:pass@proxy:3128`). */
const URL_VARS = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"];

const known = new Set<string>();
let fromEnv = false;

/**
 * Remembers a secret value (and its URL-encoded form) for {@link redact}; short or empty values are
 * ignored (see {@link MIN_SECRET_LENGTH}).
 *
 * @example
 * ```ts
 * import { rememberSecret } from "./redact.ts";
 * rememberSecret(Deno.readTextFileSync("/etc/floe/password").trim());
 * ```
 */
export function rememberSecret(value: string | undefined): void {
  if (!value || value.length < MIN_SECRET_LENGTH) return;
  known.add(value);
  const encoded = encodeURIComponent(value);
  if (encoded !== value) known.add(encoded);
}

/**
 * The passwords written into a URL or location (`s3:https://user:PASS@host/…`, `sftp://user:PASS@host/…`,
 * `sftp:user:PASS@host:/…`), raw and percent-decoded; empty when there is none (see `URL_PASSWORD`).
 *
 * @example
 * ```ts
 * import { passwordsInUrl } from "./redact.ts";
 * passwordsInUrl("sftp://ann:s3cr%2Fet@nas//srv"); // ["s3cr%2Fet", "s3cr/et"]
 * ```
 */
export function passwordsInUrl(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(URL_PASSWORD)) {
    out.push(m[3]);
    try {
      const decoded = decodeURIComponent(m[3]);
      if (decoded !== m[3]) out.push(decoded);
    } catch { /* not percent-encoded */ }
  }
  return out;
}

function envSecrets(): void {
  if (fromEnv) return;
  fromEnv = true;
  const get = (name: string) => {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined; // no env permission: nothing to learn from it
    }
  };
  for (const name of SECRET_VARS) rememberSecret(get(name));
  for (const name of [...URL_VARS, "FLOE_REPOSITORY"]) {
    for (const p of passwordsInUrl(get(name) ?? "")) rememberSecret(p);
  }
}

/**
 * Replaces every known secret in `text` with `***` (the longest first, so one secret inside another is
 * hidden whole).
 *
 * @example
 * ```ts
 * import { redact } from "./redact.ts";
 * console.error(redact(`floe: ${new Error("…").message}`));
 * ```
 */
export function redact(text: string): string {
  envSecrets();
  let out = text;
  for (const s of [...known].sort((a, b) => b.length - a.length)) {
    if (out.includes(s)) out = out.split(s).join("***");
  }
  return out;
}
