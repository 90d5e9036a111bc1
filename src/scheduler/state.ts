/**
 * The scheduler's task state machine, after Dask's design: a pure data
 * structure with one function per transition. Each transition changes one
 * task, returns recommendations for others, and records the messages the
 * server must send to workers and clients (`Effects`). No I/O happens here,
 * so every transition is unit-testable and `validate()` can check the
 * invariants after every batch in tests.
 *
 * Stimuli (a worker finished a task, a client released a key, a worker died)
 * are the public methods; each takes a `Stimulus` (its id and the time: the
 * state never reads the clock) and returns the Effects of the whole cascade.
 * Every transition is recorded in a bounded log with its stimulus id, so an
 * impossible transition reports the key's story (`story(key)`).
 *
 * Policies that only read the state and request transitions live next to
 * it: work stealing (stealing.ts), retirement (retirement.ts); the task
 * stream for the dashboard is task-stream.ts.
 */
import type {
  DepInfo, ErrorInfo, FunctionSpec, GraphChunk, SchedulerToClient, SchedulerToWorker, SendOf, StartStop, TaskDef, WorkerMetrics,
} from '../protocol/messages.js';
import type { TaskStateName } from './snapshot.js';
import { keyGroup } from '../graph/keys.js';
import { ClientState, TaskGroup, TaskState, WorkerState, emptyStateCounts } from './entities.js';
import { TupleHeap } from '../util/heap.js';
import { Recommendations } from './recommendations.js';
import type { Stimulus } from './stimulus.js';
import { TaskStream } from './task-stream.js';
import { TransitionLog, formatStory, type TransitionRecord } from './transition-log.js';
import type {
  PayloadInto, PayloadOf, ScatteredPayload, StealConfirmedPayload, TaskErredPayload, TaskFinishedPayload, TransitionName, TransitionPayload,
} from './transition-payloads.js';
import { InvalidStateError, KilledWorkerError, MissingDataError, type TesseraError } from '../errors.js';

export { InvalidStateError };

/**
 * The scheduler's own verdict on a task, as it goes to the client: the
 * error's class name, code, message and fields, marked as the scheduler's
 * so the client rebuilds it as that class. No stack: it would only show
 * the scheduler's internals.
 */
function verdict(err: TesseraError): ErrorInfo {
  const fields: Record<string, unknown> = {};
  for (const k of Object.keys(err)) if (k !== 'name' && k !== 'message' && k !== 'stack') fields[k] = (err as unknown as Record<string, unknown>)[k];
  return { name: err.name, message: err.message, stack: '', code: err.code, fields, origin: 'scheduler' };
}

/**
 * Every transition of a stimulus's cascade writes into the one queue of
 * recommendations, keyed by the task itself: a transition allocates
 * nothing for them and never looks its task up by key (in a graph of a
 * million tasks each such lookup is a few cache misses).
 */
type Recs = Recommendations;

function firstOf<T>(set: ReadonlySet<T>): T | undefined {
  for (const x of set) return x;
  return undefined;
}

/** The same function: same module export, or same inline source and name. */
function sameFunction(a: FunctionSpec, b: FunctionSpec): boolean {
  if (a.kind === 'module') return b.kind === 'module' && a.url === b.url && a.export === b.export;
  return b.kind === 'inline' && a.source === b.source && a.name === b.name;
}

/** An erred task's exception, as clients are told it. Every erred task has one; the fallback only names the bug. */
function exceptionOf(ts: TaskState): ErrorInfo {
  return ts.exception ?? { name: 'Error', message: `task ${ts.key} erred without a recorded exception`, stack: '' };
}

/** Messages produced by a cascade of transitions, grouped by destination. */
export class Effects {
  readonly toWorkers = new Map<WorkerState, SendOf<SchedulerToWorker>[]>();
  readonly toClients = new Map<ClientState, SendOf<SchedulerToClient>[]>();
  worker(ws: WorkerState, msg: SendOf<SchedulerToWorker>): void {
    if (ws.status === 'removed') return;
    let q = this.toWorkers.get(ws);
    if (!q) this.toWorkers.set(ws, (q = []));
    q.push(msg);
  }
  /**
   * Tells `ws` to drop `key`: appended to the free-keys message queued last
   * for it when there is one, so a cascade that frees many keys sends one
   * message, in the same order relative to everything else.
   */
  freeKey(ws: WorkerState, key: string): void {
    if (ws.status === 'removed') return;
    const q = this.toWorkers.get(ws);
    const last = q?.[q.length - 1];
    if (last && last.op === 'free-keys') last.keys.push(key);
    else this.worker(ws, { op: 'free-keys', keys: [key] });
  }

  /** Tells `cs` that `key` is in memory: appended to the keys-in-memory message queued last for it, if that is the last one. */
  inMemory(cs: ClientState, key: string, type: string): void {
    if (cs.graphHold) return;
    const q = this.toClients.get(cs);
    const last = q?.[q.length - 1];
    if (last && last.op === 'keys-in-memory') {
      last.keys.push(key);
      last.types.push(type);
    } else this.client(cs, { op: 'keys-in-memory', keys: [key], types: [type] });
  }

  client(cs: ClientState, msg: SendOf<SchedulerToClient>): void {
    if (cs.graphHold) return;
    let q = this.toClients.get(cs);
    if (!q) this.toClients.set(cs, (q = []));
    q.push(msg);
  }
}

export interface SchedulerStateOptions {
  allowedFailures?: number;
  validate?: boolean;
  /** Duration assumed for a task of a group that has no finished task yet (ms). */
  unknownDurationMs?: number;
  /** Assumed network bandwidth for placement decisions (bytes/s). */
  bandwidth?: number;
  /** Task-stream events kept for the dashboard. */
  streamCapacity?: number;
  /** Transitions kept in the log that `story()` reads (default 100,000). */
  transitionLogCapacity?: number;
}

/** A transition the state machine cannot make; the message tells the key's story. */
export class InvalidTransitionError extends InvalidStateError {
  constructor(
    readonly key: string,
    readonly start: TaskStateName,
    readonly finish: TaskStateName,
    readonly story: TransitionRecord[],
    reason = `no transition from ${start} to ${finish}`,
  ) {
    super(`${reason} for ${key}; its story, oldest first:\n${formatStory(story)}`);
  }
}

type TransitionHandler<T extends TransitionName> = (ts: TaskState, recs: Recs, eff: Effects, stim: Stimulus, payload: PayloadOf<T> | undefined) => void;
type TransitionTable = { readonly [T in TransitionName]?: TransitionHandler<T> };
/** One entry of the transition table, found by start and finish state. */
interface Step {
  readonly fn: TransitionHandler<TransitionName>;
  /** Exists only with a payload (PAYLOAD_ONLY). */
  readonly payloadOnly: boolean;
}

/**
 * Transitions that exist only for a stimulus that brings their payload
 * (scattered data, a confirmed steal). Recommended without one, they do not
 * exist: the task goes the usual way, through released, or the request is
 * invalid.
 */
const PAYLOAD_ONLY: ReadonlySet<TransitionName> = new Set<TransitionName>(['released>memory', 'processing>waiting']);

/**
 * The time the tasks assigned to a worker should cover (see taskSlots): from
 * a task finishing, through the worker's batched report (a connection writes
 * at most every 2 ms), the scheduler's turn and its batched reply, to the
 * worker reading it, on machines where these processes share a few cores.
 * At 5 ms the workers of a 2-core LocalCluster sat idle between batches of
 * tiny tasks (20-22k tasks/s in bench/core); at 20 ms they did not (27-36k).
 */
const QUEUE_COVER_MS = 20;
/** Tasks per thread at most, however tiny. */
const MAX_SLOTS_PER_THREAD = 256;
/**
 * Result bytes per thread that assigned-but-unfinished tasks may add at
 * most, going by recent results: quick tasks with large results (reading
 * partitions from a cache) must not fill a worker's memory because they
 * are quick.
 */
