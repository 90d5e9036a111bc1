/**
 * The worker's task and fetch state, after Dask's worker state machine: a
 * pure data structure that takes events (src/worker/events.ts) and returns
 * instructions (src/worker/instructions.ts). No I/O, no timers, no clock:
 * times come with the events. The runner (src/worker/server.ts) carries the
 * instructions out and turns what happens in sockets, threads and the store
 * into events, so every transition here is unit-testable and `validate()`
 * can check the invariants after any event.
 *
 * Each key the worker knows is one WorkerTask in exactly one state:
 *
 *   waiting    a task to compute here, with inputs not here yet
 *   ready      a task whose inputs are all in memory, in the ready heap
 *   executing  a task handed to the executor pool
 *   cancelled  an executing task that was freed: its thread is being ended;
 *              forgotten when the pool reports the run settled
 *   fetch      data to get from a peer (an input of a local task, or a replica)
 *   flight     data asked of a peer, reply pending
 *   missing    data a local task needs that no known peer holds: the
 *              scheduler re-plans (it was told, or will send new holders)
 *   memory     data in the store
 *
 * Freeing, stealing and cancelling share one path (`release`): a key's work
 * and data go, and if a local task still needs the value the key falls back
 * to being fetched.
 */
import type { FunctionSpec } from '../protocol/messages.js';
import { serializedBytes } from '../graph/serialize.js';
import type { DepInfo, ErrorInfo, SendOf, SerializedValue, StartStop, WorkerToScheduler } from '../protocol/messages.js';
import type {
  AcquireReplicasEvent, ComputeTaskEvent, ExecuteFailureEvent, ExecuteSuccessEvent, GatherDepFailureEvent,
  GatherDepSuccessEvent, UpdateDataEvent, WorkerEvent,
} from './events.js';
import type { Instruction } from './instructions.js';
import { ReadyHeap, type HeapMember } from './ready-heap.js';

export type WorkerTaskStateName = 'waiting' | 'ready' | 'executing' | 'cancelled' | 'fetch' | 'flight' | 'missing' | 'memory';

/** What the scheduler sent to compute a task here. */
export interface RunSpec {
  fn: FunctionSpec;
  args: Uint8Array;
  deps: DepInfo[];
}

/** Keys asked of one peer per get-data request: one reply must stay within a message's frame-count limit. */
export const FETCH_BATCH = 4_096;

/**
 * Bytes asked of one peer per get-data request (Dask's limit too): many small
 * values share a request, while a reply stays a size the peer can write and
 * we can receive without holding gigabytes for one message. A single larger
 * value goes alone.
 */
export const FETCH_BATCH_BYTES = 50_000_000;

/**
 * The empty set every task starts with: most keys are data in memory that
 * never link to another, and three empty Sets per key would cost hundreds
 * of bytes each for hundreds of thousands of results. Never added to: a
 * task gets its own set on first use (see `link`).
 */
const NONE: ReadonlySet<WorkerTask> = new Set();
const NO_PRIORITY: readonly number[] = [];
/**
 * Shared by every task with no known holder or no transfers yet (most
 * tasks computed here): one empty array each would be two allocations per
 * task. Never added to: replaced by an array of the task's own first.
 */
const NO_PEERS: readonly string[] = [];
const NO_TRANSFERS: readonly StartStop[] = [];

export class WorkerTask implements HeapMember {
  state: WorkerTaskStateName = 'fetch';
  /** Set while the key is a task to compute here (waiting, ready, executing), or asked to be while its data is in flight. */
  run: RunSpec | null = null;
  priority: readonly number[] = NO_PRIORITY;
  /** Inputs of a waiting or ready task (cleared when it starts executing). */
  dependencies = NONE as Set<WorkerTask>;
  /** The inputs among `dependencies` that are not in memory yet. */
  waitingFor = NONE as Set<WorkerTask>;
  /** Waiting or ready tasks that need this key's value. */
  dependents = NONE as Set<WorkerTask>;
  /** Peers believed to hold the value (never this worker). */
  who = NO_PEERS as string[];
  nbytes = 0;
  /** Fetched to hold a copy (a retiring worker's data), not for a task. */
  replica = false;
  /** Transfers of this task's inputs, reported with its result. */
  transfers = NO_TRANSFERS as StartStop[];
  /** The run handed to the pool last: results of older runs are ignored. */
  runId = 0;
  /** The get-data request this key is in flight with: replies to older ones are ignored. */
  gatherId = 0;
  heapIndex = -1;

