/**
 * Finds where each key path of a TOML document is written, so that a schema problem can name its
 * line. It reads table headers (`[jobs.home]`, `[[a.b]]`), dotted and quoted keys, inline tables and
 * arrays (elements get their index), and skips strings of the four kinds and comments. It runs only on
 * text smol-toml already accepted, so it can be lenient: on anything it does not follow it stops
 * and keeps what it found, and callers fall back to the nearest enclosing key.
 *
 * @example
 * ```ts
 * import { locateKeys, pathKey } from "./_locate.ts";
 * const at = locateKeys("[jobs.home]\nschedule = \"x\"\n");
 * at.get(pathKey(["jobs", "home", "schedule"])); // { line: 2, column: 1 }
 * ```
 * @module
 */

/** A 1-based line and column. */
export interface Position {
  /** Line, from 1. */
  line: number;
  /** Column, from 1 (UTF-16 units). */
  column: number;
}

/** The map key of a path. */
export function pathKey(path: readonly PropertyKey[]): string {
  return JSON.stringify(path.map((p) => (typeof p === "number" ? p : String(p))));
}

class Stop extends Error {}

/** Maps every key path written in `text` to where its key (or header, or array element) starts. */
export function locateKeys(text: string): Map<string, Position> {
  const found = new Map<string, Position>();
  const arrayCounts = new Map<string, number>();
  let i = 0;
  let line = 1;
  let lineStart = 0;

  const pos = (): Position => ({ line, column: i - lineStart + 1 });
  const record = (path: (string | number)[], at: Position) => {
    // Every prefix is recorded too (a dotted key defines its parents), first writer wins.
    for (let n = 1; n <= path.length; n++) {
      const k = pathKey(path.slice(0, n));
      if (!found.has(k)) found.set(k, at);
    }
  };
  const newline = () => {
    i++;
    line++;
    lineStart = i;
  };
  const skipSpace = (newlines: boolean) => {
    for (;;) {
      const c = text[i];
      if (c === " " || c === "\t" || c === "\r") i++;
      else if (c === "#") { while (i < text.length && text[i] !== "\n") i++; }
      else if (c === "\n" && newlines) newline();
      else return;
    }
  };
  const str = (): string => {
    const q = text[i];
    const multi = text.startsWith(q.repeat(3), i);
    const close = multi ? q.repeat(3) : q;
    i += close.length;
    let out = "";
    for (;;) {
      if (i >= text.length) throw new Stop();
      if (text.startsWith(close, i)) {
        i += close.length;
        // A multi-line string may end with up to two more quotes inside it.
        while (multi && text[i] === q) {
          out += q;
          i++;
        }
        return out;
      }
      const c = text[i];
      if (c === "\n") {
        if (!multi) throw new Stop();
        newline();
        out += c;
        continue;
      }
      if (c === "\\" && q === '"') {
        // Escapes are only needed to compare keys; an escaped quote must not end the string.
        out += text.slice(i, i + 2);
        if (text[i + 1] === "\n") {
          i++;
          newline();
        } else i += 2;
        continue;
      }
      out += c;
      i++;
    }
  };
  const keyPart = (): string => {
    const c = text[i];
    if (c === '"' || c === "'") {
      const s = str();
      return c === '"' ? unescapeKey(s) : s;
    }
    const m = /^[A-Za-z0-9_-]+/.exec(text.slice(i, i + 256));
    if (!m) throw new Stop();
    i += m[0].length;
    return m[0];
  };
  const dottedKey = (): string[] => {
    const parts = [keyPart()];
    for (;;) {
      skipSpace(false);
      if (text[i] !== ".") return parts;
      i++;
      skipSpace(false);
      parts.push(keyPart());
    }
  };
  const value = (path: (string | number)[]) => {
    const c = text[i];
    if (c === '"' || c === "'") return void str();
    if (c === "{") {
      i++;
      for (;;) {
        skipSpace(false);
        if (text[i] === "}") return void i++;
        const at = pos();
        const key = [...path, ...dottedKey()];
        record(key, at);
        skipSpace(false);
        if (text[i] !== "=") throw new Stop();
        i++;
        skipSpace(false);
        value(key);
        skipSpace(false);
        if (text[i] === ",") i++;
      }
    }
    if (c === "[") {
      i++;
      for (let n = 0;; n++) {
        skipSpace(true);
        if (text[i] === "]") return void i++;
        record([...path, n], pos());
        value([...path, n]);
        skipSpace(true);
        if (text[i] === ",") i++;
      }
    }
    // Numbers, booleans, dates: up to the next delimiter.
    const m = /^[^,\]}\n#]*/.exec(text.slice(i, i + 4096));
    i += m ? m[0].trimEnd().length || 1 : 1;
  };

  let table: (string | number)[] = [];
  try {
    for (;;) {
      skipSpace(true);
      if (i >= text.length) break;
      const at = pos();
      if (text[i] === "[") {
        const array = text[i + 1] === "[";
        i += array ? 2 : 1;
        skipSpace(false);
        const path: (string | number)[] = dottedKey();
        skipSpace(false);
        i += array ? 2 : 1;
        if (array) {
          const k = pathKey(path);
          const n = arrayCounts.get(k) ?? 0;
          arrayCounts.set(k, n + 1);
          path.push(n);
        }
        record(path, at);
        table = path;
        continue;
      }
      const key = [...table, ...dottedKey()];
      record(key, at);
      skipSpace(false);
      if (text[i] !== "=") throw new Stop();
      i++;
      skipSpace(false);
      value(key);
    }
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
  }
  return found;
}

function unescapeKey(s: string): string {
  try {
    return JSON.parse(`"${s}"`);
  } catch {
    return s;
  }
}

/** The position of `path`, or of its nearest ancestor that is written, or `undefined`. */
export function positionOf(found: Map<string, Position>, path: readonly PropertyKey[]): Position | undefined {
  for (let n = path.length; n > 0; n--) {
    const p = found.get(pathKey(path.slice(0, n)));
    if (p) return p;
  }
  return undefined;
}
