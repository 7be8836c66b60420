import { assert, assertEquals } from "../../tests/assert.ts";
import { encodeHex } from "../encoding.ts";
import { IdFilter } from "./_id_filter.ts";

function randomId(): string {
  return encodeHex(crypto.getRandomValues(new Uint8Array(32)));
}

Deno.test("id filter: every id added is found; ids never added are rarely", () => {
  const f = new IdFilter();
  const added = Array.from({ length: 300_000 }, randomId);
  for (const id of added) f.add(id);
  assertEquals(added.filter((id) => !f.mayHave(id)).length, 0);
  let maybe = 0;
  for (let i = 0; i < 100_000; i++) if (f.mayHave(randomId())) maybe++;
  assert(maybe < 100, `${maybe} false positives in 100,000 (expected about 30)`);
});

Deno.test("id filter: upper-case digits, short and non-hex ids are answered alike by add and mayHave", () => {
  const f = new IdFilter();
  assertEquals(f.mayHave("ab"), false);
  for (const id of ["AB12CD", "ab", "", "zz-not-hex"]) f.add(id);
  for (const id of ["AB12CD", "ab12cd", "ab", "", "zz-not-hex"]) assert(f.mayHave(id), id);
});