  constructor(readonly key: string) {}
}

export interface WorkerStateOptions {
  /** This worker's address: never a peer to fetch from. */
  address?: string;
  /** Check the invariants after every event (tests). */
  validate?: boolean;
  /** The most jobs the executor pool can hold (for validate()). */
  maxExecuting?: number;
}

export class InvalidWorkerStateError extends Error {}

export class WorkerState {
  address: string;
  readonly tasks = new Map<string, WorkerTask>();
  readonly ready = new ReadyHeap<WorkerTask>();
  /** Keys in the fetch state, not yet asked of a peer. */
  readonly toFetch = new Set<WorkerTask>();
  readonly executing = new Set<WorkerTask>();
  /** Jobs the executor pool accepts right now, as last reported, less the runs started since. */
  freeSlots = 0;
  paused = false;
  readonly validating: boolean;
  private readonly maxExecuting: number;
  private gatherScheduled = false;
  private nextRunId = 1;
  private nextGatherId = 1;
  private out: Instruction[] = [];

  constructor(opts: WorkerStateOptions = {}) {
    this.address = opts.address ?? '';
    this.validating = opts.validate ?? false;
    this.maxExecuting = opts.maxExecuting ?? Infinity;
  }

  /** Applies one event; returns what the runner must do, in order. */
  handle(event: WorkerEvent): Instruction[] {
    this.out = [];
    switch (event.op) {
      case 'compute-task': this.computeTask(event); break;
      case 'free-keys': for (const key of event.keys) this.freeKey(key); break;
      case 'steal-request': this.stealRequest(event.key); break;
      case 'acquire-replicas': this.acquireReplicas(event); break;
      case 'update-data': this.updateData(event); break;
      case 'gather': this.gather(); break;
      case 'gather-dep-success':
      case 'gather-dep-failure': this.gatherDone(event); break;
      case 'execute-success': this.executeSuccess(event); break;
      case 'execute-failure': this.executeFailure(event); break;
      case 'execute-cancelled': this.runEnded(event.key, event.runId); break;
      case 'execute-input-missing': this.inputMissing(event.key, event.runId, event.dep); break;
      case 'executor-capacity': this.freeSlots = event.free; break;
      case 'pause': this.paused = true; break;
      case 'unpause': this.paused = false; break;
      case 'reset': this.reset(); break;
    }
    this.ensureComputing();
    if (this.validating) this.validate();
    const out = this.out;
    this.out = [];
    return out;
  }

  /** Whether `runId` is still the wanted run of `key` (the runner asks before handing a job to the pool). */
  isExecuting(key: string, runId: number): boolean {
    const ts = this.tasks.get(key);
    return ts !== undefined && ts.state === 'executing' && ts.runId === runId;
  }

  // ---------------------------------------------------------------- helpers

  private send(msg: SendOf<WorkerToScheduler>): void {
    this.out.push({ op: 'send', msg });
  }

  private addWho(ts: WorkerTask, who: readonly string[]): void {
    for (const w of who) {
      if (w === this.address || ts.who.includes(w)) continue;
      if (ts.who === NO_PEERS) ts.who = [];
      ts.who.push(w);
    }
  }

  private newTask(key: string): WorkerTask {
    const ts = new WorkerTask(key);
    this.tasks.set(key, ts);
    return ts;
  }

  /** Leaves whatever state `ts` is in: its membership of the ready heap, the fetch set, the executing set. */
  private leave(ts: WorkerTask): void {
    switch (ts.state) {
      case 'ready': this.ready.remove(ts); break;
      case 'fetch': this.toFetch.delete(ts); break;
      case 'executing':
      case 'cancelled': this.executing.delete(ts); break;
      default: break;
    }
  }

  private forget(ts: WorkerTask): void {
    this.leave(ts);
    this.unlinkDependencies(ts);
    if (this.tasks.get(ts.key) === ts) this.tasks.delete(ts.key);
  }

  /** `ts` no longer waits for its inputs (it started, or was released): inputs nobody needs any more are dropped. */
  private unlinkDependencies(ts: WorkerTask): void {
    if (ts.dependencies === NONE) return;
    for (const dep of ts.dependencies) {
      dep.dependents.delete(ts);
      if (dep.dependents.size) continue;
      dep.dependents = NONE as Set<WorkerTask>;
      if (!dep.replica && (dep.state === 'fetch' || dep.state === 'missing')) this.forget(dep);
      // In flight, it stays until the reply comes (and is dropped then).
    }
    ts.dependencies = NONE as Set<WorkerTask>;
    ts.waitingFor = NONE as Set<WorkerTask>;
  }

