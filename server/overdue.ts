/**
 * When a scheduled job is overdue: the dashboard's "did last night's backup happen?".
 *
 * A job is overdue when it has a schedule, is not paused, and its most recent scheduled time T (the last
 * time at or before now that the schedule fired, per config/schedule.ts) passed more than a grace period
 * ago without a run of the job that started at or after T and is running or succeeded. So a run
 * missed while the server was down (and not caught up), a run that failed or was cancelled, and a run
 * still queued behind other writers past the grace period all make the job overdue, until a run started
 * since T succeeds (or is running: a long backup in progress is not late) or the next scheduled time
 * comes round to be judged on its own. Times before the server first saw the job do not count, so a job
 * just added to the config is not overdue for a time it was never meant to run at.
 *
 * The grace period is the smaller of {@link MAX_GRACE_MS} (an hour) and half the time from the
 * schedule's previous firing to T: an hour lets a nightly job wait for the repository's writer slot
 * behind the other jobs of the night without raising the mark, and still shows a missed nightly run long
 * before anyone looks in the morning; half the period lets a job that runs every few minutes be
 * marked before its next run, instead of never.
 *
 * @example
 * ```ts
 * import { overdueSince } from "./overdue.ts";
 * const since = overdueSince({
 *   schedule: "0 3 * * *",
 *   paused: false,
 *   now: new Date(2025, 0, 2, 9, 0),
 *   firstSeenMs: new Date(2025, 0, 1).getTime(),
 *   lastGoodStartMs: new Date(2025, 0, 1, 3, 0).getTime(),
 * });
 * console.log(since); // 2025-01-02 03:00 local time: last night's run did not succeed
 * ```
 * @module
 */
import { previousRun } from "../config/mod.ts";

/** The longest grace period after a scheduled time. */
export const MAX_GRACE_MS = 3_600_000;

/** What {@link overdueSince} needs to know about a job. */
export interface OverdueInput {
  /** The job's schedule, or null for a job run by hand only. */
  schedule: string | null;
  /** Whether its schedule is paused. */
  paused: boolean;
  /** The time to judge at. */
  now: Date;
  /** When the server first saw the job (epoch ms); unknown: no limit. */
  firstSeenMs?: number;
  /** When the newest run of the job that is running or succeeded started (epoch ms), if any. */
  lastGoodStartMs?: number;
}

/**
 * The scheduled time the job missed, or null if it is not overdue.
 *
 * @example
 * ```ts
 * import { overdueSince } from "./overdue.ts";
 * overdueSince({ schedule: null, paused: false, now: new Date() }); // null: not scheduled
 * ```
 */
export function overdueSince(job: OverdueInput): Date | null {
  if (!job.schedule || job.paused) return null;
  const due = previousRun(job.schedule, job.now);
  if (!due || (job.firstSeenMs !== undefined && due.getTime() < job.firstSeenMs)) return null;
  const before = previousRun(job.schedule, new Date(due.getTime() - 1));
  const grace = before ? Math.min(MAX_GRACE_MS, (due.getTime() - before.getTime()) / 2) : MAX_GRACE_MS;
  if (job.now.getTime() - due.getTime() <= grace) return null;
  return job.lastGoodStartMs !== undefined && job.lastGoodStartMs >= due.getTime() ? null : due;
}
