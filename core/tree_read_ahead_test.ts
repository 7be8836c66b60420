import { assert, assertEquals } from "../tests/assert.ts";
import { Catalog } from "./catalog/catalog.ts";
import { TreeReadAhead } from "./tree_read_ahead.ts";

const file = (name: string) => ({ name, type: "file", mode: 0o644, mtime: 1, size: 0, content: [] });
const dir = (name: string, subtree: string) => ({ name, type: "dir", mode: 0o755, mtime: 1, subtree });

/** root → a (→ a1), x, b; `bad` is not JSON. */
function catalogWithTrees(): { catalog: Catalog; json: Record<string, string> } {
  const catalog = Catalog.open(":memory:");
  const json: Record<string, string> = {
    root: JSON.stringify({ nodes: [dir("a", "A"), file("x"), dir("b", "B"), dir("c", "bad")] }),
    A: JSON.stringify({ nodes: [dir("a1", "A1")] }),
    A1: JSON.stringify({ nodes: [file("y")] }),
    B: JSON.stringify({ nodes: [file("z")] }),
    bad: "{not json",
  };
  catalog.transaction(() => {
    for (const [id, text] of Object.entries(json)) catalog.putTree(id, text);
  });
  return { catalog, json };
}

const turns = () => new Promise((r) => setTimeout(r, 30));

Deno.test("tree read-ahead: reads the texts of the trees below the root, hands each out once, parses none", async () => {
  const { catalog, json } = catalogWithTrees();
  try {
    const ahead = new TreeReadAhead(catalog, "root");
    assertEquals(ahead.size, 0, "nothing is read in the constructor's task");
    await turns();
    assertEquals(ahead.size, 5, "root, A, A1, B and the text that is not JSON (checked when taken)");
    assertEquals(ahead.take("A"), json.A);
    assertEquals(ahead.take("A"), undefined, "handed out once");
    assertEquals(ahead.take("bad"), json.bad);
    ahead.close();
    assertEquals(ahead.size, 0);
  } finally {
    catalog.close();
  }
});

Deno.test("tree read-ahead: depth first in node order, up to its budget; waits for `after`; stop keeps what it holds", async () => {
  const { catalog, json } = catalogWithTrees();
  try {
    // A budget the root and A fill: A1 (A's child) comes before B, and nothing after the budget.
    const budget = new TreeReadAhead(catalog, "root", { maxChars: json.root.length + 1 });
    await turns();
    assertEquals(budget.size, 2);
    assert(budget.take("root") && budget.take("A"));
    budget.close();

    let go!: () => void;
    const after = new Promise<void>((r) => go = r);
    const waiting = new TreeReadAhead(catalog, "root", { after });
    await turns();
    assertEquals(waiting.size, 0, "waits for `after`");
    go();
    await turns();
    assertEquals(waiting.size, 5);
    waiting.stop();
    assertEquals(waiting.size, 5, "stop keeps what is held");
    waiting.close();

    const stopped = new TreeReadAhead(catalog, "root");
    stopped.stop();
    await turns();
    assertEquals(stopped.size, 0, "stopped before its first slice: nothing read");
  } finally {
    catalog.close();
  }
});
