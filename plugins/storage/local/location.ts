/**
 * Parses local repository locations: a path, `local:PATH` or `file:///path`.
 *
 * @example
 * ```ts
 * import { parseLocalLocation } from "./location.ts";
 * parseLocalLocation("file:///srv/repo"); // { storage: "local", options: { path: "/srv/repo" } }
 * ```
 * @module
 */
import { LocationError, type ParsedLocation } from "../location.ts";

/**
 * Parses one local location into the `local` storage's options.
 *
 * @example
 * ```ts
 * import { parseLocalLocation } from "./location.ts";
 * parseLocalLocation("/srv/repo"); // { storage: "local", options: { path: "/srv/repo" } }
 * ```
 */
export function parseLocalLocation(location: string): ParsedLocation {
  const loc = location.trim();
  let path = loc;
  if (loc.startsWith("file://")) path = decodeURIComponent(new URL(loc).pathname);
  else if (loc.startsWith("local:")) path = loc.slice(6);
  if (!path) throw new LocationError("empty repository location");
  return { storage: "local", options: { path } };
}
