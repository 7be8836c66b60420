import { assert, assertEquals } from "../../../tests/assert.ts";
import { CAP, InsertRebatcher } from "./_rebatch.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Feeds `text` in pieces of the given sizes (cycled) and returns the output. */
function run(text: string, sizes: number[] = [65536]): string {
  const bytes = enc.encode(text);
  const r = new InsertRebatcher();
  let out = "";
  const d = new TextDecoder();
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length]);
    out += d.decode(r.push(bytes.subarray(at, Math.min(bytes.length, at + n))), { stream: true });
    at += n;
  }
  return out + d.decode(r.end());
}

/** A dump as mariadb-dump writes it: header, one data section per table, rows one to a line. */
function dump(
  tables: Record<string, string[]>,
  opts: { perStatement?: number; oneLine?: boolean } = {},
): string {
  const per = opts.perStatement ?? 1000;
  let s = "-- MariaDB dump 10.19\n\n";
  for (const [t, rows] of Object.entries(tables)) {
    s += `--\n-- Table structure for table \`${t}\`\n--\n\nDROP TABLE IF EXISTS \`${t}\`;\n`;
    s += `CREATE TABLE \`${t}\` (\n  \`id\` int(11) NOT NULL\n);\n\n`;
    s += `--\n-- Dumping data for table \`${t}\`\n--\n\nLOCK TABLES \`${t}\` WRITE;\n`;
    s += `/*!40000 ALTER TABLE \`${t}\` DISABLE KEYS */;\n`;
    for (let i = 0; i < rows.length; i += per) {
      const part = rows.slice(i, i + per);
      s += opts.oneLine
        ? `INSERT INTO \`${t}\` VALUES ${part.join(",")};\n`
        : `INSERT INTO \`${t}\` VALUES\n${part.join(",\n")};\n`;
    }
    s += `/*!40000 ALTER TABLE \`${t}\` ENABLE KEYS */;\nUNLOCK TABLES;\n`;
  }
  return s + "-- Dump completed on 2026-12-07 11:00:00\n";
}

