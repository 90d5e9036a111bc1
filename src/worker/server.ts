/**
 * A worker process's main thread: the I/O runner around the worker's state
 * machine (src/worker/state.ts). It turns scheduler messages, peer replies,
 * executor results and memory readings into events, and carries out the
 * instructions that come back: sends messages, fetches from peers, hands
 * jobs to the executor threads, keeps the data store. It never runs user
 * code, and it decides nothing about tasks itself.
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
import type {
  ErrorInfo, FunctionSpec, NoMessages, PeerToWorker, PeerToWorkerMsg, RequestOf, SchedulerToWorker, SchedulerToWorkerMsg, SerializedValue,
  WireValue, WorkerMetrics, WorkerToScheduler,
} from '../protocol/messages.js';
import { INLINE_VALUE_MAX_BYTES } from '../protocol/messages.js';
import { PEER_SERVER, WORKER_TO_SCHEDULER, unexpectedOp } from '../protocol/validate.js';
import { createLogger, type Logger } from '../logging.js';
import { resolveScheduler } from '../comm/resolve-scheduler.js';
import { DataStore } from './store.js';
import { allocateValueFrame } from './shared-memory.js';
import { ExecutorPool, type JobOutcome } from './executor.js';
import { WorkerState } from './state.js';
import type { WorkerEvent } from './events.js';
import type { Execute, GatherDep, Instruction } from './instructions.js';
import { MEMORY_PAUSE, MEMORY_SPILL, MEMORY_TARGET, collectGarbage, parseMemoryLimit } from './memory.js';
import { formatBytes } from '../util/bytes.js';
import { trimMalloc } from '../native/libc.js';
import { resolveWorkerOptions, type WorkerOptions } from './options.js';
import { FrameTooLargeError, ProtocolError, TesseraError } from '../errors.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/frames.js';
import { parseShuffleKey, shuffleKey } from '../graph/shuffle-keys.js';
import { ShuffleService } from './shuffle/service.js';

const HEARTBEAT_MS = 500;

type SchedulerComm = Comm<SchedulerToWorker, WorkerToScheduler>;
type PeerServerComm = Comm<PeerToWorker, NoMessages>;

function toWire(sv: SerializedValue): WireValue {
  return { kind: sv.kind, data: new RawFrames(sv.frames) };
}

function fromWire(w: WireValue): SerializedValue {
  return { kind: w.kind, frames: w.data.frames };
}

/** A get-data reply's values (positional, null where not held) as the state machine's map of what arrived. */
function receivedValues(keys: readonly string[], values: readonly (WireValue | null)[]): Record<string, SerializedValue> {
  const data: Record<string, SerializedValue> = {};
  for (let i = 0; i < keys.length; i++) {
    const w = values[i];
    if (w) data[keys[i]!] = fromWire(w);
  }
  return data;
}

/** What the executor pool reported for a run, as an event for the state machine. */
function outcomeEvent(key: string, runId: number, r: JobOutcome): WorkerEvent {
  return r.ok
    ? { op: 'execute-success', key, runId, value: r.value!, valueType: r.valueType ?? '', start: r.start, stop: r.stop, thread: r.thread }
    : { op: 'execute-failure', key, runId, error: r.error as ErrorInfo, start: r.start, stop: r.stop, thread: r.thread };
}

