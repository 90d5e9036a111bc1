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

/** Tasks with at most this many dependencies track the ones they wait on as bits (see TaskState.waitingBits). */
const MAX_BIT_DEPENDENCIES = 30;

/** Set bits of a 32-bit integer. */
function bitCount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

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
/**
 * What only some tasks need: failure, retries, worker restrictions. Kept
 * apart (TaskState reads and writes them through accessors) so a task that
 * runs once and succeeds, nearly every task of a million-task graph, does not
 * carry seven empty fields (~56 bytes).
 */
class TaskExtras {
  exception: ErrorInfo | null = null;
  exceptionBlame: TaskState | null = null;
  pendingException: ErrorInfo | null = null;
  retries = 0;
  suspicious = 0;
  workerRestrictions: Set<string> | null = null;
  looseRestrictions = false;
}

export class TaskState {
  state: TaskStateName = 'released';
  /** The function and its serialized arguments (see `args`); null for data without lineage (scattered, or a dependency never defined). */
  fn: FunctionSpec | null = null;
  /**
   * The argument bytes as where they lie (usually the received graph
   * chunk's frame), not as a view: a Uint8Array view is ~80 bytes per task
   * for as long as the task lives; `args` makes one when a task is sent.
   */
  private argsBuffer: ArrayBufferLike | null = null;
  private argsOffset = 0;
  private argsLength = 0;
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
  /**
   * Dependencies not yet in memory, while waiting: bit i for the i-th of
   * `dependencies` while it has at most MAX_BIT_DEPENDENCIES members (a
   * tree node waits on two, and a two-member Set is ~150 bytes for as long
   * as it waits), else a Set.
   */
  private waitingBits = 0;
  private waitingOnSet: Set<TaskState> | null = null;
  private waiterSet: ReadonlySet<TaskState> | null = null;
  /** {this}, made when first needed as a one-member relation of another task. */
  private soloSet: ReadonlySet<TaskState> | null = null;
  private wantedBy: ReadonlySet<ClientState> | null = null;
  private heldBy: ReadonlySet<WorkerState> | null = null;
  processingOn: WorkerState | null = null;
  nbytes = -1;
  type = '';
  /** Set while the task sits in the scheduler's root-task queue. */
  inQueue = false;
  /**
   * When the task was assigned to a worker, in ms after the state's clock
   * origin (SchedulerState.assignedAt gives ms since the epoch). A small
   * integer: a field that ever holds ms since the epoch, or -0, is boxed in
   * a heap number in every task, 16 bytes each.
   */
  assignedMs = 0;
  /** This task's place in the scheduler's queue of recommendations, -1 when none (see Recommendations). */
  recSlot = -1;
  /** Made on the first non-default write of one of its fields (see TaskExtras). */
  private extras: TaskExtras | null = null;

  constructor(readonly key: string, readonly group: TaskGroup) {}

  private more(): TaskExtras {
    return (this.extras ??= new TaskExtras());
  }

  /** The serialized argument list (a view made per call), or null for data without lineage. */
  get args(): Uint8Array | null {
    return this.argsBuffer ? new Uint8Array(this.argsBuffer, this.argsOffset, this.argsLength) : null;
  }
  set args(v: Uint8Array | null) {
    this.argsBuffer = v ? v.buffer : null;
    this.argsOffset = v ? v.byteOffset : 0;
    this.argsLength = v ? v.byteLength : 0;
  }

