/**
 * The repository's `config` object: its strict parsing, the associated data that authenticates its
 * plaintext fields, the sealed settings' shape, and which code its transform ids may choose.
 *
 * Everything here reads bytes an attacker with write access to the storage may have written: nothing
 * read from `config` ever names a module to import. Transform ids resolve to the built-ins, or to a
 * module the caller handed in ({@link TrustedTransforms}). See docs/repository_format.md, "config".
 *
 * @example
 * ```ts
 * import { configAad, parseConfig } from "./config.ts";
 * const config = parseConfig(new TextEncoder().encode("{…}"), "/srv/repo"); // throws on anything odd
 * const aad = configAad(config); // associated data of the sealed settings
 * ```
 * @module
 */
import type { ChunkerParams } from "../chunker.ts";
import { utf8 } from "../encoding.ts";
import { FloeError, IntegrityError } from "../errors.ts";
import { isUserLoaded, knownPlugins, resolveBuiltin, resolveSpecifier } from "../registry.ts";

/** The repository format version this build reads and writes. */
export const FORMAT_VERSION = 2;

/** Settings sealed inside `config`. */
export interface RepoSettings {
  /** Chunk sizes. */
  chunker: ChunkerParams;
  /** Compression transform id: `zstd`, `gzip`, `none`, or the id of a transform the caller trusts. */
  compression: string;
  /** Compression level handed to the transform (e.g. zstd 1 fastest … 19 max); its default when absent. */
  compressionLevel?: number;
  /** Target pack size in bytes. */
  packSize: number;
}

/** The `config` object (plaintext JSON; `settings` sealed, the other fields its associated data). */
export interface ConfigFile {
  /** Always `floe`. */
  format: "floe";
  /** Format version ({@link FORMAT_VERSION}). */
  version: number;
  /** Repository id: 64 lowercase hex digits. */
  id: string;
  /** Creation time, ISO 8601. */
  created: string;
  /** Cipher transform id. */
  cipher: string;
  /** Sealed {@link RepoSettings}, base64. */
  settings: string;
}

/**
 * Transforms the caller trusts beyond the built-ins: transform id → module specifier (a path, `file:`,
 * `npm:` …). Specifiers rather than plugin objects, because worker threads load the transforms again by
 * module. A repository naming an id that is neither built-in nor here does not open.
 */
export type TrustedTransforms = Readonly<Record<string, string>>;

/** A transform id: what `config.cipher` and `settings.compression` may hold (never a path or URL). */
const TRANSFORM_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const REPO_ID = /^[0-9a-f]{64}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Sealed settings are a few hundred bytes; anything near this is not ours. */
const MAX_SETTINGS_BASE64 = 16 * 1024;

/**
 * Whether `id` has the shape of a transform id (lowercase letters, digits, `.`, `_`, `-`; never a path,
 * URL or package specifier).
 *
 * @example
 * ```ts
 * import { isTransformId } from "./config.ts";
 * isTransformId("zstd"); // true
 * isTransformId("file:///tmp/x.ts"); // false
 * ```
 */
export function isTransformId(id: string): boolean {
  return TRANSFORM_ID.test(id);
}

/**
 * The associated data that seals `settings` to the plaintext fields: the UTF-8 bytes of
 * `"floe config\n"` followed by `JSON.stringify([format, version, id, created, cipher])`. The fields are
 * checked before (strings of known alphabets, an integer), so these bytes are canonical.
 *
 * @example
 * ```ts
 * import { configAad } from "./config.ts";
 * configAad({ format: "floe", version: 2, id: "00".repeat(32), created: "2024-01-01T00:00:00.000Z",
 *   cipher: "chacha20-poly1305" }); // floe config\n["floe",2,"00…00","2024-01-01T00:00:00.000Z","chacha20-poly1305"]
 * ```
 */
export function configAad(config: Omit<ConfigFile, "settings">): Uint8Array {
  const fields = [config.format, config.version, config.id, config.created, config.cipher];
  return utf8(`floe config\n${JSON.stringify(fields)}`);
}

/**
 * Parses `config` and checks every field's type and alphabet before any is used: a version other than
 * {@link FORMAT_VERSION} is refused naming it, anything else odd is an {@link IntegrityError}.
 *
 * @example
 * ```ts
 * import { parseConfig } from "./config.ts";
 * // parseConfig(await storage.get("config"), storage.location)
 * ```
 */
