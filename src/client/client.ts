/**
 * The Client: connects to a scheduler, submits tasks and graphs, tracks
 * Futures, and fetches results directly from the workers that hold them.
 */
import type { Comm } from '../comm/comm.js';
import { CLIENT_TO_SCHEDULER, unexpectedOp } from '../protocol/validate.js';
import { errorFromInfo } from '../comm/comm.js';
import { ConnectionPool } from '../comm/pool.js';
import { parseAddress } from '../comm/address.js';
import { RawFrames } from '../protocol/codec.js';
import type {
  ClientToScheduler, FunctionSpec, ReplyOf, RequestArgs, RequestOp, SchedulerInfo, ErrorInfo, PeerToWorker, SchedulerToClient, SchedulerToClientMsg, SendOf, TaskDef, WireValue,
} from '../protocol/messages.js';
import { serializeFunction, functionName } from '../graph/functions.js';
import type { AnyFunction, FunctionOf, TaskFunction } from '../graph/function-spec.js';
import { copyBytes, deserializeValue, encodeArgs, numberArgBytes, packArgs, packNumberArg, serializeValue, unpackValue, unpackValues, valueType } from '../graph/serialize.js';
import { MapTasks, TaskSequence } from '../graph/task-sequence.js';
import { Delayed, collectGraph, setDelayedCompute, type LazyArgs } from '../graph/delayed.js';
import { safeName, taskKey, tokenize, uniqueToken } from '../graph/keys.js';
import { connectToScheduler, resolveScheduler, type ConnectTarget } from '../comm/resolve-scheduler.js';
import { Future, KeyState } from './future.js';
import { formatBytes } from '../util/bytes.js';
import { CancelledError, InvalidArgumentError, ProtocolError, TaskError, TesseraError, TimeoutError, KilledWorkerError } from '../errors.js';

export interface ConnectOptions {
  token?: string;
  timeoutMs?: number;
  /** Become the current client used by compute()/Delayed.compute() (default true). */
  setAsCurrent?: boolean;
  /**
   * A graph of more tasks than this is streamed to the scheduler in chunks
   * of this many (default 10,000; see docs/architecture.md "Streamed graph
   * submission"): the first tasks start while the rest is still being sent.
   */
  graphChunkTasks?: number;
}

export interface SubmitOptions<TF extends TaskFunction> {
  fn: TF;
  args?: LazyArgs<Parameters<FunctionOf<TF>>>;
  /** Explicit key; default is derived from function and arguments (pure) or unique. */
  key?: string;
  /** Worker names or addresses the task must run on. */
  workers?: string[];
  /** With `workers`, allow others when none of those can run it. */
  allowOtherWorkers?: boolean;
  retries?: number;
  /** Higher runs earlier. */
  priority?: number;
  /** Same function and arguments share one key and one computation (default true, as Dask). */
  pure?: boolean;
}

/** Declared with the protocol: it is the reply to 'identity'. */
export type { SchedulerInfo } from '../protocol/messages.js';

type SchedulerComm = Comm<SchedulerToClient, ClientToScheduler>;

let current: Client | null = null;

/**
 * A graph of more tasks than this is sent in chunks of this many (see
 * Client.streamGraph; ConnectOptions.graphChunkTasks), at most
 * GRAPH_CHUNK_WINDOW of them unanswered.
 */
const GRAPH_CHUNK_TASKS = 10_000;
const GRAPH_CHUNK_WINDOW = 4;

/** How a streamed graph submission went: observable proof that work started before the graph was all sent. */
export interface GraphStreamReport {
  /** The client's number for the submission. */
  stream: number;
  tasks: number;
  chunks: number;
  /** Tasks the scheduler had started (sent to workers) when the last chunk arrived. */
  startedBeforeFinal: number;
  /** Results (keys-in-memory) this client had received when it sent the last chunk. */
  resultsBeforeFinal: number;
}

const NO_VALUES: readonly unknown[] = Object.freeze([]);

/** Results asked of one worker per get-data request (see fetchValues). */
const GET_DATA_BATCH = 4_096;

/** Keys asked of the scheduler per who-has request (see fetchValues). */
const WHO_HAS_BATCH = 65_536;

/** True when `keys` are the keys of `tasks`, in the same order (what map() submits). */
function sameKeys(tasks: TaskSequence, keys: readonly string[]): boolean {
  if (tasks.length !== keys.length) return false;
  let same = true;
  tasks.forEach((key, _deps, i) => {
    if (key !== keys[i]) same = false;
  });
  return same;
}

/** A fetched value: one msgpack frame (the usual small result) decoded without building a SerializedValue for it. */
function wireValue(w: WireValue): unknown {
  const frames = w.data.frames;
  if (w.kind === 'msgpack' && frames.length === 1) return unpackValue(frames[0]!);
  return deserializeValue({ kind: w.kind, frames });
}

/** A graph update waiting for the end of the turn (see Client.queueGraph). */
interface PendingGraph {
  tasks: TaskSequence;
  keys: string[];
  priority: number;
}

/**
 * The error a future fails with. The scheduler's own verdicts come back as
 * their class with their fields (KilledWorkerError with key and attempts,
 * MissingDataError with reason); what a task threw, even a Tessera error,
 * is a TaskError of the task that threw it.
 */