  /** Data a local task needs but that is not here: ask a peer for it, or wait for the scheduler to name one. */
  private toFetchOrMissing(ts: WorkerTask): void {
    this.leave(ts);
    ts.run = null;
    if (ts.who.length) {
      ts.state = 'fetch';
      this.toFetch.add(ts);
      this.gatherLater();
    } else ts.state = 'missing';
  }

  /** `ts` needs the value of `input`. */
  private link(ts: WorkerTask, input: WorkerTask): void {
    if (ts.dependencies === NONE) ts.dependencies = new Set();
    ts.dependencies.add(input);
    if (input.dependents === NONE) input.dependents = new Set();
    input.dependents.add(ts);
    if (input.state !== 'memory') this.waitFor(ts, input);
  }

  private waitFor(ts: WorkerTask, input: WorkerTask): void {
    if (ts.waitingFor === NONE) ts.waitingFor = new Set();
    ts.waitingFor.add(input);
  }

  private gatherLater(): void {
    if (this.gatherScheduled) return;
    this.gatherScheduled = true;
    this.out.push({ op: 'gather-later' });
  }

  /** The value of `ts` is in the store now: its dependents stop waiting for it. */
  private toMemory(ts: WorkerTask, value: SerializedValue): number {
    this.leave(ts);
    this.unlinkDependencies(ts);
    ts.run = null;
    ts.state = 'memory';
    ts.nbytes = serializedBytes(value);
    this.out.push({ op: 'store-data', key: ts.key, value });
    for (const d of ts.dependents) {
      d.waitingFor.delete(ts);
      if (d.waitingFor.size === 0 && d.state === 'waiting') this.toReady(d);
    }
    return ts.nbytes;
  }

  private toReady(ts: WorkerTask): void {
    ts.state = 'ready';
    this.ready.push(ts);
  }

  /**
   * The one path for freeing, stealing and cancelling: the key's work and
   * data here go. A running task's thread is ended. If a local task still
   * needs the value, the key falls back to being fetched.
   */
  private release(ts: WorkerTask): void {
    switch (ts.state) {
      case 'executing':
        this.out.push({ op: 'cancel-execution', key: ts.key, runId: ts.runId });
        if (ts.dependents.size) this.toFetchOrMissing(ts);
        else {
          ts.state = 'cancelled'; // until the pool reports the run settled
          ts.run = null;
        }
        return;
      case 'cancelled':
        return;
      case 'memory':
        this.out.push({ op: 'delete-data', keys: [ts.key] });
        // Local tasks that counted on the value wait for it again.
        for (const d of ts.dependents) {
          this.waitFor(d, ts);
          if (d.state === 'ready') {
            this.ready.remove(d);
            d.state = 'waiting';
          }
        }
        break;
      case 'flight':
        // The reply is still awaited (and dropped if nobody wants the value by then).
        ts.run = null;
        ts.replica = false;
        return;
      case 'fetch':
      case 'missing':
        ts.replica = false;
        break;
      default:
        break;
    }
    this.unlinkDependencies(ts);
    if (ts.dependents.size) this.toFetchOrMissing(ts);
    else this.forget(ts);
  }

  // ------------------------------------------------------------- scheduler

  private computeTask(ev: ComputeTaskEvent): void {
    let ts = this.tasks.get(ev.key);
    if (ts) {
      switch (ts.state) {
        case 'waiting':
        case 'ready':
        case 'executing':
          return; // already assigned
        case 'memory':
          this.send({ op: 'task-finished', key: ts.key, nbytes: ts.nbytes, type: '', startstops: [] });
          return;
        case 'cancelled':
          // A cancelled task still settling is not this one: the key was freed and assigned again.
          this.forget(ts);
          ts = this.newTask(ev.key);
          break;
        case 'flight':
          // Its value is on the way: that result will do (see gatherDone).
          ts.run = { fn: ev.fn, args: ev.args, deps: ev.deps };
          ts.priority = ev.priority;
          return;
        default: // fetch, missing: compute it instead, for the local tasks that wait for it too
          this.leave(ts);
          break;
      }
    } else ts = this.newTask(ev.key);
    ts.run = ev; // a compute-task message is a RunSpec: kept as it is, one object less per task
    ts.priority = ev.priority;
    this.linkInputs(ts);
  }

