/**
 * The scheduler host: turns config jobs into runs at their schedules (config/schedule.ts, croner for
 * cron expressions) and runs every run the API asks for. A job never overlaps itself; runs on different
 * repositories go in parallel, writers (backup, prune, forget) at most `max-writers` (default 1) per
 * repository, the rest queued. A run missed while the server was down runs once at start with
 * `catch-up`. {@link Scheduler.stop} stops taking runs, lets running ones finish within a grace period,
 * then cancels them (a cancelled backup writes no snapshot).
 *
 * Every run's events get a sequence number, are stored in the runs database and fanned out, serialised
 * once, to subscribers (the SSE route).
 *
 * @example
 * ```ts
 * import { Scheduler } from "./scheduler.ts";
 * // const scheduler = new Scheduler({ config, db, perform: (request, ctx) => perform(adapter, config, request, ctx) });
 * // scheduler.start();
 * // const run = scheduler.submitJob("home");
 * ```
 * @module
 */
import { FloeError } from "../mod.ts";
import { type Config, type HooksConfig, nextRun } from "../config/mod.ts";
import { ApiError, type OperationEvent, type OperationResult, type RunContext } from "./_engine.ts";
import type { RunKind, RunRecord, RunsDb } from "./runs_db.ts";
import { failureOf, type OperationRequest } from "./operation.ts";

/** An event as stored and streamed: its sequence number and data. */
export interface RunEvent {
  /** Sequence number within the run (the SSE id). */
  seq: number;
  /** `{run, op, type, time, …}`. */
  data: Record<string, unknown>;
  /** `data` as JSON, when it is at hand already (one serialisation for every subscriber). */
  json?: string;
}

/** Options of {@link Scheduler}. */
export interface SchedulerOptions {
  /** The config. */
  config: Config;
  /**
   * Carries out a run's request (`floe serve`: on the thread that started the server, while this one
   * answers HTTP; see server/serve.ts; `perform` of server/operation.ts does it on the calling thread).
   */
  perform: (request: OperationRequest, ctx: RunContext) => Promise<OperationResult>;
  /** The runs database. */
  db: RunsDb;
  /** Server log lines (never secrets). */
  log?: (line: string) => void;
}

interface Active {
  record: RunRecord;
  controller: AbortController;
  writer: boolean;
  request: OperationRequest;
  done?: Promise<void>;
  lastProgressMs: number;
}

const WRITERS: ReadonlySet<RunKind> = new Set(["backup", "prune", "forget"]);
/** Progress events per run at most this often (stored and streamed); the rest are dropped. */
const PROGRESS_MS = 250;
/** The longest timer; a later run is re-planned when it fires (setTimeout takes 32-bit delays). */
const MAX_TIMER_MS = 6 * 3_600_000;
/** How often the heartbeat (the server's last sign of life, for catch-up) is written. */
const HEARTBEAT_MS = 60_000;

/** Runs jobs on their schedules and on request. */
export class Scheduler {
  readonly #config: Config;
  readonly #perform: (request: OperationRequest, ctx: RunContext) => Promise<OperationResult>;
  readonly #db: RunsDb;
  readonly #log: (line: string) => void;
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #next = new Map<string, Date | null>();
  readonly #queue: Active[] = [];
  readonly #running = new Map<string, Active>();
  readonly #listeners = new Map<string, Set<(e: RunEvent) => void>>();
  #paused: Set<string>;
  #stopping = false;
  #heartbeat?: ReturnType<typeof setInterval>;

  /** Build one (nothing runs before {@link start}). */
  constructor(options: SchedulerOptions) {
    this.#config = options.config;
    this.#perform = options.perform;
    this.#db = options.db;
    this.#log = options.log ?? (() => {});
    this.#paused = this.#db.paused();
  }

  /** Plans every scheduled job and runs once those whose run was missed while down (`catch-up`). */
  start(now = new Date()): void {
    this.#db.markSeen(Object.keys(this.#config.jobs), now.getTime());
    const lastAlive = Number(this.#db.meta("heartbeat") ?? NaN);
    for (const [name, job] of Object.entries(this.#config.jobs)) {
      if (!job.schedule) continue;
      if (this.#config.server.catchUp && !this.#paused.has(name)) {
        const reference = this.#db.lastCreated(name) ?? (Number.isFinite(lastAlive) ? lastAlive : undefined);
        const due = reference !== undefined ? nextRun(job.schedule, new Date(reference)) : null;
        if (due && due.getTime() <= now.getTime()) {
          this.#log(`job ${name}: a run due at ${due.toISOString()} was missed; running it now (catch-up)`);
          this.#fire(name);
        }
      }
      this.#plan(name, now);
    }
    this.#db.setMeta("heartbeat", String(now.getTime()));
    this.#heartbeat = setInterval(() => {
      this.#db.setMeta("heartbeat", String(Date.now()));
      this.#db.expire(this.#config.server.historyDays);
    }, HEARTBEAT_MS);
    this.#db.expire(this.#config.server.historyDays);
  }

