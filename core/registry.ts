/**
 * Loads plugins by specifier — a built-in name (`fs`, `local`, `zstd`, …), a relative or absolute
 * path, a `file:` URL, an `npm:` or `jsr:` specifier — and checks them against their contract.
 * Modules are imported on demand, so a command pays only for the plugins it uses.
 *
 * @example
 * ```ts
 * import { loadPlugin } from "./registry.ts";
 * const zstd = await loadPlugin("transform", "zstd", { level: 3 });
 * ```
 * @module
 */
import {
  API_VERSION,
  type Plugin,
  type SourcePlugin,
  type StoragePlugin,
  type TransformPlugin,
} from "./contracts.ts";
import { FloeError } from "./errors.ts";

/** Plugin kinds. */
export type PluginKind = "storage" | "source" | "transform";

/** The plugin type for each kind. */
export interface PluginOf {
  /** Storage plugins. */
  storage: StoragePlugin;
  /** Source plugins. */
  source: SourcePlugin;
  /** Transform plugins. */
  transform: TransformPlugin;
}

/**
 * The plugins known by name: for each kind, name → module URL, and for storages the location schemes
 * they claim (scheme → storage name). The core lists none itself: the built-ins are handed over by
 * `plugins/mod.ts` ({@link installPlugins}), and a plugin the user loads (`--plugin`) is added the same way.
 */
export interface PluginTable {
  /** Storage plugins by name. */
  storage: Record<string, string>;
  /** Source plugins by name. */
  source: Record<string, string>;
  /** Transform plugins by id. */
  transform: Record<string, string>;
  /** Location scheme (`s3`, without the colon) → the name of the storage that claims it. */
  schemes: Record<string, string>;
}

const table: PluginTable = { storage: {}, source: {}, transform: {}, schemes: {} };
/** Names the user loaded explicitly (`--plugin`), as opposed to the built-ins. */
const userLoaded: Record<PluginKind, Set<string>> = {
  storage: new Set(),
  source: new Set(),
  transform: new Set(),
};

/**
 * Adds plugins to the table; a name or scheme already there is refused, so a plugin cannot replace a
 * built-in (or another plugin) by taking its name. `user` marks plugins the user named, which a repository
 * may then use as its compression (see core/repository/config.ts).
 *
 * @example
 * ```ts
 * import { installPlugins } from "./registry.ts";
 * installPlugins({ transform: { rot13: "file:///opt/floe/rot13.ts" } }, { user: true });
 * ```
 */
export function installPlugins(add: Partial<PluginTable>, options: { user?: boolean } = {}): void {
  for (const kind of ["storage", "source", "transform", "schemes"] as const) {
    for (const [name, value] of Object.entries(add[kind] ?? {})) {
      const known = table[kind][name];
      if (known === value) continue;
      if (known !== undefined) {
        throw new PluginError(
          kind === "schemes"
            ? `location scheme '${name}:' is claimed by ${table.schemes[name]} already`
            : `a ${kind} plugin named '${name}' is loaded already`,
        );
      }
      table[kind][name] = value;
      if (options.user && kind !== "schemes") userLoaded[kind].add(name);
    }
  }
}

/**
 * The names known for a kind (built-in and loaded), or the schemes claimed.
 *
 * @example
 * ```ts
 * import { knownPlugins } from "./registry.ts";
 * knownPlugins("schemes"); // e.g. ["local", "s3", "sftp", "swift"]
 * ```
 */
export function knownPlugins(kind: PluginKind | "schemes"): string[] {
  return Object.keys(table[kind]).sort();
}

/**
 * Whether `name` was loaded by the user (`--plugin`, or the config file) rather than built in.
 *
 * @example
 * ```ts
 * import { isUserLoaded } from "./registry.ts";
 * isUserLoaded("transform", "zstd"); // false
 * ```
 */
export function isUserLoaded(kind: PluginKind, name: string): boolean {
  return userLoaded[kind].has(name);
}

/**
 * The storage that claims the scheme of `location` (`s3:…` → `s3`), `local` for a path, or null when the
 * location has a `word:` prefix no plugin claims. A path holding a colon is written `./a:b` or absolute.
 *
 * @example
 * ```ts
 * import { storageForLocation } from "./registry.ts";
 * storageForLocation("/srv/repo"); // "local"
 * ```
 */
