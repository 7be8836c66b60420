/**
 * Tests for config/units.ts: durations, intervals and listen addresses at their edges.
 *
 * @module
 */
import { assertEquals, assertThrows } from "../tests/assert.ts";
import { parseDurationMs, parseEvery, parseListen } from "./units.ts";

Deno.test("durations: units, combinations, order, zero and overflow", () => {
  assertEquals(parseDurationMs("4h"), 4 * 3_600_000);
  assertEquals(parseDurationMs("30m"), 1_800_000);
  assertEquals(parseDurationMs("1h30m"), 5_400_000);
  assertEquals(parseDurationMs("90s"), 90_000);
  assertEquals(parseDurationMs("7d"), 7 * 86_400_000);
  assertEquals(parseDurationMs("2w1d"), 15 * 86_400_000);
  assertEquals(parseDurationMs("0h5m"), 300_000);
  for (
    const bad of ["", "4", "h", "4x", "1.5h", "-1h", "30m1h", "1h1h", " 4h", "4 h", "0s", "99999999999999w"]
  ) {
    assertThrows(() => parseDurationMs(bad));
  }
  assertEquals(
    assertThrows(() => parseDurationMs("0s")).message,
    '"0s" is zero; a duration must be positive',
  );
});

Deno.test("every intervals", () => {
  assertEquals(parseEvery("every 6h"), 6 * 3_600_000);
  assertEquals(parseEvery("every 7d"), 7 * 86_400_000);
  assertEquals(parseEvery("every  1w"), 7 * 86_400_000);
  assertEquals(parseEvery("every 0s"), null);
  assertEquals(parseEvery("every 6"), null);
  assertEquals(parseEvery("every 1y"), null);
  assertEquals(parseEvery("0 3 * * *"), null);
});

Deno.test("listen addresses", () => {
  assertEquals(parseListen("127.0.0.1:8470"), { hostname: "127.0.0.1", port: 8470 });
  assertEquals(parseListen("backup.example.net:443"), { hostname: "backup.example.net", port: 443 });
  assertEquals(parseListen("[::1]:8470"), { hostname: "::1", port: 8470 });
  for (
    const bad of ["8470", "host:", ":8470", "host:0", "host:65536", "::1:8470", "[host]:1", "-x:1", "a b:1"]
  ) {
    assertThrows(() => parseListen(bad));
  }
});
