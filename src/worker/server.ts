/**
 * A worker process's main thread: talks to the scheduler and to peers, owns
 * the data store, fetches task inputs from the workers that hold them, and
 * feeds ready tasks to the executor threads. It never runs user code.
 */
import { randomUUID } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Comm } from '../comm/comm.js';
import { errorToInfo } from '../comm/comm.js';
import { connect } from '../comm/connect.js';
import { listen, type Listener } from '../comm/server.js';
import { ConnectionPool } from '../comm/pool.js';
import { formatAddress, resolveListenHost } from '../comm/address.js';
import { RawFrames } from '../protocol/codec.js';
import type { DepInfo, ErrorInfo, FunctionSpec, Msg, SerializedValue, StartStop, WireValue, WorkerMetrics } from '../protocol/messages.js';
import { createLogger, type Logger } from '../logging.js';
import { Heap, priorityLess } from '../util/heap.js';
import { waitForSchedulerFile } from '../comm/scheduler-file.js';
import { DataStore } from './store.js';
import { ExecutorPool, type JobOutcome } from './executor.js';
import { MEMORY_PAUSE, MEMORY_SPILL, MEMORY_TARGET, collectGarbage, parseMemoryLimit } from './memory.js';
import { formatBytes } from '../util/bytes.js';
import { trimMalloc } from '../native/libc.js';
import { resolveWorkerOptions, type WorkerOptions } from './options.js';
import { FrameTooLargeError, ProtocolError, TesseraError } from '../errors.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/frames.js';

const HEARTBEAT_MS = 500;

interface WorkerTask {
  key: string;
  fn: FunctionSpec;
  args: Uint8Array;
  deps: DepInfo[];
  priority: number[];
  state: 'waiting' | 'ready' | 'executing' | 'cancelled';
  missing: Set<string>;
  transfers: StartStop[];
}

interface Fetch {
  key: string;
  who: string[];
  nbytes: number;
  inFlight: boolean;
  waiters: Set<WorkerTask>;
  /** Fetched to hold a copy (a retiring worker's data), not for a task. */
  replica: boolean;
}

/** Keys asked of one peer per get-data request. */
const FETCH_BATCH = 4_096;

function toWire(sv: SerializedValue): WireValue {
  return { kind: sv.kind, data: new RawFrames(sv.frames) };
}

function fromWire(w: WireValue): SerializedValue {
  return { kind: w.kind, frames: w.data.frames };
}

export class WorkerServer {
  address = '';
  name = '';
  readonly nthreads: number;
  readonly memoryLimit: number;
  readonly localDirectory: string;
  readonly finished: Promise<void>;
  /** Set when the worker ended because it could not reach its scheduler (its process should exit non-zero). */
  gaveUp: Error | null = null;

  private resolveFinished!: () => void;
  private token = '';
  private schedulerAddress = '';
  private scheduler: Comm | null = null;
  private listener: Listener | null = null;
  private peers: ConnectionPool | null = null;
  private readonly store: DataStore;
  private readonly pool: ExecutorPool;
  private readonly tasks = new Map<string, WorkerTask>();
  private readonly ready = new Heap<WorkerTask>((a, b) => priorityLess(a.priority, b.priority));
  private readonly fetches = new Map<string, Fetch>();
  private fetchFlushScheduled = false;
  private pendingAddKeys: string[] = [];
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private lifetimeTimer: NodeJS.Timeout | null = null;
  private lastCpu = process.cpuUsage();
  private lastCpuAt = Date.now();
  private paused = false;
  private closing = false;
  private retiring = false;
  private readonly log: Logger;
  /** Bumped when the worker resets itself (client.restart()): fetches started before then are dropped. */
  private generation = 0;
  /**
   * Set when a nanny supervises this process (src/deploy/child.ts): asks it
   * for a fresh process. Without one, client.restart() resets the worker in place.
   */
  restartProcess: (() => void) | null = null;

