import { assertEquals } from "../../tests/assert.ts";
import { deriveKey } from "./kdf.ts";
import { argon2Derive } from "./_argon2.ts";
import { encodeBase64 } from "../encoding.ts";

Deno.test("kdf: argon2id in its worker (memory prefaulted there) derives the key hash-wasm derives in this thread", async () => {
  const salt = Uint8Array.from({ length: 16 }, (_, i) => i * 7);
  const cost = { iterations: 2, memoryKiB: 8192, parallelism: 1 };
  const inWorker = await deriveKey("correct horse", { name: "argon2id", ...cost, salt: encodeBase64(salt) });
  const here = await argon2Derive({ password: "correct horse", salt, ...cost });
  assertEquals(inWorker, here);
  assertEquals(inWorker.length, 32);
});