  /** A task to compute here: find or create its inputs, and wait for those not in memory. */
  private linkInputs(ts: WorkerTask): void {
    ts.state = 'waiting';
    for (const dep of ts.run!.deps) {
      let d = this.tasks.get(dep.key);
      if (d && d.state === 'cancelled') {
        // Freed while running, needed again: its value comes from a holder.
        this.executing.delete(d);
        d.state = 'missing';
      }
      if (!d) {
        d = this.newTask(dep.key);
        d.state = 'missing';
        d.nbytes = dep.nbytes;
      }
      this.addWho(d, dep.who);
      if (d.state === 'missing' && d.who.length) this.toFetchOrMissing(d);
      this.link(ts, d);
    }
    if (ts.waitingFor.size === 0) this.toReady(ts);
  }

  private freeKey(key: string): void {
    const ts = this.tasks.get(key);
    if (ts) this.release(ts);
  }

  private stealRequest(key: string): void {
    const ts = this.tasks.get(key);
    // Only a task that has not started can go: a running one finishes here.
    const ok = ts !== undefined && (ts.state === 'waiting' || ts.state === 'ready' || (ts.state === 'flight' && ts.run !== null));
    if (ok) this.release(ts);
    this.send({ op: 'steal-response', key, ok });
  }

  private acquireReplicas(ev: AcquireReplicasEvent): void {
    for (const k of ev.keys) {
      let ts = this.tasks.get(k.key);
      if (ts && ts.state !== 'fetch' && ts.state !== 'missing' && ts.state !== 'flight') continue; // here, or computed here
      if (!ts) {
        ts = this.newTask(k.key);
        ts.state = 'missing';
        ts.nbytes = k.nbytes;
      }
      ts.replica = true;
      this.addWho(ts, k.who);
      if (ts.state === 'missing') {
        if (ts.who.length) this.toFetchOrMissing(ts);
        else if (ts.dependents.size === 0) this.forget(ts);
      }
    }
  }

  private updateData(ev: UpdateDataEvent): void {
    for (const it of ev.items) {
      const ts = this.tasks.get(it.key) ?? this.newTask(it.key);
      // A run of the key still going is left to finish; its result is ignored.
      this.toMemory(ts, it.value);
    }
  }

  // ---------------------------------------------------------------- fetches

  /** Sends every pending fetch: requests to each peer (the first known holder) of at most FETCH_BATCH keys and FETCH_BATCH_BYTES each. */
  private gather(): void {
    this.gatherScheduled = false;
    const byPeer = new Map<string, WorkerTask[]>();
    for (const ts of this.toFetch) {
      const peer = ts.who[0]!;
      let list = byPeer.get(peer);
      if (!list) byPeer.set(peer, (list = []));
      list.push(ts);
    }
    this.toFetch.clear();
    for (const [peer, list] of byPeer) {
      for (let i = 0; i < list.length;) {
        const gatherId = this.nextGatherId++;
        const keys: string[] = [];
        let bytes = 0;
        for (; i < list.length && keys.length < FETCH_BATCH; i++) {
          const ts = list[i]!;
          if (keys.length > 0 && bytes + ts.nbytes > FETCH_BATCH_BYTES) break;
          bytes += ts.nbytes;
          ts.state = 'flight';
          ts.gatherId = gatherId;
          keys.push(ts.key);
        }
        this.out.push({ op: 'gather-dep', gatherId, peer, keys });
      }
    }
  }