  private constructor(private readonly opts: WorkerOptions) {
    this.nthreads = resolveWorkerOptions(opts).nthreads;
    this.memoryLimit = parseMemoryLimit(opts.memoryLimit ?? 0);
    this.localDirectory = join(opts.localDirectory ?? tmpdir(), `tessera-worker-${process.pid}-${randomUUID().slice(0, 8)}`);
    this.store = new DataStore(this.localDirectory, this.memoryLimit > 0 ? this.memoryLimit * MEMORY_TARGET : 0);
    this.log = createLogger('worker', opts.quiet && !process.env.TESSERA_LOG_LEVEL ? 'warn' : undefined);
    // Polars' thread pool is process-wide and sized when first loaded: match it to our threads.
    process.env.POLARS_MAX_THREADS ??= String(this.nthreads);
    this.pool = new ExecutorPool(this.nthreads, this.log, { memoryLimit: this.memoryLimit });
    this.pool.onCapacity = () => this.schedule();
    this.finished = new Promise((r) => (this.resolveFinished = r));
  }

  static async start(opts: WorkerOptions): Promise<WorkerServer> {
    const w = new WorkerServer(opts);
    try {
      await w.startServing();
    } catch (err) {
      // Nothing may outlive a worker that gave up: its listener and threads would keep the process running.
      await w.close();
      throw err;
    }
    return w;
  }

  private async startServing(): Promise<void> {
    let address = this.opts.schedulerAddress;
    let token = this.opts.token ?? process.env.TESSERA_TOKEN;
    if (!address && this.opts.schedulerFile) {
      const info = await waitForSchedulerFile(this.opts.schedulerFile, { timeoutMs: this.opts.deathTimeoutMs ?? 60_000 });
      address = info.address;
      token ??= info.token;
    }
    if (!address) throw new TesseraError('ERR_TESSERA_INVALID_ARGUMENT', 'a worker needs a scheduler address or --scheduler-file');
    if (token === undefined) throw new TesseraError('ERR_TESSERA_AUTH', 'no auth token: pass --scheduler-file, or set TESSERA_TOKEN to the cluster\'s token');
    this.schedulerAddress = address;
    this.token = token;
    const { bind, advertise } = resolveListenHost({
      ...(this.opts.interface ? { interface: this.opts.interface } : {}),
      host: this.opts.host ?? (address.includes('127.0.0.1') || address.includes('localhost') ? '127.0.0.1' : '0.0.0.0'),
    });
    this.listener = await listen({
      host: bind, port: this.opts.port ?? 0, token, role: 'worker', id: `worker-${process.pid}`, logger: this.log,
      onComm: (comm) => {
        comm.onMessage = (msg) => this.onPeerMessage(comm, msg);
      },
    });
    this.address = formatAddress(advertise, this.listener.port);
    this.name = this.opts.name ?? this.address;
    this.peers = new ConnectionPool({ role: 'peer', token, name: this.name });
    await this.register();
    this.pool.start();
    this.heartbeatTimer = setInterval(() => this.heartbeat(), HEARTBEAT_MS);
    this.heartbeatTimer.unref();
    if (this.opts.lifetimeMs) {
      this.lifetimeTimer = setTimeout(() => void this.retire('lifetime reached'), this.opts.lifetimeMs);
      this.lifetimeTimer.unref();
    }
  }

  private async register(): Promise<void> {
    const { comm } = await connect(this.schedulerAddress, {
      role: 'worker', token: this.token, name: this.name, timeoutMs: this.opts.deathTimeoutMs ?? 60_000,
    });
    comm.label = `scheduler ${this.schedulerAddress}`;
    const reply = await comm.request({
      op: 'register-worker', address: this.address, name: this.name, nthreads: this.nthreads, memoryLimit: this.memoryLimit,
      host: hostname(), pid: process.pid, localDirectory: this.localDirectory,
    }, 30_000);
    this.scheduler = comm;
    comm.onMessage = (msg) => this.onSchedulerMessage(msg);
    comm.onClose = (err) => void this.onSchedulerLost(err);
    this.log.info(`worker ${this.name} at ${this.address} registered with ${this.schedulerAddress} (${this.nthreads} threads, memory limit ${this.memoryLimit ? formatBytes(this.memoryLimit) : 'none'})`);
    void reply;
  }