function remoteError(key: string, info: ErrorInfo): Error {
  if (info.origin === 'scheduler') return errorFromInfo(info);
  return new TaskError(key, info.name, info.message, info.stack || `${info.name}: ${info.message}`, info);
}

export class Client implements AsyncDisposable {
  readonly keys = new Map<string, KeyState>();
  id = '';
  private closed = false;
  private readonly peers: ConnectionPool;
  /**
   * Drops the reference of a Future that was garbage-collected. One
   * registry per client, holding the key's state, and no unregister token:
   * a token costs another ~33 bytes per future (V8 keeps a table of them),
   * and a client may hold a million. So an explicit release cannot
   * unregister; the callback instead ignores a future released before
   * (see _release and _collected).
   */
  private readonly finalizer = new FinalizationRegistry<KeyState>((st) => this._collected(st));
  private info: SchedulerInfo | null = null;
  private readonly idReady: Promise<void>;
  private resolveId!: () => void;
  private pendingRelease = new Set<string>();
  private releaseScheduled = false;

  private constructor(
    private readonly comm: SchedulerComm,
    readonly schedulerAddress: string,
    readonly token: string,
    private readonly chunkTasks = GRAPH_CHUNK_TASKS,
  ) {
    this.peers = new ConnectionPool({ role: 'client', token, unrefWhenIdle: true });
    this.idReady = new Promise((r) => (this.resolveId = r));
    comm.onMessage = (msg) => this.onMessage(msg);
    comm.onClose = () => this.onSchedulerClosed();
  }

  /**
   * Connects to a cluster: a LocalCluster (or any object with schedulerAddress
   * and token), an address 'tcp://host:port', `{ schedulerFile }`, or nothing
   * (TESSERA_SCHEDULER_ADDRESS / TESSERA_SCHEDULER_FILE and TESSERA_TOKEN).
   * Where the token comes from, and why none at all is an error, is
   * resolveScheduler()'s rule (src/comm/resolve-scheduler.ts).
   */
  static async connect(target?: ConnectTarget, opts: ConnectOptions = {}): Promise<Client> {
    const chunk = opts.graphChunkTasks ?? GRAPH_CHUNK_TASKS;
    if (!Number.isInteger(chunk) || chunk < 1) throw new InvalidArgumentError(`graphChunkTasks must be a positive integer (tasks per chunk of a streamed graph), got ${chunk}`);
    const scheduler = await resolveScheduler(target, opts.token !== undefined ? { token: opts.token } : {});
    const { address, token } = scheduler;
    const comm: SchedulerComm = (await connectToScheduler(scheduler, { role: 'client', timeoutMs: opts.timeoutMs ?? 10_000 })).typed(CLIENT_TO_SCHEDULER);
    comm.label = `scheduler ${address}`;
    const client = new Client(comm, address, token, chunk);
    await client.idReady;
    client.info = await client.schedulerInfo();
    // A script ends after its last line, as a Python one does: from now on the
    // connection keeps Node running only while the script awaits something from it.
    comm.unrefWhenIdle();
    if (opts.setAsCurrent !== false) current = client;
    return client;
  }

  /** The client compute() and Delayed.compute() use: the most recently connected one. */
  static current(): Client {
    if (!current || current.closed) {
      throw new TesseraError('ERR_TESSERA_NO_CLIENT', 'no connected client: call `await Client.connect(cluster)` first');
    }
    return current;
  }

  // ------------------------------------------------------------- messages

  private onMessage(msg: SchedulerToClientMsg): void {
    switch (msg.op) {
      case 'client-id':
        this.id = msg.id;
        this.resolveId();
        break;
      case 'keys-in-memory':
        this.resultsReceived += msg.keys.length;
        for (let i = 0; i < msg.keys.length; i++) this.keys.get(msg.keys[i]!)?.finish(msg.types[i]!);
        break;
      case 'task-erred': {
        const st = this.keys.get(msg.key);
        if (st && st.status === 'pending') st.fail(remoteError(msg.blame, msg.exception));
        break;
      }
      case 'lost-data':
        this.keys.get(msg.key)?.reset();
        break;
      case 'restarted':
        // Some client restarted the cluster: these keys and their results are gone.
        for (const key of msg.keys) {
          const st = this.keys.get(key);
          if (!st) continue;
          const err = new CancelledError(key);
          err.message = `task ${key} was cancelled: the cluster was restarted (client.restart()), which forgets every task and result; submit it again`;
          st.fail(err, 'cancelled');
        }
        break;
      case 'scheduler-closing':
        break;
      default:
        throw unexpectedOp(msg, 'scheduler to client');
    }
  }

  private onSchedulerClosed(): void {
    const err = new TesseraError('ERR_TESSERA_CONNECTION_CLOSED', `the connection to the scheduler at ${this.schedulerAddress} closed`);
    for (const st of this.keys.values()) if (st.status === 'pending') st.fail(err);
    this.closed = true;
    void this.peers.close();
  }

  private ensureOpen(): void {
    if (this.closed) throw new TesseraError('ERR_TESSERA_CONNECTION_CLOSED', 'this client is closed; connect a new one');
  }

  // --------------------------------------------------------- reference counts

