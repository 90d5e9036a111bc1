/**
 * Shapes that travel from the dashboard server (or a saved report) to the
 * browser. Types only: this module is imported both by the Node side and by
 * the browser bundle (src/dashboard/ui), so it must not import Node APIs.
 */
import type { ClusterSnapshot, TaskGroupSnapshot, TaskStreamEvent } from '../scheduler/snapshot.js';

export type { ClusterSnapshot, TaskGroupSnapshot, TaskStreamEvent, WorkerSnapshot, TaskStateName } from '../scheduler/snapshot.js';

/**
 * One server-sent `update` event on /api/v1/events. The SSE `id:` of the
 * message is `cursor`, so a reconnecting EventSource resumes where it left off
 * (Last-Event-ID) and receives only the task-stream events it missed.
 */
export interface LiveUpdate {
  /** Cursor of the newest task-stream event this client has now received. */
  cursor: number;
  /** The small cluster snapshot, every time. */
  snapshot: ClusterSnapshot;
  /** Task-stream events newer than the client's previous cursor, oldest first. */
  events: TaskStreamEvent[];
  /** Task groups that are new or changed since this client's previous update (all of them on the first). */
  groups: TaskGroupSnapshot[];
  /** Names of groups that disappeared since the previous update. */
  removedGroups: string[];
  /** `groups` lists every group: replace the kept set rather than merge (first update, reconnect, slow client). */
  allGroups: boolean;
  /** True on a client's first update (or after the scheduler restarted): drop any state kept so far. */
  reset: boolean;
  /** True when more events were pending than one update carries; the rest follow in the next updates. */
  behind: boolean;
}

/** The body of /api/v1/info, also shown on the /info page. */
export interface SchedulerInfoPayload {
  id: string;
  address: string;
  version: string;
  startedAt: number;
  now: number;
  uptimeMs: number;
  workers: number;
  threads: number;
  clients: number;
  dashboard: { host: string; port: number; updateIntervalMs: number };
  config: Record<string, unknown>;
}

/** Task kinds in a report's compact event table. */
export const REPORT_KIND = { compute: 0, transfer: 1, error: 2 } as const;

/**
 * One task-stream event in a report, as a tuple so a report with hundreds of
 * thousands of tasks stays a few tens of MB:
 * [workerIndex, thread, groupIndex, kind (REPORT_KIND), startMs, durationMs, key, nbytes]
 * startMs is relative to `PerformanceReportData.start`.
 */
export type ReportEvent = [number, number, number, 0 | 1 | 2, number, number, string, number];

export interface ReportWorker {
  address: string;
  name: string;
  host: string;
  nthreads: number;
  memoryLimit: number;
}

/** Per-worker series aligned with `samples.t`; null where the worker was not connected. */
export interface ReportWorkerSeries {
  managed: (number | null)[];
  spilled: (number | null)[];
  rss: (number | null)[];
  executing: (number | null)[];
  processing: (number | null)[];
}

export interface ReportGroupTiming {
  name: string;
  /** Finished compute tasks recorded in the report window. */
  count: number;
  erred: number;
  /** Summed compute time in the window, ms. */
  computeMs: number;
  maxMs: number;
  /** Summed time of transfers of this group's outputs, ms, and their bytes. */
  transferMs: number;
  transferBytes: number;
  /** First start and last stop in the window, ms relative to report start. */
  firstStart: number;
  lastStop: number;
}

/** Everything a performance report shows; embedded as JSON in the HTML file. */
export interface PerformanceReportData {
  format: 'tessera-performance-report';
  formatVersion: 1;
  title: string;
  generatedAt: number;
  scheduler: { id: string; address: string; version: string; startedAt: number };
  /** Recording window, ms since epoch. */
  start: number;
  end: number;
  workers: ReportWorker[];
  groups: string[];
  events: ReportEvent[];
  /** Events that did not fit under maxEvents (the oldest are kept). */
  droppedEvents: number;
  samples: {
    /** Sample times, ms relative to `start`. */
    t: number[];
    /** Keyed by worker address. */
    workers: Record<string, ReportWorkerSeries>;
    /** Cluster-wide tasks processing, and cumulative tasks completed, per sample. */
    processing: number[];
    completed: number[];
  };
  /** Task groups as the scheduler reported them at the end. */
  finalGroups: TaskGroupSnapshot[];
  /** Per-group timings computed from the recorded events. */
  timings: ReportGroupTiming[];
  summary: {
    durationMs: number;
    tasksCompleted: number;
    tasksErred: number;
    computeMs: number;
    transferMs: number;
    transferBytes: number;
    transfers: number;
    maxWorkers: number;
    maxThreads: number;
  };
  config: Record<string, unknown>;
}
