/**
 * The scheduler process: listens for workers and clients, feeds their
 * messages to the state machine (state.ts) and sends out the resulting
 * Effects. Also: heartbeat checks, work stealing, scatter/run/who-has
 * requests, the scheduler file and the dashboard.
 */
import { randomBytes, randomUUID } from 'node:crypto';

import type { Comm } from '../comm/comm.js';
import { errorToInfo } from '../comm/comm.js';
import { listen, rateLimited, type Listener } from '../comm/server.js';
import { formatAddress, parseHostPortSpec, resolveListenHost } from '../comm/address.js';
import type { Hello } from '../protocol/handshake.js';
import type {
  ClientToScheduler, ClientToSchedulerMsg, RequestOf, RunResult, ScatterItem, SchedulerInfo, SchedulerToClient,
  SchedulerToWorker, StartStop, WireValue, WorkerToScheduler, WorkerToSchedulerMsg,
} from '../protocol/messages.js';
import { SCHEDULER_TO_CLIENT, SCHEDULER_TO_WORKER, unexpectedOp } from '../protocol/validate.js';
import { withRuns } from '../protocol/task-runs.js';
import { detachArgs } from './arg-arena.js';
import { RawFrames } from '../protocol/codec.js';
import { createLogger, type Logger } from '../logging.js';
import { VERSION } from '../version.js';
import { Effects, SchedulerState } from './state.js';
import { stimulusFactory } from './stimulus.js';
import { confirmSteal, planSteals } from './stealing.js';
import { handoffPlan, retireWorker } from './retirement.js';
import { ShuffleExtension } from './shuffle.js';
import type { SchedulerOptions } from './options.js';
import { removeSchedulerFile, writeSchedulerFile } from '../comm/scheduler-file.js';
import type { ClusterSnapshot, TaskGroupSnapshot, TaskStreamEvent, WorkerSnapshot } from './snapshot.js';
import { loadFunction } from '../graph/function-loader.js';
import { decodeArgs, deserializeValue, serializeValue } from '../graph/serialize.js';
import { ProtocolError, TimeoutError } from '../errors.js';

const HEARTBEAT_CHECK_MS = 1000;
const STEAL_INTERVAL_MS = 100;
/** client.restart() waits this long for the workers to be back unless the client says otherwise. */
const RESTART_TIMEOUT_MS = 60_000;

type ClientComm = Comm<ClientToScheduler, SchedulerToClient>;
type WorkerComm = Comm<WorkerToScheduler, SchedulerToWorker>;

/** A client request of one op, as its handler gets it. */
type ClientRequest<K extends ClientToSchedulerMsg['op']> = Extract<RequestOf<ClientToScheduler>, { op: K }>;

interface ClientSession {
  id: string;
  comm: ClientComm;
}

export class SchedulerServer {
  readonly id = `scheduler-${randomUUID()}`;
  readonly state: SchedulerState;
  /** P2P shuffles: who owns which output, restarts when an owner is lost (shuffle.ts). */
  readonly shuffles: ShuffleExtension;
  readonly token: string;
  readonly startedAt = Date.now();
  address = '';
  dashboardPort: number | undefined;
  dashboardHost: string | undefined;
  readonly finished: Promise<void>;

  private resolveFinished!: () => void;
  private listener: Listener | null = null;
  private readonly workerComms = new Map<string, WorkerComm>();
  private readonly clientSessions = new Map<string, ClientSession>();
  private readonly timers: NodeJS.Timeout[] = [];
  /** Per open streamed submission: tasksAssigned when its first chunk arrived. */
  private readonly streamStarts = new Map<string, number>();
  private readonly stealsInFlight = new Map<string, { victim: string; thief: string }>();
  private readonly workerWaiters: { n: number; resolve: () => void }[] = [];
  private dashboardClose: (() => Promise<void>) | null = null;
  private closing = false;
  private readonly log: Logger;
  private readonly workerTtlMs: number;
  private readonly warnBroken: (msg: string) => void;
  /** Every message into the state machine is a stimulus: an id for its transition log, and the time. */
  private readonly stimulus = stimulusFactory();

