/**
 * The server's own database (node:sqlite, WAL, a 0600 file beside the config): runs, the events each
 * run emitted (replayed to late SSE clients), their log lines, paused jobs and a few figures the metrics
 * read (never scanning a repository on a scrape). History older than `history-days` is dropped. A run a
 * crash left `queued` or `running` is marked failed when the database opens.
 *
 * @example
 * ```ts
 * import { RunsDb } from "./runs_db.ts";
 * const db = RunsDb.open(":memory:");
 * const run = db.create({ job: "home", kind: "backup", repository: "main" });
 * db.close();
 * ```
 * @module
 */
import { makePrivateDir } from "../mod.ts";
import { DatabaseSync, type StatementSync } from "node:sqlite";

/** A run's state. */
export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";
/** What a run does. */
export type RunKind = "backup" | "restore" | "check" | "prune" | "forget";

/** A run as stored. */
export interface RunRecord {
  /** Run id. */
  id: string;
  /** The job it runs, or null for a one-off operation. */
  job: string | null;
  /** What it does. */
  kind: RunKind;
  /** Repository name. */
  repository: string;
  /** State. */
  status: RunStatus;
  /** When it was created (queued), ms. */
  createdMs: number;
  /** When it started, ms. */
  startedMs: number | null;
  /** When it ended, ms. */
  finishedMs: number | null;
  /** The snapshot a backup made. */
  snapshotId: string | null;
  /** The operation's figures. */
  summary: Record<string, unknown> | null;
  /** One-line error. */
  error: string | null;
  /** Stable error code. */
  errorCode: string | null;
}

/** A stored event: its sequence number in the run and its JSON. */
export interface StoredEvent {
  /** 1, 2, … within the run (the SSE id). */
  seq: number;
  /** The event. */
  data: Record<string, unknown>;
  /** The event as stored (JSON). */
  json: string;
}

interface Row {
  id: string;
  job: string | null;
  kind: RunKind;
  repository: string;
  status: RunStatus;
  created_ms: number;
  started_ms: number | null;
  finished_ms: number | null;
  snapshot_id: string | null;
  summary: string | null;
  error: string | null;
  error_code: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, job TEXT, kind TEXT NOT NULL, repository TEXT NOT NULL, status TEXT NOT NULL,
  created_ms INTEGER NOT NULL, started_ms INTEGER, finished_ms INTEGER, snapshot_id TEXT, summary TEXT,
  error TEXT, error_code TEXT);