export function storageForLocation(location: string): string | null {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(location);
  if (!m) return "local";
  return Object.hasOwn(table.schemes, m[1].toLowerCase()) ? table.schemes[m[1].toLowerCase()] : null;
}

/** Options of a storage opened from a location (see {@link openLocation}). */
export interface StorageOpenOptions {
  /** Most calls in flight on each storage at once (`--connections`). */
  connections?: number;
  /** Upload bandwidth of each storage in bytes per second (`--limit-upload`); 0 or absent: unlimited. */
  uploadBytesPerSecond?: number;
  /** Download bandwidth of each storage in bytes per second (`--limit-download`); 0 or absent: unlimited. */
  downloadBytesPerSecond?: number;
  /** Settings of the retry wrapper of remote storages (defaults: the wrapper's). */
  retry?: {
    /** Called before each wait, e.g. for `-v` output. */
    onRetry?: (info: { operation: string; attempt: number; delayMs: number; error: unknown }) => void;
    /** Further settings of the wrapper (attempts, delays), passed on as they are. */
    [setting: string]: unknown;
  };
}

/** Opens the storage of one or several locations (a mirror), with the wrappers the options ask for. */
export type StorageOpener = (
  locations: string | readonly string[],
  options?: StorageOpenOptions,
) => Promise<StoragePlugin>;

let opener: StorageOpener | null = null;

/**
 * Hands the core the function that opens storages from locations — it applies the wrappers (retry, limit,
 * mirror), which are plugins, so it lives with them (plugins/storage/open.ts) and is installed by
 * plugins/mod.ts.
 *
 * @example
 * ```ts
 * import { installStorageOpener } from "./registry.ts";
 * installStorageOpener(async () => { throw new Error("no storages here"); });
 * ```
 */
export function installStorageOpener(open: StorageOpener): void {
  opener = open;
}

/**
 * Opens the storage of one location, or a mirror of several, through the installed opener.
 *
 * @example
 * ```ts
 * import { openLocation } from "./registry.ts";
 * const storage = await openLocation("/srv/repo");
 * ```
 */
export async function openLocation(
  locations: string | readonly string[],
  options: StorageOpenOptions = {},
): Promise<StoragePlugin> {
  if (!opener) {
    throw new PluginError("no storage plugins are installed (import floe's mod.ts or plugins/mod.ts)");
  }
  return await opener(locations, options);
}

