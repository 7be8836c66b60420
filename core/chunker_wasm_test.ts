import wabtInit from "wabt";
import { assertEquals } from "../tests/assert.ts";
import { GEAR_WASM } from "./chunker_wasm.ts";

Deno.test("chunker-wasm: the embedded module is chunker.wat assembled", async () => {
  const wabt = await wabtInit();
  const source = Deno.readTextFileSync(new URL("./chunker.wat", import.meta.url));
  const module = wabt.parseWat("chunker.wat", source);
  try {
    assertEquals(new Uint8Array(module.toBinary({}).buffer), GEAR_WASM);
  } finally {
    module.destroy();
  }
});