  private gatherDone(ev: GatherDepSuccessEvent | GatherDepFailureEvent): void {
    const data = ev.op === 'gather-dep-success' ? ev.data : {};
    const fetched: string[] = [];
    for (const key of ev.keys) {
      const ts = this.tasks.get(key);
      // Forgotten since (a reset, or nobody wanted it), or asked again in a later request.
      if (!ts || ts.state !== 'flight' || ts.gatherId !== ev.gatherId) continue;
      const value = data[key];
      if (value) {
        if (ts.run) {
          // Asked to compute it while it was in flight: the fetched value is the result.
          const nbytes = this.toMemory(ts, value);
          this.send({ op: 'task-finished', key, nbytes, type: '', startstops: [] });
          continue;
        }
        if (ts.dependents.size === 0 && !ts.replica) {
          this.forget(ts); // nobody wants it any more
          continue;
        }
        const nbytes = this.toMemory(ts, value);
        const transfer: StartStop = { action: 'transfer', start: (ev as GatherDepSuccessEvent).start, stop: (ev as GatherDepSuccessEvent).stop, source: ev.peer, nbytes };
        for (const d of ts.dependents) {
          if (d.transfers === NO_TRANSFERS) d.transfers = [];
          d.transfers.push(transfer);
        }
        fetched.push(key);
        continue;
      }
      // That peer does not have it (or is gone): try the next holder, or ask the scheduler to re-plan.
      ts.who = ts.who.filter((a) => a !== ev.peer);
      if (ts.run) {
        this.linkInputs(ts);
      } else if (ts.dependents.size === 0 && !ts.replica) {
        this.forget(ts); // nobody wants it any more
      } else if (ts.who.length) {
        this.toFetchOrMissing(ts);
      } else {
        this.send({ op: 'missing-data', key, errant: ev.peer });
        if (ts.dependents.size) this.toFetchOrMissing(ts);
        else this.forget(ts);
      }
    }
    if (fetched.length) this.send({ op: 'add-keys', keys: fetched });
  }

  // -------------------------------------------------------------- execution

  /** Hands ready tasks to the pool, highest priority first, while it has room and memory allows. */
  private ensureComputing(): void {
    while (!this.paused && this.freeSlots > 0 && this.ready.size) {
      const ts = this.ready.pop()!;
      ts.state = 'executing';
      ts.runId = this.nextRunId++;
      this.executing.add(ts);
      this.freeSlots--;
      const run = ts.run!;
      // Its inputs are read from the store now; they no longer count as needed by it.
      this.unlinkDependencies(ts);
      this.out.push({ op: 'execute', key: ts.key, runId: ts.runId, fn: run.fn, args: run.args, depKeys: run.deps.map((d) => d.key) });
    }
  }

  /** The record of a run that reported back, or undefined if the run is no longer wanted. */
  private currentRun(key: string, runId: number): WorkerTask | undefined {
    const ts = this.tasks.get(key);
    return ts && ts.runId === runId && (ts.state === 'executing' || ts.state === 'cancelled') ? ts : undefined;
  }

  /** A run ended without a result to keep. */
  private runEnded(key: string, runId: number): void {
    const ts = this.currentRun(key, runId);
    if (!ts) return;
    if (ts.dependents.size) this.toFetchOrMissing(ts);
    else this.forget(ts);
  }

  private executeSuccess(ev: ExecuteSuccessEvent): void {
    const ts = this.currentRun(ev.key, ev.runId);
    if (!ts) return;
    if (ts.state === 'cancelled') return this.forget(ts);
    const startstops: StartStop[] = [...ts.transfers, { action: 'compute', start: ev.start, stop: ev.stop, thread: ev.thread }];
    const nbytes = this.toMemory(ts, ev.value);
    ts.transfers = NO_TRANSFERS as StartStop[];
    this.send({ op: 'task-finished', key: ts.key, nbytes, type: ev.valueType, startstops });
  }

  private executeFailure(ev: ExecuteFailureEvent): void {
    const ts = this.currentRun(ev.key, ev.runId);
    if (!ts) return;
    if (ts.state === 'executing') {
      const startstops: StartStop[] = [...ts.transfers, { action: 'compute', start: ev.start, stop: ev.stop, thread: ev.thread }];
      this.send({ op: 'task-erred', key: ts.key, exception: ev.error satisfies ErrorInfo, startstops });
    }
    this.runEnded(ev.key, ev.runId);
  }

  /** An input was freed before the run could read it: the scheduler re-plans the task. */
  private inputMissing(key: string, runId: number, dep: string): void {
    const ts = this.currentRun(key, runId);
    if (!ts) return;
    if (ts.state === 'executing') this.send({ op: 'missing-data', key: dep, errant: this.address });
    this.runEnded(key, runId);
  }

  // ------------------------------------------------------------------ reset

  /** Every task and all data go; runs and fetches still out report back to a state that no longer knows them. */
  private reset(): void {
    const held: string[] = [];
    for (const ts of this.tasks.values()) if (ts.state === 'memory') held.push(ts.key);
    if (held.length) this.out.push({ op: 'delete-data', keys: held });
    this.tasks.clear();
    this.ready.clear();
    this.toFetch.clear();
    this.executing.clear();
    this.gatherScheduled = false;
  }

