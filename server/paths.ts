/**
 * Paths from requests, checked before they reach the engine or the file system: a path inside a
 * snapshot is absolute with no `.` or `..` segment; a restore target must lie under one of the
 * `[server] restore-roots`, also once symbolic links in its existing part are resolved.
 *
 * @example
 * ```ts
 * import { snapshotPath } from "./paths.ts";
 * snapshotPath("/etc//hosts"); // "/etc/hosts"
 * ```
 * @module
 */
import { ApiError } from "./_engine.ts";

const MAX_PATH = 4096;

function segments(path: string, what: string): string[] {
  if (!path.startsWith("/") || path.length > MAX_PATH || path.includes("\0")) {
    throw new ApiError(
      400,
      "invalid-path",
      `${what} must be an absolute path (at most ${MAX_PATH} characters)`,
    );
  }
  const parts = path.split("/").filter(Boolean);
  if (parts.some((p) => p === "." || p === "..")) {
    throw new ApiError(400, "invalid-path", `${what} must not hold '.' or '..' segments`);
  }
  return parts;
}

/** A path inside a snapshot, normalised (`/a//b/` → `/a/b`); 400 when relative or holding `..`. */
export function snapshotPath(path: string): string {
  return "/" + segments(path, "path").join("/");
}

function realpathOfExisting(path: string): string {
  const parts = path.split("/").filter(Boolean);
  for (let n = parts.length; n >= 0; n--) {
    const head = "/" + parts.slice(0, n).join("/");
    try {
      const real = Deno.realPathSync(head);
      return [real === "/" ? "" : real, ...parts.slice(n)].join("/") || "/";
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return path;
}

const under = (path: string, root: string) => root === "/" || path === root || path.startsWith(root + "/");

/** A restore target, normalised; 403 unless it is under a restore root (symbolic links resolved). */
export function restoreTarget(target: string, roots: readonly string[]): string {
  const normal = "/" + segments(target, "target").join("/");
  if (!roots.length) {
    throw new ApiError(
      403,
      "restore-not-allowed",
      "restores through the server need [server] restore-roots in the config (none is set)",
    );
  }
  const real = realpathOfExisting(normal);
  const ok = roots.some((r) => {
    const root = "/" + r.split("/").filter(Boolean).join("/");
    return under(normal, root) && under(real, realpathOfExisting(root));
  });
  if (!ok) {
    throw new ApiError(
      403,
      "restore-not-allowed",
      `target ${normal} is not under a restore root (${roots.join(", ")})`,
    );
  }
  return normal;
}