  private constructor(private readonly opts: SchedulerOptions) {
    this.token = opts.token ?? process.env.TESSERA_TOKEN ?? randomBytes(24).toString('hex');
    this.state = new SchedulerState({
      ...(opts.allowedFailures !== undefined ? { allowedFailures: opts.allowedFailures } : {}),
      validate: opts.validate ?? process.env.TESSERA_VALIDATE === '1',
    });
    this.shuffles = new ShuffleExtension(this.state);
    this.log = createLogger('scheduler', opts.quiet && !process.env.TESSERA_LOG_LEVEL ? 'warn' : undefined);
    this.workerTtlMs = opts.workerTtlMs ?? 60_000;
    this.warnBroken = rateLimited(this.log);
    this.finished = new Promise((r) => (this.resolveFinished = r));
  }

  static async start(opts: SchedulerOptions = {}): Promise<SchedulerServer> {
    const s = new SchedulerServer(opts);
    try {
      await s.startServing();
    } catch (err) {
      // A scheduler that failed to start must not keep its port (or the process) open.
      await s.close('start-up failed');
      throw err;
    }
    return s;
  }

  private async startServing(): Promise<void> {
    // Bad options fail before anything listens.
    const dashboardSpec = this.opts.dashboard !== false ? parseHostPortSpec(this.opts.dashboardAddress ?? ':8787') : null;
    const { bind, advertise } = resolveListenHost(this.opts);
    this.listener = await listen({
      host: bind,
      port: this.opts.port ?? 0,
      token: this.token,
      role: 'scheduler',
      id: this.id,
      logger: this.log,
      onComm: (comm, hello) => this.onComm(comm, hello),
    });
    this.address = formatAddress(advertise, this.listener.port);
    this.log.info(`scheduler at ${this.address}`);
    if (dashboardSpec) await this.startDashboard(advertise, dashboardSpec);
    if (this.opts.schedulerFile) {
      await writeSchedulerFile(this.opts.schedulerFile, {
        id: this.id,
        address: this.address,
        services: this.dashboardPort !== undefined ? { dashboard: this.dashboardPort } : {},
        started: this.startedAt,
        token: this.token,
        ...(this.opts.jobId ? { jobId: this.opts.jobId } : {}),
      });
      this.schedulerFileWritten = this.opts.schedulerFile;
      // Also on process.exit() and fatal errors, where close() never runs.
      process.once('exit', this.removeSchedulerFileBound);
      this.log.info(`scheduler file written to ${this.opts.schedulerFile}`);
    }
    this.timers.push(setInterval(() => this.checkHeartbeats(), HEARTBEAT_CHECK_MS));
    this.timers.push(setInterval(() => this.balance(), STEAL_INTERVAL_MS));
    for (const t of this.timers) t.unref();
  }

  /** Removes the scheduler file this scheduler wrote, unless another scheduler has replaced it since. */
  private removeSchedulerFile(): void {
    if (!this.schedulerFileWritten) return;
    removeSchedulerFile(this.schedulerFileWritten, this.id);
    this.schedulerFileWritten = null;
    process.off('exit', this.removeSchedulerFileBound);
  }

  private readonly removeSchedulerFileBound = () => this.removeSchedulerFile();
  private schedulerFileWritten: string | null = null;