  /** The scheduler went away: try to reconnect until the death timeout, then exit. */
  private async onSchedulerLost(err: Error | null): Promise<void> {
    if (this.closing) return;
    this.scheduler = null;
    this.log.warn(`lost the scheduler at ${this.schedulerAddress}${err ? ` (${err.message})` : ''}; reconnecting`);
    // Work and data belonged to the old scheduler's state: drop them.
    this.tasks.clear();
    this.fetches.clear();
    this.store.clear();
    try {
      await this.register();
    } catch (e) {
      this.log.error(`scheduler unreachable for ${Math.round((this.opts.deathTimeoutMs ?? 60_000) / 1000)} s; worker exiting (${(e as Error).message})`);
      this.gaveUp = e as Error;
      await this.close();
    }
  }

  // ------------------------------------------------------------ scheduler ops

  private onSchedulerMessage(msg: Msg): void {
    switch (msg.op) {
      case 'compute-task':
        this.addTask(msg);
        break;
      case 'free-keys':
        for (const key of msg.keys as string[]) this.freeKey(key);
        break;
      case 'steal-request':
        this.stealRequest(String(msg.key));
        break;
      case 'update-data':
        for (const it of msg.items as { key: string; value: WireValue }[]) this.store.put(it.key, fromWire(it.value));
        this.scheduler?.reply(msg);
        break;
      case 'run':
        this.runFunction(msg.fn as FunctionSpec, msg.args as Uint8Array).then(
          (value) => this.scheduler?.reply(msg, { value }),
          (err) => this.scheduler?.replyError(msg, err),
        );
        break;
      case 'acquire-replicas':
        for (const k of msg.keys as { key: string; nbytes: number; who: string[] }[]) {
          if (this.store.has(k.key) || this.fetches.has(k.key)) continue;
          this.fetches.set(k.key, { key: k.key, who: k.who.filter((w) => w !== this.address), nbytes: k.nbytes, inFlight: false, waiters: new Set(), replica: true });
        }
        this.scheduleFetches();
        break;
      case 'retire':
        this.retire('asked by the scheduler').then(() => undefined);
        this.scheduler?.reply(msg);
        break;
      case 'close':
        void this.close();
        break;
      case 'restart':
        void this.restart(msg);
        break;
      default:
        throw new ProtocolError(`unknown scheduler op '${msg.op}'`);
    }
  }

  private addTask(msg: Msg): void {
    const key = String(msg.key);
    // A cancelled task still settling is not this one: the key was freed and assigned again.
    const existing = this.tasks.get(key);
    if (existing && existing.state !== 'cancelled') return;
    if (this.store.has(key)) {
      this.scheduler?.send({ op: 'task-finished', key, nbytes: this.store.nbytes(key), type: '', startstops: [] });
      return;
    }
    const t: WorkerTask = {
      key, fn: msg.fn as FunctionSpec, args: msg.args as Uint8Array, deps: msg.deps as DepInfo[],
      priority: msg.priority as number[], state: 'waiting', missing: new Set(), transfers: [],
    };
    this.tasks.set(key, t);
    for (const dep of t.deps) {
      if (this.store.has(dep.key)) continue;
      t.missing.add(dep.key);
      let f = this.fetches.get(dep.key);
      if (!f) this.fetches.set(dep.key, (f = { key: dep.key, who: [], nbytes: dep.nbytes, inFlight: false, waiters: new Set(), replica: false }));
      for (const w of dep.who) if (!f.who.includes(w) && w !== this.address) f.who.push(w);
      f.waiters.add(t);
    }
    if (t.missing.size === 0) {
      t.state = 'ready';
      this.ready.push(t);
      this.schedule();
    } else this.scheduleFetches();
  }