  #plan(name: string, after: Date): void {
    clearTimeout(this.#timers.get(name));
    const schedule = this.#config.jobs[name].schedule;
    const next = schedule ? nextRun(schedule, after) : null;
    this.#next.set(name, next);
    if (!next || this.#stopping) return;
    const delay = next.getTime() - Date.now();
    this.#timers.set(
      name,
      setTimeout(() => {
        if (Date.now() < next.getTime()) return this.#plan(name, new Date());
        if (!this.#paused.has(name)) this.#fire(name);
        this.#plan(name, next);
      }, Math.max(0, Math.min(delay, MAX_TIMER_MS))),
    );
  }

  #fire(name: string): void {
    try {
      this.submitJob(name);
    } catch (e) {
      this.#log(`job ${name}: scheduled run skipped: ${(e as Error).message}`);
    }
  }

  /** When a job runs next (null: not scheduled, or paused). */
  nextRun(name: string): Date | null {
    return this.#paused.has(name) ? null : this.#next.get(name) ?? null;
  }

  /** Whether a job is paused. */
  isPaused(name: string): boolean {
    return this.#paused.has(name);
  }

  /** Pauses a job's schedule (runs asked for by hand still run). */
  pause(name: string): void {
    this.#job(name);
    this.#paused.add(name);
    this.#db.setPaused(name, true);
  }

  /** Resumes a job's schedule. */
  resume(name: string): void {
    this.#job(name);
    this.#paused.delete(name);
    this.#db.setPaused(name, false);
  }

  /** Runs waiting for a writer slot. */
  queueDepth(): number {
    return this.#queue.length;
  }

  #job(name: string) {
    if (!Object.hasOwn(this.#config.jobs, name)) throw new ApiError(404, "not-found", `no job '${name}'`);
    return this.#config.jobs[name];
  }

  /**
   * Queues a run of a job; a job already queued or running answers 409 (a job never overlaps itself).
   * `hooks` replace the job's hooks of the same names for this run (the route checks `allow-hooks`).
   */
  submitJob(name: string, hooks?: HooksConfig): RunRecord {
    const job = this.#job(name);
    const busy = [...this.#queue, ...this.#running.values()].find((a) => a.record.job === name);
    if (busy) {
      throw new ApiError(
        409,
        "job-running",
        `job ${name} already has run ${busy.record.id} ${busy.record.status}`,
      );
    }
    return this.#submit(name, job.kind, job.repository, {
      op: "job",
      job: name,
      ...(hooks ? { hooks } : {}),
    });
  }

  /** Queues a one-off operation on a repository (restore, check, prune, forget from the API). */
  submit(request: Exclude<OperationRequest, { op: "job" }>): RunRecord {
    if (!Object.hasOwn(this.#config.repositories, request.repository)) {
      throw new ApiError(404, "not-found", `no repository '${request.repository}' in the config`);
    }
    return this.#submit(null, request.op, request.repository, request);
  }

  #submit(job: string | null, kind: RunKind, repository: string, request: OperationRequest): RunRecord {
    if (this.#stopping) throw new ApiError(503, "stopping", "the server is stopping");
    const record = this.#db.create({ job, kind, repository });
    const active: Active = {
      record,
      controller: new AbortController(),
      writer: WRITERS.has(kind),
      request,
      lastProgressMs: 0,
    };
    this.#queue.push(active);
    this.#pump();
    return this.#db.get(record.id)!;
  }

  #writers(repository: string): number {
    let n = 0;
    for (const a of this.#running.values()) if (a.writer && a.record.repository === repository) n++;
    return n;
  }

  #pump(): void {
    for (let i = 0; i < this.#queue.length;) {
      const a = this.#queue[i];
      const limit = this.#config.repositories[a.record.repository]?.maxWriters ?? 1;
      if (a.writer && this.#writers(a.record.repository) >= limit) {
        i++;
        continue;
      }
      this.#queue.splice(i, 1);
      this.#running.set(a.record.id, a);
      a.done = this.#execute(a);
    }
  }

  #emit(a: Active, type: string, fields: Record<string, unknown> = {}): void {
    // The engine's events keep their op and time (milliseconds, as core/events.ts has them) but carry the
    // server's run id: the engine's own id of the call means nothing to a client.
    const data = {
      op: a.record.kind,
      ...(a.record.job ? { job: a.record.job } : {}),
      type,
      time: Date.now(),
      ...fields,
      run: a.record.id,
    };
    const json = JSON.stringify(data);
    const seq = this.#db.addEvent(a.record.id, data, json);
    for (const l of this.#listeners.get(a.record.id) ?? []) l({ seq, data, json });
  }

