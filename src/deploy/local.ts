/**
 * LocalCluster: a scheduler and N worker processes on this machine, the
 * laptop end of the story. Children are forked with an IPC channel; when the
 * parent dies the channel closes and they exit, so nothing is left behind.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import type { SchedulerOptions } from '../scheduler/options.js';
import { resolveWorkerOptions, type WorkerOptions } from '../worker/options.js';
import { parseMemoryLimit } from '../worker/memory.js';
import { formatBytes } from '../util/bytes.js';
import type { ClusterLike } from '../comm/resolve-scheduler.js';
import { TesseraError } from '../errors.js';
import { spawnTesseraChild } from './spawn.js';

/**
 * The worker and scheduler options keep their types from WorkerOptions and
 * SchedulerOptions (threadsPerWorker is WorkerOptions' nthreads, schedulerPort
 * SchedulerOptions' port); they are declared here again for the defaults a
 * LocalCluster gives them, which their documentation states.
 */
export interface LocalClusterOptions
  extends Pick<WorkerOptions, 'memoryLimit' | 'localDirectory'>,
    Pick<SchedulerOptions, 'dashboard' | 'dashboardAddress' | 'validate' | 'allowedFailures' | 'workerTtlMs'> {
  /** Worker processes (default: one per CPU core, at most 4). */
  nWorkers?: number;
  /** Executor threads per worker (default 1). */
  threadsPerWorker?: WorkerOptions['nthreads'];
  /** Per worker: bytes, '4GB', or 'auto' (system memory / nWorkers; the default). */
  memoryLimit?: WorkerOptions['memoryLimit'];
  /** Dashboard address (default ':8787'; falls back to a free port if taken). */
  dashboardAddress?: SchedulerOptions['dashboardAddress'];
  /** Serve the dashboard (default true). */
  dashboard?: SchedulerOptions['dashboard'];
  /** Scheduler port (default 0: any free port). */
  schedulerPort?: SchedulerOptions['port'];
  /** Where workers spill (default the OS temp directory). */
  localDirectory?: WorkerOptions['localDirectory'];
  /** Log INFO lines from the scheduler and workers (default false: warnings and errors only). */
  verbose?: boolean;
  /** Check the scheduler's state-machine invariants after every transition (slow; for tests). */
  validate?: SchedulerOptions['validate'];
  /** Allowed worker deaths per task before it errs (default 3). */
  allowedFailures?: SchedulerOptions['allowedFailures'];
  /** Seconds a worker may go without heartbeat (ms; default 60 s). */
  workerTtlMs?: SchedulerOptions['workerTtlMs'];
  /**
   * Run each worker under a nanny process (default true, as Dask's
   * LocalCluster): it starts a new worker when one dies or grows past 95% of
   * its memory limit, and client.restart() gets fresh processes. With false,
   * a worker is a single process and client.restart() resets it in place.
   */
  nanny?: boolean;
}

const START_TIMEOUT_MS = 30_000;

const liveChildren = new Set<ChildProcess>();
const openClusters = new Set<LocalCluster>();
let exitHooksInstalled = false;

/**
 * A script that ends without close() ends as a Python one does: the cluster
 * goes down with it. Children do not hold Node's event loop open; when the
 * loop drains ('beforeExit') every open cluster is closed gracefully, and at
 * 'exit' (process.exit(), or an error) any child still alive is told to stop
 * (it also stops by itself when its IPC channel to us closes).
 */
function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('beforeExit', () => {
    for (const c of openClusters) void c.close();
  });
  process.once('exit', () => {
    for (const c of liveChildren) c.kill('SIGTERM');
  });
}

function trackChild(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  installExitHooks();
  child.unref();
  (child.channel as { unref?: () => void } | undefined)?.unref?.();
}

export class LocalCluster implements ClusterLike, AsyncDisposable {
  /**
   * `process` is the worker's nanny when there is one (the default): killing
   * it takes the worker down with it. `address` follows the worker across
   * the nanny's restarts.
   */
  readonly workers: { name: string; address: string; process: ChildProcess }[] = [];
  private closedFlag = false;

  private constructor(
    readonly schedulerAddress: string,
    readonly token: string,
    readonly dashboardPort: number | undefined,
    private readonly dashboardHost: string | undefined,
    private readonly scheduler: ChildProcess,
    private readonly opts: LocalClusterOptions,
  ) {}