CREATE INDEX IF NOT EXISTS runs_job ON runs (job, created_ms);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_ms);
CREATE TABLE IF NOT EXISTS events (run_id TEXT NOT NULL, seq INTEGER NOT NULL, json TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logs (run_id TEXT NOT NULL, seq INTEGER NOT NULL, time_ms INTEGER NOT NULL,
  line TEXT NOT NULL, PRIMARY KEY (run_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS paused (job TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS repository_figures (repository TEXT PRIMARY KEY, snapshots INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

const DAY_MS = 86_400_000;

function toRecord(r: Row): RunRecord {
  return {
    id: r.id,
    job: r.job,
    kind: r.kind,
    repository: r.repository,
    status: r.status,
    createdMs: r.created_ms,
    startedMs: r.started_ms,
    finishedMs: r.finished_ms,
    snapshotId: r.snapshot_id,
    summary: r.summary ? JSON.parse(r.summary) : null,
    error: r.error,
    errorCode: r.error_code,
  };
}

/** The runs database. */
export class RunsDb {
  /** The database. */
  readonly db: DatabaseSync;
  #q = new Map<string, StatementSync>();
  #seq = new Map<string, { events: number; logs: number }>();

  private constructor(db: DatabaseSync) {
    this.db = db;
  }

  /** Opens (creating) the database; runs a crash left unfinished are marked failed. */
  static open(path: string, options: { now?: number } = {}): RunsDb {
    if (path !== ":memory:") {
      makePrivateDir(path.slice(0, path.lastIndexOf("/")) || "/");
      try {
        Deno.writeFileSync(path, new Uint8Array(), { mode: 0o600, createNew: true });
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
      Deno.chmodSync(path, 0o600);
    }
    const db = new DatabaseSync(path);
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
    db.exec(SCHEMA);
    const runs = new RunsDb(db);
    runs.#stmt(
      `UPDATE runs SET status = 'failed', finished_ms = ?, error_code = 'interrupted',
       error = 'the server stopped while this run was ' || status WHERE status IN ('queued', 'running')`,
    ).run(options.now ?? Date.now());
    return runs;
  }

  #stmt(sql: string): StatementSync {
    let s = this.#q.get(sql);
    if (!s) this.#q.set(sql, s = this.db.prepare(sql));
    return s;
  }

  /** Closes the database. */
  close(): void {
    this.db.close();
  }

  /** Records a new queued run. */
  create(run: { job: string | null; kind: RunKind; repository: string; now?: number }): RunRecord {
    const id = [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, "0"))
      .join("");
    this.#stmt(
      "INSERT INTO runs (id, job, kind, repository, status, created_ms) VALUES (?, ?, ?, ?, 'queued', ?)",
    ).run(id, run.job, run.kind, run.repository, run.now ?? Date.now());
    this.#seq.set(id, { events: 0, logs: 0 });
    return this.get(id)!;
  }

  /** A run, or undefined. */
  get(id: string): RunRecord | undefined {
    const r = this.#stmt("SELECT * FROM runs WHERE id = ?").get(id) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  /** Runs, newest first, filtered. */
  list(filter: { job?: string; status?: RunStatus; limit?: number } = {}): RunRecord[] {
    const rows = this.#stmt(
      `SELECT * FROM runs WHERE (?1 IS NULL OR job = ?1) AND (?2 IS NULL OR status = ?2)
       ORDER BY created_ms DESC, rowid DESC LIMIT ?3`,
    ).all(filter.job ?? null, filter.status ?? null, filter.limit ?? 100) as unknown as Row[];
    return rows.map(toRecord);
  }

  /** Marks a run started. */
  started(id: string, now = Date.now()): void {
    this.#stmt("UPDATE runs SET status = 'running', started_ms = ? WHERE id = ?").run(now, id);
  }

  /** Records a run's end. */
  finished(id: string, end: {
    status: "succeeded" | "failed" | "cancelled";
    snapshotId?: string | null;
    summary?: Record<string, unknown> | null;
    error?: string | null;
    errorCode?: string | null;
    now?: number;
  }): void {
    this.#stmt(
      `UPDATE runs SET status = ?, finished_ms = ?, snapshot_id = coalesce(?, snapshot_id), summary = ?,
       error = ?, error_code = ? WHERE id = ?`,
    ).run(
      end.status,
      end.now ?? Date.now(),
      end.snapshotId ?? null,
      end.summary ? JSON.stringify(end.summary) : null,
      end.error ?? null,
      end.errorCode ?? null,
      id,
    );
  }

  #counters(id: string) {
    let c = this.#seq.get(id);
    if (!c) {
      const e = this.#stmt("SELECT coalesce(max(seq), 0) AS n FROM events WHERE run_id = ?").get(id) as {
        n: number;
      };
      const l = this.#stmt("SELECT coalesce(max(seq), 0) AS n FROM logs WHERE run_id = ?").get(id) as {
        n: number;
      };
      this.#seq.set(id, c = { events: e.n, logs: l.n });
    }
    return c;
  }

  /** Stores an event of a run (`json`: `data` serialised, when the caller has it); returns its sequence number. */
  addEvent(id: string, data: Record<string, unknown>, json = JSON.stringify(data)): number {
    const c = this.#counters(id);
    const seq = ++c.events;
    this.#stmt("INSERT INTO events (run_id, seq, json) VALUES (?, ?, ?)").run(id, seq, json);
    return seq;
  }

  /** A run's events after `afterSeq`. */
  events(id: string, afterSeq = 0): StoredEvent[] {
    return (this.#stmt("SELECT seq, json FROM events WHERE run_id = ? AND seq > ? ORDER BY seq").all(
      id,
      afterSeq,
    ) as { seq: number; json: string }[]).map((r) => ({
      seq: r.seq,
      data: JSON.parse(r.json),
      json: r.json,
    }));
  }

  /** Appends lines to a run's log. */
  log(id: string, text: string, now = Date.now()): void {
    const c = this.#counters(id);
    for (const line of text.replace(/\n$/, "").split("\n")) {
      this.#stmt("INSERT INTO logs (run_id, seq, time_ms, line) VALUES (?, ?, ?, ?)").run(
        id,
        ++c.logs,
        now,
        line,
      );
    }
  }

  /** A run's log, one line per entry, each with its time. */
  logLines(id: string): { timeMs: number; line: string }[] {
    return (this.#stmt("SELECT time_ms, line FROM logs WHERE run_id = ? ORDER BY seq").all(id) as {
      time_ms: number;
      line: string;
    }[]).map((r) => ({ timeMs: r.time_ms, line: r.line }));
  }

  /** Drops runs (with their events and logs) that ended more than `days` days ago. */
  expire(days: number, now = Date.now()): number {
    const cutoff = now - days * DAY_MS;
    const ids = (this.#stmt(
      "SELECT id FROM runs WHERE finished_ms IS NOT NULL AND finished_ms < ?",
    ).all(cutoff) as { id: string }[]).map((r) => r.id);
    this.db.exec("BEGIN");
    try {
      for (const id of ids) {
        this.#stmt("DELETE FROM events WHERE run_id = ?").run(id);
        this.#stmt("DELETE FROM logs WHERE run_id = ?").run(id);
        this.#stmt("DELETE FROM runs WHERE id = ?").run(id);
        this.#seq.delete(id);
      }
      this.db.exec("COMMIT");
    } catch (e) {
      this.db.exec("ROLLBACK");
      throw e;
    }
    return ids.length;
  }

  /** Paused jobs. */
  paused(): Set<string> {
    return new Set((this.#stmt("SELECT job FROM paused").all() as { job: string }[]).map((r) => r.job));
  }

  /** Pauses or resumes a job. */
  setPaused(job: string, paused: boolean): void {
    if (paused) this.#stmt("INSERT OR IGNORE INTO paused (job) VALUES (?)").run(job);
    else this.#stmt("DELETE FROM paused WHERE job = ?").run(job);
  }

  /** Records a repository's snapshot count (after a run that changed it). */
  setSnapshotCount(repository: string, count: number, now = Date.now()): void {
    this.#stmt(
      "INSERT INTO repository_figures VALUES (?, ?, ?) ON CONFLICT (repository) DO UPDATE SET snapshots = ?2, updated_ms = ?3",
    ).run(repository, count, now);
  }

  /** Snapshot counts last recorded. */
  snapshotCounts(): Map<string, number> {
    return new Map(
      (this.#stmt("SELECT repository, snapshots FROM repository_figures").all() as {
        repository: string;
        snapshots: number;
      }[]).map((r) => [r.repository, r.snapshots]),
    );
  }

  /** The last run of each job (any status), or of each kind of one repository. */
  lastRuns(filter: { status?: RunStatus } = {}): Map<string, RunRecord> {
    const rows = this.#stmt(
      `SELECT r.* FROM runs r JOIN (SELECT job, max(created_ms) AS m FROM runs
         WHERE job IS NOT NULL AND (?1 IS NULL OR status = ?1) AND status NOT IN ('queued', 'running')
         GROUP BY job) l
       ON r.job = l.job AND r.created_ms = l.m AND (?1 IS NULL OR r.status = ?1)`,
    ).all(filter.status ?? null) as unknown as Row[];
    return new Map(rows.map((r) => [r.job!, toRecord(r)]));
  }

  /** The last finished run of a kind on a repository. */
  lastOf(repository: string, kind: RunKind): RunRecord | undefined {
    const r = this.#stmt(
      `SELECT * FROM runs WHERE repository = ? AND kind = ? AND status IN ('succeeded', 'failed')
       ORDER BY created_ms DESC LIMIT 1`,
    ).get(repository, kind) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  /** When each job's newest run that is running or succeeded started, by job (for overdue). */
  lastGoodStarts(): Map<string, number> {
    const rows = this.#stmt(
      `SELECT job, max(started_ms) AS m FROM runs WHERE job IS NOT NULL AND started_ms IS NOT NULL
         AND status IN ('running', 'succeeded') GROUP BY job`,
    ).all() as { job: string; m: number }[];
    return new Map(rows.map((r) => [r.job, r.m]));
  }

  /** When each job's last run was created (any status), for catch-up. */
  lastCreated(job: string): number | undefined {
    const r = this.#stmt("SELECT max(created_ms) AS m FROM runs WHERE job = ?").get(job) as {
      m: number | null;
    };
    return r.m ?? undefined;
  }

  /** Runs per job and status. */
  counts(): { job: string; status: RunStatus; n: number }[] {
    return this.#stmt(
      "SELECT job, status, count(*) AS n FROM runs WHERE job IS NOT NULL GROUP BY job, status",
    ).all() as unknown as { job: string; status: RunStatus; n: number }[];
  }

  /** A value of the meta table. */
  meta(key: string): string | undefined {
    return (this.#stmt("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)
      ?.value;
  }

  /** Sets a value of the meta table. */
  setMeta(key: string, value: string): void {
    this.#stmt("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = ?2").run(key, value);
  }

  /** Records `now` as the time the server first saw each job it has not seen before. */
  markSeen(jobs: string[], now = Date.now()): void {
    for (const job of jobs) {
      this.#stmt("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO NOTHING").run(
        `job-seen:${job}`,
        String(now),
      );
    }
  }

  /** When the server first saw each job (epoch ms), by job. */
  seen(): Map<string, number> {
    const rows = this.#stmt("SELECT key, value FROM meta WHERE key LIKE 'job-seen:%'").all() as {
      key: string;
      value: string;
    }[];
    return new Map(rows.map((r) => [r.key.slice(9), Number(r.value)]));
  }
}