  private stateFor(key: string): KeyState {
    let st = this.keys.get(key);
    if (!st) this.keys.set(key, (st = new KeyState(key, this.comm)));
    return st;
  }

  /** @internal */
  _retain(f: Future<unknown>): void {
    f.state.refcount++;
    this.finalizer.register(f, f.state);
  }

  /** @internal An explicit release (once per Future). Its garbage collection comes later and must not count again. */
  _release(f: Future<unknown>): void {
    const st = f.state;
    if (this.keys.get(st.key) !== st) return; // dropped already: every future of it was released
    // When this was the last reference, the state is dropped here and its
    // later callbacks find it gone; otherwise the state remembers to ignore one.
    if (st.refcount > 1) st.releasedBeforeCollection();
    this.decref(st);
  }

  /**
   * A Future was garbage-collected. Which one is not known (no token), only
   * its key's state: when a future of that key was released explicitly and
   * not yet collected, this collection is taken to be that one. Counting it
   * the other way round only delays a release, never releases early: the
   * count of unreleased futures never falls below the true number.
   */
  private _collected(st: KeyState): void {
    if (this.keys.get(st.key) !== st) return; // every future of it was released already
    if (st.collectedAfterRelease()) return;
    this.decref(st);
  }

  /** One reference fewer to `st`, the current state of its key. */
  private decref(st: KeyState): void {
    const key = st.key;
    if (--st.refcount > 0) return;
    this.keys.delete(key);
    if (this.closed) return;
    // Batch releases: dropping 10,000 futures is one message.
    this.pendingRelease.add(key);
    if (!this.releaseScheduled) {
      this.releaseScheduled = true;
      setImmediate(() => {
        this.releaseScheduled = false;
        const keys = [...this.pendingRelease].filter((k) => !this.keys.has(k));
        this.pendingRelease.clear();
        if (keys.length && !this.closed) this.send({ op: 'client-releases-keys', keys });
      });
    }
  }

  /** @internal */
  _cancel(keys: string[]): void {
    if (!this.closed) this.send({ op: 'client-releases-keys', keys });
  }

  private futureFor<T>(key: string): Future<T> {
    // A key released in this turn and wanted again stays in pendingRelease:
    // the flush skips every key that is held again by then (see decref), so
    // a loop of submits right after a large release does not probe that set per future.
    return new Future<T>(this, this.stateFor(key));
  }

  // --------------------------------------------------------------- sending

  /**
   * Graph updates made in the same turn of the event loop (a loop of 10,000
   * submits) go to the scheduler as one update. Every other message flushes
   * the pending update first, so the scheduler sees everything in order.
   */
  private pendingGraph: PendingGraph | null = null;

  private queueGraph(tasks: TaskSequence, keys: string[], priority: number): void {
    if (this.pendingGraph && this.pendingGraph.priority !== priority) this.flushGraph();
    if (!this.pendingGraph) {
      // The caller's arrays are its own (built for this call): adopted, not copied.
      this.pendingGraph = { tasks, keys, priority };
      setImmediate(() => this.flushGraph());
      return;
    }
    this.pendingGraph.tasks.append(tasks);
    for (const k of keys) this.pendingGraph.keys.push(k);
  }

  /** queueGraph for one task whose arguments refer to no task and that has no options: it joins a run (see TaskSequence.addToRun). */
  private queuePlainTask(fn: FunctionSpec, key: string, args: Uint8Array, priority: number): void {
    if (this.pendingGraph && this.pendingGraph.priority !== priority) this.flushGraph();
    if (!this.pendingGraph) {
      this.pendingGraph = { tasks: new TaskSequence(), keys: [], priority };
      setImmediate(() => this.flushGraph());
    }
    this.pendingGraph.tasks.addToRun(fn, key, args);
    this.pendingGraph.keys.push(key);
  }

  private flushGraph(): void {
    const g = this.pendingGraph;
    if (!g) return;
    this.pendingGraph = null;
    if (this.closed) return;
    if (g.tasks.length > this.chunkTasks) void this.afterStream(() => this.streamGraph(g));
    else {
      void this.afterStream(() => {
        const { tasks, runs } = g.tasks.takeNext(g.tasks.length);
        this.comm.send({ op: 'update-graph', tasks, ...(runs.length ? { runs } : {}), keys: g.keys, priority: g.priority });
      });
    }
  }

  /**
   * Set while a streamed submission is being sent (and until what queued
   * behind it has gone): what the client sends meanwhile goes after it, so
   * the scheduler still sees everything in order (a release never overtakes
   * the chunk that defines its key).
   */
  private streaming: Promise<void> | null = null;
  private streamCounter = 0;
  /** Results in memory reported to this client, ever: what a streamed submission reports it saw before its last chunk. */
  private resultsReceived = 0;
  /** How the last streamed submission went (see GraphStreamReport); null before the first. */
  lastGraphStream: GraphStreamReport | null = null;

  /** Runs `fn` now, or after the streamed submission being sent (and whatever queued behind it). */
  private afterStream<T>(fn: () => T | Promise<T>): Promise<T> | T {
    if (!this.streaming) {
      const r = fn();
      if (!(r instanceof Promise)) return r;
      this.chainStream(r);
      return r;
    }
    const p = this.streaming.then(fn);
    this.chainStream(p);
    return p;
  }