  private freeKey(key: string): void {
    const t = this.tasks.get(key);
    if (t) {
      if (t.state === 'executing') {
        // Cancelled or released by every client while running: free its
        // thread (a task that never settles would hold it for good).
        t.state = 'cancelled';
        this.pool.cancel(key);
      } else {
        t.state = 'cancelled';
        this.tasks.delete(key);
        for (const d of t.missing) this.fetches.get(d)?.waiters.delete(t);
      }
    }
    this.store.delete(key);
  }

  private stealRequest(key: string): void {
    const t = this.tasks.get(key);
    const ok = t !== undefined && (t.state === 'waiting' || t.state === 'ready');
    if (ok) {
      t.state = 'cancelled';
      this.tasks.delete(key);
      for (const d of t.missing) this.fetches.get(d)?.waiters.delete(t);
    }
    this.scheduler?.send({ op: 'steal-response', key, ok });
  }

  // ------------------------------------------------------------------ fetches

  private scheduleFetches(): void {
    if (this.fetchFlushScheduled) return;
    this.fetchFlushScheduled = true;
    setImmediate(() => {
      this.fetchFlushScheduled = false;
      const byPeer = new Map<string, Fetch[]>();
      for (const f of this.fetches.values()) {
        if (f.inFlight) continue;
        if (f.waiters.size === 0 && !f.replica) {
          this.fetches.delete(f.key);
          continue;
        }
        const peer = f.who[0];
        if (!peer) continue; // waiting for the scheduler to re-plan
        f.inFlight = true;
        let list = byPeer.get(peer);
        if (!list) byPeer.set(peer, (list = []));
        list.push(f);
      }
      // Several requests for a long list: one reply must stay within a message's frame-count limit.
      for (const [peer, list] of byPeer) {
        for (let i = 0; i < list.length; i += FETCH_BATCH) void this.fetchFrom(peer, list.slice(i, i + FETCH_BATCH));
      }
    });
  }

  private async fetchFrom(peer: string, list: Fetch[]): Promise<void> {
    const start = Date.now();
    const generation = this.generation;
    let data: Record<string, WireValue> = {};
    let failed: Error | null = null;
    try {
      const comm = await this.peers!.get(peer);
      const reply = await comm.request({ op: 'get-data', keys: list.map((f) => f.key) }, 60_000);
      data = reply.data as Record<string, WireValue>;
    } catch (err) {
      failed = err as Error;
      this.peers!.discard(peer);
    }
    if (generation !== this.generation) return; // the worker was reset meanwhile: these keys are forgotten
    const stop = Date.now();
    const fetched: string[] = [];
    for (const f of list) {
      f.inFlight = false;
      const w = data[f.key];
      if (!w) {
        // That peer does not have it (or is gone): try the next holder, or ask the scheduler to re-plan.
        f.who = f.who.filter((a) => a !== peer);
        if (f.who.length === 0) {
          this.log.warn(`could not fetch ${f.key} from ${peer}${failed ? `: ${failed.message}` : ' (it no longer holds it)'}`);
          this.scheduler?.send({ op: 'missing-data', key: f.key, errant: peer });
          this.fetches.delete(f.key);
        }
        continue;
      }
      const nbytes = this.store.put(f.key, fromWire(w));
      fetched.push(f.key);
      this.fetches.delete(f.key);
      for (const t of f.waiters) {
        t.transfers.push({ action: 'transfer', start, stop, source: peer, nbytes });
        t.missing.delete(f.key);
        if (t.missing.size === 0 && t.state === 'waiting') {
          t.state = 'ready';
          this.ready.push(t);
        }
      }
    }
    if (fetched.length) {
      this.pendingAddKeys.push(...fetched);
      this.scheduler?.send({ op: 'add-keys', keys: this.pendingAddKeys });
      this.pendingAddKeys = [];
    }
    if (this.fetches.size) this.scheduleFetches();
    this.schedule();
  }

  // ---------------------------------------------------------------- execution

