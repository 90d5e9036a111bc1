/**
 * The scheduler's records of tasks, workers, clients and task groups. Plain
 * data with identity; all task state changes go through the transition
 * functions in state.ts, which keep the cross-references below consistent (checked by
 * `SchedulerState.validate()`).
 */
import type { ErrorInfo, FunctionSpec, WorkerMetrics } from '../protocol/messages.js';
import type { TaskStateName } from './snapshot.js';

export const ALL_STATES: readonly TaskStateName[] = [
  'released', 'waiting', 'queued', 'no-worker', 'processing', 'memory', 'erred', 'forgotten',
];

export function emptyStateCounts(): Record<TaskStateName, number> {
  return { released: 0, waiting: 0, queued: 0, 'no-worker': 0, processing: 0, memory: 0, erred: 0, forgotten: 0 };
}

export class TaskGroup {
  readonly states = emptyStateCounts();
  total = 0;
  nbytes = 0;
  durationMs = 0;
  finished = 0;
  constructor(readonly name: string) {}

  /** Mean compute time of finished tasks, or undefined before the first finishes. */
  get meanDurationMs(): number | undefined {
    return this.finished > 0 ? this.durationMs / this.finished : undefined;
  }
}

export class TaskState {
  state: TaskStateName = 'released';
  runSpec: { fn: FunctionSpec; args: Uint8Array } | null = null;
  /** [-userPriority, generation, order]: lexicographically smaller runs first. */
  priority: number[] = [0, 0, 0];
  readonly dependencies = new Set<TaskState>();
  readonly dependents = new Set<TaskState>();
  /** Dependencies not yet in memory (only while waiting). */
  readonly waitingOn = new Set<TaskState>();
  /** Dependents that still need this task's data. */
  readonly waiters = new Set<TaskState>();
  readonly whoWants = new Set<ClientState>();
  readonly whoHas = new Set<WorkerState>();
  processingOn: WorkerState | null = null;
  nbytes = -1;
  type = '';
  exception: ErrorInfo | null = null;
  /** The task whose failure made this one err (itself when it failed on its own). */
  exceptionBlame: TaskState | null = null;
  retries = 0;
  /** How many workers died while this task was assigned to them. */
  suspicious = 0;
  /** Worker names or addresses this task must (or, if loose, should) run on. */
  workerRestrictions: Set<string> | null = null;
  looseRestrictions = false;
  /** Set while the task sits in the scheduler's root-task queue. */
  inQueue = false;
  /** An exception to apply on the next transition to erred (KilledWorker). */
  pendingException: ErrorInfo | null = null;
  /** ms since epoch when assigned to a worker (for stealing decisions). */
  assignedAt = 0;

  constructor(readonly key: string, readonly group: TaskGroup) {}
}

export class WorkerState {
  status: 'running' | 'paused' | 'closing' | 'removed' = 'running';
  /** Tasks assigned to the worker, with their expected duration in ms. */
  readonly processing = new Map<TaskState, number>();
  readonly hasWhat = new Set<TaskState>();
  nbytes = 0;
  occupancy = 0;
  /** ms since the epoch of the last heartbeat; set from the stimulus by the state (which never reads the clock). */
  lastSeen = 0;
  metrics: WorkerMetrics = { rss: 0, cpu: 0, executing: 0, ready: 0, managedBytes: 0, spilledBytes: 0, inMemory: 0, paused: false };

  constructor(
    readonly address: string,
    readonly name: string,
    readonly nthreads: number,
    readonly memoryLimit: number,
    readonly host: string,
    readonly pid: number,
    readonly localDirectory: string,
  ) {}
}

export class ClientState {
  readonly wantsWhat = new Set<TaskState>();
  /** ms since the epoch when the client was added; set from the stimulus by the state. */
  lastSeen = 0;
  /**
   * `graphHold`: not a connected client but the hold a streamed graph
   * submission keeps on tasks that its later chunks depend on (see
   * SchedulerState.updateGraph); it wants keys like a client, and is told nothing.
   */
  constructor(readonly id: string, readonly graphHold = false) {}
}