const SLOT_BYTES_PER_THREAD = 256 * 2 ** 20;
/** Distinct functions whose specs the scheduler shares between tasks (see internFunction). */
const MAX_INTERNED_FUNCTIONS = 10_000;

/**
 * The best worker found so far while placing one task, and which workers
 * were weighed already: a worker can be a candidate twice (it holds an
 * input and is idle), and is weighed once. Marked by placement number, so
 * starting a placement clears nothing (WorkerState.placementRound).
 */
let placementRounds = 0; // one count for every Placement: a worker's mark names one placement only

class Placement {
  best: WorkerState | null = null;
  bestCost = Infinity;
  bestBytes = Infinity;
  count = 0;
  private round = 0;

  start(): this {
    this.best = null;
    this.bestCost = Infinity;
    this.bestBytes = Infinity;
    this.count = 0;
    this.round = ++placementRounds;
    return this;
  }

  /** False when `ws` was weighed already in this placement. */
  visit(ws: WorkerState): boolean {
    if (ws.placementRound === this.round) return false;
    ws.placementRound = this.round;
    this.count++;
    return true;
  }
}

export class SchedulerState {
  readonly tasks = new Map<string, TaskState>();
  readonly workers = new Map<string, WorkerState>();
  readonly clients = new Map<string, ClientState>();
  readonly groups = new Map<string, TaskGroup>();
  readonly counts = emptyStateCounts();
  /** Root tasks waiting for a free worker slot, by priority; members left with inQueue false are skipped when popped. */
  readonly queue = new TupleHeap<TaskState>();
  readonly unrunnable = new Set<TaskState>();
  tasksCompleted = 0;
  tasksErred = 0;
  /** Tasks sent to a worker to compute, ever (the reply to a graph chunk reports how many since its stream began). */
  tasksAssigned = 0;
  totalThreads = 0;
  generation = 0;

  /**
   * Open streamed graph submissions, by `${clientId}#${stream}`: the hold on
   * tasks later chunks depend on, and the priority generation and position
   * the next chunk continues from (so a streamed graph is ordered exactly as
   * if it had come in one message).
   */
  readonly graphStreams = new Map<string, { hold: ClientState; owner: string; gen: number; next: number }>();

  /** Finished work, for the dashboard's task stream. */
  readonly taskStream: TaskStream;
  /** The last transitions with their stimuli; see `story()`. */
  readonly transitionLog: TransitionLog;

  readonly allowedFailures: number;
  readonly validating: boolean;
  private readonly unknownDurationMs: number;
  private readonly bandwidth: number;
  /** Exponential average of recent task durations, drives how deep workers are fed. */
  private recentDurationMs: number | undefined;
  /** Recent results' size in bytes (a moving average; see taskSlots). */
  private recentNbytes = 0;
  private rrCounter = 0;
  /** The time of the first assignment; tasks keep their assignment time relative to it (see TaskState.assignedMs). */
  private clockOrigin: number | null = null;

  constructor(opts: SchedulerStateOptions = {}) {
    this.allowedFailures = opts.allowedFailures ?? 3;
    this.validating = opts.validate ?? false;
    this.unknownDurationMs = opts.unknownDurationMs ?? 1;
    this.bandwidth = opts.bandwidth ?? 100e6;
    this.taskStream = new TaskStream(opts.streamCapacity);
    this.transitionLog = new TransitionLog(opts.transitionLogCapacity);
  }

  // ---------------------------------------------------------------- helpers

  private setState(ts: TaskState, state: TaskStateName): void {
    this.counts[ts.state]--;
    ts.group.states[ts.state]--;
    ts.state = state;
    this.counts[state]++;
    ts.group.states[state]++;
  }

  private groupFor(key: string): TaskGroup {
    const name = keyGroup(key);
    let g = this.groups.get(name);
    if (!g) this.groups.set(name, (g = new TaskGroup(name)));
    return g;
  }

  private newTask(key: string): TaskState {
    const ts = new TaskState(key, this.groupFor(key));
    this.tasks.set(key, ts);
    this.counts.released++;
    ts.group.states.released++;
    ts.group.total++;
    return ts;
  }

  /** When `ts` was last assigned to a worker, in ms since the epoch (the stimulus's clock). */
  assignedAt(ts: TaskState): number {
    return (this.clockOrigin ?? 0) + ts.assignedMs;
  }

  /** Workers that take new tasks (not paused, closing or removed). */
  runningWorkers(): WorkerState[] {
    const out: WorkerState[] = [];
    for (const ws of this.workers.values()) if (ws.status === 'running') out.push(ws);
    return out;
  }

  private expectedDuration(ts: TaskState): number {
    return ts.group.meanDurationMs ?? this.unknownDurationMs;
  }

  /**
   * How many tasks a worker may hold per thread when the next root task is
   * of `group`. Enough to cover a scheduler round trip at that group's mean
   * duration (QUEUE_COVER_MS, so tiny tasks never leave a thread idle
   * waiting for the next assignment), but few for long tasks (so root tasks
   * stay queued here, where any worker can take them), two while none of the
   * group has finished (its tasks may take seconds: reading partitions), and
   * few when recent results are large (SLOT_BYTES_PER_THREAD). Without a
   * group, the recent duration of all tasks.
   */
  taskSlots(ws: WorkerState, group?: TaskGroup): number {
    const d = group ? group.meanDurationMs : this.recentDurationMs;
    if (d === undefined) return ws.nthreads * 2;
    let perThread = Math.min(MAX_SLOTS_PER_THREAD, Math.max(2, 1 + Math.ceil(QUEUE_COVER_MS / Math.max(d, 0.01))));
    const b = this.recentNbytes;
    if (b > 0) perThread = Math.min(perThread, Math.max(2, Math.floor(SLOT_BYTES_PER_THREAD / b)));
    return ws.nthreads * perThread;
  }

  private hasSlot(ws: WorkerState, group: TaskGroup): boolean {
    return ws.status === 'running' && ws.processing.size < this.taskSlots(ws, group);
  }

  private matchesRestrictions(ts: TaskState, ws: WorkerState): boolean {
    const r = ts.workerRestrictions;
    return !r || r.has(ws.name) || r.has(ws.address) || r.has(ws.host);
  }

  private isRootish(ts: TaskState): boolean {
    return ts.dependencies.size === 0 && ts.workerRestrictions === null;
  }

  // ------------------------------------------------------------- placement

  /** Root tasks: the least-loaded worker that has a free slot for a task of `group`, or null (queue it). */
  private decideRootWorker(group: TaskGroup): WorkerState | null {
    let best: WorkerState | null = null;
    let bestLoad = Infinity;
    let bestRank = Infinity;
    const n = this.workers.size;
    // Ties go to the first in an order that starts at a rotating offset, so they spread over workers.
    const offset = n ? this.rrCounter++ % n : 0;
    let i = 0;
    for (const ws of this.workers.values()) {
      const rank = (i++ - offset + n) % n;
      if (ws.status !== 'running' || !this.hasSlot(ws, group)) continue;
      const load = ws.processing.size / ws.nthreads;
      if (load < bestLoad || (load === bestLoad && rank < bestRank)) {
        best = ws;
        bestLoad = load;
        bestRank = rank;
      }
    }
    return best;
  }

  private hasRunningWorker(): boolean {
    for (const ws of this.workers.values()) if (ws.status === 'running') return true;
    return false;
  }

