/**
 * A snapshot as `floe snapshots --json` prints it and the server's API returns it (restic's field names).
 *
 * @example
 * ```ts
 * import { snapshotJson } from "./snapshot_json.ts";
 * // engine.snapshots().map(snapshotJson)
 * ```
 * @module
 */
import type { CatalogSnapshot } from "./catalog/catalog.ts";
import type { BackupSummary } from "./repository/types.ts";

/** The JSON form of one snapshot. */
export interface SnapshotJson {
  /** Full id. */
  id: string;
  /** First 8 characters of the id. */
  short_id: string;
  /** ISO 8601 time with offset. */
  time: string;
  /** Host. */
  host: string;
  /** User. */
  username: string;
  /** Paths backed up. */
  paths: string[];
  /** Tags. */
  tags: string[];
  /** Parent snapshot id. */
  parent: string | null;
  /** Root tree id. */
  tree: string;
  /** Figures of the run that made it. */
  summary: BackupSummary | null;
}

/** One catalog snapshot in its JSON form. */
export function snapshotJson({ id, snapshot: s }: CatalogSnapshot): SnapshotJson {
  return {
    id,
    short_id: id.slice(0, 8),
    time: s.time,
    host: s.host,
    username: s.username,
    paths: s.paths,
    tags: s.tags,
    parent: s.parent ?? null,
    tree: s.tree,
    summary: s.summary ?? null,
  };
}
