/**
 * Parses `swift:` repository locations: `swift:container:/prefix` (prefix optional).
 *
 * @example
 * ```ts
 * import { parseSwiftLocation } from "./location.ts";
 * parseSwiftLocation("swift:backups:/host1"); // { storage: "swift", options: { container: "backups", prefix: "host1" } }
 * ```
 * @module
 */
import { LocationError, maskLocation, type ParsedLocation } from "../location.ts";

/** The scheme prefix this parser handles. */
export const SWIFT_SCHEME = "swift:";

/**
 * Parses a `swift:` location into the `swift` storage's options (`container`, `prefix`).
 *
 * @example
 * ```ts
 * import { parseSwiftLocation } from "./location.ts";
 * parseSwiftLocation("swift:backups"); // { storage: "swift", options: { container: "backups" } }
 * ```
 */
export function parseSwiftLocation(location: string): ParsedLocation {
  const rest = location.slice(SWIFT_SCHEME.length);
  const colon = rest.indexOf(":");
  const container = colon < 0 ? rest : rest.slice(0, colon);
  const prefix = colon < 0
    ? ""
    : rest.slice(colon + 1).replace(/^\/+/, "").replace(/\/+$/, "").replace(/\/+/g, "/");
  if (!container || container.includes("/")) {
    throw new LocationError(
      `invalid swift location ${JSON.stringify(maskLocation(location))}: expected swift:container:/prefix`,
    );
  }
  const options: Record<string, unknown> = { container };
  if (prefix) options.prefix = prefix;
  return { storage: "swift", options };
}
