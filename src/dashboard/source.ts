/**
 * What the dashboard reads from the scheduler. The dashboard (HTTP server,
 * JSON API, metrics, web UI, reports) depends only on this interface, so it
 * can be tested against a fake source and never reaches into scheduler
 * internals. SchedulerServer has these methods without importing this file
 * (the scheduler does not depend on the dashboard); TypeScript checks the
 * fit where a scheduler is handed to startDashboard() or a PerformanceRecorder.
 * The snapshot types are the scheduler's own (src/scheduler/snapshot.ts).
 *
 * Every method must be cheap: the dashboard polls several times a second.
 */
import type { ClusterSnapshot, TaskGroupSnapshot, TaskStreamEvent } from '../scheduler/snapshot.js';

export interface DashboardSource {
  snapshot(): ClusterSnapshot;
  taskGroups(): TaskGroupSnapshot[];
  /** Events with cursor > since, oldest first, at most `limit`. */
  taskStream(since: number, limit?: number): { cursor: number; events: TaskStreamEvent[] };
  /**
   * Optional: the scheduler's effective configuration, shown on /info and in
   * performance reports (plain JSON values; leave secrets such as the auth
   * token out). Called only when a page or report asks for it.
   */
  config?(): Record<string, unknown>;
}
