/**
 * The example third-party plugins pass the same conformance suites as the built-ins.
 */
import { DatabaseSync } from "node:sqlite";
import { sourceConformance, storageConformance, transformConformance } from "../../testing/mod.ts";
import flat from "./flat_storage.ts";
import brotli from "./brotli.ts";
import sqlite from "./sqlite_source.ts";

storageConformance("example flat_storage", async () => {
  const dir = await Deno.makeTempDir({ prefix: "floe-flat-" });
  return {
    storage: flat({ location: `flat:${dir}/repo` }),
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
});

transformConformance("example brotli", () => brotli({ quality: 4 }));

sourceConformance("example sqlite_source", async () => {
  const dir = await Deno.makeTempDir({ prefix: "floe-sqlite-src-" });
  for (const name of ["b.db", "a.db"]) {
    const db = new DatabaseSync(`${dir}/${name}`);
    db.exec("PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
    const insert = db.prepare("INSERT INTO t(v) VALUES (?)");
    for (let i = 0; i < 2000; i++) insert.run(`${name} row ${i}`);
    db.close();
  }
  return {
    source: sqlite({ paths: [`${dir}/b.db`, `${dir}/a.db`] }),
    broken: sqlite({ paths: [`${dir}/a.db`, `${dir}/missing.db`] }),
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
});