  private chainStream(p: Promise<unknown>): void {
    const tail: Promise<void> = p.then(() => {}, () => {}).then(() => {
      if (this.streaming === tail) this.streaming = null;
    });
    this.streaming = tail;
  }

  /**
   * Sends a large graph in chunks of `chunkTasks` tasks (protocol op
   * 'graph-chunk'), at most GRAPH_CHUNK_WINDOW unanswered at a time: the
   * scheduler starts the first tasks while later chunks are still being
   * encoded and sent, and neither side holds the whole graph as one message.
   * Tasks are in topological order, so every chunk's dependencies are in it
   * or in earlier ones. A task that a later chunk depends on is held by the
   * stream until that chunk is sent, so its result is kept for it.
   */
  private async streamGraph(g: PendingGraph): Promise<void> {
    const stream = ++this.streamCounter;
    const tasks = g.tasks;
    const nChunks = Math.ceil(tasks.length / this.chunkTasks);
    const chunkOf = (i: number) => Math.floor(i / this.chunkTasks);
    // The chunk of the last dependent of each key that a later chunk than its
    // own depends on. Only such crossing keys are mapped, found with a set of
    // the current chunk's keys: not a map entry for every key of the graph.
    const lastUse = new Map<string, number>();
    const inChunk = new Set<string>();
    tasks.forEach((key, deps, i) => {
      if (i % this.chunkTasks === 0) inChunk.clear();
      const c = chunkOf(i);
      for (const d of deps) if (!inChunk.has(d)) lastUse.set(d, c);
      inChunk.add(key);
    });
    inChunk.clear();
    const hold: string[][] = Array.from({ length: nChunks }, () => []);
    const release: string[][] = Array.from({ length: nChunks }, () => []);
    const wantedIn: string[][] = Array.from({ length: nChunks }, () => []);
    if (lastUse.size) {
      tasks.forEach((key, _deps, i) => {
        const last = lastUse.get(key);
        if (last !== undefined) {
          hold[chunkOf(i)]!.push(key);
          release[last]!.push(key);
        }
      });
      lastUse.clear();
    }
    if (sameKeys(tasks, g.keys)) {
      // A map(): every task is wanted, in order; no set of a million keys needed.
      for (let c = 0; c < nChunks; c++) wantedIn[c] = g.keys.slice(c * this.chunkTasks, (c + 1) * this.chunkTasks);
    } else {
      const wanted = new Set(g.keys);
      tasks.forEach((key, _deps, i) => {
        if (wanted.delete(key)) wantedIn[chunkOf(i)]!.push(key);
      });
      // Wanted keys the graph does not define (already submitted): with the last chunk.
      for (const key of wanted) wantedIn[nChunks - 1]!.push(key);
      wanted.clear();
    }
    const resultsAtStart = this.resultsReceived;
    const inFlight: Promise<{ started: number }>[] = [];
    const report: GraphStreamReport = { stream, tasks: tasks.length, chunks: nChunks, startedBeforeFinal: 0, resultsBeforeFinal: 0 };
    for (let c = 0; c < nChunks; c++) {
      while (inFlight.length >= GRAPH_CHUNK_WINDOW) await inFlight.shift();
      if (this.closed) return;
      const final = c === nChunks - 1;
      // Built now and sent: the client keeps nothing of a chunk but its futures.
      const slice = tasks.takeNext(this.chunkTasks);
      if (final) report.resultsBeforeFinal = this.resultsReceived - resultsAtStart;
      const reply = this.comm.request({
        op: 'graph-chunk', stream, tasks: slice.tasks, ...(slice.runs.length ? { runs: slice.runs } : {}), keys: wantedIn[c]!, priority: g.priority,
        hold: hold[c]!, release: release[c]!, final,
      });
      // One chunk per write: chunks queued in one turn would otherwise go out as one message.
      this.comm.flush();
      hold[c] = release[c] = wantedIn[c] = [];
      if (final) report.startedBeforeFinal = (await reply).started;
      else inFlight.push(reply);
    }
    await Promise.all(inFlight);
    this.lastGraphStream = report;
  }

  private send(msg: SendOf<ClientToScheduler>): void {
    this.flushGraph();
    void this.afterStream(() => {
      if (!this.closed) this.comm.send(msg);
    });
  }

  private request<K extends RequestOp<ClientToScheduler>>(msg: RequestArgs<ClientToScheduler, K>, timeoutMs?: number): Promise<ReplyOf<ClientToScheduler, K>> {
    this.flushGraph();
    if (!this.streaming) return this.comm.request(msg, timeoutMs);
    return this.afterStream(() => this.comm.request(msg, timeoutMs)) as Promise<ReplyOf<ClientToScheduler, K>>;
  }

  // ----------------------------------------------------------------- submit

