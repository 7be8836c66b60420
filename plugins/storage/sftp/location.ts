/**
 * Parses SFTP repository locations, spelled as restic spells them:
 *
 * - `sftp://user@host[:port]//absolute/path` — an absolute path on the server;
 * - `sftp://user@host[:port]/path` — a path relative to the login (home) directory;
 * - `sftp:user@host:/absolute/path` and `sftp:host:path` — scp-like, no port.
 *
 * The user is optional (the SFTP storage then uses the local user name); IPv6 hosts go in
 * brackets (`sftp://ann@[::1]:2222//srv/repo`). This module does not import ssh2.
 *
 * @example
 * ```ts
 * import { parseSftpLocation } from "./location.ts";
 * parseSftpLocation("sftp://ann@nas:2222//srv/repo");
 * // { storage: "sftp", options: { user: "ann", host: "nas", port: 2222, path: "/srv/repo" } }
 * ```
 * @module
 */
import { LocationError, maskLocation, type ParsedLocation } from "../location.ts";

function decode(part: string, loc: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new LocationError(`bad percent-encoding in SFTP location ${JSON.stringify(maskLocation(loc))}`);
  }
}

function hostOf(raw: string): string {
  return raw.startsWith("[") && raw.endsWith("]") ? raw.slice(1, -1) : raw;
}

/**
 * Parses one `sftp:` location into the options of the `sftp` storage; throws {@link LocationError}
 * for anything malformed (a password in the location is refused: use a key).
 *
 * @example
 * ```ts
 * import { parseSftpLocation } from "./location.ts";
 * parseSftpLocation("sftp:backup@nas:/srv/repo").options.path; // "/srv/repo"
 * ```
 */
export function parseSftpLocation(location: string): ParsedLocation {
  const loc = location.trim();
  const expected = "expected sftp://user@host[:port]//absolute/path, sftp://user@host[:port]/path-in-home " +
    "or sftp:user@host:/path";
  let user: string | undefined;
  let host: string;
  let port: number | undefined;
  let path: string;
  if (loc.startsWith("sftp://")) {
    const m = /^sftp:\/\/(?:([^@/]*)@)?(\[[0-9A-Fa-f:.%\w]+\]|[^:/@[\]]+)(?::([^/]*))?(\/.*)?$/.exec(loc);
    if (!m) {
      throw new LocationError(`cannot read SFTP location ${JSON.stringify(maskLocation(loc))}: ${expected}`);
    }
    if (m[1] !== undefined) {
      if (m[1].includes(":")) {
        throw new LocationError(
          `SFTP location ${JSON.stringify(maskLocation(loc))} holds a password; ` +
            "floe authenticates with keys only (see keyPath / FLOE_SSH_KEY)",
        );
      }
      user = decode(m[1], loc);
    }
    host = hostOf(m[2]);
    if (m[3] !== undefined) {
      if (!/^\d{1,5}$/.test(m[3]) || +m[3] < 1 || +m[3] > 65535) {
        throw new LocationError(
          `bad port ${JSON.stringify(m[3])} in SFTP location ${JSON.stringify(maskLocation(loc))}`,
        );
      }
      port = +m[3];
    }
    const rest = m[4] ?? "";
    path = decode(rest.slice(1), loc); // "//abs" → "/abs"; "/rel" → "rel"
  } else if (loc.startsWith("sftp:")) {
    const m = /^sftp:(?:([^@/]+)@)?(\[[^\]]+\]|[^:@/[\]]+):(.*)$/.exec(loc);
    if (!m) {
      throw new LocationError(`cannot read SFTP location ${JSON.stringify(maskLocation(loc))}: ${expected}`);
    }
    if (m[1]?.includes(":")) {
      throw new LocationError(
        `SFTP location ${JSON.stringify(maskLocation(loc))} holds a password; ` +
          "floe authenticates with keys only (see keyPath / FLOE_SSH_KEY)",
      );
    }
    if (m[1] !== undefined) user = m[1];
    host = hostOf(m[2]);
    path = m[3];
  } else {
    throw new LocationError(`not an SFTP location: ${JSON.stringify(maskLocation(loc))}`);
  }
  path = path.replace(/(.)\/+$/, "$1");
  if (!host) {
    throw new LocationError(`SFTP location ${JSON.stringify(maskLocation(loc))} has no host: ${expected}`);
  }
  if (!path) {
    throw new LocationError(`SFTP location ${JSON.stringify(maskLocation(loc))} has no path: ${expected}`);
  }
  if (user === "") {
    throw new LocationError(`SFTP location ${JSON.stringify(maskLocation(loc))} has an empty user name`);
  }
  const options: Record<string, unknown> = { host, path };
  if (user !== undefined) options.user = user;
  if (port !== undefined) options.port = port;
  return { storage: "sftp", options };
}
