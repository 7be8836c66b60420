/**
 * The few assertions the conformance suites need, on node:assert (JSR, and so Deno's std, is out of reach
 * here). Private to testing/: plugin authors bring their own.
 *
 * @example
 * ```ts
 * import { assertEquals } from "./_assert.ts";
 * assertEquals([1, 2], [1, 2]);
 * ```
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Throws unless `value` is truthy. */
export function assert(value: unknown, message?: string): asserts value {
  nodeAssert.ok(value, message);
}

/**
 * Deep, strict equality. Byte arrays are compared here, byte by byte, with a short message naming the first
 * difference: node:assert would build a diff of every element, which for arrays of megabytes takes
 * gigabytes of memory.
 */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  if (actual instanceof Uint8Array && expected instanceof Uint8Array) {
    const n = Math.min(actual.length, expected.length);
    let i = 0;
    while (i < n && actual[i] === expected[i]) i++;
    if (i < n || actual.length !== expected.length) {
      throw new nodeAssert.AssertionError({
        message: `${
          message ? `${message}: ` : ""
        }byte arrays differ at ${i} (lengths ${actual.length} and ${expected.length})`,
      });
    }
    return;
  }
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Awaits `fn` and returns what it threw; fails when it did not throw. */
export async function rejection(fn: () => unknown, message?: string): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new nodeAssert.AssertionError({ message: message ?? "expected a rejection" });
}

/**
 * Asserts `e` is a storage error with `code`, recognised by its `name` and `code` the way floe's core does
 * (a plugin built without importing floe throws plain `Error`s named `StorageError`).
 */
export function assertStorageError(e: unknown, code: string, message?: string): void {
  const err = e as { name?: unknown; code?: unknown };
  assert(err?.name === "StorageError", message ?? `expected a StorageError, got ${e}`);
  assertEquals(err.code, code, message);
}
