/**
 * A small stand-in for `floe serve` so the web UI can be built and tested before the server lands: a Hono
 * app that mounts the real `ui()` at `/` and answers the `/api/v1` routes of issue 21 from memory (jobs,
 * runs whose event streams emit progress over a few seconds, a repository with 1,000 snapshots, a tree
 * with a 10,000-entry directory, file content, tar, restore, diff). The UI tests and bench only use the
 * HTTP contract and {@link UiTestServer}, so `startServer()` can be swapped for the real server.
 *
 * @example
 * ```ts
 * import { startServer } from "./_api_stub.ts";
 * const s = await startServer();
 * const res = await fetch(`${s.url}/api/v1/jobs`, { headers: { authorization: `Bearer ${s.token}` } });
 * await s.close();
 * ```
 * @module
 */
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import ui from "../../server/ui/mod.ts";

/** What the UI tests need to know about the server they drive. */
export interface UiTestServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** The bearer token. */
  token: string;
  /** A job whose run finishes (with progress events) within a few seconds. */
  job: string;
  /** A job whose run lasts long enough to be cancelled. */
  longJob: string;
  /** The repository holding the snapshots. */
  repository: string;
  /** A directory, two levels below the root of the newest snapshot, then a file in it: `[dir1, dir2, file]`. */
  browse: [string, string, string];
  /** A directory of the newest snapshot to restore, as an absolute path. */
  restoreFolder: string;
  /** A restore target the server accepts. */
  restoreTarget: string;
  /** The directory with 10,000 entries, as an absolute path. */
  bigDir: string;
  /** Strings only an authenticated client may ever see (job, repository, host names, snapshot ids). */
  privateStrings: string[];
  /** Stops the server. */
  close(): Promise<void>;
}

interface Run {
  id: string;
  job: string | null;
  repository: string;
  kind: string;
  status: "queued" | "running" | "succeeded" | "failed" | "cancelled";
  started: string | null;
  finished: string | null;
  snapshot_id: string | null;
  summary: Record<string, number> | null;
  error: string | null;
  events: { id: number; data: Record<string, unknown> }[];
  log: string[];
  wake: Set<() => void>;
  timer?: ReturnType<typeof setInterval>;
}

const REPO = "vault-east";
const JOB = "photos-nightly";
const LONG = "long-export";
const ROOT = "/srv/photos";
const BIG = `${ROOT}/2024`;
const DAY = 86_400_000;

function hex(n: number, len = 64): string {
  let x = (n * 2654435761 + 0x9e3779b9) >>> 0, s = "";
  while (s.length < len) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    s += x.toString(16).padStart(8, "0");
  }
  return s.slice(0, len);
}

/** The bytes of a file of the fake tree: deterministic, binary (every byte value occurs). */
function fileBytes(path: string): Uint8Array {
  let seed = 2166136261;
  for (const c of path) seed = Math.imul(seed ^ c.charCodeAt(0), 16777619);
  const out = new Uint8Array(3000 + ((seed >>> 0) % 5000));
  for (let i = 0; i < out.length; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    out[i] = seed & 0xff;
  }
  return out;
}

interface Entry {
  name: string;
  type: "dir" | "file";
  size: number;
  mtime: string;
  mode: number;
}

const T0 = Date.parse("2024-05-01T03:00:00Z");
const dir = (name: string): Entry => ({
  name,
  type: "dir",
  size: 0,
  mtime: new Date(T0).toISOString(),
  mode: 0o755,
});
const file = (parent: string, name: string): Entry => ({
  name,
  type: "file",
  size: fileBytes(`${parent}/${name}`).length,
  mtime: new Date(T0 - name.length * 60_000).toISOString(),
  mode: 0o644,
});

const trees = new Map<string, Entry[] | null>();
/** The fake tree, the same for every snapshot (memoized: the 10,000 sizes cost a hash each). */
function tree(path: string): Entry[] | null {
  if (!trees.has(path)) trees.set(path, makeTree(path));
  return trees.get(path)!;
}

function makeTree(path: string): Entry[] | null {
  switch (path) {
    case "/":
      return [dir("srv")];
    case "/srv":
      return [dir("photos"), dir("mail")];
    case "/srv/mail":
      return [file("/srv/mail", "inbox.mbox")];
    case ROOT:
      return [dir("2023"), dir("2024"), file(ROOT, "readme.txt"), file(ROOT, "index.db")];
    case `${ROOT}/2023`:
      return Array.from({ length: 5 }, (_, i) => file(`${ROOT}/2023`, `trip-${i}.jpg`));
    case BIG:
      return Array.from({ length: 10_000 }, (_, i) => file(BIG, `img-${String(i).padStart(5, "0")}.jpg`));
  }
  return null;
}