  get exception(): ErrorInfo | null {
    return this.extras?.exception ?? null;
  }
  set exception(v: ErrorInfo | null) {
    if (v || this.extras) this.more().exception = v;
  }
  /** The task whose failure made this one err (itself when it failed on its own). */
  get exceptionBlame(): TaskState | null {
    return this.extras?.exceptionBlame ?? null;
  }
  set exceptionBlame(v: TaskState | null) {
    if (v || this.extras) this.more().exceptionBlame = v;
  }
  /** An exception to apply on the next transition to erred (KilledWorker). */
  get pendingException(): ErrorInfo | null {
    return this.extras?.pendingException ?? null;
  }
  set pendingException(v: ErrorInfo | null) {
    if (v || this.extras) this.more().pendingException = v;
  }
  get retries(): number {
    return this.extras?.retries ?? 0;
  }
  set retries(v: number) {
    if (v || this.extras) this.more().retries = v;
  }
  /** How many workers died while this task was assigned to them. */
  get suspicious(): number {
    return this.extras?.suspicious ?? 0;
  }
  set suspicious(v: number) {
    if (v || this.extras) this.more().suspicious = v;
  }
  /** Worker names or addresses this task must (or, if loose, should) run on. */
  get workerRestrictions(): Set<string> | null {
    return this.extras?.workerRestrictions ?? null;
  }
  set workerRestrictions(v: Set<string> | null) {
    if (v || this.extras) this.more().workerRestrictions = v;
  }
  get looseRestrictions(): boolean {
    return this.extras?.looseRestrictions ?? false;
  }
  set looseRestrictions(v: boolean) {
    if (v || this.extras) this.more().looseRestrictions = v;
  }

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
  /** Dependencies not yet in memory (only while waiting). Built from the bits when asked (checks, tests); the state machine asks waitingCount. */
  get waitingOn(): ReadonlySet<TaskState> {
    if (this.waitingOnSet) return this.waitingOnSet;
    if (this.waitingBits === 0) return NONE;
    const out = new Set<TaskState>();
    let i = 0;
    for (const d of this.dependencies) if (this.waitingBits & (1 << i++)) out.add(d);
    return out;
  }
  /** How many dependencies are waited on: waitingOn.size, without building the set. */
  get waitingCount(): number {
    return this.waitingOnSet ? this.waitingOnSet.size : bitCount(this.waitingBits);
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
    if (this.waitingBits !== 0) this.waitingToSet(); // places are about to change
    this.deps = withMember(this.deps, dep);
    dep.dependentSet = withMember(dep.dependentSet, this);
  }
  /** Unlinks every dependency both ways (the task is being forgotten); the detached set is not changed after. */
  clearDependencies(): void {
    if (!this.deps) return;
    if (this.waitingBits !== 0) this.waitingToSet();
    for (const dep of this.deps) if (dep.dependentSet?.has(this)) dep.dependentSet = withoutMember(dep.dependentSet, this);
    this.deps = null;
  }
  addWaitingOn(dep: TaskState): void {
    if (!this.waitingOnSet && this.dependencies.size <= MAX_BIT_DEPENDENCIES) {
      const i = this.placeOf(dep);
      if (i >= 0) {
        this.waitingBits |= 1 << i;
        return;
      }
    }
    // Too many dependencies for the bits (or not a dependency at all, which validate() reports).
    this.waitingToSet().add(dep);
  }
  deleteWaitingOn(dep: TaskState): void {
    if (this.waitingOnSet) {
      this.waitingOnSet.delete(dep);
      return;
    }
    if (this.waitingBits === 0) return;
    const i = this.placeOf(dep);
    if (i >= 0) this.waitingBits &= ~(1 << i);
  }
  clearWaitingOn(): void {
    this.waitingBits = 0;
    this.waitingOnSet = null;
  }

  /** `dep`'s place in `dependencies`, or -1. */
  private placeOf(dep: TaskState): number {
    let i = 0;
    for (const d of this.dependencies) {
      if (d === dep) return i;
      i++;
    }
    return -1;
  }

  /** The waited-on dependencies as a Set from now on (the bits would no longer mean places). */
  private waitingToSet(): Set<TaskState> {
    if (!this.waitingOnSet) {
      this.waitingOnSet = new Set(this.waitingOn);
      this.waitingBits = 0;
    }
    return this.waitingOnSet;
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
  if (set.size === 1) return new Set(set).add(x);
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
  /** Scratch of the scheduler's placement: the last placement that weighed this worker. */
  placementRound = 0;
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
