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

const here = (path: string) => new URL(path, import.meta.url).href;

/** Built-in plugin names and the modules that implement them. */
export const BUILTINS: Record<PluginKind, Record<string, string>> = {
  storage: {
    local: here("../plugins/storage/local/mod.ts"),
    s3: here("../plugins/storage/s3/mod.ts"),
    swift: here("../plugins/storage/swift/mod.ts"),
    sftp: here("../plugins/storage/sftp/mod.ts"),
  },
  source: {
    fs: here("../plugins/source/fs/mod.ts"),
    bucket: here("../plugins/source/bucket/mod.ts"),
  },
  transform: {
    zstd: here("../plugins/transform/zstd/mod.ts"),
    gzip: here("../plugins/transform/gzip/mod.ts"),
    none: here("../plugins/transform/none/mod.ts"),
    "aes-256-gcm": here("../plugins/transform/aes-256-gcm/mod.ts"),
    "chacha20-poly1305": here("../plugins/transform/chacha20-poly1305/mod.ts"),
  },
};

/** Thrown when a module cannot be loaded or does not satisfy its contract. */
export class PluginError extends FloeError {
  /** Build one. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 1, options);
    this.name = "PluginError";
  }
}

/** Turns a specifier into an importable URL. */
export function resolveSpecifier(kind: PluginKind, specifier: string, cwd: string = Deno.cwd()): string {
  const builtin = BUILTINS[kind][specifier];
  if (builtin) return builtin;
  if (/^(npm|jsr|file|https?):/.test(specifier)) return specifier;
  if (specifier.startsWith("/") || specifier.startsWith("./") || specifier.startsWith("../")) {
    const abs = specifier.startsWith("/") ? specifier : `${cwd.replace(/\/$/, "")}/${specifier}`;
    return new URL(`file://${abs.split("/").map(encodeURIComponent).join("/")}`).href;
  }
  const known = Object.keys(BUILTINS[kind]).join(", ");
  throw new PluginError(
    `unknown ${kind} plugin '${specifier}' (built-in: ${known}; or give a path, file:, npm: or jsr:)`,
  );
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
): Promise<(options?: unknown) => Plugin | Promise<Plugin>> {
  const url = resolveSpecifier(kind, specifier);
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
  const factory = await loadFactory(kind, specifier);
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