  async #execute(a: Active): Promise<void> {
    const id = a.record.id;
    this.#db.started(id);
    a.record = this.#db.get(id)!;
    this.#emit(a, "start", { repository: a.record.repository });
    const ctx: RunContext = {
      signal: a.controller.signal,
      onEvent: (e: OperationEvent) => {
        if (e.type === "progress") {
          const now = Date.now();
          if (now - a.lastProgressMs < PROGRESS_MS) return;
          a.lastProgressMs = now;
        }
        if (e.type === "progress" && e.message !== undefined) this.#db.log(id, e.message);
        if (e.type === "warning") this.#db.log(id, `warning: ${e.path}: ${e.message}`);
        const { type, ...rest } = e;
        this.#emit(a, type, rest);
      },
      log: (line) => this.#db.log(id, line),
    };
    try {
      const result = await this.#perform(a.request, ctx);
      if (result.snapshotCount !== undefined) {
        this.#db.setSnapshotCount(a.record.repository, result.snapshotCount);
      }
      this.#db.finished(id, { status: "succeeded", snapshotId: result.snapshotId, summary: result.summary });
      this.#emit(a, "done", {
        status: "succeeded",
        snapshot_id: result.snapshotId ?? null,
        summary: result.summary,
        exit_code: result.exitCode,
      });
    } catch (e) {
      const cancelled = a.controller.signal.aborted;
      const failure = failureOf(e);
      const err = cancelled ? new ApiError(499, "cancelled", this.#cancelReason(a)) : failure;
      const snapshotId = failure.snapshotId;
      this.#db.log(id, `${cancelled ? "cancelled" : "failed"}: ${err.message}`);
      this.#db.finished(id, {
        status: cancelled ? "cancelled" : "failed",
        snapshotId,
        error: err.message,
        errorCode: err.code,
      });
      this.#emit(a, "error", {
        status: cancelled ? "cancelled" : "failed",
        code: err.code,
        message: err.message,
        ...(snapshotId ? { snapshot_id: snapshotId } : {}),
      });
    } finally {
      this.#running.delete(id);
      this.#listeners.delete(id);
      this.#pump();
    }
  }

  #cancelReason(a: Active): string {
    const r = a.controller.signal.reason;
    return r instanceof FloeError ? r.message : "cancelled";
  }

  /** Cancels a queued or running run; a finished run answers 409. */
  cancel(id: string): RunRecord {
    const i = this.#queue.findIndex((a) => a.record.id === id);
    if (i >= 0) {
      const [a] = this.#queue.splice(i, 1);
      this.#db.finished(id, {
        status: "cancelled",
        error: "cancelled before it started",
        errorCode: "cancelled",
      });
      this.#emit(a, "error", {
        status: "cancelled",
        code: "cancelled",
        message: "cancelled before it started",
      });
      this.#listeners.delete(id);
      return this.#db.get(id)!;
    }
    const a = this.#running.get(id);
    if (a) {
      a.controller.abort(new FloeError("cancelled; nothing was recorded"));
      return this.#db.get(id)!;
    }
    const record = this.#db.get(id);
    if (!record) throw new ApiError(404, "not-found", `no run '${id}'`);
    throw new ApiError(409, "run-finished", `run ${id} already ${record.status}`);
  }

  /** Whether a run is queued or running. */
  isActive(id: string): boolean {
    return this.#running.has(id) || this.#queue.some((a) => a.record.id === id);
  }

  /**
   * Subscribes to a run's new events; returns the unsubscribe function, or null when the run is no
   * longer active (its events are all stored).
   */
  subscribe(id: string, listener: (e: RunEvent) => void): (() => void) | null {
    if (!this.isActive(id)) return null;
    let set = this.#listeners.get(id);
    if (!set) this.#listeners.set(id, set = new Set());
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Waits for a run to end (tests, `floe run`). */
  async settled(id: string): Promise<RunRecord> {
    await (this.#running.get(id)?.done ?? Promise.resolve());
    while (this.isActive(id)) {
      await new Promise((r) => setTimeout(r, 20));
      await this.#running.get(id)?.done;
    }
    return this.#db.get(id)!;
  }

  /**
   * Stops: no new runs, queued runs cancelled, running runs given `graceMs` to finish, then cancelled
   * (and awaited: a cancelled backup removes nothing and writes no snapshot).
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    clearInterval(this.#heartbeat);
    for (const a of [...this.#queue]) this.cancel(a.record.id);
    const all = () => Promise.all([...this.#running.values()].map((a) => a.done));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), graceMs));
    if (await Promise.race([all().then(() => "done" as const), graceOver]) === "timeout") {
      for (const a of this.#running.values()) {
        a.controller.abort(new FloeError("cancelled: the server is stopping; nothing was recorded"));
      }
      await all();
    }
    clearTimeout(timer);
    this.#db.setMeta("heartbeat", String(Date.now()));
  }
}