/** A failure on the main thread around a task (a shuffle step), as the executor would report one. */
function failedOutcome(err: unknown): JobOutcome {
  const now = Date.now();
  return { ok: false, error: errorToInfo(err), start: now, stop: now, thread: 0 };
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
  private scheduler: SchedulerComm | null = null;
  private listener: Listener | null = null;
  private peers: ConnectionPool | null = null;
  private readonly store: DataStore;
  private readonly pool: ExecutorPool;
  /** Every task and fetch of this worker, and which keys the store holds. */
  private readonly state = new WorkerState({ validate: process.env.TESSERA_VALIDATE === '1' });
  private capacityReportScheduled = false;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private lifetimeTimer: NodeJS.Timeout | null = null;
  private lastCpu = process.cpuUsage();
  private lastCpuAt = Date.now();
  private closing = false;
  private retiring = false;
  private readonly log: Logger;
  /** P2P shuffles: shards this worker sends and receives (shuffle/service.ts); made once the worker has its address. */
  private shuffle: ShuffleService | null = null;
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
    this.pool.onCapacity = () => this.reportCapacity();
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
    if (!this.opts.schedulerAddress && !this.opts.schedulerFile) {
      throw new TesseraError('ERR_TESSERA_INVALID_ARGUMENT', 'a worker needs a scheduler address or --scheduler-file');
    }
    // The same rule as every client and launcher (comm/resolve-scheduler.ts); a worker may start before
    // its scheduler, so it waits for the file for as long as it would wait for the scheduler.
    const { address, token } = await resolveScheduler(
      this.opts.schedulerAddress ? this.opts.schedulerAddress : { schedulerFile: this.opts.schedulerFile! },
      { ...(this.opts.token !== undefined ? { token: this.opts.token } : {}), waitForFileMs: this.opts.deathTimeoutMs ?? 60_000 },
    );
    this.schedulerAddress = address;
    this.token = token;
    const { bind, advertise } = resolveListenHost({
      ...(this.opts.interface ? { interface: this.opts.interface } : {}),
      host: this.opts.host ?? (address.includes('127.0.0.1') || address.includes('localhost') ? '127.0.0.1' : '0.0.0.0'),
    });
    this.listener = await listen({
      host: bind, port: this.opts.port ?? 0, token, role: 'worker', id: `worker-${process.pid}`, logger: this.log,
      onComm: (comm) => {
        const peer = comm.typed(PEER_SERVER);
        peer.onMessage = (msg) => this.onPeerMessage(peer, msg);
      },
    });
    this.address = formatAddress(advertise, this.listener.port);
    this.state.address = this.address;
    this.name = this.opts.name ?? this.address;
    // Values arrive shared, ready for executor threads without another copy (see FrameDecoder).
    this.peers = new ConnectionPool({ role: 'peer', token, name: this.name, allocatePayload: allocateValueFrame });
    this.shuffle = this.makeShuffleService();
    await this.register();
    this.pool.start();
    this.handle({ op: 'executor-capacity', free: this.pool.capacity });
    this.heartbeatTimer = setInterval(() => this.heartbeat(), HEARTBEAT_MS);
    this.heartbeatTimer.unref();
    if (this.opts.lifetimeMs) {
      this.lifetimeTimer = setTimeout(() => void this.retire('lifetime reached'), this.opts.lifetimeMs);
      this.lifetimeTimer.unref();
    }
  }

  private async register(): Promise<void> {
    const connected = await connect(this.schedulerAddress, {
      role: 'worker', token: this.token, name: this.name, timeoutMs: this.opts.deathTimeoutMs ?? 60_000,
      allocatePayload: allocateValueFrame, // scattered values come this way
    });
    const comm = connected.comm.typed(WORKER_TO_SCHEDULER);
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
    this.handle({ op: 'reset' });
    this.shuffle?.clear();
    try {
      await this.register();
    } catch (e) {
      this.log.error(`scheduler unreachable for ${Math.round((this.opts.deathTimeoutMs ?? 60_000) / 1000)} s; worker exiting (${(e as Error).message})`);
      this.gaveUp = e as Error;
      await this.close();
    }
  }

  // ------------------------------------------------------------ scheduler ops

  private onSchedulerMessage(msg: SchedulerToWorkerMsg): void {
    switch (msg.op) {
      case 'compute-task':
        this.handle(msg); // the event is the message itself (ComputeTaskEvent): no copy per task
        break;
      case 'free-keys':
        this.handle({ op: 'free-keys', keys: msg.keys });
        break;
      case 'steal-request':
        this.handle({ op: 'steal-request', key: msg.key });
        break;
      case 'update-data':
        this.handle({ op: 'update-data', items: msg.items.map((it) => ({ key: it.key, value: fromWire(it.value) })) });
        this.scheduler?.reply(msg);
        break;
      case 'run':
        this.runFunction(msg.fn, msg.args).then(
          (value) => this.scheduler?.reply(msg, { value }),
          (err) => this.scheduler?.replyError(msg, err),
        );
        break;
      case 'acquire-replicas':
        this.handle({ op: 'acquire-replicas', keys: msg.keys });
        break;
      case 'retire':
        void this.retire('asked by the scheduler');
        this.scheduler?.reply(msg);
        break;
      case 'close':
        void this.close();
        break;
      case 'shuffle-forget':
        this.shuffle?.forget(msg.id, msg.runId);
        break;
      case 'restart':
        void this.restart(msg);
        break;
      default:
        throw unexpectedOp(msg, 'scheduler to worker');
    }
  }

  // ------------------------------------------------------------ the runner

  /** Feeds one event to the state machine and carries out what it asks. A closing worker takes no more. */
  private handle(event: WorkerEvent): void {
    if (this.closing) return;
    this.runInstructions(this.state.handle(event));
  }

  private runInstructions(instructions: Instruction[]): void {
    for (const ins of instructions) {
      switch (ins.op) {
        case 'send':
          this.scheduler?.send(ins.msg);
          break;
        case 'store-data':
          this.store.put(ins.key, ins.value);
          break;
        case 'delete-data':
          for (const key of ins.keys) this.store.delete(key);
          break;
        case 'execute':
          void this.execute(ins);
          break;
        case 'cancel-execution':
          // Cancelled or released by every client while running: free its
          // thread (a task that never settles would hold it for good).
          this.pool.cancel(ins.key);
          break;
        case 'gather-dep':
          void this.fetchFrom(ins);
          break;
        case 'gather-later':
          setImmediate(() => this.handle({ op: 'gather' }));
          break;
      }
    }
    if (this.state.validating) this.validateStore();
  }

  /** The store holds exactly the keys the state has in memory (checked only when validating: it walks every key). */
  private validateStore(): void {
    let n = 0;
    for (const key of this.state.memoryKeys()) {
      n++;
      if (!this.store.has(key)) throw new Error(`worker state has ${key} in memory, the store does not`);
    }
    if (n !== this.store.size) throw new Error(`the store holds ${this.store.size} keys, the state ${n}`);
  }

  /**
   * The pool has room again. Reported after the results that made the room
   * (their promises settle first, in earlier microtasks), and once however
   * often the pool calls.
   */
  private reportCapacity(): void {
    if (this.capacityReportScheduled) return;
    this.capacityReportScheduled = true;
    queueMicrotask(() => {
      this.capacityReportScheduled = false;
      this.handle({ op: 'executor-capacity', free: this.pool.capacity });
    });
  }

  // ------------------------------------------------------------------ fetches

  private async fetchFrom(g: GatherDep): Promise<void> {
    const { peer, keys, gatherId } = g;
    const start = Date.now();
    let values: (WireValue | null)[] = [];
    let failed: Error | null = null;
    try {
      const comm = await this.peers!.get(peer);
      const reply = await comm.request({ op: 'get-data', keys }, 60_000);
      // Validation lets `true` (an inline value) through only beside `inline`, which a worker never asks for.
      if (reply.inline) throw new ProtocolError(`worker ${peer} answered get-data with inline values, which only a client asks for`);
      values = reply.values as (WireValue | null)[];
    } catch (err) {
      failed = err as Error;
      this.peers!.discard(peer);
    }
    const stop = Date.now();
    // Replies to requests made before a reset are ignored by the state: it no longer has those keys in flight.
    const event: WorkerEvent = failed
      ? { op: 'gather-dep-failure', gatherId, peer, keys }
      : { op: 'gather-dep-success', gatherId, peer, keys, data: receivedValues(keys, values), start, stop };
    if (this.closing) return;
    const instructions = this.state.handle(event);
    for (const ins of instructions) {
      if (ins.op === 'send' && ins.msg.op === 'missing-data') {
        this.log.warn(`could not fetch ${String(ins.msg.key)} from ${peer}${failed ? `: ${failed.message}` : ' (it no longer holds it)'}`);
      }
    }
    this.runInstructions(instructions);
  }

  // ---------------------------------------------------------------- execution

  private async execute(ins: Execute): Promise<void> {
    const { key, runId } = ins;
    const depValues: SerializedValue[] = [];
    for (const dep of ins.depKeys) {
      const v = this.store.getSharedIfInMemory(dep) ?? (await this.store.getShared(dep));
      if (!v) {
        // Freed between becoming ready and running: let the scheduler re-plan.
        this.handle({ op: 'execute-input-missing', key, runId, dep });
        this.reportCapacity(); // the slot the state set aside for this run was never taken
        return;
      }
      depValues.push(v);
    }
    if (!this.state.isExecuting(key, runId)) {
      // Freed while its inputs were read from disk.
      this.handle({ op: 'execute-cancelled', key, runId });
      this.reportCapacity();
      return;
    }
    const shuffle = parseShuffleKey(key);
    if (shuffle?.role === 'unpack' && this.shuffle) {
      // The unpack reads the shards this worker received, in place of the barrier's value.
      const at = ins.depKeys.indexOf(shuffleKey('barrier', shuffle.id));
      try {
        if (at < 0) throw new Error(`internal: unpack task ${key} does not depend on its shuffle's barrier`);
        depValues[at] = this.shuffle.unpackInput(shuffle, depValues[at]!);
      } catch (err) {
        this.handle(outcomeEvent(key, runId, failedOutcome(err)));
        return;
      }
    }
    let r = await this.pool.run(key, ins.fn, ins.args, ins.depKeys, depValues);
    if (r.ok && shuffle?.role === 'transfer' && this.shuffle) {
      // Finished only once every shard is delivered: the barrier, which waits for every transfer, then knows they all are.
      try {
        r = { ...r, value: await this.shuffle.transfer(shuffle, r.value!), valueType: 'number', stop: Date.now() };
      } catch (err) {
        r = { ...failedOutcome(err), start: r.start, thread: r.thread };
      }
    }
    if (r.ok && shuffle?.role === 'unpack') this.shuffle?.unpacked(shuffle);
    this.handle(outcomeEvent(key, runId, r));
  }

  /** The P2P shuffle service, talking to the scheduler and peers through this worker's comms. */
  private makeShuffleService(): ShuffleService {
    const env = process.env.TESSERA_SHUFFLE_BUFFER;
    // Shards held in memory before spilling: a quarter of the memory limit, or 256 MiB without one (TESSERA_SHUFFLE_BUFFER overrides).
    const limit = env ? parseMemoryLimit(/^\d+$/.test(env) ? Number(env) : env) : this.memoryLimit > 0 ? this.memoryLimit / 4 : 256 * 2 ** 20;
    return new ShuffleService({
      address: this.address,
      getRun: async (id, outputs, knownRun) => {
        if (!this.scheduler) throw new Error('the worker has lost its scheduler');
        return this.scheduler.request({ op: 'shuffle-get', id, outputs, knownRun }, 60_000);
      },
      send: async (address, msg, timeoutMs) => {
        try {
          const comm = await this.peers!.get(address);
          await comm.request({ op: 'shuffle-receive', ...msg }, timeoutMs);
        } catch (err) {
          this.peers!.discard(address);
          throw err;
        }
      },
    }, this.localDirectory, limit);
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
  private async restart(msg: RequestOf<SchedulerToWorker> & { op: 'restart' }): Promise<void> {
    if (this.restartProcess) {
      this.log.info(`worker ${this.name} restarting: asking its nanny for a new process`);
      this.scheduler?.reply(msg, { mode: 'process' });
      this.scheduler?.flush();
      this.restartProcess();
      return;
    }
    this.log.info(`worker ${this.name} restarting in place: new executor threads, no tasks, no data`);
    // Runs and fetches still out report back to a state that no longer knows them, and are ignored.
    this.handle({ op: 'reset' });
    this.shuffle?.clear();
    await this.pool.restart('the worker was restarted (client.restart())');
    collectGarbage();
    trimMalloc();
    this.scheduler?.reply(msg, { mode: 'reset' });
  }

  // --------------------------------------------------------------- peer ops

  private onPeerMessage(comm: PeerServerComm, msg: PeerToWorkerMsg): void {
    switch (msg.op) {
      case 'get-data':
        void this.serveData(comm, msg);
        break;
      case 'shuffle-receive':
        try {
          if (!this.shuffle) throw new Error('this worker has no shuffle service yet');
          this.shuffle.receive(msg);
          comm.reply(msg);
        } catch (err) {
          comm.replyError(msg, err);
        }
        break;
      default:
        throw unexpectedOp(msg, 'peer to worker');
    }
  }

  private async serveData(comm: PeerServerComm, msg: Extract<PeerToWorkerMsg, { op: 'get-data' }>): Promise<void> {
    const values = new Array<WireValue | true | null>(msg.keys.length).fill(null);
    // Small msgpack values, when the requester (a client) takes them inline: their bytes, in key order.
    const inline: Uint8Array[] | null = msg.inline ? [] : null;
    let inlineBytes = 0;
    // A value with a frame over the receiver's limit would make it drop the connection, and the
    // requester would retry for ever: refuse that key instead, saying why.
    const refused: Record<string, ErrorInfo> = {};
    for (let i = 0; i < msg.keys.length; i++) {
      const key = msg.keys[i]!;
      const v = this.store.getIfInMemory(key) ?? (await this.store.get(key));
      if (!v) continue;
      let largest = 0;
      for (const f of v.frames) if (f.byteLength > largest) largest = f.byteLength;
      if (largest > DEFAULT_MAX_FRAME_BYTES) {
        refused[key] = errorToInfo(new FrameTooLargeError(largest, DEFAULT_MAX_FRAME_BYTES, key));
        continue;
      }
      if (inline && v.kind === 'msgpack' && v.frames.length === 1 && largest <= INLINE_VALUE_MAX_BYTES) {
        inline.push(v.frames[0]!);
        inlineBytes += largest;
        values[i] = true;
      } else values[i] = toWire(v);
    }
    comm.reply(msg, {
      values,
      ...(inline?.length ? { inline: Buffer.concat(inline, inlineBytes) } : {}),
      ...(Object.keys(refused).length ? { refused } : {}),
    });
  }

  // -------------------------------------------------------------- heartbeats

  private metrics(): WorkerMetrics {
    const now = Date.now();
    const cpu = process.cpuUsage(this.lastCpu);
    const cpuPct = ((cpu.user + cpu.system) / 1000 / Math.max(1, now - this.lastCpuAt)) * 100;
    this.lastCpu = process.cpuUsage();
    this.lastCpuAt = now;
    return {
      rss: process.memoryUsage.rss(), cpu: Math.round(cpuPct), executing: this.pool.executing, ready: this.state.ready.size,
      managedBytes: this.store.managedBytes, spilledBytes: this.store.spilledBytes, inMemory: this.store.size, paused: this.state.paused,
      ...(this.shuffle ? { shuffle: { ...this.shuffle.stats } } : {}),
    };
  }

  private heartbeat(): void {
    const m = this.metrics();
    if (this.memoryLimit > 0) {
      // A paused worker relieves memory even with nothing left to spill: the
      // last spill's buffers may have become garbage only after its
      // collection, and a paused worker allocates nothing that would trigger
      // another one.
      if (m.rss > this.memoryLimit * MEMORY_SPILL && (this.store.managedBytes > 0 || this.state.paused)) void this.relieveMemory(m.rss);
      const wasPaused = this.state.paused;
      const paused = m.rss > this.memoryLimit * MEMORY_PAUSE;
      if (paused && !wasPaused) {
        this.log.warn(`worker memory ${formatBytes(m.rss)} is above ${MEMORY_PAUSE * 100}% of the ${formatBytes(this.memoryLimit)} limit: pausing new tasks`);
        this.handle({ op: 'pause' });
      } else if (!paused && wasPaused) {
        this.log.info('worker memory back under the pause threshold: resuming');
        this.handle({ op: 'unpause' });
      }
      m.paused = this.state.paused;
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
    this.shuffle?.clear();
    this.store.clear();
    this.store.removeDirectory();
    this.resolveFinished();
  }
}