  /**
   * Other tasks: minimise estimated start time = queued work per thread +
   * time to transfer the inputs the worker lacks; prefer less stored data on
   * ties. The candidates: workers holding an input, and idle workers (worth
   * considering even without the data); all running workers when there are
   * none. Each is weighed once, in that order, without building a list: this
   * runs for every task that has inputs.
   */
  private decideWorker(ts: TaskState): WorkerState | null {
    if (ts.workerRestrictions) {
      let candidates = this.runningWorkers().filter((ws) => this.matchesRestrictions(ts, ws));
      if (candidates.length === 0 && ts.looseRestrictions) candidates = this.runningWorkers();
      const pick = new Placement().start();
      for (const ws of candidates) this.weigh(pick, ts, ws);
      return pick.best;
    }
    const pick = this.placement.start();
    for (const dep of ts.dependencies) for (const ws of dep.whoHas) if (ws.status === 'running') this.weigh(pick, ts, ws);
    for (const ws of this.workers.values()) if (ws.status === 'running' && ws.processing.size < ws.nthreads) this.weigh(pick, ts, ws);
    if (pick.count === 0) for (const ws of this.workers.values()) if (ws.status === 'running') this.weigh(pick, ts, ws);
    return pick.best;
  }

  /** One reused Placement for decideWorker (the state machine is not reentrant). */
  private readonly placement = new Placement();

  /** The recommendations of the stimulus being handled (see Recommendations). */
  private readonly recs = new Recommendations();

  /** Weighs `ws` for `ts` (once per placement), keeping the cheaper in `pick`. */
  private weigh(pick: Placement, ts: TaskState, ws: WorkerState): void {
    if (!pick.visit(ws)) return;
    let missing = 0;
    for (const dep of ts.dependencies) if (!dep.whoHas.has(ws)) missing += Math.max(dep.nbytes, 0);
    const cost = ws.occupancy / ws.nthreads + (missing / this.bandwidth) * 1000;
    if (cost < pick.bestCost || (cost === pick.bestCost && ws.nbytes < pick.bestBytes)) {
      pick.best = ws;
      pick.bestCost = cost;
      pick.bestBytes = ws.nbytes;
    }
  }

  private computeMsg(ts: TaskState): SendOf<SchedulerToWorker> {
    const deps: DepInfo[] = [];
    for (const d of ts.dependencies) {
      const who: string[] = [];
      for (const ws of d.whoHas) who.push(ws.address);
      deps.push({ key: d.key, nbytes: d.nbytes, who });
    }
    return { op: 'compute-task', key: ts.key, fn: ts.fn!, args: ts.args!, deps, priority: ts.priority };
  }

  private assign(ts: TaskState, ws: WorkerState, eff: Effects, now: number): void {
    const d = this.expectedDuration(ts);
    ws.processing.set(ts, d);
    ws.occupancy += d;
    ts.processingOn = ws;
    this.clockOrigin ??= now;
    // An int32, which V8 keeps unboxed (a difference of two doubles is stored as a double even when whole).
    // Capped at about 12 days after the origin, which only makes later tasks look assigned earlier.
    ts.assignedMs = Math.min(Math.max(now - this.clockOrigin, 0), 2 ** 30) | 0;
    this.tasksAssigned++;
    this.setState(ts, 'processing');
    eff.worker(ws, this.computeMsg(ts));
  }

  private unassign(ts: TaskState): WorkerState | null {
    const ws = ts.processingOn;
    if (!ws) return null;
    const d = ws.processing.get(ts);
    if (d !== undefined) {
      ws.processing.delete(ts);
      ws.occupancy = Math.max(0, ws.occupancy - d);
    }
    ts.processingOn = null;
    return ws;
  }

  /**
   * A worker freed slots: hand it queued root tasks. `promised` tasks were
   * just recommended for processing by the same transition (dependents
   * that became ready, tasks that had no worker): they count as taking slots.
   */
  private fillSlots(ws: WorkerState, recs: Recs, promised: number): void {
    if (ws.status !== 'running') return;
    // Slots for the kind of task next in the queue.
    let free = this.taskSlots(ws, this.queue.peek()?.group) - ws.processing.size - promised;
    while (free > 0 && this.queue.size) {
      const ts = this.queue.pop()!;
      if (!ts.inQueue) continue; // lazily deleted
      ts.inQueue = false;
      recs.set(ts, 'processing');
      free--;
    }
  }

  private addReplica(ts: TaskState, ws: WorkerState): void {
    if (ts.whoHas.has(ws)) return;
    ts.addWhoHas(ws);
    ws.hasWhat.add(ts);
    ws.nbytes += Math.max(ts.nbytes, 0);
  }

  private removeReplica(ts: TaskState, ws: WorkerState): void {
    if (!ts.deleteWhoHas(ws)) return;
    ws.hasWhat.delete(ts);
    ws.nbytes -= Math.max(ts.nbytes, 0);
  }

  private needed(ts: TaskState): boolean {
    return ts.whoWants.size > 0 || ts.waiters.size > 0;
  }

  /** After ts stopped needing its dependencies, release those nobody needs any more. */
  private releaseUnneededDeps(ts: TaskState, recs: Recs): void {
    for (const dep of ts.dependencies) {
      dep.deleteWaiter(ts);
      if (!this.needed(dep) && dep.state !== 'released' && dep.state !== 'erred' && dep.state !== 'forgotten') {
        recs.set(dep, 'released');
      }
    }
  }

  private notifyErred(ts: TaskState, eff: Effects): void {
    for (const cs of ts.whoWants) {
      eff.client(cs, { op: 'task-erred', key: ts.key, exception: exceptionOf(ts), blame: ts.exceptionBlame?.key ?? ts.key });
    }
  }

  // ------------------------------------------------------------ transitions

  private readonly table: TransitionTable = {
    'released>waiting': (ts, recs) => this.releasedWaiting(ts, recs),
    'released>memory': (ts, recs, _eff, _stim, p) => this.releasedMemory(ts, recs, p),
    'released>forgotten': (ts, recs) => this.releasedForgotten(ts, recs),
    'released>erred': (ts, recs, eff) => this.toErredFromBlame(ts, recs, eff),
    'waiting>processing': (ts, _recs, eff, stim, p) => this.waitingProcessing(ts, eff, stim, p),
    'waiting>released': (ts, recs) => this.waitingReleased(ts, recs),
    'waiting>erred': (ts, recs, eff) => this.toErredFromBlame(ts, recs, eff),
    'queued>processing': (ts, _recs, eff, stim) => this.queuedProcessing(ts, eff, stim),
    'queued>released': (ts, recs) => this.waitingReleased(ts, recs),
    'queued>erred': (ts, recs, eff) => this.toErredFromBlame(ts, recs, eff),
    'no-worker>processing': (ts, _recs, eff, stim) => this.noWorkerProcessing(ts, eff, stim),
    'no-worker>released': (ts, recs) => this.waitingReleased(ts, recs),
    'no-worker>erred': (ts, recs, eff) => this.toErredFromBlame(ts, recs, eff),
    'processing>memory': (ts, recs, eff, _stim, p) => this.processingMemory(ts, recs, eff, p),
    'processing>erred': (ts, recs, eff, _stim, p) => this.processingErred(ts, recs, eff, p),
    'processing>released': (ts, recs, eff) => this.processingReleased(ts, recs, eff),
    'processing>waiting': (ts, _recs, _eff, _stim, p) => this.processingWaiting(ts, p),
    'memory>released': (ts, recs, eff) => this.memoryReleased(ts, recs, eff),
    'erred>released': (ts, recs) => this.erredReleased(ts, recs),
    'erred>forgotten': (ts, recs) => this.releasedForgotten(ts, recs),
  };

