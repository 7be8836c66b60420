/**
 * What the HTTP storages' own connections ({@link ./download.ts}) need of a URL: the path as written,
 * and whether Deno's fetch would send the request through a proxy instead.
 *
 * @example
 * ```ts
 * import { rawPath } from "./_url.ts";
 * rawPath("http://h:1/b/x/../y?a=1"); // "/b/x/../y?a=1"
 * ```
 * @module
 */

/**
 * The path and query of `url` as written. The URL parser resolves `.` and `..` segments (also spelt
 * `%2e`), which object keys may hold (`x/../y`): requests send this instead.
 *
 * @example
 * ```ts
 * import { rawPath } from "./_url.ts";
 * rawPath("http://h:1/b/x/../y?a=1"); // "/b/x/../y?a=1"
 * ```
 */
export function rawPath(url: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*([^#]*)/i.exec(url)?.[1] || "/";
}

/**
 * Whether the path of `url` holds a `.` or `..` segment that fetch would resolve away.
 *
 * @example
 * ```ts
 * import { hasDotSegment } from "./_url.ts";
 * hasDotSegment("http://h/b/x/../y"); // true
 * ```
 */
export function hasDotSegment(url: string): boolean {
  return /\/(?:\.|%2e){1,2}(?:[/?]|$)/i.test(rawPath(url).split("?")[0] + "/");
}

/**
 * Whether Deno's fetch would send a request to `url` through a proxy (`HTTPS_PROXY` / `HTTP_PROXY`, either
 * case, unless `NO_PROXY` names the host): the storages' own connections ({@link ./download.ts}) do not, so such requests stay on fetch.
 *
 * @example
 * ```ts
 * import { viaProxy } from "./_url.ts";
 * viaProxy("http://127.0.0.1:8080/x"); // false unless HTTP_PROXY is set and NO_PROXY spares 127.0.0.1
 * ```
 */
export function viaProxy(url: string): boolean {
  const env = (k: string) => Deno.env.get(k) ?? Deno.env.get(k.toLowerCase()) ?? "";
  const u = new URL(url);
  const proxy = u.protocol === "https:" ? env("HTTPS_PROXY") : env("HTTP_PROXY");
  if (!proxy) return false;
  const host = u.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  for (let entry of env("NO_PROXY").split(/[\s,]+/)) {
    entry = entry.trim().toLowerCase().replace(/:\d+$/, "");
    if (!entry) continue;
    if (entry === "*") return false;
    const bare = entry.replace(/^\*?\./, "");
    if (host === bare || host.endsWith(`.${bare}`)) return false;
  }
  return true;
}
