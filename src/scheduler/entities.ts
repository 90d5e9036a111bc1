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

/**
 * The empty set that a task's relation reads as while it has no members.
 * Typed read-only: members are added only through TaskState's methods.
 */
const NONE: ReadonlySet<never> = new Set<never>();

/**
 * One task. Its six relations (dependencies, dependents, waitingOn, waiters,
 * whoWants, whoHas) are sets made only when needed: most tasks of a big
 * graph have few related tasks at a time (a mapped task has no dependencies
 * or dependents at all; a tree node has one dependent), and a Set costs
 * about 100 bytes, so six eager sets were most of the scheduler's memory per
 * task. An empty relation is NONE, a one-member relation is the member's
 * shared `solo` set (see withMember). They read as ReadonlySets and change
 * only through the methods below.
 */
export class TaskState {
  state: TaskStateName = 'released';
  /** The function and its serialized arguments; null for data without lineage (scattered, or a dependency never defined). */
  fn: FunctionSpec | null = null;
  args: Uint8Array | null = null;
  /**
   * The priority tuple [-userPriority, generation, order] as three numbers
   * (lexicographically smaller runs first): no array per task, and the
   * root-task queue keeps them inline. `priority` builds the tuple for the wire.
   */
  priorityUser = 0;
  priorityGeneration = 0;
  priorityOrder = 0;
  /** A one-member relation is that member's `solo` set, shared by all such relations (see withMember). */
  private deps: ReadonlySet<TaskState> | null = null;
  private dependentSet: ReadonlySet<TaskState> | null = null;
  private waitingOnSet: ReadonlySet<TaskState> | null = null;
  private waiterSet: ReadonlySet<TaskState> | null = null;
  /** {this}, made when first needed as a one-member relation of another task. */
  private soloSet: ReadonlySet<TaskState> | null = null;
  private wantedBy: ReadonlySet<ClientState> | null = null;
  private heldBy: ReadonlySet<WorkerState> | null = null;
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

  /** [-userPriority, generation, order], a new array (what workers are sent). */
  get priority(): number[] {
    return [this.priorityUser, this.priorityGeneration, this.priorityOrder];
  }

  get dependencies(): ReadonlySet<TaskState> {
    return this.deps ?? NONE;
  }
  get dependents(): ReadonlySet<TaskState> {
    return this.dependentSet ?? NONE;
  }
  /** Dependencies not yet in memory (only while waiting). */
  get waitingOn(): ReadonlySet<TaskState> {
    return this.waitingOnSet ?? NONE;
  }
  /** Dependents that still need this task's data. */
  get waiters(): ReadonlySet<TaskState> {
    return this.waiterSet ?? NONE;
  }
  get whoWants(): ReadonlySet<ClientState> {
    return this.wantedBy ?? NONE;
  }
  get whoHas(): ReadonlySet<WorkerState> {
    return this.heldBy ?? NONE;
  }

  /** The set of just this task (never changed): a relation of other tasks that holds only this one. */
  get solo(): ReadonlySet<TaskState> {
    return (this.soloSet ??= new Set([this]));
  }

  /** Links this task and `dep` both ways (dependency and dependent). */
  addDependency(dep: TaskState): void {
    this.deps = withMember(this.deps, dep);
    dep.dependentSet = withMember(dep.dependentSet, this);
  }
  /** Unlinks every dependency both ways (the task is being forgotten); the detached set is not changed after. */
  clearDependencies(): void {
    if (!this.deps) return;
    for (const dep of this.deps) if (dep.dependentSet?.has(this)) dep.dependentSet = withoutMember(dep.dependentSet, this);
    this.deps = null;
  }
  addWaitingOn(dep: TaskState): void {
    this.waitingOnSet = withMember(this.waitingOnSet, dep);
  }
  deleteWaitingOn(dep: TaskState): void {
    if (this.waitingOnSet?.has(dep)) this.waitingOnSet = withoutMember(this.waitingOnSet, dep);
  }
  clearWaitingOn(): void {
    this.waitingOnSet = null;
  }
  addWaiter(dts: TaskState): void {
    this.waiterSet = withMember(this.waiterSet, dts);
  }
  deleteWaiter(dts: TaskState): void {
    if (this.waiterSet?.has(dts)) this.waiterSet = withoutMember(this.waiterSet, dts);
  }
  addWhoWants(cs: ClientState): void {
    this.wantedBy = withMember(this.wantedBy, cs);
  }
  /** False when `cs` did not want it. */
  deleteWhoWants(cs: ClientState): boolean {
    const had = this.wantedBy?.has(cs) ?? false;
    if (had) this.wantedBy = withoutMember(this.wantedBy!, cs);
    return had;
  }
  addWhoHas(ws: WorkerState): void {
    this.heldBy = withMember(this.heldBy, ws);
  }
  /** False when `ws` did not hold it. */
  deleteWhoHas(ws: WorkerState): boolean {
    const had = this.heldBy?.has(ws) ?? false;
    if (had) this.heldBy = withoutMember(this.heldBy!, ws);
    return had;
  }
}

/** Tasks, workers and clients: each carries the one-member set {itself}. */
interface Solo<T> {
  readonly solo: ReadonlySet<T>;
}

/**
 * `set` plus `x`. Most relations have one member (a task wanted by one
 * client, held by one worker, the one dependent of a tree node), so a
 * one-member relation is that member's own `solo` set, shared by every such
 * relation (never changed); only a second member makes a set of its own. Iteration order stays
 * insertion order, as with one Set throughout.
 */
function withMember<T extends Solo<T>>(set: ReadonlySet<T> | null, x: T): ReadonlySet<T> {
  if (!set) return x.solo;
  if (set.has(x)) return set;
  if (set.size === 1) return new Set([...set, x]);
  (set as Set<T>).add(x); // two or more members: the task's own set
  return set;
}

/** `set` less `x` (which it holds): back to the remaining member's `solo` set at one member, null at none. */
function withoutMember<T extends Solo<T>>(set: ReadonlySet<T>, x: T): ReadonlySet<T> | null {
  if (set.size === 1) return null;
  if (set.size === 2) for (const y of set) if (y !== x) return y.solo;
  (set as Set<T>).delete(x);
  return set;
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
  /** The set of just this worker: whoHas of every task held here alone (never changed). */
  readonly solo: ReadonlySet<WorkerState> = new Set([this]);
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
  /** The set of just this client: whoWants of every task that it alone wants (never changed). */
  readonly solo: ReadonlySet<ClientState> = new Set([this]);
  /** ms since the epoch when the client was added; set from the stimulus by the state. */
  lastSeen = 0;
  /**
   * `graphHold`: not a connected client but the hold a streamed graph
   * submission keeps on tasks that its later chunks depend on (see
   * SchedulerState.updateGraph); it wants keys like a client, and is told nothing.
   */
  constructor(readonly id: string, readonly graphHold = false) {}
}
