import { storageConformance } from "../../../testing/mod.ts";
import local from "./mod.ts";

storageConformance("local", async () => {
  const path = await Deno.makeTempDir({ prefix: "floe-local-" });
  return { storage: local({ path: `${path}/repo` }), cleanup: () => Deno.remove(path, { recursive: true }) };
});

storageConformance("local (buffered writes only)", async () => {
  const path = await Deno.makeTempDir({ prefix: "floe-local-" });
  return {
    storage: local({ path: `${path}/repo`, directIo: false }),
    cleanup: () => Deno.remove(path, { recursive: true }),
  };
});