/** Thrown when a module cannot be loaded or does not satisfy its contract. */
export class PluginError extends FloeError {
  /** Build one. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, "plugin", options);
    this.name = "PluginError";
  }
}

/**
 * The URL of a module named by path (absolute, `./`, `../`), `file:`, `http(s):`, `npm:` or `jsr:`; null
 * for a bare name.
 *
 * @example
 * ```ts
 * import { moduleUrl } from "./registry.ts";
 * moduleUrl("./my.ts", "/opt"); // "file:///opt/my.ts"
 * ```
 */
export function moduleUrl(specifier: string, cwd: string = Deno.cwd()): string | null {
  if (/^(npm|jsr|file|https?):/.test(specifier)) return specifier;
  if (specifier.startsWith("/") || specifier.startsWith("./") || specifier.startsWith("../")) {
    const abs = specifier.startsWith("/") ? specifier : `${cwd.replace(/\/$/, "")}/${specifier}`;
    return new URL(`file://${abs.split("/").map(encodeURIComponent).join("/")}`).href;
  }
  return null;
}

/** Turns a specifier — a known name, or a module as {@link moduleUrl} reads it — into an importable URL. */
export function resolveSpecifier(kind: PluginKind, specifier: string, cwd: string = Deno.cwd()): string {
  if (Object.hasOwn(table[kind], specifier)) return table[kind][specifier];
  const url = moduleUrl(specifier, cwd);
  if (url) return url;
  const known = knownPlugins(kind).join(", ") || "none installed";
  throw new PluginError(
    `unknown ${kind} plugin '${specifier}' (known: ${known}; or give a path, file:, npm: or jsr:)`,
  );
}

/**
 * The module of a built-in plugin, and nothing else: no path, URL or package. For names read from an
 * untrusted place (a repository's `config`), where a specifier would let whoever wrote it choose the code.
 *
 * @example
 * ```ts
 * import { resolveBuiltin } from "./registry.ts";
 * resolveBuiltin("transform", "zstd"); // file:///…/plugins/transform/zstd/mod.ts
 * // resolveBuiltin("transform", "file:///tmp/x.ts") throws a PluginError
 * ```
 */
export function resolveBuiltin(kind: PluginKind, name: string): string {
  if (Object.hasOwn(table[kind], name) && !userLoaded[kind].has(name)) return table[kind][name];
  const known = knownPlugins(kind).filter((n) => !userLoaded[kind].has(n)).join(", ") || "none installed";
  throw new PluginError(`${JSON.stringify(name)} is not a built-in ${kind} plugin (built-in: ${known})`);
}

const METHODS: Record<PluginKind, [string, "function" | "string" | "object"][]> = {
  storage: [
    ["location", "string"],
    ["capabilities", "object"],
    ["create", "function"],
    ["put", "function"],
    ["get", "function"],
    ["stat", "function"],
    ["list", "function"],
    ["delete", "function"],
  ],
  source: [["paths", "object"], ["scan", "function"]],
  transform: [["id", "string"], ["role", "string"], ["encode", "function"], ["decode", "function"]],
};

/** Lists what `plugin` lacks to be a `kind` plugin; empty when it satisfies the contract. */
export function contractProblems(kind: PluginKind, plugin: unknown): string[] {
  if (!plugin || typeof plugin !== "object") return ["the factory returned no object"];
  const p = plugin as Record<string, unknown>;
  const problems: string[] = [];
  if (p.kind !== kind) problems.push(`kind must be "${kind}" (got ${JSON.stringify(p.kind)})`);
  if (typeof p.name !== "string" || !p.name) problems.push("name (a non-empty string) is missing");
  if (p.apiVersion !== API_VERSION) {
    problems.push(`apiVersion must be ${API_VERSION} (got ${JSON.stringify(p.apiVersion)})`);
  }
  for (const [field, type] of METHODS[kind]) {
    if (typeof p[field] !== type || p[field] === null) problems.push(`${field} (${type}) is missing`);
  }
  if (kind === "storage" && p.capabilities && typeof p.capabilities === "object") {
    const c = p.capabilities as Record<string, unknown>;
    for (const f of ["maxObjectSize", "concurrency"]) {
      if (typeof c[f] !== "number") problems.push(`capabilities.${f} (number) is missing`);
    }
    if (typeof c.atomicCreate !== "boolean") problems.push("capabilities.atomicCreate (boolean) is missing");
    if (c.temporaries !== undefined && typeof c.temporaries !== "boolean") {
      problems.push("capabilities.temporaries must be a boolean when given");
    }
  }
  if (kind === "source" && p.capabilities !== undefined) {
    const c = p.capabilities as Record<string, unknown> | null;
    if (!c || typeof c !== "object") problems.push("capabilities must be an object when given");
    else if (c.remote !== undefined && typeof c.remote !== "boolean") {
      problems.push("capabilities.remote must be a boolean when given");
    }
  }
  if (kind === "transform" && p.role !== undefined && p.role !== "compression" && p.role !== "cipher") {
    problems.push(`role must be "compression" or "cipher"`);
  }
  return problems;
}

/** Checks a plugin object; throws a {@link PluginError} naming what is missing. */
export function validatePlugin<K extends PluginKind>(
  kind: K,
  plugin: unknown,
  specifier = "plugin",
): PluginOf[K] {
  const problems = contractProblems(kind, plugin);
  if (problems.length) {
    throw new PluginError(`${specifier} is not a valid ${kind} plugin: ${problems.join("; ")}`);
  }
  return plugin as PluginOf[K];
}

/** Imports a plugin module and returns its factory, checked to be a function. */
export async function loadFactory(
  kind: PluginKind,
  specifier: string,
  url: string = resolveSpecifier(kind, specifier),
): Promise<(options?: unknown) => Plugin | Promise<Plugin>> {
  let mod: Record<string, unknown>;
  try {
    mod = await import(url);
  } catch (e) {
    throw new PluginError(
      `cannot load ${kind} plugin '${specifier}': ${(e as Error).message?.split("\n")[0]}`,
      {
        cause: e,
      },
    );
  }
  const factory = mod.default;
  if (typeof factory !== "function") {
    throw new PluginError(
      `${specifier} is not a valid ${kind} plugin: its default export must be a factory function`,
    );
  }
  return factory as (options?: unknown) => Plugin | Promise<Plugin>;
}

/** Loads, builds and validates one plugin. */
export async function loadPlugin<K extends PluginKind>(
  kind: K,
  specifier: string,
  options?: unknown,
): Promise<PluginOf[K]> {
  return await build(kind, specifier, await loadFactory(kind, specifier), options);
}

/**
 * Loads, builds and validates a built-in plugin by name; refuses anything else (see {@link resolveBuiltin}).
 *
 * @example
 * ```ts
 * import { loadBuiltin } from "./registry.ts";
 * const cipher = await loadBuiltin("transform", "chacha20-poly1305", { key: new Uint8Array(32) });
 * ```
 */
export async function loadBuiltin<K extends PluginKind>(
  kind: K,
  name: string,
  options?: unknown,
): Promise<PluginOf[K]> {
  return await build(kind, name, await loadFactory(kind, name, resolveBuiltin(kind, name)), options);
}

async function build<K extends PluginKind>(
  kind: K,
  specifier: string,
  factory: (options?: unknown) => Plugin | Promise<Plugin>,
  options: unknown,
): Promise<PluginOf[K]> {
  let plugin: unknown;
  try {
    plugin = await factory(options);
  } catch (e) {
    if (e instanceof FloeError) throw e;
    throw new PluginError(`${kind} plugin '${specifier}' refused its options: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return validatePlugin(kind, plugin, specifier);
}

/** What {@link loadUserPlugin} made known. */
export interface UserPlugin {
  /** The plugin's kind. */
  kind: PluginKind;
  /** Its name (a transform's id). */
  name: string;
  /** The location schemes it claims (storages). */
  schemes: string[];
}

/**
 * Loads a plugin module the user named (`--plugin SPEC`, `FLOE_PLUGINS`, the config file) and makes it
 * known by name: a storage by the schemes it exports (`export const schemes = ["flat"]`), a source by its
 * name, a transform by its id — which lets a repository whose config names that id be opened. The module
 * is identified by its `schemes` export, or else by building it with no options.
 *
 * @example
 * ```ts
 * import { loadUserPlugin } from "./registry.ts";
 * const p = await loadUserPlugin("./examples/plugins/brotli.ts");
 * // p: { kind: "transform", name: "brotli", schemes: [] }
 * ```
 */
export async function loadUserPlugin(specifier: string, cwd: string = Deno.cwd()): Promise<UserPlugin> {
  const url = moduleUrl(specifier, cwd);
  if (!url) {
    throw new PluginError(`plugin '${specifier}': give a path (./x.ts, /opt/x.ts), file:, npm: or jsr:`);
  }
  let mod: Record<string, unknown>;
  try {
    mod = await import(url);
  } catch (e) {
    throw new PluginError(`cannot load plugin '${specifier}': ${(e as Error).message?.split("\n")[0]}`, {
      cause: e,
    });
  }
  if (typeof mod.default !== "function") {
    throw new PluginError(`${specifier} is not a floe plugin: its default export must be a factory function`);
  }
  const schemes = mod.schemes;
  if (schemes !== undefined) {
    if (!Array.isArray(schemes) || !schemes.length || !schemes.every((x) => /^[a-z][a-z0-9+.-]*$/.test(x))) {
      throw new PluginError(
        `${specifier}: 'schemes' must be a list of lower-case scheme names, e.g. ["flat"]`,
      );
    }
    const name = schemes[0] as string;
    installPlugins({ storage: { [name]: url }, schemes: Object.fromEntries(schemes.map((x) => [x, name])) }, {
      user: true,
    });
    return { kind: "storage", name, schemes: [...schemes] };
  }
  let plugin: Record<string, unknown>;
  try {
    plugin = await (mod.default as (o?: unknown) => unknown)({}) as Record<string, unknown>;
  } catch (e) {
    throw new PluginError(
      `${specifier} could not be identified: its factory refused no options (${(e as Error).message}); ` +
        `a storage plugin exports its location schemes (export const schemes = ["name"])`,
      { cause: e },
    );
  }
  const kind = plugin?.kind;
  if (kind !== "source" && kind !== "transform" && kind !== "storage") {
    throw new PluginError(
      `${specifier} is not a floe plugin: kind must be "storage", "source" or "transform"`,
    );
  }
  validatePlugin(kind, plugin, specifier);
  if (kind === "storage") {
    throw new PluginError(`${specifier}: a storage plugin must export the location schemes it claims`);
  }
  const name = kind === "transform" ? String(plugin.id) : String(plugin.name);
  installPlugins({ [kind]: { [name]: url } }, { user: true });
  return { kind, name, schemes: [] };
}