  /**
   * Moves `ts` towards `finish`, records the step in the transition log and
   * adds its recommendations for other tasks (and maybe this one) to `recs`.
   * The payload carries what the stimulus learned (a result, an error, a
   * thief). A task forgotten earlier in the cascade stays forgotten.
   */
  private transition<F extends TaskStateName>(ts: TaskState, finish: F, recs: Recs, eff: Effects, stim: Stimulus, payload?: PayloadInto<F>): void {
    const start = ts.state;
    if (start === finish || start === 'forgotten') return;
    const step = this.steps[start][finish];
    if (step && (payload !== undefined || !step.payloadOnly)) this.runTransition(ts, step.fn, recs, eff, stim, payload);
    else if (start !== 'released' && finish !== 'released') this.throughReleased(ts, finish, recs, eff, stim, payload);
    else throw this.invalidTransition(ts, start, finish);
  }

  /**
   * The table by start and finish state: looking up two fixed strings
   * instead of building the name `${start}>${finish}` for every transition.
   */
  private readonly steps = this.stepsByState();

  private stepsByState(): Record<TaskStateName, Partial<Record<TaskStateName, Step>>> {
    const steps = { released: {}, waiting: {}, queued: {}, 'no-worker': {}, processing: {}, memory: {}, erred: {}, forgotten: {} } as
      Record<TaskStateName, Partial<Record<TaskStateName, Step>>>;
    for (const name of Object.keys(this.table) as TransitionName[]) {
      const [start, finish] = name.split('>') as [TaskStateName, TaskStateName];
      steps[start][finish] = { fn: this.table[name] as TransitionHandler<TransitionName>, payloadOnly: PAYLOAD_ONLY.has(name) };
    }
    return steps;
  }

  private runTransition(ts: TaskState, fn: TransitionHandler<TransitionName>, recs: Recs, eff: Effects, stim: Stimulus, payload: TransitionPayload | undefined): void {
    const start = ts.state;
    fn(ts, recs, eff, stim, payload as never);
    // The state reached, which is not always the one asked for (e.g. processing may end up queued).
    this.transitionLog.record(ts.key, start, ts.state, stim.stimulusId, stim.now);
  }

  /** No direct transition: go through 'released', as Dask does. */
  private throughReleased(ts: TaskState, finish: TaskStateName, recs: Recs, eff: Effects, stim: Stimulus, payload: TransitionPayload | undefined): void {
    const start = ts.state;
    const release = this.steps[start].released;
    if (!release) throw this.invalidTransition(ts, start, finish);
    // The release's own recommendation for ts is read apart (the request it
    // serves comes after it); one that was waiting before stays as it was.
    const waiting = recs.take(ts);
    this.runTransition(ts, release.fn, recs, eff, stim, undefined);
    const next = recs.get(ts);
    recs.take(ts);
    if (waiting >= 0) recs.restore(ts, waiting);
    if (ts.state === 'forgotten') return;
    if (next === 'forgotten' && finish !== 'forgotten') {
      // The task is no longer needed; honour the release rather than the request.
      recs.set(ts, 'forgotten');
      return;
    }
    this.transition(ts, finish, recs, eff, stim, payload as never);
  }

  private invalidTransition(ts: TaskState, start: TaskStateName, finish: TaskStateName, reason?: string): InvalidTransitionError {
    return new InvalidTransitionError(ts.key, start, finish, this.story(ts.key), reason);
  }

  /** A transition that needs its stimulus's payload got none, or another kind. */
  private missingPayload(ts: TaskState, finish: TaskStateName, expected: TransitionPayload['kind'], got: TransitionPayload | undefined): InvalidTransitionError {
    return this.invalidTransition(ts, ts.state, finish, `${ts.state}>${finish} needs a ${expected} payload, got ${got ? got.kind : 'none'}`);
  }

  /** Runs recommendations to a fixed point. */
  private transitions(recs: Recs, eff: Effects, stim: Stimulus): void {
    // In order, including what later transitions add (a task recommended
    // again after its turn comes round again; a task recommended anew while
    // it waits keeps its place with the new target).
    for (let ts = recs.next(); ts; ts = recs.next()) this.transition(ts, recs.nextTarget, recs, eff, stim);
    if (this.validating) this.validate();
  }

  /**
   * The transitions of `key` (and those caused by a stimulus, given its id)
   * still in the log, oldest first: how the task got where it is.
   */
  story(keyOrStimulusId: string): TransitionRecord[] {
    return this.transitionLog.story(keyOrStimulusId);
  }

  private releasedWaiting(ts: TaskState, recs: Recs): void {
    if (!ts.fn) {
      // Scattered data that was lost: there is no lineage to recompute it from.
      ts.pendingException = verdict(new MissingDataError(ts.key, 'lost',
        `the data of ${ts.key} was lost with the worker that held it, and it was scattered, not computed, so it cannot be recomputed; scatter it again`));
      recs.set(ts, 'erred');
      return;
    }
    for (const dep of ts.dependencies) {
      if (dep.exceptionBlame) {
        recs.set(ts, 'erred');
        return;
      }
    }
    for (const dep of ts.dependencies) {
      dep.addWaiter(ts);
      if (dep.state !== 'memory') {
        ts.addWaitingOn(dep);
        if (dep.state === 'released') recs.set(dep, 'waiting');
      }
    }
    this.setState(ts, 'waiting');
    if (ts.waitingCount === 0) recs.set(ts, 'processing');
    return;
  }

  private waitingProcessing(ts: TaskState, eff: Effects, stim: Stimulus, steal: StealConfirmedPayload | undefined): void {
    // A stale recommendation: an input was lost again in the same cascade.
    if (ts.waitingCount > 0) return;
    if (steal) {
      if (steal.kind !== 'steal-confirmed') throw this.missingPayload(ts, 'processing', 'steal-confirmed', steal);
      // The thief asked for work: it gets the task even beyond its slots (as the steal plan intended).
      if (steal.thief?.status === 'running') {
        this.assign(ts, steal.thief, eff, stim.now);
        return;
      }
    }
    if (this.isRootish(ts)) {
      const ws = this.decideRootWorker(ts.group);
      if (ws) this.assign(ts, ws, eff, stim.now);
      else if (!this.hasRunningWorker()) this.toNoWorker(ts);
      else {
        this.setState(ts, 'queued');
        ts.inQueue = true;
        this.queue.push(ts, ts.priorityUser, ts.priorityGeneration, ts.priorityOrder);
      }
      return;
    }
    const ws = this.decideWorker(ts);
    if (ws) this.assign(ts, ws, eff, stim.now);
    else this.toNoWorker(ts);
    return;
  }

  private toNoWorker(ts: TaskState): void {
    this.setState(ts, 'no-worker');
    this.unrunnable.add(ts);
  }

  private queuedProcessing(ts: TaskState, eff: Effects, stim: Stimulus): void {
    ts.inQueue = false;
    const ws = this.decideRootWorker(ts.group);
    if (ws) {
      this.assign(ts, ws, eff, stim.now);
    } else {
      ts.inQueue = true;
      this.queue.push(ts, ts.priorityUser, ts.priorityGeneration, ts.priorityOrder);
    }
    return;
  }

  private noWorkerProcessing(ts: TaskState, eff: Effects, stim: Stimulus): void {
    const ws = this.isRootish(ts) ? this.decideRootWorker(ts.group) : this.decideWorker(ts);
    if (!ws) {
      if (this.isRootish(ts) && this.hasRunningWorker()) {
        this.unrunnable.delete(ts);
        this.setState(ts, 'queued');
        ts.inQueue = true;
        this.queue.push(ts, ts.priorityUser, ts.priorityGeneration, ts.priorityOrder);
      }
      return;
    }
    this.unrunnable.delete(ts);
    this.assign(ts, ws, eff, stim.now);
    return;
  }

  private waitingReleased(ts: TaskState, recs: Recs): void {
    ts.clearWaitingOn();
    ts.inQueue = false;
    this.unrunnable.delete(ts);
    this.setState(ts, 'released');
    if (this.needed(ts)) {
      recs.set(ts, 'waiting');
    } else {
      this.releaseUnneededDeps(ts, recs);
      if (ts.dependents.size === 0) recs.set(ts, 'forgotten');
    }
    return;
  }