  private schedule(): void {
    if (this.paused || this.closing) return;
    while (this.ready.size && this.pool.capacity > 0) {
      const t = this.ready.pop()!;
      if (t.state !== 'ready') continue;
      t.state = 'executing';
      void this.execute(t);
    }
  }

  private async execute(t: WorkerTask): Promise<void> {
    const depKeys: string[] = [];
    const depValues: SerializedValue[] = [];
    for (const dep of t.deps) {
      const v = this.store.getIfInMemory(dep.key) ?? (await this.store.get(dep.key));
      if (!v) {
        // Freed between becoming ready and running: let the scheduler re-plan.
        this.scheduler?.send({ op: 'missing-data', key: dep.key, errant: this.address });
        this.tasks.delete(t.key);
        return;
      }
      depKeys.push(dep.key);
      depValues.push(v);
    }
    if (t.state === 'cancelled') {
      // Freed while its inputs were read from disk.
      if (this.tasks.get(t.key) === t) this.tasks.delete(t.key);
      return;
    }
    const outcome = await this.pool.run(t.key, t.fn, t.args, depKeys, depValues);
    this.finishTask(t, outcome);
  }

  private finishTask(t: WorkerTask, r: JobOutcome): void {
    if (this.tasks.get(t.key) === t) this.tasks.delete(t.key);
    if (t.state === 'cancelled' || this.closing) return;
    const startstops: StartStop[] = [...t.transfers, { action: 'compute', start: r.start, stop: r.stop, thread: r.thread }];
    if (r.ok) {
      const nbytes = this.store.put(t.key, r.value!);
      this.scheduler?.send({ op: 'task-finished', key: t.key, nbytes, type: r.valueType ?? '', startstops });
    } else {
      this.scheduler?.send({ op: 'task-erred', key: t.key, exception: r.error as ErrorInfo, startstops });
    }
  }

  private async runFunction(fn: FunctionSpec, args: Uint8Array): Promise<WireValue> {
    const r = await this.pool.run(`run-${randomUUID().slice(0, 8)}`, fn, args, [], []);
    if (!r.ok) {
      const e = new Error(r.error!.message);
      e.name = r.error!.name;
      e.stack = r.error!.stack;
      throw e;
    }
    return toWire(r.value!);
  }

  /**
   * client.restart(): under a nanny, the nanny replaces this process (the
   * reply goes out first); otherwise the worker resets itself in place:
   * every executor thread is ended and started afresh, and every task and
   * result is dropped. The scheduler has already forgotten them.
   */
  private async restart(msg: Msg): Promise<void> {
    if (this.restartProcess) {
      this.log.info(`worker ${this.name} restarting: asking its nanny for a new process`);
      this.scheduler?.reply(msg, { mode: 'process' });
      this.scheduler?.flush();
      this.restartProcess();
      return;
    }
    this.log.info(`worker ${this.name} restarting in place: new executor threads, no tasks, no data`);
    this.generation++;
    for (const t of this.tasks.values()) t.state = 'cancelled';
    this.tasks.clear();
    while (this.ready.size) this.ready.pop();
    this.fetches.clear();
    this.pendingAddKeys = [];
    this.store.clear();
    await this.pool.restart('the worker was restarted (client.restart())');
    collectGarbage();
    trimMalloc();
    this.scheduler?.reply(msg, { mode: 'reset' });
  }

  // --------------------------------------------------------------- peer ops

  private onPeerMessage(comm: Comm, msg: Msg): void {
    if (msg.op !== 'get-data') throw new ProtocolError(`unknown peer op '${msg.op}'`);
    void this.serveData(comm, msg);
  }

