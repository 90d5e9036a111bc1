/**
 * What the scheduler shows of itself to whoever watches it (the dashboard's
 * pages, metrics and reports, tests): plain-data snapshots of the cluster,
 * its task groups and its task stream. They are made by SchedulerServer
 * (server.ts) and read by the dashboard, which depends on these types; the
 * scheduler knows nothing of the dashboard.
 *
 * Types only, and no imports: the dashboard's browser bundle
 * (src/dashboard/ui) type-checks against them without Node's types.
 */

export type TaskStateName =
  | 'released' | 'waiting' | 'queued' | 'no-worker' | 'processing' | 'memory' | 'erred' | 'forgotten';

export interface WorkerSnapshot {
  address: string;
  name: string;
  host: string;
  nthreads: number;
  memoryLimit: number;        // bytes, 0 = no limit
  managedBytes: number;       // bytes of task results held in memory
  spilledBytes: number;       // bytes of task results spilled to disk
  rss: number;                // resident set size of the worker process, bytes
  cpu: number;                // percent of one core, last heartbeat interval
  executing: number;          // tasks running on executor threads now
  processing: number;         // tasks assigned to the worker (queued on it or running)
  inMemory: number;           // number of keys held
  lastSeen: number;           // ms since epoch of the last heartbeat
  status: 'running' | 'paused' | 'closing';
  pid: number;
}

export interface ClusterSnapshot {
  id: string;
  address: string;
  version: string;
  startedAt: number;          // ms since epoch
  now: number;                // ms since epoch
  workers: WorkerSnapshot[];
  tasksByState: Record<TaskStateName, number>;
  totalThreads: number;
  totalMemoryLimit: number;
  tasksCompleted: number;     // cumulative count of tasks that reached memory
  tasksErred: number;         // cumulative
  clients: number;
}

export interface TaskGroupSnapshot {
  name: string;               // the key prefix, e.g. 'inc' for 'inc-1f3a...'
  states: Record<TaskStateName, number>;
  total: number;              // tasks ever added to the group
  nbytes: number;             // bytes in memory now
  durationMs: number;         // summed compute time of finished tasks
}

export interface TaskStreamEvent {
  cursor: number;             // strictly increasing; pass the last one seen to get newer events
  key: string;
  group: string;
  worker: string;             // worker address
  thread: number;             // executor thread index on that worker
  kind: 'compute' | 'transfer' | 'error';
  start: number;              // ms since epoch
  stop: number;               // ms since epoch
  nbytes?: number;            // for transfers
}