  private processingMemory(ts: TaskState, recs: Recs, eff: Effects, info: TaskFinishedPayload | undefined): void {
    if (info?.kind !== 'task-finished') throw this.missingPayload(ts, 'memory', 'task-finished', info);
    const ws = this.unassign(ts)!;
    this.setState(ts, 'memory');
    ts.nbytes = info.nbytes;
    ts.type = info.type;
    ts.group.nbytes += Math.max(info.nbytes, 0);
    this.recentNbytes = 0.9 * this.recentNbytes + 0.1 * Math.max(info.nbytes, 0);
    this.addReplica(ts, ws);
    this.tasksCompleted++;
    this.learnDurations(ts, info.startstops);
    this.taskStream.record(ts, ws, info.startstops, false);
    let ready = 0;
    for (const dts of ts.dependents) {
      dts.deleteWaitingOn(ts);
      if (dts.state === 'waiting' && dts.waitingCount === 0) {
        recs.set(dts, 'processing');
        ready++;
      }
    }
    for (const dep of ts.dependencies) {
      dep.deleteWaiter(ts);
      if (!this.needed(dep) && dep.state === 'memory') recs.set(dep, 'released');
    }
    for (const cs of ts.whoWants) eff.inMemory(cs, ts.key, ts.type);
    if (!this.needed(ts)) recs.set(ts, 'released');
    this.fillSlots(ws, recs, ready);
    return;
  }

  /** `info` from the worker's error report; none when the scheduler errs the task itself (KilledWorker). */
  private processingErred(ts: TaskState, recs: Recs, eff: Effects, info: TaskErredPayload | undefined): void {
    if (info && info.kind !== 'task-erred') throw this.missingPayload(ts, 'erred', 'task-erred', info);
    const ws = this.unassign(ts);
    if (info) this.taskStream.record(ts, info.worker, info.startstops, true);
    const exception = info?.exception ?? ts.pendingException;
    ts.pendingException = null;
    if (info && ts.retries > 0) {
      ts.retries--;
      this.setState(ts, 'released');
      recs.set(ts, 'waiting');
    } else {
      ts.exception = exception ?? { name: 'Error', message: `task ${ts.key} failed`, stack: '' };
      ts.exceptionBlame = ts;
      this.setState(ts, 'erred');
      this.tasksErred++;
      this.notifyErred(ts, eff);
      for (const dts of ts.dependents) if (dts.state !== 'erred' && dts.state !== 'memory') recs.set(dts, 'erred');
      this.releaseUnneededDeps(ts, recs);
    }
    if (ws) this.fillSlots(ws, recs, 0);
    return;
  }

  /** Scattered data arrived on a worker: the task is in memory without having run. */
  private releasedMemory(ts: TaskState, recs: Recs, scattered: ScatteredPayload | undefined): void {
    if (scattered?.kind !== 'scattered') throw this.missingPayload(ts, 'memory', 'scattered', scattered);
    ts.nbytes = scattered.nbytes;
    ts.type = scattered.type;
    this.setState(ts, 'memory');
    ts.group.nbytes += scattered.nbytes;
    this.addReplica(ts, scattered.worker);
    for (const dts of ts.dependents) {
      dts.deleteWaitingOn(ts);
      if (dts.state === 'waiting' && dts.waitingCount === 0) recs.set(dts, 'processing');
    }
    return;
  }

  /**
   * A confirmed steal, first half: the victim dropped the task before
   * starting it. Its inputs are all in memory, so it waits on nothing and the
   * stimulus follows with waiting>processing towards the thief.
   */
  private processingWaiting(ts: TaskState, steal: StealConfirmedPayload | undefined): void {
    if (steal?.kind !== 'steal-confirmed') throw this.missingPayload(ts, 'waiting', 'steal-confirmed', steal);
    this.unassign(ts);
    this.setState(ts, 'waiting');
    return;
  }

  /** A task errs because a dependency erred (or its own pending exception, for lost scattered data). */
  private toErredFromBlame(ts: TaskState, recs: Recs, eff: Effects): void {
    let blame: TaskState | null = null;
    for (const dep of ts.dependencies) if (dep.exceptionBlame) { blame = dep.exceptionBlame; break; }
    if (blame) {
      ts.exceptionBlame = blame;
      ts.exception = blame.exception;
    } else {
      ts.exceptionBlame = ts;
      ts.exception = ts.pendingException ?? { name: 'Error', message: `task ${ts.key} failed`, stack: '' };
      this.tasksErred++;
    }
    ts.pendingException = null;
    ts.clearWaitingOn();
    ts.inQueue = false;
    this.unrunnable.delete(ts);
    const ws = this.unassign(ts);
    if (ws) eff.freeKey(ws, ts.key);
    this.setState(ts, 'erred');
    this.notifyErred(ts, eff);
    for (const dts of ts.dependents) if (dts.state !== 'erred' && dts.state !== 'memory') recs.set(dts, 'erred');
    this.releaseUnneededDeps(ts, recs);
    if (ws) this.fillSlots(ws, recs, 0);
    return;
  }

  private processingReleased(ts: TaskState, recs: Recs, eff: Effects): void {
    const ws = this.unassign(ts);
    if (ws) eff.freeKey(ws, ts.key);
    this.setState(ts, 'released');
    if (this.needed(ts)) {
      for (const dep of ts.dependencies) dep.deleteWaiter(ts); // re-added by released>waiting
      recs.set(ts, 'waiting');
    } else {
      this.releaseUnneededDeps(ts, recs);
      if (ts.dependents.size === 0) recs.set(ts, 'forgotten');
    }
    if (ws) this.fillSlots(ws, recs, 0);
    return;
  }

  private memoryReleased(ts: TaskState, recs: Recs, eff: Effects): void {
    // Removing a replica changes whoHas: take the first until none is left.
    for (let ws = firstOf(ts.whoHas); ws; ws = firstOf(ts.whoHas)) {
      this.removeReplica(ts, ws);
      eff.freeKey(ws, ts.key);
    }
    ts.group.nbytes -= Math.max(ts.nbytes, 0);
    this.setState(ts, 'released');
    for (const dts of ts.dependents) {
      if (dts.state === 'waiting') dts.addWaitingOn(ts);
      else if (dts.state === 'processing' || dts.state === 'no-worker') recs.set(dts, 'released');
    }
    for (const cs of ts.whoWants) eff.client(cs, { op: 'lost-data', key: ts.key });
    if (this.needed(ts)) recs.set(ts, 'waiting');
    else if (ts.dependents.size === 0) recs.set(ts, 'forgotten');
    return;
  }

  private erredReleased(ts: TaskState, recs: Recs): void {
    ts.exception = null;
    ts.exceptionBlame = null;
    this.setState(ts, 'released');
    for (const dts of ts.dependents) if (dts.state === 'erred') recs.set(dts, 'released');
    if (this.needed(ts)) recs.set(ts, 'waiting');
    else if (ts.dependents.size === 0) recs.set(ts, 'forgotten');
    return;
  }

  private releasedForgotten(ts: TaskState, recs: Recs): void {
    if (ts.dependents.size > 0 || this.needed(ts)) return; // still part of someone's lineage
    // Unlinked both ways first; the detached set still lists them, in order, for the checks.
    const deps = ts.dependencies;
    ts.clearDependencies();
    for (const dep of deps) {
      dep.deleteWaiter(ts);
      if (dep.dependents.size === 0 && !this.needed(dep)) {
        recs.set(dep, dep.state === 'memory' ? 'released' : 'forgotten');
      }
    }
    this.setState(ts, 'forgotten');
    this.counts.forgotten--; // forgotten tasks are not counted: they no longer exist
    ts.group.states.forgotten--;
    this.tasks.delete(ts.key);
    return;
  }