  private async serveData(comm: Comm, msg: Msg): Promise<void> {
    const data: Record<string, WireValue> = {};
    // A value with a frame over the receiver's limit would make it drop the connection, and the
    // requester would retry for ever: refuse that key instead, saying why.
    const refused: Record<string, ErrorInfo> = {};
    for (const key of msg.keys as string[]) {
      const v = this.store.getIfInMemory(key) ?? (await this.store.get(key));
      if (!v) continue;
      const wire = toWire(v);
      const largest = Math.max(0, ...wire.data.frames.map((f) => f.byteLength));
      if (largest > DEFAULT_MAX_FRAME_BYTES) {
        refused[key] = errorToInfo(new FrameTooLargeError(largest, DEFAULT_MAX_FRAME_BYTES, key));
        continue;
      }
      data[key] = wire;
    }
    comm.reply(msg, Object.keys(refused).length ? { data, refused } : { data });
  }

  // -------------------------------------------------------------- heartbeats

  private metrics(): WorkerMetrics {
    const now = Date.now();
    const cpu = process.cpuUsage(this.lastCpu);
    const cpuPct = ((cpu.user + cpu.system) / 1000 / Math.max(1, now - this.lastCpuAt)) * 100;
    this.lastCpu = process.cpuUsage();
    this.lastCpuAt = now;
    return {
      rss: process.memoryUsage.rss(), cpu: Math.round(cpuPct), executing: this.pool.executing, ready: this.ready.size,
      managedBytes: this.store.managedBytes, spilledBytes: this.store.spilledBytes, inMemory: this.store.size, paused: this.paused,
    };
  }

  private heartbeat(): void {
    const m = this.metrics();
    if (this.memoryLimit > 0) {
      // A paused worker relieves memory even with nothing left to spill: the
      // last spill's buffers may have become garbage only after its
      // collection, and a paused worker allocates nothing that would trigger
      // another one.
      if (m.rss > this.memoryLimit * MEMORY_SPILL && (this.store.managedBytes > 0 || this.paused)) void this.relieveMemory(m.rss);
      const wasPaused = this.paused;
      this.paused = m.rss > this.memoryLimit * MEMORY_PAUSE;
      if (this.paused && !wasPaused) {
        this.log.warn(`worker memory ${formatBytes(m.rss)} is above ${MEMORY_PAUSE * 100}% of the ${formatBytes(this.memoryLimit)} limit: pausing new tasks`);
      } else if (!this.paused && wasPaused) {
        this.log.info('worker memory back under the pause threshold: resuming');
        this.schedule();
      }
      m.paused = this.paused;
    }
    this.scheduler?.send({ op: 'heartbeat', metrics: m });
  }

  private relieving = false;

  /** Process memory is above the spill threshold: spill enough managed data to get under it, collect, and return freed memory to the OS. */
  private async relieveMemory(rss: number): Promise<void> {
    if (this.relieving) return;
    this.relieving = true;
    try {
      const excess = rss - this.memoryLimit * MEMORY_TARGET;
      if (this.store.managedBytes > 0) await this.store.spill(Math.max(0, this.store.managedBytes - excess));
      collectGarbage();
      trimMalloc();
    } finally {
      this.relieving = false;
    }
  }

  // -------------------------------------------------------------------- close

  /**
   * Leave gracefully (lifetime / walltime / scale-down): the scheduler stops
   * sending work, moves unstarted tasks elsewhere, copies data only this
   * worker holds to others, and then tells it to close. If that takes too
   * long (or the scheduler is gone), close anyway: lost results are
   * recomputed from their lineage.
   */
  async retire(reason: string, graceMs = 60_000): Promise<void> {
    if (this.retiring || this.closing) return;
    this.retiring = true;
    this.log.info(`worker ${this.name} retiring: ${reason}`);
    if (!this.scheduler) return this.close();
    this.scheduler.send({ op: 'retiring' });
    const timer = setTimeout(() => void this.close(), graceMs);
    timer.unref();
    await this.finished;
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    if (this.closing) return this.finished;
    this.closing = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.lifetimeTimer) clearTimeout(this.lifetimeTimer);
    await this.scheduler?.close();
    await this.peers?.close();
    await this.listener?.close();
    await this.pool.close();
    this.store.clear();
    this.store.removeDirectory();
    this.resolveFinished();
  }
}
