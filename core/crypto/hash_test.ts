import { createHmac } from "node:crypto";
import { assertEquals } from "../../tests/assert.ts";
import { randomBytes } from "../../tests/helpers.ts";
import { BlobHasher } from "./hash.ts";

Deno.test("BlobHasher: equals HMAC-SHA-256 for keys of every length class and any data, on both engines", () => {
  for (
    const [keyLength, native] of [0, 1, 32, 64, 65, 100].flatMap((n) => [[n, true], [n, false]] as const)
  ) {
    const key = randomBytes(keyLength, keyLength + 1);
    const hasher = new BlobHasher(key, { native });
    for (const n of [0, 1, 55, 64, 100, 5000, 1 << 20]) {
      const data = randomBytes(n, n + 7);
      assertEquals(
        hasher.id(data),
        createHmac("sha256", key).update(data).digest("hex"),
        `${keyLength}/${n}`,
      );
    }
    // Its precomputed states are copied, never consumed: the same input gives the same id again.
    assertEquals(hasher.id(new Uint8Array([1])), hasher.id(new Uint8Array([1])));
  }
});