  // ---------------------------------------------------------------- stimuli

  addClient(id: string, stim: Stimulus): ClientState {
    let cs = this.clients.get(id);
    if (!cs) {
      this.clients.set(id, (cs = new ClientState(id)));
      cs.lastSeen = stim.now;
    }
    return cs;
  }

  removeClient(id: string, stim: Stimulus): Effects {
    const eff = new Effects();
    const cs = this.clients.get(id);
    if (!cs) return eff;
    const recs = this.recs.reset();
    this.releaseKeys(cs, [...cs.wantsWhat].map((ts) => ts.key), recs);
    // Its unfinished streamed submissions end with it.
    for (const [sid, stream] of this.graphStreams) {
      if (stream.owner !== id) continue;
      this.releaseKeys(stream.hold, [...stream.hold.wantsWhat].map((ts) => ts.key), recs);
      this.graphStreams.delete(sid);
    }
    this.transitions(recs, eff, stim);
    this.clients.delete(id);
    return eff;
  }

  addWorker(info: {
    address: string; name: string; nthreads: number; memoryLimit: number; host: string; pid: number; localDirectory: string;
  }, stim: Stimulus): Effects {
    const eff = new Effects();
    const ws = new WorkerState(info.address, info.name, info.nthreads, info.memoryLimit, info.host, info.pid, info.localDirectory);
    ws.lastSeen = stim.now;
    this.workers.set(ws.address, ws);
    this.totalThreads += ws.nthreads;
    const recs = this.recs.reset();
    for (const ts of this.unrunnable) recs.set(ts, 'processing');
    this.fillSlots(ws, recs, this.unrunnable.size);
    this.transitions(recs, eff, stim);
    return eff;
  }

  /** A worker left or died: reschedule its tasks, recompute data only it held. */
  removeWorker(address: string, stim: Stimulus): Effects {
    const eff = new Effects();
    const ws = this.workers.get(address);
    if (!ws) return eff;
    ws.status = 'removed';
    this.workers.delete(address);
    this.totalThreads -= ws.nthreads;
    const recs = this.recs.reset();
    for (const ts of [...ws.processing.keys()]) {
      ts.suspicious++;
      if (ts.suspicious > this.allowedFailures) {
        ts.pendingException = verdict(new KilledWorkerError(ts.key, ts.suspicious, ws.address, ws.name));
        this.transition(ts, 'erred', recs, eff, stim);
      } else {
        this.transition(ts, 'released', recs, eff, stim);
      }
    }
    for (const ts of [...ws.hasWhat]) {
      this.removeReplica(ts, ws);
      if (ts.whoHas.size === 0 && ts.state === 'memory') recs.set(ts, 'released');
    }
    this.transitions(recs, eff, stim);
    return eff;
  }

  /**
   * client.restart(), as Dask's: every task is forgotten at once, not
   * transitioned one by one, since every worker is about to lose what it
   * holds and runs. Each client is told which of its keys are gone
   * ('restarted', so its futures fail with a CancelledError); clients and
   * workers stay registered, and the server has the workers restart.
   */
  restart(stim: Stimulus): Effects {
    const eff = new Effects();
    // Every task is forgotten at once: the log says so, so a key's story shows the restart.
    for (const ts of this.tasks.values()) this.transitionLog.record(ts.key, ts.state, 'forgotten', stim.stimulusId, stim.now);
    for (const cs of this.clients.values()) {
      if (cs.wantsWhat.size) eff.client(cs, { op: 'restarted', keys: [...cs.wantsWhat].map((ts) => ts.key) });
      cs.wantsWhat.clear();
    }
    this.graphStreams.clear();
    for (const ws of this.workers.values()) {
      ws.processing.clear();
      ws.occupancy = 0;
      ws.hasWhat.clear();
      ws.nbytes = 0;
    }
    this.tasks.clear();
    this.groups.clear();
    this.unrunnable.clear();
    this.queue.clear();
    for (const state of Object.keys(this.counts) as TaskStateName[]) this.counts[state] = 0;
    if (this.validating) this.validate();
    return eff;
  }

  /**
   * New tasks from a client. `defs` are in the client's topological order
   * (dependencies first), which is also their priority order.
   */
  updateGraph(clientId: string, defs: TaskDef[], wanted: string[], userPriority: number, stim: Stimulus, chunk?: Omit<GraphChunk, 'tasks' | 'keys' | 'priority'>): Effects {
    const eff = new Effects();
    const cs = this.addClient(clientId, stim);
    let stream = chunk ? this.graphStreams.get(`${clientId}#${chunk.stream}`) : undefined;
    if (chunk && !stream) {
      const id = `${clientId}#${chunk.stream}`;
      stream = { hold: new ClientState(id, true), owner: clientId, gen: this.generation++, next: 0 };
      this.graphStreams.set(id, stream);
    }
    const gen = stream ? stream.gen : this.generation++;
    const base = stream ? stream.next : 0;
    if (stream) stream.next += defs.length;
    const recs = this.recs.reset();
    const fresh: TaskState[] = [];
    const freshDefs: TaskDef[] = [];
    for (let i = 0; i < defs.length; i++) {
      const d = defs[i]!;
      let ts = this.tasks.get(d.key);
      if (ts && ts.fn) continue; // the same key is the same computation
      if (!ts) ts = this.newTask(d.key);
      ts.fn = this.internFunction(d.fn);
      ts.args = d.args;
      ts.priorityUser = userPriority === 0 ? 0 : -userPriority; // not -0, which V8 would box (see TaskState.assignedMs)
      ts.priorityGeneration = gen;
      ts.priorityOrder = base + i;
      ts.retries = d.retries ?? 0;
      if (d.workers && d.workers.length) {
        ts.workerRestrictions = new Set(d.workers);
        ts.looseRestrictions = d.allowOtherWorkers ?? false;
      }
      fresh.push(ts);
      freshDefs.push(d);
    }
    for (let f = 0; f < fresh.length; f++) {
      const ts = fresh[f]!;
      const def = freshDefs[f]!;
      for (const depKey of def.deps) {
        let dep = this.tasks.get(depKey);
        if (!dep) {
          // A dependency the scheduler does not know (e.g. a released future): it can never run.
          dep = this.newTask(depKey);
          dep.pendingException = verdict(new MissingDataError(depKey, 'unknown-dependency',
            `task ${ts.key} depends on ${depKey}, which the scheduler does not know (was its future released?)`));
          recs.set(dep, 'erred');
        }
        ts.addDependency(dep);
      }
    }
    // Fresh dependencies become waiting through their dependents' released>waiting.
    for (const key of wanted) {
      const ts = this.tasks.get(key);
      if (!ts) continue;
      ts.addWhoWants(cs);
      cs.wantsWhat.add(ts);
      if (ts.state === 'released') recs.set(ts, 'waiting');
    }
    if (chunk && stream) {
      // Held keys are wanted by the stream until the chunk that names them in
      // `release`: they compute now, and their results wait for the dependents still to come.
      const hold = stream.hold;
      for (const key of chunk.hold) {
        const ts = this.tasks.get(key);
        if (!ts) continue;
        ts.addWhoWants(hold);
        hold.wantsWhat.add(ts);
        if (ts.state === 'released') recs.set(ts, 'waiting');
      }
    }
    this.reportExisting(cs, wanted, eff);
    this.transitions(recs, eff, stim);
    if (chunk && stream) {
      // After this chunk's tasks are waiting on them, so released keys that still have work to feed stay.
      const release = chunk.final ? [...stream.hold.wantsWhat].map((ts) => ts.key) : chunk.release;
      this.releaseKeys(stream.hold, release, recs);
      if (chunk.final) this.graphStreams.delete(stream.hold.id);
      this.transitions(recs, eff, stim);
    }
    return eff;
  }