  submit<TF extends TaskFunction>(opts: SubmitOptions<TF>): Future<Awaited<ReturnType<FunctionOf<TF>>>>;
  submit<TF extends TaskFunction>(fn: TF, ...args: LazyArgs<Parameters<FunctionOf<TF>>>): Future<Awaited<ReturnType<FunctionOf<TF>>>>;
  submit(fnOrOpts: unknown, ...rest: unknown[]): Future<unknown> {
    this.ensureOpen();
    const isOpts = typeof fnOrOpts === 'object' && fnOrOpts !== null && 'fn' in fnOrOpts && !('kind' in fnOrOpts);
    const o = (isOpts ? fnOrOpts : { fn: fnOrOpts, args: rest }) as SubmitOptions<TaskFunction>;
    const spec = serializeFunction(o.fn as TaskFunction<AnyFunction>);
    const { bytes, refs } = encodeArgs((o.args ?? []) as unknown[]);
    const name = safeName(functionName(spec));
    const key = o.key ?? taskKey(name, o.pure === false ? uniqueToken() : tokenize(spec.kind === 'inline' ? spec.source : `${spec.url}#${spec.export}`, bytes));
    if (refs.length === 0 && !o.retries && !o.workers?.length && !o.allowOtherWorkers) {
      const fut = this.futureFor(key);
      this.queuePlainTask(spec, key, bytes, o.priority ?? 0);
      return fut;
    }
    const tasks: TaskDef[] = collectGraph(refs);
    const def: TaskDef = { key, fn: spec, args: bytes, deps: refs.map((r) => r.key) };
    if (o.retries) def.retries = o.retries;
    if (o.workers?.length) def.workers = o.workers;
    if (o.allowOtherWorkers) def.allowOtherWorkers = true;
    tasks.push(def);
    const fut = this.futureFor(key);
    this.queueGraph(TaskSequence.of(tasks), [key], o.priority ?? 0);
    return fut;
  }

  /** Applies `fn` to every item: one task per item, submitted as one graph. */
  map<TF extends TaskFunction>(
    fn: TF,
    items: Iterable<LazyArgs<Parameters<FunctionOf<TF>>>[0]>,
    opts: { pure?: boolean; retries?: number; workers?: string[]; priority?: number; key?: string } = {},
  ): Future<Awaited<ReturnType<FunctionOf<TF>>>>[] {
    this.ensureOpen();
    const spec = serializeFunction(fn as TaskFunction<AnyFunction>);
    const name = safeName(opts.key ?? functionName(spec));
    const specId = spec.kind === 'inline' ? spec.source : `${spec.url}#${spec.export}`;
    const tasks = new TaskSequence();
    const keys: string[] = [];
    const futures: Future<Awaited<ReturnType<FunctionOf<TF>>>>[] = [];
    const pure = opts.pure !== false;
    const retries = opts.retries ?? 0;
    const workers = opts.workers?.length ? opts.workers : null;
    // Items whose arguments refer to no task go into a MapTasks run (TaskDefs built as
    // they are sent); an item referring to Futures or Delayed values, with its graph, as TaskDefs.
    let run: MapTasks | null = null;
    const one: unknown[] = [undefined];
    for (const item of items) {
      // One argument list reused for every item: what is kept is copied.
      const numberLength = packNumberArg(item);
      if (numberLength) {
        // A number: its argument bytes written directly (the same bytes packArgs gives).
        const key = taskKey(name, pure ? tokenize(specId, numberArgBytes.subarray(0, numberLength)) : uniqueToken());
        (run ??= new MapTasks(spec, retries, workers)).add(key, numberArgBytes, numberLength);
        keys.push(key);
        futures.push(this.futureFor(key));
        continue;
      }
      one[0] = item;
      const { bytes, refs } = packArgs(one);
      const key = taskKey(name, pure ? tokenize(specId, bytes) : uniqueToken());
      if (refs.length === 0) {
        (run ??= new MapTasks(spec, retries, workers)).add(key, bytes);
      } else {
        if (run) tasks.pushMap(run);
        run = null;
        const args = copyBytes(bytes);
        const graph = collectGraph(refs);
        const def: TaskDef = { key, fn: spec, args, deps: refs.map((r) => r.key) };
        if (retries) def.retries = retries;
        if (workers) def.workers = workers;
        graph.push(def);
        tasks.push(graph);
      }
      keys.push(key);
      futures.push(this.futureFor(key));
    }
    one[0] = undefined;
    if (run) tasks.pushMap(run);
    this.queueGraph(tasks, keys, opts.priority ?? 0);
    return futures;
  }

  /** Submits Delayed graphs; returns one Future per output. */
  compute<T>(value: Delayed<T>, opts?: { priority?: number }): Future<T>;
  compute<T extends readonly Delayed<unknown>[]>(values: T, opts?: { priority?: number }): { [K in keyof T]: T[K] extends Delayed<infer R> ? Future<R> : never };
  compute(values: Delayed<unknown> | readonly Delayed<unknown>[], opts: { priority?: number } = {}): Future<unknown> | Future<unknown>[] {
    this.ensureOpen();
    const list = Array.isArray(values) ? values : [values as Delayed<unknown>];
    const tasks = collectGraph(list);
    const keys = list.map((d) => d.key);
    const futures = keys.map((k) => this.futureFor(k));
    this.queueGraph(TaskSequence.of(tasks), keys, opts.priority ?? 0);
    return Array.isArray(values) ? futures : futures[0]!;
  }

  /** Starts computing and keeps results on the workers; returns Futures for them. */
  persist<T>(value: Delayed<T>): Future<T>;
  persist<T extends readonly Delayed<unknown>[]>(values: T): { [K in keyof T]: T[K] extends Delayed<infer R> ? Future<R> : never };
  persist(values: Delayed<unknown> | readonly Delayed<unknown>[]): Future<unknown> | Future<unknown>[] {
    return this.compute(values as Delayed<unknown>);
  }