export function parseConfig(bytes: Uint8Array, location: string): ConfigFile {
  const bad = (why: string) => new IntegrityError(`config at ${location} is damaged or altered: ${why}`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw bad("not JSON");
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw bad("not a JSON object");
  const c = raw as Record<string, unknown>;
  if (c.format !== "floe") throw bad(`format is ${short(c.format)}, not "floe"`);
  if (c.version !== FORMAT_VERSION) {
    const v = short(c.version);
    throw new FloeError(
      Number.isSafeInteger(c.version) && (c.version as number) < FORMAT_VERSION
        ? `repository format version ${v} is not supported: this floe reads version ${FORMAT_VERSION} only (create a new repository with 'floe init')`
        : `repository format version ${v} is not supported by this floe (it reads version ${FORMAT_VERSION})`,
    );
  }
  if (typeof c.id !== "string" || !REPO_ID.test(c.id)) throw bad(`id ${short(c.id)} is not 64 hex digits`);
  if (typeof c.created !== "string" || !ISO_TIME.test(c.created) || Number.isNaN(Date.parse(c.created))) {
    throw bad(`created ${short(c.created)} is not an ISO 8601 time`);
  }
  if (typeof c.cipher !== "string" || !TRANSFORM_ID.test(c.cipher)) {
    throw bad(`cipher ${short(c.cipher)} is not a transform id`);
  }
  if (
    typeof c.settings !== "string" || c.settings.length > MAX_SETTINGS_BASE64 || !BASE64.test(c.settings)
  ) {
    throw bad("settings is not base64");
  }
  const extra = Object.keys(c).filter((k) =>
    !["format", "version", "id", "created", "cipher", "settings"].includes(k)
  );
  if (extra.length) throw bad(`unknown field ${short(extra[0])}`);
  return {
    format: "floe",
    version: c.version,
    id: c.id,
    created: c.created,
    cipher: c.cipher,
    settings: c.settings,
  };
}

/**
 * Checks the shape of the (authenticated) settings: the sizes they choose stay within sane bounds and
 * the compression is a transform id, never a specifier.
 *
 * @example
 * ```ts
 * import { parseSettings } from "./config.ts";
 * parseSettings({ chunker: { min: 1024, avg: 4096, max: 16384 }, compression: "zstd", packSize: 1 << 20 });
 * ```
 */
export function parseSettings(raw: unknown): RepoSettings {
  const bad = (why: string) => new IntegrityError(`config settings are invalid: ${why}`);
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw bad("not a JSON object");
  const s = raw as Record<string, unknown>;
  const chunker = s.chunker as Record<string, unknown> | null;
  const int = (v: unknown, lo: number, hi: number) =>
    Number.isSafeInteger(v) && lo <= (v as number) && (v as number) <= hi;
  if (
    !chunker || typeof chunker !== "object" || !int(chunker.min, 64, 1 << 26) ||
    !int(chunker.avg, chunker.min as number, 1 << 26) || !int(chunker.max, chunker.avg as number, 1 << 26)
  ) {
    throw bad(`chunker ${short(s.chunker)} is not 64 ≤ min ≤ avg ≤ max ≤ 64 MiB`);
  }
  if (typeof s.compression !== "string" || !TRANSFORM_ID.test(s.compression)) {
    throw bad(`compression ${short(s.compression)} is not a transform id`);
  }
  if (s.compressionLevel !== undefined && !int(s.compressionLevel, -1000, 1000)) {
    throw bad(`compressionLevel ${short(s.compressionLevel)} is not an integer`);
  }
  if (!int(s.packSize, 4096, 1 << 30)) throw bad(`packSize ${short(s.packSize)} is not 4 KiB … 1 GiB`);
  return {
    chunker: { min: chunker.min as number, avg: chunker.avg as number, max: chunker.max as number },
    compression: s.compression,
    ...(s.compressionLevel !== undefined ? { compressionLevel: s.compressionLevel as number } : {}),
    packSize: s.packSize as number,
  };
}

/**
 * The module to load for transform `id`: a built-in, or the caller's module for it; never a specifier
 * read from storage. `what` names the field (`cipher`, `compression`) in the message.
 *
 * @example
 * ```ts
 * import { transformModule } from "./config.ts";
 * transformModule("zstd", {}, "compression"); // the built-in zstd module
 * transformModule("rot13", { rot13: "./rot13.ts" }, "compression"); // file:///…/rot13.ts
 * ```
 */
export function transformModule(id: string, trusted: TrustedTransforms, what: string): string {
  if (!TRANSFORM_ID.test(id)) {
    throw new IntegrityError(`config ${what} ${short(id)} is not a transform id: damaged or altered`);
  }
  if (Object.hasOwn(trusted, id)) return resolveSpecifier("transform", trusted[id]);
  // A transform the user loaded (--plugin) is as trusted as a built-in: the user named its module.
  if (isUserLoaded("transform", id)) return resolveSpecifier("transform", id);
  const builtins = knownPlugins("transform").filter((n) => !isUserLoaded("transform", n));
  if (builtins.includes(id)) return resolveBuiltin("transform", id);
  throw new FloeError(
    `the repository's ${what} '${id}' is not built-in (${builtins.join(", ")}); ` +
      `load the plugin that provides it (--plugin SPEC, or the 'transforms' option)`,
  );
}

/** A value quoted for a one-line message, cut short. */
function short(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