  /**
   * One FunctionSpec object per distinct function: every task of a map
   * arrives with its own decoded copy (a module URL, an export name), which
   * for a million tasks is hundreds of megabytes of identical strings.
   */
  private internFunction(fn: FunctionSpec): FunctionSpec {
    // The tasks of a graph mostly share one function: compare with the last
    // one first, which builds no id string and looks nothing up.
    const last = this.lastFunction;
    if (last && sameFunction(last, fn)) return last;
    const shared = this.internById(fn);
    this.lastFunction = shared;
    return shared;
  }

  private lastFunction: FunctionSpec | null = null;

  private internById(fn: FunctionSpec): FunctionSpec {
    // Inline functions by their source (no copy of a long text per task); same source, other name: not shared.
    const id = fn.kind === 'module' ? `${fn.export}\0${fn.url}` : fn.source;
    const known = this.functions.get(id);
    if (known) return known.kind === fn.kind && (fn.kind === 'module' || (known.kind === 'inline' && known.name === fn.name)) ? known : fn;
    // Bounded: a program that ships endless distinct inline functions must not grow this forever.
    if (this.functions.size >= MAX_INTERNED_FUNCTIONS) this.functions.clear();
    this.functions.set(id, fn);
    return fn;
  }

  private readonly functions = new Map<string, FunctionSpec>();

  /** Tell the client about wanted keys that are already done or failed. */
  private reportExisting(cs: ClientState, keys: string[], eff: Effects): void {
    for (const key of keys) {
      const ts = this.tasks.get(key);
      if (!ts) continue;
      if (ts.state === 'memory') eff.inMemory(cs, key, ts.type);
      else if (ts.state === 'erred') eff.client(cs, { op: 'task-erred', key, exception: exceptionOf(ts), blame: ts.exceptionBlame?.key ?? key });
    }
  }

  clientDesiresKeys(clientId: string, keys: string[], stim: Stimulus): Effects {
    const eff = new Effects();
    const cs = this.addClient(clientId, stim);
    const recs = this.recs.reset();
    for (const key of keys) {
      const ts = this.tasks.get(key);
      if (!ts) {
        eff.client(cs, {
          op: 'task-erred', key, blame: key,
          exception: verdict(new MissingDataError(key, 'released', `the scheduler does not know ${key}; it was released`)),
        });
        continue;
      }
      ts.addWhoWants(cs);
      cs.wantsWhat.add(ts);
      if (ts.state === 'released') recs.set(ts, 'waiting');
    }
    this.reportExisting(cs, keys, eff);
    this.transitions(recs, eff, stim);
    return eff;
  }

  clientReleasesKeys(clientId: string, keys: string[], stim: Stimulus): Effects {
    const eff = new Effects();
    const cs = this.clients.get(clientId);
    if (!cs) return eff;
    const recs = this.recs.reset();
    this.releaseKeys(cs, keys, recs);
    this.transitions(recs, eff, stim);
    return eff;
  }

  /** `cs` no longer wants `keys`: recommendations for those nobody needs any more. */
  private releaseKeys(cs: ClientState, keys: readonly string[], recs: Recs): void {
    for (const key of keys) {
      const ts = this.tasks.get(key);
      if (!ts || !ts.deleteWhoWants(cs)) continue;
      cs.wantsWhat.delete(ts);
      if (!this.needed(ts)) {
        if (ts.state === 'erred' || ts.state === 'released') {
          if (ts.dependents.size === 0) recs.set(ts, 'forgotten');
        } else recs.set(ts, 'released');
      }
    }
  }

  taskFinished(address: string, key: string, nbytes: number, type: string, startstops: StartStop[], stim: Stimulus): Effects {
    const eff = new Effects();
    this.finishOne(address, key, nbytes, type, startstops, eff, stim);
    return eff;
  }

  /**
   * Several task-finished reports that arrived together (one wire batch),
   * handled as one stimulus: each runs its cascade exactly as taskFinished
   * would, in order, into one Effects.
   */
  tasksFinished(reports: readonly { address: string; key: string; nbytes: number; type: string; startstops: StartStop[] }[], stim: Stimulus): Effects {
    const eff = new Effects();
    for (const r of reports) this.finishOne(r.address, r.key, r.nbytes, r.type, r.startstops, eff, stim);
    return eff;
  }

  private finishOne(address: string, key: string, nbytes: number, type: string, startstops: StartStop[], eff: Effects, stim: Stimulus): void {
    const ws = this.workers.get(address);
    const ts = this.tasks.get(key);
    if (!ws) return;
    if (!ts) {
      eff.freeKey(ws, key);
      return;
    }
    if (ts.state === 'processing' && ts.processingOn === ws) {
      const recs = this.recs.reset();
      this.transition(ts, 'memory', recs, eff, stim, { kind: 'task-finished', nbytes, type, startstops });
      this.transitions(recs, eff, stim);
    } else if (ts.state === 'memory') {
      // A duplicate (e.g. a steal raced with completion): keep it as a replica.
      if (ws.processing.has(ts)) ws.processing.delete(ts);
      this.addReplica(ts, ws);
    } else {
      // Finished something we no longer want from this worker.
      eff.freeKey(ws, key);
    }
  }

  taskErred(address: string, key: string, exception: ErrorInfo, startstops: StartStop[], stim: Stimulus): Effects {
    const eff = new Effects();
    const ws = this.workers.get(address);
    const ts = this.tasks.get(key);
    if (!ws || !ts || ts.state !== 'processing' || ts.processingOn !== ws) return eff;
    const recs = this.recs.reset();
    this.transition(ts, 'erred', recs, eff, stim, { kind: 'task-erred', exception, startstops, worker: ws });
    this.transitions(recs, eff, stim);
    return eff;
  }

  /** A worker could not fetch `key` from `errant`: that replica is gone. Re-plan the dependents. */
  missingData(address: string, key: string, errant: string, stim: Stimulus): Effects {
    const eff = new Effects();
    const ts = this.tasks.get(key);
    const reporter = this.workers.get(address);
    const recs = this.recs.reset();
    if (ts) {
      const bad = this.workers.get(errant);
      if (bad) this.removeReplica(ts, bad);
      if (ts.state === 'memory' && ts.whoHas.size === 0) recs.set(ts, 'released');
      for (const dts of ts.dependents) {
        if (dts.state === 'processing' && dts.processingOn === reporter) recs.set(dts, 'released');
      }
    }
    this.transitions(recs, eff, stim);
    return eff;
  }

  /**
   * Runs `keys` again: results in memory are dropped from every worker and
   * tasks being processed are called off, and each goes back through
   * released to waiting while something still needs it (a shuffle extension
   * restarting a shuffle whose worker was lost, scheduler/shuffle.ts).
   */
  rerun(keys: readonly string[], stim: Stimulus): Effects {
    const eff = new Effects();
    const recs = this.recs.reset();
    for (const key of keys) {
      const ts = this.tasks.get(key);
      if (ts && (ts.state === 'memory' || ts.state === 'processing')) this.transition(ts, 'released', recs, eff, stim);
    }
    this.transitions(recs, eff, stim);
    return eff;
  }

  /** A worker now holds extra replicas (fetched dependencies, scattered data). */
  addKeys(address: string, keys: string[]): Effects {
    const eff = new Effects();
    const ws = this.workers.get(address);
    if (!ws) return eff;
    const unwanted: string[] = [];
    for (const key of keys) {
      const ts = this.tasks.get(key);
      if (ts && ts.state === 'memory') this.addReplica(ts, ws);
      else unwanted.push(key);
    }
    if (unwanted.length) eff.worker(ws, { op: 'free-keys', keys: unwanted });
    return eff;
  }