  private async startDashboard(advertise: string, spec: { host: string | undefined; port: number }): Promise<void> {
    // A loopback scheduler (LocalCluster) keeps its dashboard on loopback too;
    // a cluster scheduler serves it on every interface, for SSH tunnels.
    const host = spec.host ?? (this.opts.host === undefined && !this.opts.interface ? '127.0.0.1' : this.opts.host === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0');
    const { startDashboard } = await import('../dashboard/server.js');
    let d;
    try {
      d = await startDashboard(this, { address: `${host}:${spec.port}`, logger: this.log });
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_TESSERA_DASHBOARD_PORT_IN_USE') throw err;
      // As Dask does: another cluster has the port; serve on a free one and say where.
      d = await startDashboard(this, { address: `${host}:0`, logger: this.log });
      this.log.warn(`dashboard port ${spec.port} is already in use (another cluster?); serving the dashboard on port ${d.port} instead`);
    }
    this.dashboardPort = d.port;
    this.dashboardHost = host === '0.0.0.0' ? advertise : host;
    this.dashboardClose = d.close;
    this.log.info(`dashboard at http://${this.dashboardHost}:${d.port}/status`);
  }

  /** Shown on the dashboard's /info page (never the token). */
  config(): Record<string, unknown> {
    return {
      address: this.address,
      dashboardAddress: this.opts.dashboardAddress ?? ':8787',
      workerTtlMs: this.workerTtlMs,
      allowedFailures: this.state.allowedFailures,
      validate: this.state.validating,
      schedulerFile: this.opts.schedulerFile ?? null,
      jobId: this.opts.jobId ?? null,
      pid: process.pid,
      node: process.version,
    };
  }

  get services(): { dashboard?: number } {
    return this.dashboardPort !== undefined ? { dashboard: this.dashboardPort } : {};
  }

  // -------------------------------------------------------------- connections

  private onComm(comm: Comm, hello: Hello): void {
    if (this.closing) {
      void comm.close();
      return;
    }
    if (hello.role === 'worker') {
      const worker = comm.typed(SCHEDULER_TO_WORKER);
      worker.label = `worker ${hello.name ?? comm.remote}`;
      worker.onMessage = (msg) => this.onWorkerRegistration(worker, msg);
      worker.onClose = () => {};
    } else if (hello.role === 'client') {
      const session: ClientSession = { id: `client-${randomUUID()}`, comm: comm.typed(SCHEDULER_TO_CLIENT) };
      comm.label = `client ${session.id}`;
      this.clientSessions.set(session.id, session);
      this.state.addClient(session.id, this.stimulus('client-connected'));
      session.comm.onMessage = (msg) => this.onClientMessage(session, msg);
      session.comm.onClose = (err) => {
        // A client that sent something malformed is disconnected; say why.
        if (err && !this.closing) this.warnBroken(`client ${comm.remote} disconnected: ${err.message}`);
        this.removeClient(session);
      };
      session.comm.send({ op: 'client-id', id: session.id });
    } else {
      void comm.close();
    }
  }

  private onWorkerRegistration(comm: WorkerComm, msg: WorkerToSchedulerMsg): void {
    if (msg.op !== 'register-worker') throw new ProtocolError(`expected register-worker, got ${msg.op}`);
    const { address, name } = msg;
    for (const ws of this.state.workers.values()) {
      if (ws.name === name && ws.address !== address) {
        comm.replyError(msg, new ProtocolError(`a worker named '${name}' is already registered (${ws.address}); give each worker a unique --name`));
        void comm.close();
        return;
      }
    }
    if (this.state.workers.has(address)) this.removeWorker(address, 'replaced by a new registration');
    comm.label = `worker ${name} (${address})`;
    this.workerComms.set(address, comm);
    comm.onMessage = (m) => this.onWorkerMessage(address, m);
    comm.onClose = (err) => this.removeWorker(address, err ? err.message : 'connection closed');
    const eff = this.state.addWorker({
      address,
      name,
      nthreads: msg.nthreads || 1,
      memoryLimit: msg.memoryLimit,
      host: msg.host,
      pid: msg.pid,
      localDirectory: msg.localDirectory,
    }, this.stimulus('add-worker'));
    comm.reply(msg, { id: this.id, workerName: name });
    this.apply(eff);
    this.log.info(`worker ${name} joined from ${address} (${msg.nthreads} threads)`);
    this.notifyWorkerWaiters();
  }

  private removeWorker(address: string, reason: string): void {
    this.flushFinished();
    const ws = this.state.workers.get(address);
    const comm = this.workerComms.get(address);
    this.workerComms.delete(address);
    if (!ws) return;
    const graceful = ws.status === 'closing' || this.restartingWorkers.has(address);
    this.restartingWorkers.delete(address);
    const eff = this.state.removeWorker(address, this.stimulus('remove-worker'));
    if (!this.closing && !graceful) this.log.warn(`worker ${ws.name} (${address}) removed: ${reason}`);
    else if (!this.closing) this.log.info(`worker ${ws.name} (${address}) left`);
    void comm?.close();
    this.apply(eff);
    const restarted = this.shuffles.workerRemoved(address, this.stimulus('shuffle-worker-lost'));
    if (restarted.toWorkers.size) this.log.warn(`worker ${ws.name} (${address}) owned shuffle outputs: restarting those shuffles`);
    this.apply(restarted);
  }

  private removeClient(session: ClientSession): void {
    if (!this.clientSessions.delete(session.id)) return;
    for (const id of this.streamStarts.keys()) if (id.startsWith(`${session.id}#`)) this.streamStarts.delete(id);
    this.apply(this.state.removeClient(session.id, this.stimulus('remove-client')));
  }

  private apply(eff: Effects): void {
    for (const [ws, msgs] of eff.toWorkers) {
      const comm = this.workerComms.get(ws.address);
      if (comm) for (const m of msgs) comm.send(m);
    }
    for (const [cs, msgs] of eff.toClients) {
      const session = this.clientSessions.get(cs.id);
      if (session) for (const m of msgs) session.comm.send(m);
    }
  }

  // --------------------------------------------------------------- messages

  /**
   * task-finished reports of one wire batch (a worker's messages of one
   * flush, or several workers' read in one turn), handled as one stimulus
   * when the batch has been dispatched (a microtask). Any other message
   * handles them first, so the state sees everything in arrival order.
   */
  private finishedReports: { address: string; key: string; nbytes: number; type: string; startstops: StartStop[] }[] = [];
  private finishedScheduled = false;
  private readonly flushFinishedBound = () => this.flushFinished();

  private flushFinished(): void {
    this.finishedScheduled = false;
    if (this.finishedReports.length === 0) return;
    const reports = this.finishedReports;
    this.finishedReports = [];
    this.apply(this.state.tasksFinished(reports, this.stimulus('task-finished')));
  }

  private onWorkerMessage(address: string, msg: WorkerToSchedulerMsg): void {
    if (msg.op === 'task-finished') {
      this.finishedReports.push({ address, key: msg.key, nbytes: msg.nbytes, type: msg.type, startstops: msg.startstops });
      if (!this.finishedScheduled) {
        this.finishedScheduled = true;
        queueMicrotask(this.flushFinishedBound);
      }
      return;
    }
    this.flushFinished();
    switch (msg.op) {
      case 'task-erred':
        this.apply(this.state.taskErred(address, msg.key, msg.exception, msg.startstops, this.stimulus('task-erred')));
        break;
      case 'heartbeat': {
        const stim = this.stimulus('heartbeat');
        if (this.state.heartbeat(address, msg.metrics, stim)) this.apply(this.state.workerResumed(address, stim));
        break;
      }
      case 'add-keys':
        this.apply(this.state.addKeys(address, msg.keys));
        break;
      case 'missing-data':
        this.apply(this.state.missingData(address, msg.key, msg.errant, this.stimulus('missing-data')));
        break;
      case 'steal-response': {
        const s = this.stealsInFlight.get(msg.key);
        this.stealsInFlight.delete(msg.key);
        if (s) this.apply(confirmSteal(this.state, msg.key, s.victim, s.thief, msg.ok, this.stimulus('steal-response')));
        break;
      }
      case 'retiring':
        this.beginRetirement(address);
        break;
      case 'register-worker':
        throw new ProtocolError(`worker ${address} registered twice on one connection`);
      case 'shuffle-get': {
        const comm = this.workerComms.get(address);
        try {
          const run = this.shuffles.get(msg.id, msg.outputs);
          comm?.reply(msg, run.runId === msg.knownRun ? { runId: run.runId } : { runId: run.runId, owners: [...run.owners] });
        } catch (err) {
          comm?.replyError(msg, err);
        }
        break;
      }
      default:
        throw unexpectedOp(msg, 'worker to scheduler');
    }
  }

  private onClientMessage(session: ClientSession, msg: ClientToSchedulerMsg): void {
    this.flushFinished();
    switch (msg.op) {
      case 'update-graph': {
        detachArgs(msg.tasks, msg.runs);
        this.apply(this.state.updateGraph(session.id, withRuns(msg.tasks, msg.runs), msg.keys, msg.priority, this.stimulus('update-graph')));
        break;
      }
      case 'graph-chunk': {
        const id = `${session.id}#${msg.stream}`;
        if (!this.state.graphStreams.has(id)) this.streamStarts.set(id, this.state.tasksAssigned);
        const started = this.state.tasksAssigned - (this.streamStarts.get(id) ?? 0);
        detachArgs(msg.tasks, msg.runs);
        this.apply(this.state.updateGraph(session.id, withRuns(msg.tasks, msg.runs), msg.keys, msg.priority, this.stimulus('graph-chunk'), msg));
        if (msg.final) this.streamStarts.delete(id);
        // What had started before this chunk: tasks of earlier chunks running while the client still sends.
        session.comm.reply(msg, { started });
        break;
      }
      case 'client-desires-keys':
        this.apply(this.state.clientDesiresKeys(session.id, msg.keys, this.stimulus('client-desires-keys')));
        break;
      case 'client-releases-keys':
        this.apply(this.state.clientReleasesKeys(session.id, msg.keys, this.stimulus('client-releases-keys')));
        break;
      case 'who-has': {
        const workers: string[] = [];
        const index = new Map<string, number>();
        const holders = new Array<number>(msg.keys.length);
        for (let i = 0; i < msg.keys.length; i++) {
          let holder = -1;
          for (const ws of this.state.tasks.get(msg.keys[i]!)?.whoHas ?? []) {
            holder = index.get(ws.address) ?? -1;
            if (holder < 0) {
              holder = workers.push(ws.address) - 1;
              index.set(ws.address, holder);
            }
            break;
          }
          holders[i] = holder;
        }
        session.comm.reply(msg, { workers, holders });
        break;
      }
      case 'identity':
        session.comm.reply(msg, { info: this.info() });
        break;
      case 'wait-for-workers':
        void this.waitForWorkers(msg.n).then(() => session.comm.reply(msg, { n: this.state.workers.size }));
        break;
      case 'scatter':
        this.scatter(session, msg).catch((err) => session.comm.replyError(msg, err));
        break;
      case 'broadcast-run':
        this.broadcastRun(msg).then((results) => session.comm.reply(msg, { results }), (err) => session.comm.replyError(msg, err));
        break;
      case 'run-on-scheduler':
        this.runHere(msg).then((value) => session.comm.reply(msg, { value }), (err) => session.comm.replyError(msg, err));
        break;
      case 'shutdown':
        session.comm.reply(msg);
        session.comm.flush();
        void this.close('shutdown requested by a client');
        break;
      case 'start-performance-report':
        void this.startRecording(session, msg);
        break;
      case 'stop-performance-report': {
        const rec = this.recorders.get(msg.id);
        this.recorders.delete(msg.id);
        if (!rec) session.comm.replyError(msg, new ProtocolError(`no performance report ${msg.id} is being recorded`));
        else session.comm.reply(msg, { data: rec.stop() });
        break;
      }
      case 'restart':
        this.restart(msg.timeoutMs || RESTART_TIMEOUT_MS).then((r) => session.comm.reply(msg, r), (err) => session.comm.replyError(msg, err));
        break;
      case 'retire-workers':
        this.retireWorkers(msg.workers).then((r) => session.comm.reply(msg, { retired: r }), (err) => session.comm.replyError(msg, err));
        break;
      default:
        throw unexpectedOp(msg, 'client to scheduler');
    }
  }

  // ----------------------------------------------------------------- requests

  private readonly recorders = new Map<string, import('../dashboard/report.js').PerformanceRecorder>();

  /** Performance reports are recorded here, next to the state, and written by the client. */
  private async startRecording(session: ClientSession, msg: ClientRequest<'start-performance-report'>): Promise<void> {
    const { PerformanceRecorder } = await import('../dashboard/report.js');
    const id = randomUUID();
    const rec = new PerformanceRecorder(this, { ...(msg.title !== undefined ? { title: msg.title } : {}), intervalMs: msg.intervalMs ?? 500 });
    rec.start();
    this.recorders.set(id, rec);
    session.comm.reply(msg, { id });
  }

  info(): SchedulerInfo {
    const workers: SchedulerInfo['workers'] = {};
    for (const ws of this.state.workers.values()) {
      workers[ws.address] = {
        name: ws.name, host: ws.host, nthreads: ws.nthreads, memoryLimit: ws.memoryLimit, pid: ws.pid,
        localDirectory: ws.localDirectory, status: ws.status, metrics: ws.metrics, lastSeen: ws.lastSeen,
        nbytes: ws.nbytes, processing: ws.processing.size, inMemory: ws.hasWhat.size,
      };
    }
    return {
      type: 'Scheduler', id: this.id, address: this.address, version: VERSION, started: this.startedAt,
      services: this.services, dashboardHost: this.dashboardHost, workers, tasksByState: { ...this.state.counts },
    };
  }

  private waitForWorkers(n: number): Promise<void> {
    if (this.state.workers.size >= n) return Promise.resolve();
    return new Promise((resolve) => this.workerWaiters.push({ n, resolve }));
  }

  private notifyWorkerWaiters(): void {
    const have = this.state.workers.size;
    for (let i = this.workerWaiters.length - 1; i >= 0; i--) {
      if (have >= this.workerWaiters[i]!.n) {
        this.workerWaiters[i]!.resolve();
        this.workerWaiters.splice(i, 1);
      }
    }
  }

  /** Connections of the named workers (all when no names), keyed by address. */
  private pickWorkers(names: string[] | undefined): [string, WorkerComm][] {
    const out: [string, WorkerComm][] = [];
    for (const ws of this.state.workers.values()) {
      if (names && names.length && !names.includes(ws.name) && !names.includes(ws.address)) continue;
      const c = this.workerComms.get(ws.address);
      if (c) out.push([ws.address, c]);
    }
    return out;
  }

  private scatterCounter = 0;

  private async scatter(session: ClientSession, msg: ClientRequest<'scatter'>): Promise<void> {
    const { items, workers: names } = msg;
    const targets = [...this.state.workers.values()].filter((ws) => {
      return ws.status === 'running' && (names.length === 0 || names.includes(ws.name) || names.includes(ws.address));
    });
    if (targets.length === 0) throw new ProtocolError('no workers to scatter to; wait for workers first (client.waitForWorkers)');
    const perWorker = new Map<string, ScatterItem[]>();
    for (const it of items) {
      const chosen = msg.broadcast ? targets : [targets[this.scatterCounter++ % targets.length]!];
      for (const ws of chosen) {
        let list = perWorker.get(ws.address);
        if (!list) perWorker.set(ws.address, (list = []));
        list.push(it);
      }
    }
    const placed: { key: string; nbytes: number; type: string; worker: string }[] = [];
    await Promise.all([...perWorker].map(async ([address, list]) => {
      const comm = this.workerComms.get(address);
      if (!comm) throw new ProtocolError(`worker ${address} left during scatter`);
      await comm.request({ op: 'update-data', items: list });
      for (const it of list) placed.push({ key: it.key, nbytes: it.value.data.nbytes, type: it.type ?? '', worker: address });
    }));
    this.apply(this.state.scattered(session.id, placed, this.stimulus('scatter')));
    session.comm.reply(msg, { keys: items.map((i) => i.key) });
  }

  private async broadcastRun(msg: ClientRequest<'broadcast-run'>): Promise<Record<string, RunResult>> {
    const comms = this.pickWorkers(msg.workers);
    const results: Record<string, RunResult> = {};
    await Promise.all(comms.map(async ([address, c]) => {
      try {
        const r = await c.request({ op: 'run', fn: msg.fn, args: msg.args });
        results[address] = { ok: true, value: r.value };
      } catch (err) {
        results[address] = { ok: false, error: errorToInfo(err) };
      }
    }));
    return results;
  }

  /** runOnScheduler: user code in the scheduler process, as Dask does. */
  private async runHere(msg: ClientRequest<'run-on-scheduler'>): Promise<WireValue> {
    const fn = await loadFunction(msg.fn);
    const args = await decodeArgs(msg.args, new Map());
    const value: unknown = await fn(...args);
    const sv = serializeValue(value);
    return { kind: sv.kind, data: new RawFrames(sv.frames) };
  }

  /** Gracefully remove workers: they stop taking tasks and leave once their data is handed off. */
  private async retireWorkers(names: string[]): Promise<string[]> {
    const comms = this.pickWorkers(names);
    await Promise.all(comms.map(([, c]) => c.request({ op: 'retire' }, 60_000).catch(() => undefined)));
    return comms.map(([address]) => address);
  }

  /** Workers whose nanny is replacing their process for a restart: their departure is expected. */
  private readonly restartingWorkers = new Set<string>();
  private restarting: Promise<{ workers: number }> | null = null;

  /** client.restart(); concurrent requests share one restart. */
  private restart(timeoutMs: number): Promise<{ workers: number }> {
    this.restarting ??= this.doRestart(timeoutMs).finally(() => (this.restarting = null));
    return this.restarting;
  }

  /**
   * As Dask's restart: forget every task (clients' futures fail with a
   * CancelledError), have every worker start afresh, and resolve once as
   * many workers as before are connected. A worker under a nanny gets a new
   * process (and reconnects from a new address); one without resets itself
   * in place.
   */
  private async doRestart(timeoutMs: number): Promise<{ workers: number }> {
    const deadline = Date.now() + timeoutMs;
    const before = [...this.state.workers.values()].map((ws) => ({ address: ws.address, name: ws.name }));
    this.log.info(`restarting: forgetting every task and restarting ${before.length} workers`);
    this.stealsInFlight.clear();
    this.apply(this.state.restart(this.stimulus('restart')));
    const replaced = new Set<string>();
    const problems: string[] = [];
    await Promise.all(this.pickWorkers(undefined).map(async ([address, comm]) => {
      this.restartingWorkers.add(address);
      try {
        const r = await comm.request({ op: 'restart' }, timeoutMs);
        if (r.mode === 'process') replaced.add(address);
        else this.restartingWorkers.delete(address);
      } catch (err) {
        // The connection closed before the reply (a nanny replacing the process is quick): wait for a new worker.
        if (!this.state.workers.has(address)) replaced.add(address);
        else {
          this.restartingWorkers.delete(address);
          problems.push(`${this.state.workers.get(address)?.name ?? address}: ${(err as Error).message}`);
        }
      }
    }));
    const back = (): boolean => [...replaced].every((a) => !this.state.workers.has(a)) && this.state.workers.size >= before.length;
    while (!back()) {
      if (Date.now() > deadline) {
        const present = new Set([...this.state.workers.values()].map((ws) => ws.name));
        const missing = before.filter((w) => !present.has(w.name)).map((w) => w.name);
        throw new TimeoutError(
          `client.restart() timed out after ${Math.round(timeoutMs / 1000)} s waiting for the workers to come back: ` +
            `${this.state.workers.size} of ${before.length} are connected${missing.length ? ` (not back: ${missing.join(', ')})` : ''}; ` +
            `a worker without a nanny that died is not restarted, ` +
            `and a nanny gives up after repeated deaths. Check the worker logs${problems.length ? `; errors: ${problems.join('; ')}` : ''}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (problems.length) throw new ProtocolError(`client.restart(): some workers could not restart: ${problems.join('; ')}`);
    this.log.info(`restart done: ${this.state.workers.size} workers`);
    return { workers: this.state.workers.size };
  }

  // ------------------------------------------------------------------ periodic

  private checkHeartbeats(): void {
    const now = Date.now();
    for (const ws of [...this.state.workers.values()]) {
      if (now - ws.lastSeen > this.workerTtlMs) this.removeWorker(ws.address, `no heartbeat for ${Math.round((now - ws.lastSeen) / 1000)} s`);
    }
  }

  /** Retiring workers: give away unstarted tasks now; data is handed off in `progressRetirements`. */
  private beginRetirement(address: string): void {
    const comm = this.workerComms.get(address);
    const ws = this.state.workers.get(address);
    if (!comm || !ws) return;
    this.log.info(`worker ${ws.name} (${address}) is retiring: moving its work and data to other workers`);
    this.retiring.set(address, { since: Date.now(), asked: new Map() });
    for (const key of retireWorker(this.state, address)) {
      if (this.stealsInFlight.has(key)) continue;
      this.stealsInFlight.set(key, { victim: address, thief: '' });
      comm.send({ op: 'steal-request', key });
    }
  }

  private readonly retiring = new Map<string, { since: number; asked: Map<string, number> }>();

  /** Copies data only a retiring worker holds to others, then lets it go. */
  private progressRetirements(): void {
    const now = Date.now();
    for (const [address, r] of this.retiring) {
      const comm = this.workerComms.get(address);
      if (!comm) {
        this.retiring.delete(address);
        continue;
      }
      const plan = handoffPlan(this.state, address);
      if (plan.done || now - r.since > 120_000) {
        this.retiring.delete(address);
        comm.send({ op: 'close', reason: 'retired' });
        continue;
      }
      const byTarget = new Map<string, { key: string; nbytes: number; who: string[] }[]>();
      for (const m of plan.moves) {
        // Ask again only if an earlier request went unanswered for a while.
        if (now - (r.asked.get(m.key) ?? 0) < 10_000) continue;
        r.asked.set(m.key, now);
        let list = byTarget.get(m.to.address);
        if (!list) byTarget.set(m.to.address, (list = []));
        list.push({ key: m.key, nbytes: m.nbytes, who: [address] });
      }
      for (const [target, keys] of byTarget) this.workerComms.get(target)?.send({ op: 'acquire-replicas', keys });
    }
  }

  private balance(): void {
    if (this.retiring.size) this.progressRetirements();
    for (const { ts, victim, thief } of planSteals(this.state, Date.now())) {
      if (this.stealsInFlight.has(ts.key)) continue;
      const comm = this.workerComms.get(victim.address);
      if (!comm) continue;
      this.stealsInFlight.set(ts.key, { victim: victim.address, thief: thief.address });
      comm.send({ op: 'steal-request', key: ts.key });
    }
  }

  // --------------------------------------------------------------- dashboard

  snapshot(): ClusterSnapshot {
    const workers: WorkerSnapshot[] = [];
    let totalMemoryLimit = 0;
    for (const ws of this.state.workers.values()) {
      totalMemoryLimit += ws.memoryLimit;
      workers.push({
        address: ws.address, name: ws.name, host: ws.host, nthreads: ws.nthreads, memoryLimit: ws.memoryLimit,
        managedBytes: ws.metrics.managedBytes, spilledBytes: ws.metrics.spilledBytes, rss: ws.metrics.rss, cpu: ws.metrics.cpu,
        executing: ws.metrics.executing, processing: ws.processing.size, inMemory: ws.hasWhat.size, lastSeen: ws.lastSeen,
        status: ws.status === 'removed' ? 'closing' : ws.status, pid: ws.pid,
      });
    }
    return {
      id: this.id, address: this.address, version: VERSION, startedAt: this.startedAt, now: Date.now(), workers,
      tasksByState: { ...this.state.counts }, totalThreads: this.state.totalThreads, totalMemoryLimit,
      tasksCompleted: this.state.tasksCompleted, tasksErred: this.state.tasksErred, clients: this.clientSessions.size,
    };
  }

  taskGroups(): TaskGroupSnapshot[] {
    const out: TaskGroupSnapshot[] = [];
    for (const g of this.state.groups.values()) {
      out.push({ name: g.name, states: { ...g.states }, total: g.total, nbytes: g.nbytes, durationMs: g.durationMs });
    }
    return out;
  }

  taskStream(since: number, limit?: number): { cursor: number; events: TaskStreamEvent[] } {
    return this.state.taskStream.since(since, limit);
  }

  // -------------------------------------------------------------------- close

  /** Stops the cluster: workers are told to exit, clients disconnected, the server closed. */
  async close(reason = 'closed'): Promise<void> {
    if (this.closing) return this.finished;
    this.closing = true;
    this.log.info(`scheduler closing (${reason})`);
    for (const t of this.timers) clearInterval(t);
    for (const rec of this.recorders.values()) rec.stop();
    for (const comm of this.workerComms.values()) comm.sendNow({ op: 'close', reason });
    for (const s of this.clientSessions.values()) s.comm.sendNow({ op: 'scheduler-closing', reason });
    // Give peers up to 3 s to hang up themselves; the timer must not keep the process alive.
    const closing = [...this.workerComms.values(), ...[...this.clientSessions.values()].map((s) => s.comm)].map((c) =>
      Promise.race([c.closed, new Promise((r) => setTimeout(r, 3000).unref())]),
    );
    await Promise.all(closing);
    for (const comm of this.workerComms.values()) void comm.close();
    for (const s of this.clientSessions.values()) void s.comm.close();
    await this.listener?.close();
    await this.dashboardClose?.();
    this.removeSchedulerFile();
    this.resolveFinished();
  }
}