  // ------------------------------------------------------------- validation

  /** Checks every invariant; throws InvalidWorkerStateError on the first broken one. */
  validate(): void {
    const fail = (msg: string): never => {
      throw new InvalidWorkerStateError(msg);
    };
    if (NONE.size) fail('the shared empty set was added to');
    const heapError = this.ready.check();
    if (heapError) fail(heapError);
    for (const ts of this.ready) {
      if (this.tasks.get(ts.key) !== ts || ts.state !== 'ready') fail(`${ts.key} is in the ready heap but ${ts.state}`);
    }
    for (const ts of this.toFetch) if (this.tasks.get(ts.key) !== ts || ts.state !== 'fetch') fail(`${ts.key} is to fetch but ${ts.state}`);
    for (const ts of this.executing) {
      if (this.tasks.get(ts.key) !== ts || (ts.state !== 'executing' && ts.state !== 'cancelled')) fail(`${ts.key} counted as executing but ${ts.state}`);
    }
    if (this.executing.size > this.maxExecuting) fail(`${this.executing.size} runs in a pool of ${this.maxExecuting} slots`);
    if (this.freeSlots < 0) fail(`more runs started than the pool had room for (${this.freeSlots})`);
    let ready = 0;
    let fetch = 0;
    let executing = 0;
    for (const [key, ts] of this.tasks) {
      if (ts.key !== key) fail(`${key} maps to ${ts.key}`);
      if (ts.who.includes(this.address) && this.address) fail(`${key} would be fetched from this worker`);
      const computing = ts.state === 'waiting' || ts.state === 'ready' || ts.state === 'executing';
      if (computing && !ts.run) fail(`${key} is ${ts.state} without a task`);
      if (!computing && ts.state !== 'flight' && ts.run) fail(`${key} is ${ts.state} with a task to run`);
      if (ts.state !== 'waiting' && ts.state !== 'ready' && ts.dependencies.size) fail(`${key} is ${ts.state} and still linked to its inputs`);
      if (ts.state === 'cancelled' && ts.dependents.size) fail(`${key} is cancelled though local tasks need it`);
      if (ts.state === 'ready') ready++;
      if (ts.state === 'fetch') fetch++;
      if (ts.state === 'executing' || ts.state === 'cancelled') executing++;
      if (ts.state === 'fetch' && ts.who.length === 0) fail(`${key} is to fetch with no holder`);
      if ((ts.state === 'fetch' || ts.state === 'missing') && ts.dependents.size === 0 && !ts.replica) fail(`${key} is ${ts.state} for nobody`);
      if (ts.state === 'waiting' && ts.waitingFor.size === 0) fail(`${key} is waiting for nothing`);
      if (ts.state === 'ready' && ts.waitingFor.size) fail(`${key} is ready but waits for ${[...ts.waitingFor].map((d) => d.key)}`);
      for (const d of ts.dependencies) {
        if (this.tasks.get(d.key) !== d) fail(`${key} depends on a forgotten ${d.key}`);
        if (!d.dependents.has(ts)) fail(`${d.key} does not know ${key} needs it`);
        if ((d.state === 'memory') === ts.waitingFor.has(d)) fail(`${key} ${d.state === 'memory' ? 'waits for' : 'does not wait for'} ${d.key} (${d.state})`);
      }
      for (const d of ts.waitingFor) if (!ts.dependencies.has(d)) fail(`${key} waits for ${d.key}, not an input`);
      for (const d of ts.dependents) {
        if (this.tasks.get(d.key) !== d) fail(`${key} is needed by a forgotten ${d.key}`);
        if (!d.dependencies.has(ts)) fail(`${d.key} is listed as needing ${key} but does not`);
      }
    }
    if (ready !== this.ready.size) fail(`${ready} ready tasks, ${this.ready.size} in the heap`);
    if (fetch !== this.toFetch.size) fail(`${fetch} keys to fetch, ${this.toFetch.size} in the fetch set`);
    if (executing !== this.executing.size) fail(`${executing} runs, ${this.executing.size} counted`);
    if (fetch > 0 && !this.gatherScheduled) fail('keys to fetch and no gather asked for');
  }

  /** Keys whose data the store holds, by the state's account (for tests and validate in the runner). */
  *memoryKeys(): IterableIterator<string> {
    for (const ts of this.tasks.values()) if (ts.state === 'memory') yield ts.key;
  }
}