/** A ustar archive of the regular files below `path` (enough for the UI's "download folder"). */
function tar(path: string): Uint8Array {
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  const walk = (p: string, rel: string) => {
    for (const e of tree(p) ?? []) {
      const child = `${p === "/" ? "" : p}/${e.name}`;
      if (e.type === "dir") walk(child, `${rel}${e.name}/`);
      else {
        const body = fileBytes(child);
        const h = new Uint8Array(512);
        const put = (s: string, off: number) => h.set(enc.encode(s), off);
        put(`${rel}${e.name}`.slice(0, 99), 0);
        put("0000644\0", 100);
        put("0000000\0", 108);
        put("0000000\0", 116);
        put(body.length.toString(8).padStart(11, "0") + "\0", 124);
        put(Math.floor(T0 / 1000).toString(8).padStart(11, "0") + "\0", 136);
        put("        ", 148);
        put("0", 156);
        put("ustar\x0000", 257);
        put(h.reduce((a, b) => a + b, 0).toString(8).padStart(6, "0") + "\0 ", 148);
        parts.push(h, body, new Uint8Array((512 - (body.length % 512)) % 512));
      }
    }
  };
  walk(path, "");
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function safePath(p: string | undefined): string | null {
  if (!p || !p.startsWith("/") || p.includes("\0") || p.split("/").some((s) => s === ".." || s === ".")) {
    return null;
  }
  return p.length > 1 ? p.replace(/\/+$/, "") : p;
}

/**
 * Starts the stub on a random loopback port.
 *
 * @example
 * ```ts
 * import { startServer } from "./_api_stub.ts";
 * const s = await startServer();
 * await s.close();
 * ```
 */
export async function startServer(): Promise<UiTestServer> {
  const token = crypto.randomUUID().replaceAll("-", "");
  const restoreRoot = await Deno.makeTempDir({ prefix: "floe-ui-restore-" });
  const now = Date.now();
  const snapshots = Array.from({ length: 1000 }, (_, i) => {
    const id = hex(i + 1);
    const host = i % 3 ? "atlas-host" : "boreal-host";
    return {
      id,
      short_id: id.slice(0, 8),
      time: new Date(now - (1000 - i) * 6 * 3_600_000).toISOString(),
      host,
      username: "root",
      paths: i % 3 ? [ROOT] : ["/srv/mail"],
      tags: i % 7 ? ["nightly"] : ["nightly", "weekly"],
      parent: i ? hex(i) : null,
      tree: hex(i + 5000),
      summary: {
        total_files_processed: 10_012,
        total_bytes_processed: 52_000_000 + i * 1000,
        data_added: (i * 7919) % 4_000_000,
        total_duration: 12.5,
      },
    };
  });
  const runs: Run[] = [];
  let seq = 0;
  const newRun = (
    job: string | null,
    kind: string,
    status: Run["status"],
    started: number,
    secs = 60,
  ): Run => {
    const r: Run = {
      id: `run-${String(++seq).padStart(5, "0")}`,
      job,
      repository: REPO,
      kind,
      status,
      started: new Date(started).toISOString(),
      finished: status === "running" || status === "queued"
        ? null
        : new Date(started + secs * 1000).toISOString(),
      snapshot_id: status === "succeeded" && kind === "backup" ? snapshots[999].id : null,
      summary: null,
      error: status === "failed" ? "storage unreachable" : null,
      events: [],
      log: [`${new Date(started).toISOString()} ${kind} started`],
      wake: new Set(),
    };
    runs.push(r);
    return r;
  };
  for (let d = 29; d >= 1; d--) {
    newRun(JOB, "backup", d === 4 || d === 11 ? "failed" : "succeeded", now - d * DAY);
    if (d % 2) {
      newRun("mail-archive", "backup", d === 9 ? "cancelled" : "succeeded", now - d * DAY - 3_600_000);
    }
  }
  newRun(null, "check", "succeeded", now - 2 * DAY).summary = { errors: 0 };
  const paused = new Set<string>();
  const jobs = [
    {
      name: JOB,
      repository: REPO,
      schedule: "0 3 * * *",
      paths: [ROOT],
      tags: ["nightly"],
      exclude: ["*.tmp"],
      keep: { daily: 7, weekly: 4 },
      retries: 3,
      timeout: "4h",
      next: now + 5 * 3_600_000,
    },
    {
      name: "mail-archive",
      repository: REPO,
      schedule: "0 2 * * *",
      paths: ["/srv/mail"],
      tags: ["nightly"],
      next: now - 2 * 3_600_000,
    },
    { name: LONG, repository: REPO, schedule: null, paths: ["/srv/export"], tags: [], next: null },
  ];
  const lastRun = (name: string) => runs.filter((r) => r.job === name).at(-1) ?? null;

  const emit = (r: Run, data: Record<string, unknown>) => {
    r.events.push({ id: r.events.length + 1, data: { run: r.id, op: r.kind, ...data } });
    for (const w of r.wake) w();
  };
  const finish = (r: Run, status: Run["status"], error: string | null = null) => {
    if (r.status !== "running" && r.status !== "queued") return;
    clearInterval(r.timer);
    r.status = status;
    r.finished = new Date().toISOString();
    r.error = error;
    r.log.push(`${r.finished} ${r.kind} ${status}${error ? `: ${error}` : ""}`);
    if (status === "succeeded" && r.kind === "backup") r.snapshot_id = snapshots[999].id;
    emit(
      r,
      status === "succeeded"
        ? { type: "done", snapshotId: r.snapshot_id }
        : { type: "error", message: error ?? status },
    );
  };
  /** A run that emits `steps` progress events `everyMs` apart, then succeeds. */
  const start = (r: Run, steps: number, everyMs: number) => {
    const filesTotal = 1200, bytesTotal = 480 * 1024 * 1024;
    r.status = "running";
    emit(r, { type: "start", filesTotal, bytesTotal });
    let i = 0;
    r.timer = setInterval(() => {
      i++;
      if (i === 3) {
        emit(r, { type: "warning", path: `${ROOT}/locked.db`, message: "permission denied" });
        r.log.push(`warning ${ROOT}/locked.db: permission denied`);
      }
      emit(r, {
        type: "progress",
        files: Math.round((filesTotal * i) / steps),
        bytes: Math.round((bytesTotal * i) / steps),
        filesTotal,
        bytesTotal,
        rate: (bytesTotal / steps) * (1000 / everyMs),
        path: `${BIG}/img-${String(i * 37).padStart(5, "0")}.jpg`,
      });
      if (i >= steps) finish(r, "succeeded");
    }, everyMs);
  };

  const api = new Hono();
  api.use("*", async (c, next) => {
    if (c.req.header("authorization") !== `Bearer ${token}`) {
      return c.json({ error: { code: "unauthorized", message: "missing or wrong bearer token" } }, 401);
    }
    return await next();
  });
  const notFound = (what: string) => ({ error: { code: "not_found", message: `no such ${what}` } });
  const runView = ({ events: _e, log: _l, wake: _w, timer: _t, ...r }: Run) => r;

  api.get("/jobs", (c) =>
    c.json(jobs.map(({ next, ...j }) => {
      const l = lastRun(j.name);
      return {
        ...j,
        paused: paused.has(j.name),
        next_run: next && !paused.has(j.name) ? new Date(next).toISOString() : null,
        last_run: l && { id: l.id, status: l.status, finished: l.finished, snapshot_id: l.snapshot_id },
      };
    })));
  api.post("/jobs/:name/runs", (c) => {
    const name = c.req.param("name");
    if (!jobs.some((j) => j.name === name)) return c.json(notFound("job"), 404);
    const r = newRun(name, "backup", "queued", Date.now());
    if (name === LONG) start(r, 600, 200);
    else start(r, 12, 250);
    return c.json({ id: r.id, status: r.status }, 202);
  });
  for (const action of ["pause", "resume"]) {
    api.post(`/jobs/:name/${action}`, (c) => {
      const name = c.req.param("name");
      if (!jobs.some((j) => j.name === name)) return c.json(notFound("job"), 404);
      if (action === "pause") paused.add(name);
      else paused.delete(name);
      return c.json({ name, paused: paused.has(name) });
    });
  }
  api.get("/runs", (c) => {
    const { job, status } = c.req.query();
    const limit = Math.min(1000, Math.max(1, Number(c.req.query("limit") ?? 100) || 100));
    return c.json(
      runs.filter((r) => (!job || r.job === job) && (!status || r.status === status)).reverse().slice(
        0,
        limit,
      )
        .map(runView),
    );
  });
  const findRun = (id: string) => runs.find((r) => r.id === id);
  api.get("/runs/:id", (c) => {
    const r = findRun(c.req.param("id"));
    return r ? c.json(runView(r)) : c.json(notFound("run"), 404);
  });
  api.delete("/runs/:id", (c) => {
    const r = findRun(c.req.param("id"));
    if (!r) return c.json(notFound("run"), 404);
    finish(r, "cancelled", "cancelled by request");
    return c.json(runView(r), 202);
  });
  api.get("/runs/:id/log", (c) => {
    const r = findRun(c.req.param("id"));
    return r ? c.text(r.log.join("\n") + "\n") : c.json(notFound("run"), 404);
  });
  api.get("/runs/:id/events", (c) => {
    const r = findRun(c.req.param("id"));
    if (!r) return c.json(notFound("run"), 404);
    let next = Number(c.req.header("last-event-id") ?? 0) || 0;
    return streamSSE(c, async (s) => {
      for (;;) {
        while (next < r.events.length) {
          const e = r.events[next++];
          await s.writeSSE({ id: String(e.id), data: JSON.stringify(e.data) });
        }
        if (r.status !== "running" && r.status !== "queued") return;
        await new Promise<void>((res) => {
          const w = () => (r.wake.delete(w), res());
          r.wake.add(w);
          s.onAbort(w);
        });
        if (s.aborted) return;
      }
    });
  });
  api.get("/repositories", (c) =>
    c.json([{
      name: REPO,
      location: "/srv/backup/vault-east",
      status: "ok",
      last_check: runView(runs.find((r) => r.kind === "check")!),
    }]));
  const repo = new Hono();
  repo.use("*", async (c, next) => {
    if (c.req.param("name") !== REPO) return c.json(notFound("repository"), 404);
    return await next();
  });
  const findSnap = (id: string) =>
    snapshots.find((s) => s.id === id || (id.length >= 4 && s.id.startsWith(id)));
  repo.get("/snapshots", (c) => c.json(snapshots));
  repo.get("/snapshots/:id", (c) => {
    const s = findSnap(c.req.param("id"));
    return s ? c.json(s) : c.json(notFound("snapshot"), 404);
  });
  repo.get("/snapshots/:id/tree", (c) => {
    const path = safePath(c.req.query("path") ?? "/");
    const entries = findSnap(c.req.param("id")) && path && tree(path);
    return entries ? c.json(entries) : c.json(notFound("directory"), 404);
  });
  repo.get("/snapshots/:id/content", (c) => {
    const path = safePath(c.req.query("path"));
    if (!findSnap(c.req.param("id")) || !path) return c.json(notFound("path"), 404);
    if (tree(path)) {
      return c.body(tar(path).slice().buffer as ArrayBuffer, 200, { "content-type": "application/x-tar" });
    }
    const parent = path.slice(0, path.lastIndexOf("/")) || "/";
    if (!tree(parent)?.some((e) => `${parent === "/" ? "" : parent}/${e.name}` === path)) {
      return c.json(notFound("path"), 404);
    }
    return c.body(fileBytes(path).slice().buffer as ArrayBuffer, 200, {
      "content-type": "application/octet-stream",
    });
  });
  repo.get("/diff", (c) => {
    const { from, to } = c.req.query();
    if (!from || !to || !findSnap(from) || !findSnap(to)) return c.json(notFound("snapshot"), 404);
    return c.json({
      changes: [
        { modifier: "+", path: `${BIG}/img-10000.jpg`, after: file(BIG, "img-10000.jpg") },
        {
          modifier: "M",
          path: `${ROOT}/index.db`,
          before: file(ROOT, "index.db"),
          after: file(ROOT, "index.db"),
        },
        { modifier: "-", path: `${ROOT}/2023/old.jpg` },
      ],
      stats: {
        added: { files: 1, dirs: 0, others: 0, bytes: 4000 },
        removed: { files: 1, dirs: 0, others: 0, bytes: 3000 },
        changed: 1,
        metadata: 0,
      },
    });
  });
  repo.post("/restore", async (c) => {
    const body = await c.req.json().catch(() => null) as Record<string, unknown> | null;
    const target = typeof body?.target === "string" ? safePath(body.target) : null;
    if (
      !body || typeof body.snapshot !== "string" || !findSnap(body.snapshot) || typeof body.path !== "string"
    ) {
      return c.json({ error: { code: "bad_request", message: "snapshot and path are required" } }, 400);
    }
    if (!target || !(target === restoreRoot || target.startsWith(`${restoreRoot}/`))) {
      return c.json({
        error: { code: "forbidden", message: `target is outside the restore roots (${restoreRoot})` },
      }, 403);
    }
    const r = newRun(null, "restore", "queued", Date.now());
    start(r, 4, 200);
    return c.json({ id: r.id, status: r.status }, 202);
  });

  const app = new Hono();
  app.route("/api/v1/repositories/:name", repo);
  app.route("/api/v1", api);
  app.route("/", ui({ apiBase: "/api/v1" }));
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    app.fetch,
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    token,
    job: JOB,
    longJob: LONG,
    repository: REPO,
    browse: ["/srv", ROOT, `${ROOT}/readme.txt`],
    restoreFolder: `${ROOT}/2023`,
    restoreTarget: `${restoreRoot}/out`,
    bigDir: BIG,
    privateStrings: [
      JOB,
      LONG,
      "mail-archive",
      REPO,
      "atlas-host",
      "boreal-host",
      snapshots[999].short_id,
      ROOT,
    ],
    async close() {
      for (const r of runs) clearInterval(r.timer);
      for (const r of runs) for (const w of r.wake) w();
      ac.abort();
      await server.finished;
      await Deno.remove(restoreRoot, { recursive: true });
    },
  };
}