/** Rows of a dump, in order (parsed the slow, sure way: quotes and backslashes followed). */
function rowsOf(sql: string): string[] {
  const rows: string[] = [];
  for (const stmt of sql.matchAll(/^INSERT INTO `(?:[^`]|``)+` VALUES[ \n]/gm)) {
    let i = stmt.index! + stmt[0].length;
    for (;;) {
      while (sql[i] === "\n" || sql[i] === " ") i++;
      const start = i;
      let depth = 0, quote = false;
      for (;; i++) {
        const c = sql[i];
        if (quote) {
          if (c === "\\") i++;
          else if (c === "'") quote = false;
        } else if (c === "'") quote = true;
        else if (c === "(") depth++;
        else if (c === ")" && --depth === 0) break;
      }
      rows.push(sql.slice(start, ++i));
      if (sql[i] === ";") break;
      i++; // ','
    }
  }
  return rows;
}

/** The statements' texts (each from INSERT to its ';'). */
function statements(sql: string): string[] {
  return [...sql.matchAll(/^INSERT INTO [^\n]*(?:\n\([^\n]*)*;$/gm)].map((m) => m[0]);
}

const tricky = [
  "(1,'plain')",
  "(2,'a quote \\' inside')",
  "(3,'a backslash at the end \\\\')",
  "(4,'parentheses ( ) and ),( and );')",
  "(5,'escaped newline \\n and tab \\t')",
  "(6,NULL)",
  "(7,0xDEADBEEF)",
  "(8,'emoji 🚀 and Zürich')",
  "(9,'\\\\\\'')",
  "(10,'')",
];

function orders(n: number, from = 1): string[] {
  return Array.from({ length: n }, (_, k) => {
    const id = from + k;
    return `(${id},${(id * 7919) % 100000},'2020-01-01 00:00:00','paid',${(id % 1000) / 10},'note ${id}')`;
  });
}

Deno.test("rebatch: rows, their order and every byte around the data sections stay as the tool wrote them", () => {
  const rows = [...tricky, ...orders(20_000, 100)];
  for (const oneLine of [false, true]) {
    const sql = dump({ t: rows, "we``ird": tricky }, { oneLine, perStatement: 3000 });
    const out = run(sql);
    assertEquals(rowsOf(out), rowsOf(sql));
    assertEquals(rowsOf(out).length, rows.length + tricky.length);
    const outside = (s: string) => s.replace(/^INSERT INTO [^;]*(?:;(?!\n)[^;]*)*;\n/gm, "");
    assertEquals(outside(out), outside(sql));
    assert(statements(out).length > 1, "the 20,000 rows are more than one statement");
  }
});

Deno.test("rebatch: the output does not depend on how the input is cut into pieces", () => {
  const sql = dump({ t: [...tricky, ...orders(3000)], u: tricky }, { perStatement: 700 });
  const whole = run(sql, [1 << 30]);
  for (const sizes of [[1], [2, 3], [7, 1, 64], [4096], [65536, 13]]) {
    assertEquals(run(sql, sizes), whole, `pieces ${sizes}`);
  }
  const oneLine = dump({ t: [...tricky, ...orders(3000)] }, { perStatement: 700, oneLine: true });
  assertEquals(run(oneLine, [1, 5, 17]), run(oneLine, [1 << 30]));
});

Deno.test("rebatch: statements end where the rows say, so a change moves only the breaks next to it", () => {
  const before = orders(100_000);
  const after = [...before];
  after.splice(100, 50); // 50 rows deleted near the start
  after[50_000] = after[50_000].replace("'paid'", "'refunded'");
  after.push(...orders(500, 100_000));
  // The tool's breaks come every N rows: after the deletion every one of them moved.
  const toolBefore = new Set(statements(dump({ t: before }, { perStatement: 2000 })));
  const toolAfter = statements(dump({ t: after }, { perStatement: 2000 }));
  assert(toolAfter.filter((s) => !toolBefore.has(s)).length >= toolAfter.length - 2);
  // Regrouped, only the statements holding a change (and the last, which grew) differ.
  const ours = new Set(statements(run(dump({ t: before }, { perStatement: 2000 }))));
  const oursAfter = statements(run(dump({ t: after }, { perStatement: 2000 })));
  const changed = oursAfter.filter((s) => !ours.has(s)).length;
  assert(oursAfter.length >= 20, `${oursAfter.length} statements`);
  assert(changed <= 4, `${changed} of ${oursAfter.length} statements changed`);
});

Deno.test("rebatch: no statement passes CAP by more than its last row; a huge row is a statement of its own", () => {
  const big = `(1,'${"x".repeat(3 * CAP)}')`;
  const sql = dump({ t: [...orders(30_000, 2), big, ...orders(10, 40_000)] }, { perStatement: 50_000 });
  const out = run(sql);
  assertEquals(rowsOf(out), rowsOf(sql));
  for (const s of statements(out)) {
    const rows = rowsOf(s + "\n");
    const last = rows[rows.length - 1].length;
    assert(enc.encode(s).length <= CAP + last + 64, `a statement of ${s.length} bytes`);
  }
});

Deno.test("rebatch: INSERTs outside a data section (trigger and routine bodies) and forms not the tools' pass unchanged", () => {
  const trigger = "DELIMITER ;;\n/*!50003 CREATE*/ /*!50003 TRIGGER tr AFTER INSERT ON t FOR EACH ROW\n" +
    "INSERT INTO `t` VALUES\n(1,'a'),\n(2,'b');\nINSERT INTO `t` VALUES\n(3,'c'); */;;\nDELIMITER ;\n";
  const sql = dump({ t: orders(10) }).replace("-- Dump completed", trigger + "-- Dump completed");
  assertEquals(rowsOf(run(sql)), rowsOf(sql));
  assert(run(sql).includes(trigger), "the trigger's body is byte for byte the tool's");
  // A data section whose INSERT is not a plain list of rows goes through as it is from there on.
  const odd = dump({ t: orders(5) }).replace(
    ");\n/*!40000 ALTER TABLE `t` ENABLE",
    ") ON DUPLICATE KEY UPDATE id=id;\n/*!40000 ALTER TABLE `t` ENABLE",
  );
  assertEquals(run(odd), odd);
  // Bytes that are not a dump at all.
  const noise = "INSERT INTO `t` VALUES\n(1,'a'),\nnot a row\n" + "\x00\xff".repeat(100);
  assertEquals(run(noise), noise);
  assertEquals(dec.decode(new InsertRebatcher().end()), "");
});
