/**
 * Assertions for floe's tests: node:assert under names Deno's std uses (JSR is out of reach here).
 *
 * @example
 * ```ts
 * import { assertEquals } from "./assert.ts";
 * assertEquals(1 + 1, 2);
 * ```
 */
import nodeAssert from "node:assert/strict";

/** Throws unless `value` is truthy. */
export function assert(value: unknown, message?: string): asserts value {
  nodeAssert.ok(value, message);
}

/** Deep, strict equality; byte arrays compared without a diff of every element (see testing/_assert.ts). */
export { assertEquals } from "../testing/_assert.ts";

/** Deep, strict inequality. */
export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, message);
}

/** Throws unless `text` contains `part`. */
export function assertStringIncludes(text: string, part: string, message?: string): void {
  if (!text.includes(part)) {
    throw new Error(message ?? `expected ${JSON.stringify(text)} to include ${JSON.stringify(part)}`);
  }
}

/** Awaits `fn` and returns what it rejected with; throws if it resolved, or rejected with another class. */
export async function assertRejects<E extends Error = Error>(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  errorClass?: new (...args: any[]) => E,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    if (errorClass && !(e instanceof errorClass)) {
      throw new Error(`expected ${errorClass.name}, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
    }
    if (includes && !String((e as Error)?.message).includes(includes)) {
      throw new Error(
        `expected message to include ${JSON.stringify(includes)}, got ${(e as Error)?.message}`,
      );
    }
    return e as E;
  }
  throw new Error("expected the call to reject");
}

/** Calls `fn` and returns what it threw; throws if it did not. */
export function assertThrows(fn: () => unknown, includes?: string): Error {
  try {
    fn();
  } catch (e) {
    if (includes && !String((e as Error)?.message).includes(includes)) {
      throw new Error(
        `expected message to include ${JSON.stringify(includes)}, got ${(e as Error)?.message}`,
      );
    }
    return e as Error;
  }
  throw new Error("expected the call to throw");
}