  static async start(opts: LocalClusterOptions = {}): Promise<LocalCluster> {
    const nWorkers = opts.nWorkers ?? Math.min(4, cpus().length);
    if (!Number.isInteger(nWorkers) || nWorkers < 0) throw new TesseraError('ERR_TESSERA_INVALID_ARGUMENT', `nWorkers must be a non-negative integer, got ${nWorkers}`);
    // Checked here, before any process starts; 0 threads is an error, never silently one.
    resolveWorkerOptions({ nthreads: opts.threadsPerWorker ?? 1, ...(opts.memoryLimit !== undefined ? { memoryLimit: opts.memoryLimit } : {}) },
      { nthreads: 'threadsPerWorker', memoryLimit: 'memoryLimit' });
    const token = randomBytes(24).toString('hex');
    const schedOpts: SchedulerOptions = {
      host: '127.0.0.1',
      port: opts.schedulerPort ?? 0,
      token,
      dashboard: opts.dashboard ?? true,
      dashboardAddress: opts.dashboardAddress ?? ':8787',
      quiet: !opts.verbose,
      ...(opts.validate ? { validate: true } : {}),
      ...(opts.allowedFailures !== undefined ? { allowedFailures: opts.allowedFailures } : {}),
      ...(opts.workerTtlMs !== undefined ? { workerTtlMs: opts.workerTtlMs } : {}),
    };
    const { child, ready } = await spawnTesseraChild({ role: 'scheduler', options: schedOpts }, token, 'the scheduler', START_TIMEOUT_MS);
    trackChild(child);
    const cluster = new LocalCluster(ready.address, token, ready.dashboardPort, ready.dashboardHost, child, opts);
    openClusters.add(cluster);
    try {
      await cluster.scale(nWorkers);
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  /** Starts or stops worker processes until there are `n`. */
  async scale(n: number): Promise<void> {
    const memoryLimit = parseMemoryLimit(this.opts.memoryLimit ?? 'auto', Math.max(n, 1));
    const starting: Promise<void>[] = [];
    for (let i = this.workers.length; i < n; i++) {
      const name = String(i);
      const wopts: WorkerOptions = {
        schedulerAddress: this.schedulerAddress, token: this.token, name, nthreads: this.opts.threadsPerWorker ?? 1,
        memoryLimit, quiet: !this.opts.verbose, host: '127.0.0.1',
        ...(this.opts.localDirectory ? { localDirectory: this.opts.localDirectory } : {}),
      };
      const role = this.opts.nanny === false ? 'worker' : 'nanny';
      starting.push(spawnTesseraChild({ role, options: wopts }, this.token, `worker ${name}`, START_TIMEOUT_MS).then(({ child, ready }) => {
        trackChild(child);
        const entry = { name, address: ready.address, process: child };
        child.on('message', (m: { type?: string; address?: string }) => {
          if (m?.type === 'worker-address' && typeof m.address === 'string') entry.address = m.address;
        });
        this.workers.push(entry);
      }));
    }
    await Promise.all(starting);
    this.workers.sort((a, b) => Number(a.name) - Number(b.name));
    while (this.workers.length > n) {
      const w = this.workers.pop()!;
      await stopChild(w.process);
    }
  }

  get dashboardLink(): string | undefined {
    return this.dashboardPort === undefined ? undefined : `http://${this.dashboardHost ?? '127.0.0.1'}:${this.dashboardPort}/status`;
  }

  toString(): string {
    const threads = this.workers.length * (this.opts.threadsPerWorker ?? 1);
    const mem = parseMemoryLimit(this.opts.memoryLimit ?? 'auto', Math.max(this.workers.length, 1)) * this.workers.length;
    return `LocalCluster(${this.schedulerAddress}, workers=${this.workers.length}, threads=${threads}, memory=${formatBytes(mem)})`;
  }

  /** Stops every worker and the scheduler; no process is left behind. */
  async close(): Promise<void> {
    if (this.closedFlag) return;
    this.closedFlag = true;
    openClusters.delete(this);
    askToClose(this.scheduler);
    await Promise.all([stopChild(this.scheduler), ...this.workers.map((w) => stopChild(w.process))]);
    this.workers.length = 0;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Sends a child the close message. A child that just died (a test killing a
 * worker, an OOM kill) can still look connected while its pipe is broken:
 * the callback takes the EPIPE, which would otherwise be an uncaught 'error'
 * event on the ChildProcess; its exit follows anyway.
 */
function askToClose(child: ChildProcess): void {
  if (!child.connected) return;
  try {
    // An error here means the child is gone already: stopChild waits for its exit or kills it.
    child.send({ type: 'close' }, () => undefined);
  } catch {
    // The channel closed between the check and the send: same as above.
  }
}

/** Waits for a child to exit after asking it to close; kills it if it takes too long. */
async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  // Children are unref'd (trackChild): waiting for one must keep Node running.
  child.ref();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  askToClose(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