  /** Data placed on workers by a client; it has no lineage. */
  scattered(clientId: string, items: { key: string; nbytes: number; type: string; worker: string }[], stim: Stimulus): Effects {
    const eff = new Effects();
    const cs = this.addClient(clientId, stim);
    const recs = this.recs.reset();
    for (const it of items) {
      const ws = this.workers.get(it.worker);
      if (!ws) continue;
      let ts = this.tasks.get(it.key);
      if (!ts) ts = this.newTask(it.key);
      ts.addWhoWants(cs);
      cs.wantsWhat.add(ts);
      if (ts.state === 'memory') {
        this.addReplica(ts, ws);
        continue;
      }
      if (ts.state !== 'released') continue;
      this.transition(ts, 'memory', recs, eff, stim, { kind: 'scattered', worker: ws, nbytes: it.nbytes, type: it.type });
      // Only the scattering client hears of it: it is the one waiting for the scatter.
      eff.inMemory(cs, it.key, it.type);
    }
    this.transitions(recs, eff, stim);
    return eff;
  }

  heartbeat(address: string, metrics: WorkerMetrics, stim: Stimulus): boolean {
    const ws = this.workers.get(address);
    if (!ws) return false;
    ws.lastSeen = stim.now;
    ws.metrics = metrics;
    const wasPaused = ws.status === 'paused';
    if (metrics.paused && ws.status === 'running') ws.status = 'paused';
    else if (!metrics.paused && wasPaused) ws.status = 'running';
    return wasPaused && !metrics.paused;
  }

  /** A paused worker resumed: give it queued work. */
  workerResumed(address: string, stim: Stimulus): Effects {
    const eff = new Effects();
    const ws = this.workers.get(address);
    if (!ws) return eff;
    const recs = this.recs.reset();
    this.fillSlots(ws, recs, 0);
    for (const ts of this.unrunnable) recs.set(ts, 'processing');
    this.transitions(recs, eff, stim);
    return eff;
  }

  /**
   * A worker gave up a task it had not started (a confirmed steal; see
   * stealing.ts): processing>waiting there, then waiting>processing on the
   * thief, or wherever the scheduler chooses if the thief is gone or not
   * running. Nothing happens if the task moved on meanwhile.
   */
  taskStolen(key: string, victimAddress: string, thiefAddress: string, stim: Stimulus): Effects {
    const eff = new Effects();
    const ts = this.tasks.get(key);
    const victim = this.workers.get(victimAddress);
    if (!ts || ts.state !== 'processing' || ts.processingOn !== victim) return eff;
    const steal: StealConfirmedPayload = { kind: 'steal-confirmed', thief: this.workers.get(thiefAddress) ?? null };
    const recs = this.recs.reset();
    this.transition(ts, 'waiting', recs, eff, stim, steal);
    this.transition(ts, 'processing', recs, eff, stim, steal);
    this.transitions(recs, eff, stim);
    return eff;
  }

  /** Durations of computed tasks: per group for placement, and a recent average that sets how deep workers are fed. */
  private learnDurations(ts: TaskState, startstops: readonly StartStop[]): void {
    for (const ss of startstops) {
      if (ss.action !== 'compute') continue;
      const d = ss.stop - ss.start;
      ts.group.durationMs += d;
      ts.group.finished++;
      this.recentDurationMs = this.recentDurationMs === undefined ? d : 0.9 * this.recentDurationMs + 0.1 * d;
    }
  }

  // ------------------------------------------------------------- validation

  /** Checks every invariant; throws InvalidStateError naming the first violation. Used by tests. */
  validate(): void {
    const fail = (msg: string): never => {
      throw new InvalidStateError(msg);
    };
    const counts = emptyStateCounts();
    for (const [key, ts] of this.tasks) {
      if (ts.key !== key) fail(`task ${key} stored under another key ${ts.key}`);
      counts[ts.state]++;
      if (ts.state === 'forgotten') fail(`forgotten task ${key} still stored`);
      for (const dep of ts.dependencies) {
        if (!dep.dependents.has(ts)) fail(`${key} depends on ${dep.key}, which does not list it as a dependent`);
        if (this.tasks.get(dep.key) !== dep) fail(`${key} depends on ${dep.key}, which is not stored`);
      }
      for (const dts of ts.dependents) if (!dts.dependencies.has(ts)) fail(`${key} lists dependent ${dts.key}, which does not depend on it`);
      for (const w of ts.waiters) if (!ts.dependents.has(w)) fail(`${key} has waiter ${w.key} that is not a dependent`);
      for (const w of ts.waitingOn) if (!ts.dependencies.has(w)) fail(`${key} waits on ${w.key}, not a dependency`);
      for (const ws of ts.whoHas) if (!ws.hasWhat.has(ts)) fail(`${key} says ${ws.address} has it, but the worker does not`);
      for (const cs of ts.whoWants) if (!cs.wantsWhat.has(ts)) fail(`${key} wanted by ${cs.id}, which does not list it`);
      switch (ts.state) {
        case 'waiting':
          if (ts.waitingCount === 0) fail(`${key} is waiting on nothing`);
          for (const d of ts.waitingOn) if (d.state === 'memory') fail(`${key} waits on ${d.key}, which is in memory`);
          for (const d of ts.dependencies) if (!d.waiters.has(ts) && d.state !== 'erred') fail(`${key} is waiting but is not a waiter of ${d.key}`);
          break;
        case 'processing':
          if (!ts.processingOn) fail(`${key} is processing on no worker`);
          if (!ts.processingOn!.processing.has(ts)) fail(`${key} is processing on ${ts.processingOn!.address}, which does not list it`);
          if (this.workers.get(ts.processingOn!.address) !== ts.processingOn) fail(`${key} is processing on removed worker ${ts.processingOn!.address}`);
          for (const d of ts.dependencies) if (d.state !== 'memory') fail(`${key} is processing but dependency ${d.key} is ${d.state}`);
          break;
        case 'memory':
          if (ts.whoHas.size === 0) fail(`${key} is in memory on no worker`);
          if (ts.processingOn) fail(`${key} is in memory but still processing on ${ts.processingOn.address}`);
          break;
        case 'queued':
          if (!ts.inQueue) fail(`${key} is queued but not in the queue`);
          break;
        case 'no-worker':
          if (!this.unrunnable.has(ts)) fail(`${key} is no-worker but not in the unrunnable set`);
          break;
        case 'erred':
          if (!ts.exceptionBlame) fail(`${key} erred without blame`);
          break;
        case 'released':
          if (ts.whoHas.size) fail(`${key} is released but held by workers`);
          if (ts.processingOn) fail(`${key} is released but processing`);
          break;
        case 'forgotten':
          fail(`${key} is forgotten but still in the task map`);
          break;
      }
      if (ts.state !== 'processing' && ts.processingOn) fail(`${key} in state ${ts.state} has processingOn`);
      if (ts.state !== 'memory' && ts.whoHas.size) fail(`${key} in state ${ts.state} is held by workers`);
    }
    for (const s of Object.keys(counts) as TaskStateName[]) {
      if (counts[s] !== this.counts[s]) fail(`count of ${s} tasks is ${this.counts[s]}, but ${counts[s]} tasks are ${s}`);
    }
    for (const ws of this.workers.values()) {
      for (const ts of ws.processing.keys()) if (ts.processingOn !== ws) fail(`${ws.address} lists ${ts.key} as processing, but it is on ${ts.processingOn?.address}`);
      for (const ts of ws.hasWhat) if (!ts.whoHas.has(ws)) fail(`${ws.address} has ${ts.key}, which does not list it`);
    }
    for (const ts of this.unrunnable) if (ts.state !== 'no-worker') fail(`${ts.key} in unrunnable set while ${ts.state}`);
    if (!this.queue.ordered()) fail('the root-task queue is out of heap order');
  }
}