  /** Computes one Delayed value and returns its result. */
  async computeValue<T>(value: Delayed<T>): Promise<T> {
    const f = this.compute(value);
    try {
      return await f.result();
    } finally {
      f.release();
    }
  }

  // ----------------------------------------------------------------- gather

  /** Results of futures, fetched directly from the workers that hold them. */
  async gather<T>(futures: readonly Future<T>[], opts: { timeoutMs?: number } = {}): Promise<T[]> {
    this.ensureOpen();
    const waitAll = this.settled(futures);
    if (opts.timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`results not ready within ${opts.timeoutMs} ms`)), opts.timeoutMs);
      });
      try {
        await Promise.race([waitAll, timeout]);
      } finally {
        clearTimeout(timer);
      }
    } else await waitAll;
    // Each distinct key is fetched once; its value fills every position that wants it.
    const n = futures.length;
    const keys: string[] = [];
    let repeats: number[] | null = null;
    for (let i = 0; i < n; i++) {
      const f = futures[i]!;
      const st = f.state;
      if (st.gatherIndex < 0) {
        st.gatherIndex = keys.length;
        keys.push(f.key);
      } else (repeats ??= []).push(i, st.gatherIndex);
    }
    for (let i = 0; i < n; i++) futures[i]!.state.gatherIndex = -1;
    const values = await this.fetchValues(keys);
    if (!repeats) return values as T[];
    // A position holding a repeated key takes that key's value; the others are the distinct keys, in order.
    const out = new Array<T>(n);
    const uniqueAt = new Int32Array(n).fill(-1);
    for (let r = 0; r < repeats.length; r += 2) uniqueAt[repeats[r]!] = repeats[r + 1]!;
    for (let i = 0, u = 0; i < n; i++) out[i] = (uniqueAt[i]! >= 0 ? values[uniqueAt[i]!] : values[u++]) as T;
    return out;
  }

  /**
   * Resolves when every future's key is in memory, rejects with the first
   * error: one waiter and one hold on the connection for all of them, not
   * a promise per key (gather of a million futures).
   */
  private settled(futures: readonly Future<unknown>[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let pending = 0;
      let release: (() => void) | null = null;
      const done = () => {
        release?.();
        release = null;
      };
      const waiter = {
        resolve: () => {
          if (--pending === 0) {
            done();
            resolve();
          }
        },
        reject: (e: Error) => {
          done();
          reject(e);
        },
      };
      for (const f of futures) {
        const st = f.state;
        if (st.status === 'finished') continue;
        if (st.status === 'error' || st.status === 'cancelled') {
          reject(st.error!);
          return;
        }
        pending++;
        st.addWaiter(waiter, false);
      }
      if (pending === 0) resolve();
      else release = this.comm.hold();
    });
  }

  /**
   * The values of distinct `keys`, in their order. who-has goes to the
   * scheduler in slices (one reply naming the holders of a million keys
   * would be one huge message), and the next slice's who-has is asked while
   * the current slice's values are fetched from the workers.
   */
  private async fetchValues(keys: readonly string[], attempt = 0): Promise<unknown[]> {
    const out = new Array<unknown>(keys.length);
    if (keys.length === 0) return out;
    const missing: number[] = [];
    const whoHasOf = (start: number) => this.request({ op: 'who-has', keys: keys.length > WHO_HAS_BATCH ? keys.slice(start, start + WHO_HAS_BATCH) : keys as string[] });
    let next: Promise<ReplyOf<ClientToScheduler, 'who-has'>> | null = whoHasOf(0);
    try {
      for (let start = 0; start < keys.length; start += WHO_HAS_BATCH) {
        const whoHas = await next!;
        next = start + WHO_HAS_BATCH < keys.length ? whoHasOf(start + WHO_HAS_BATCH) : null;
        await this.fetchSlice(keys, start, Math.min(start + WHO_HAS_BATCH, keys.length), whoHas, out, missing);
      }
    } finally {
      // A failed slice leaves the prefetched who-has unawaited: its outcome no longer matters.
      next?.catch(() => {});
    }
    if (missing.length) {
      // The holder died or freed it; the scheduler recomputes lost data: wait for it and retry.
      if (attempt >= 20) throw new TesseraError('ERR_TESSERA_MISSING_DATA', `could not fetch ${missing.length} results (e.g. ${keys[missing[0]!]}) from the workers after ${attempt} attempts`);
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 1000)));
      const again = missing.map((i) => keys[i]!);
      for (const k of again) await this.keys.get(k)?.wait();
      const more = await this.fetchValues(again, attempt + 1);
      for (let j = 0; j < missing.length; j++) out[missing[j]!] = more[j];
    }
    return out;
  }

  /**
   * Fetches keys[start..end) from the holders who-has named (its reply for
   * that slice, by position) into `out` (same positions); records in
   * `missing` the positions nobody served.
   */
  private async fetchSlice(keys: readonly string[], start: number, end: number, whoHas: ReplyOf<ClientToScheduler, 'who-has'>, out: unknown[], missing: number[]): Promise<void> {
    const byWorker = new Map<string, number[]>();
    for (let i = start; i < end; i++) {
      const w = whoHas.workers[whoHas.holders[i - start] ?? -1];
      if (w === undefined) {
        missing.push(i);
        continue;
      }
      let list = byWorker.get(w);
      if (!list) byWorker.set(w, (list = []));
      list.push(i);
    }
    await Promise.all([...byWorker].map(async ([worker, list]) => {
      // In batches: one reply per 200,000 results would pass the frame-count limit of a message, and
      // results arrive (and are decoded) while the worker prepares the next batch.
      for (let b = 0; b < list.length; b += GET_DATA_BATCH) {
        const at = list.slice(b, b + GET_DATA_BATCH);
        const batch = at.map((i) => keys[i]!);
        let r: ReplyOf<PeerToWorker, 'get-data'>;
        try {
          const comm = await this.peers.get(worker);
          r = await comm.request({ op: 'get-data', keys: batch, inline: true }, 120_000);
        } catch {
          this.peers.discard(worker);
          for (let j = b; j < list.length; j++) missing.push(list[j]!);
          return;
        }
        const { values, refused } = r;
        const inline = r.inline ? unpackValues(r.inline) : NO_VALUES;
        let next = 0;
        for (let j = 0; j < batch.length; j++) {
          const key = batch[j]!;
          const w = values[j];
          if (w === true) {
            if (next >= inline.length) throw new ProtocolError(`worker ${worker} marked more get-data values inline than it sent (${inline.length})`);
            out[at[j]!] = inline[next++];
          } else if (w) out[at[j]!] = wireValue(w);
          else if (refused?.[key]) throw errorFromInfo(refused[key]);
          else missing.push(at[j]!);
        }
      }
    }));
  }

  // ---------------------------------------------------------------- scatter

  /** Places local data on workers; returns Futures for it (one per element for an array). */
  async scatter<T>(data: T, opts?: { workers?: string[]; broadcast?: boolean }): Promise<Future<T>>;
  async scatter<T>(data: T[], opts?: { workers?: string[]; broadcast?: boolean; list: true }): Promise<Future<T>[]>;
  async scatter(data: unknown, opts: { workers?: string[]; broadcast?: boolean; list?: boolean } = {}): Promise<Future<unknown> | Future<unknown>[]> {
    this.ensureOpen();
    const list = opts.list && Array.isArray(data) ? data : [data];
    const items = list.map((v) => {
      const sv = serializeValue(v);
      const type = valueType(v);
      const key = `${safeName(type)}-${tokenize(...sv.frames)}`;
      return { key, type, value: { kind: sv.kind, data: new RawFrames(sv.frames) } satisfies WireValue };
    });
    const futures = items.map((it) => this.futureFor(it.key));
    await this.request({ op: 'scatter', items, workers: opts.workers ?? [], broadcast: opts.broadcast ?? false });
    return opts.list && Array.isArray(data) ? futures : futures[0]!;
  }

  // --------------------------------------------------------------------- run

  /** Runs `fn` on every worker (or those named); results keyed by worker address. */
  async run<TF extends TaskFunction>(fn: TF, ...args: Parameters<FunctionOf<TF>>): Promise<Record<string, Awaited<ReturnType<FunctionOf<TF>>>>>;
  async run(fn: TaskFunction, ...args: unknown[]): Promise<Record<string, unknown>> {
    return this.runOn(fn, args);
  }

  async runOn(fn: TaskFunction, args: unknown[], workers?: string[]): Promise<Record<string, unknown>> {
    this.ensureOpen();
    const spec = serializeFunction(fn as TaskFunction<AnyFunction>);
    const { bytes } = encodeArgs(args);
    const r = await this.request({ op: 'broadcast-run', fn: spec, args: bytes, ...(workers ? { workers } : {}) });
    const out: Record<string, unknown> = {};
    for (const [addr, res] of Object.entries(r.results)) {
      if (!res.ok) throw new TaskError(`run on ${addr}`, res.error!.name, res.error!.message, res.error!.stack, res.error);
      out[addr] = deserializeValue({ kind: res.value!.kind, frames: res.value!.data.frames });
    }
    return out;
  }

  async runOnScheduler<TF extends TaskFunction>(fn: TF, ...args: Parameters<FunctionOf<TF>>): Promise<Awaited<ReturnType<FunctionOf<TF>>>>;
  async runOnScheduler(fn: TaskFunction, ...args: unknown[]): Promise<unknown> {
    this.ensureOpen();
    const spec = serializeFunction(fn as TaskFunction<AnyFunction>);
    const { bytes } = encodeArgs(args);
    try {
      const r = await this.request({ op: 'run-on-scheduler', fn: spec, args: bytes });
      const v = r.value;
      return deserializeValue({ kind: v.kind, frames: v.data.frames });
    } catch (err) {
      const e = err as Error;
      throw new TaskError('run-on-scheduler', e.name, e.message, e.stack ?? '');
    }
  }

  // ------------------------------------------------------------------- info

  async schedulerInfo(): Promise<SchedulerInfo> {
    this.ensureOpen();
    const r = await this.request({ op: 'identity' });
    this.info = r.info;
    return this.info;
  }

  async waitForWorkers(n: number, opts: { timeoutMs?: number } = {}): Promise<void> {
    this.ensureOpen();
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`waitForWorkers needs a worker count, got ${n}`);
    try {
      await this.request({ op: 'wait-for-workers', n }, opts.timeoutMs ?? 0);
    } catch (err) {
      if (err instanceof TimeoutError) {
        const info = await this.schedulerInfo();
        throw new TimeoutError(`only ${Object.keys(info.workers).length} of ${n} workers connected within ${opts.timeoutMs} ms; check the worker logs`);
      }
      throw err;
    }
  }

  /** http://<scheduler-host>:<port>/status, or undefined when the dashboard is off. */
  get dashboardLink(): string | undefined {
    const port = this.info?.services.dashboard;
    if (port === undefined) return undefined;
    const host = this.info?.dashboardHost ?? parseAddress(this.schedulerAddress).host;
    return `http://${host}:${port}/status`;
  }

  /**
   * Records what the cluster does while `fn` runs and writes it as one
   * self-contained HTML file (task stream, task-group timings, worker memory
   * over time): the answer to "what happened?" for a batch job nobody could
   * watch live.
   */
  async performanceReport<R>(path: string, fn: () => Promise<R> | R, opts: { title?: string } = {}): Promise<R> {
    this.ensureOpen();
    const { id } = await this.request({ op: 'start-performance-report', ...(opts.title ? { title: opts.title } : {}) });
    let result: R;
    try {
      result = await fn();
    } finally {
      const r = await this.request({ op: 'stop-performance-report', id });
      const { writePerformanceReport } = await import('../dashboard/report.js');
      await writePerformanceReport(path, r.data as unknown as Parameters<typeof writePerformanceReport>[1]);
    }
    return result;
  }

  /**
   * Removes workers gracefully: they stop getting work and hand the results
   * only they hold to other workers before they exit. Resolves once they are gone.
   */
  async retireWorkers(workers: string[], opts: { timeoutMs?: number } = {}): Promise<void> {
    this.ensureOpen();
    const before = await this.schedulerInfo();
    const leaving = Object.entries(before.workers).filter(([addr, w]) => workers.includes(addr) || workers.includes(w.name)).map(([addr]) => addr);
    await this.request({ op: 'retire-workers', workers });
    const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
    for (;;) {
      const info = await this.schedulerInfo();
      if (leaving.every((a) => !(a in info.workers))) return;
      if (Date.now() > deadline) throw new TimeoutError(`workers ${leaving.join(', ')} did not retire within ${opts.timeoutMs ?? 120_000} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Restarts the cluster, as Dask's Client.restart: the scheduler forgets
   * every task, every client's futures fail with a CancelledError saying so,
   * and every worker starts afresh: under a nanny (LocalCluster's default)
   * it is a new process; without one the worker ends and restarts its
   * executor threads and drops its data. Resolves once as many workers as
   * before are connected; rejects with a TimeoutError naming the workers
   * that did not come back within `timeoutMs` (default 60 s).
   */
  async restart(opts: { timeoutMs?: number } = {}): Promise<void> {
    this.ensureOpen();
    const timeoutMs = opts.timeoutMs ?? 60_000;
    // The scheduler answers by timeoutMs; the margin is for the round trip.
    await this.request({ op: 'restart', timeoutMs }, timeoutMs + 10_000);
  }

  /** Releases futures' keys now rather than at garbage collection. */
  release(futures: readonly Future<unknown>[]): void {
    for (const f of futures) f.release();
  }


  toString(): string {
    const workers = Object.values(this.info?.workers ?? {});
    const threads = workers.reduce((a, w) => a + w.nthreads, 0);
    const memory = workers.reduce((a, w) => a + w.memoryLimit, 0);
    return `<Client: '${this.schedulerAddress}' processes=${workers.length} threads=${threads}, memory=${formatBytes(memory)}>`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  // ------------------------------------------------------------------ close

  /** Stops the scheduler and all workers, then disconnects. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    try {
      await this.request({ op: 'shutdown' }, 10_000);
    } catch {
      // The scheduler may close the connection before the reply arrives.
    }
    await this.close();
  }

  /** Disconnects; the cluster keeps running. */
  async close(): Promise<void> {
    if (current === this) current = null;
    if (this.closed) return;
    this.flushGraph();
    // A graph still being streamed is sent in full first, as a single message would have been.
    while (this.streaming) await this.streaming;
    this.closed = true;
    await this.comm.close();
    await this.peers.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

// Delayed.compute() (graph/delayed.ts) computes with the current client through this hook.
setDelayedCompute((value) => Client.current().computeValue(value));

/** Computes Delayed values with the current client: one value, or several as an array. */
export async function compute<T>(value: Delayed<T>): Promise<T>;
export async function compute<T extends readonly Delayed<unknown>[]>(...values: T): Promise<{ [K in keyof T]: T[K] extends Delayed<infer R> ? R : never }>;
export async function compute(...values: Delayed<unknown>[]): Promise<unknown> {
  const client = Client.current();
  if (values.length === 1) return client.computeValue(values[0]!);
  const futures = client.compute(values);
  try {
    return await client.gather(futures);
  } finally {
    client.release(futures);
  }
}

/** Starts Delayed values computing on the current client; returns their Futures. */
export function persist<T>(value: Delayed<T>): Future<T> {
  return Client.current().persist(value);
}

