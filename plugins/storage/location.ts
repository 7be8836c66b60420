/**
 * Parses repository locations (`/path`, `file:///path`, `s3:…`, `swift:…`, `sftp:…`) into a storage
 * plugin name and its options. Secrets never come from the location string itself except where the
 * scheme carries them (and they are masked by {@link maskLocation}).
 *
 * @example
 * ```ts
 * import { parseLocation } from "./location.ts";
 * parseLocation("/srv/repo"); // { storage: "local", options: { path: "/srv/repo" } }
 * ```
 * @module
 */
import { parseS3Location } from "./s3/location.ts";
import { parseSwiftLocation } from "./swift/location.ts";
import { parseSftpLocation } from "./sftp/location.ts";
import { parseLocalLocation } from "./local/location.ts";

/** A parsed location: which storage plugin, and the options for its factory. */
export interface ParsedLocation {
  /** Built-in storage name (`local`, `s3`, `swift`, `sftp`). */
  storage: string;
  /** Options for the storage factory. */
  options: Record<string, unknown>;
}

/** Thrown for a location floe cannot read. */
export class LocationError extends Error {
  /** Build one. */
  constructor(message: string) {
    super(message);
    this.name = "LocationError";
  }
}

/** Parses one location string. */
export function parseLocation(location: string): ParsedLocation {
  const loc = location.trim();
  if (!loc) throw new LocationError("empty repository location");
  if (loc.startsWith("file://") || loc.startsWith("local:")) return parseLocalLocation(loc);
  // Remote schemes are filled in by their storage plugins' parsers.
  for (const [prefix, parse] of remoteParsers) {
    if (loc.startsWith(prefix)) return parse(loc);
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(loc)) {
    throw new LocationError(
      `unknown location scheme in ${JSON.stringify(maskLocation(loc))} (a local path holding a colon is ` +
        `written ./${loc} or absolute)`,
    );
  }
  return parseLocalLocation(loc);
}

/** Scheme prefix → parser, for remote storages. */
export const remoteParsers: [string, (loc: string) => ParsedLocation][] = [
  ["s3:", parseS3Location],
  ["swift:", parseSwiftLocation],
  ["sftp:", parseSftpLocation],
];

/**
 * A storage factory's options with `location` (`s3:…`, as given to `--repo`) read into the plugin's own
 * fields by `parse`; the other options given win over what the location says.
 *
 * @example
 * ```ts
 * import { fromLocation } from "./location.ts";
 * import { parseS3Location } from "./s3/location.ts";
 * fromLocation({ location: "s3:bkt/p", connections: 4 }, parseS3Location); // { bucket: "bkt", prefix: "p", connections: 4 }
 * ```
 */
export function fromLocation<O extends object>(
  options: O & { location?: string },
  parse: (location: string) => ParsedLocation,
): O {
  if (options?.location === undefined) return options;
  const { location, ...rest } = options;
  return { ...parse(location.trim()).options, ...rest } as O;
}

/**
 * A password written into a URL or an scp-like SFTP location: `//user:PASSWORD@`, `sftp:user:PASSWORD@`.
 * The password runs to the last `@` of the whitespace-free word, so one holding `/` or `@` (not
 * percent-encoded) is matched whole.
 *
 * @example
 * ```ts
 * import { URL_PASSWORD } from "./location.ts";
 * [..."sftp://ann:pw@nas//srv".matchAll(URL_PASSWORD)][0][3]; // "pw"
 * ```
 */
export const URL_PASSWORD = /(\/\/|\bsftp:)([^/@:\s]+):(\S*)@/g;

/**
 * Hides every password written into a location (or a text holding several), for messages.
 *
 * @example
 * ```ts
 * import { maskLocation } from "./location.ts";
 * maskLocation("s3:https://key:secret@minio:9000/b"); // "s3:https://key:***@minio:9000/b"
 * ```
 */
export function maskLocation(location: string): string {
  return location.replace(URL_PASSWORD, "$1$2:***@");
}
