/** Options shared by initialize() and execute(), and their checks. */
import { InvalidArgumentError, WorldTooSmallError, type TesseraError } from '../../errors.js';
import { launcherWorldSize, rankFromEnvironment, type Communicator } from '../../mpi/index.js';
import type { SchedulerOptions } from '../../scheduler/options.js';
import { resolveWorkerOptions, type WorkerOptions } from '../../worker/options.js';
import { DEFAULT_DASHBOARD_ADDRESS, type WorkerConfig } from './cluster.js';
import { BootstrapFailedError, CheckInTimeoutError } from './bootstrap.js';

/**
 * The worker and scheduler options keep their types from WorkerOptions and
 * SchedulerOptions; they are declared here again for the defaults MPI gives
 * them, which their documentation states.
 */
export interface ClusterOptions extends Pick<WorkerOptions, 'nthreads' | 'memoryLimit' | 'localDirectory' | 'interface'>, Pick<SchedulerOptions, 'dashboard' | 'dashboardAddress'> {
  /** Executor threads per worker (default 1). */
  nthreads?: WorkerOptions['nthreads'];
  /** Per worker: bytes, '4GB', a fraction of RAM like 0.5, 0 for none, or 'auto' (the default: the host's memory shared by its worker ranks). */
  memoryLimit?: WorkerOptions['memoryLimit'];
  /** Where workers spill data to disk (default: the OS temp directory; node-local scratch is best). */
  localDirectory?: WorkerOptions['localDirectory'];
  /** Network interface whose IPv4 address the scheduler and workers advertise, e.g. 'ib0' or 'eth0' (default: all interfaces, advertising the host's first external IPv4). */
  interface?: WorkerOptions['interface'];
  /** Serve the dashboard on the scheduler (default true). */
  dashboard?: SchedulerOptions['dashboard'];
  /** Dashboard address (default ':8787'; when that port is taken, any free port). */
  dashboardAddress?: SchedulerOptions['dashboardAddress'];
  /** Only 'tcp' (the default); anything else is refused. */
  protocol?: string;
  /** Run each worker in a child process that a nanny restarts when it dies or exceeds 95% of its memory limit (default false). */
  nanny?: boolean;
  /** Further WorkerOptions for every worker (e.g. { lifetimeMs, deathTimeoutMs }). */
  workerOptions?: Partial<WorkerOptions>;
  /** The communicator whose ranks form the cluster (default: the world). */
  comm?: Communicator;
  /** How long ranks wait for each other at start-up, in ms (default 60 000). */
  timeoutMs?: number;
  /**
   * How long a rank's node may stay unreachable on the network (link cut,
   * node frozen) before the other ranks count it as gone, in ms (default
   * 30 000, at least 11 000). The scheduler's node gone: every other rank
   * ends with an error saying so, and the launcher exits non-zero. TCP
   * keepalive on the lifelines measures it, so a rank whose script is busy
   * is never taken for gone.
   */
  unreachableAfterMs?: number;
  /** Log only warnings and errors (default: true unless TESSERA_LOG_LEVEL is set). */
  quiet?: boolean;
}

export interface ResolvedCommon {
  worker: WorkerConfig;
  dashboard: boolean;
  dashboardAddress: string;
  interface?: string;
  quiet: boolean;
  timeoutMs: number;
  unreachableAfterMs?: number;
}

function positiveInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got ${String(v)}`);
  return v;
}

export function checkProtocol(protocol: string | undefined): void {
  if (protocol === undefined || protocol === 'tcp' || protocol === 'tcp://') return;
  throw new InvalidArgumentError(`protocol '${protocol}' is not supported: Tessera speaks tcp only (leave the protocol out, or pass 'tcp')`);
}

export function resolveCommon(opts: ClusterOptions): ResolvedCommon {
  checkProtocol(opts.protocol);
  const { nthreads, memoryLimit } = resolveWorkerOptions({ nthreads: opts.nthreads, memoryLimit: opts.memoryLimit ?? 'auto' });
  const timeoutMs = positiveInt('timeoutMs', opts.timeoutMs ?? 60_000);
  if (opts.unreachableAfterMs !== undefined && (positiveInt('unreachableAfterMs', opts.unreachableAfterMs) < 11_000)) {
    throw new InvalidArgumentError(`unreachableAfterMs must be at least 11000 (one second of silence, then ten one-second keepalive probes), got ${opts.unreachableAfterMs}`);
  }
  if (opts.workerOptions !== undefined && (opts.workerOptions === null || typeof opts.workerOptions !== 'object' || Array.isArray(opts.workerOptions))) {
    throw new InvalidArgumentError('workerOptions must be an object of WorkerOptions');
  }
  const worker: WorkerConfig = {
    nthreads,
    memoryLimit,
    nanny: opts.nanny ?? false,
    options: opts.workerOptions ?? {},
    ...(opts.localDirectory ? { localDirectory: opts.localDirectory } : {}),
    ...(opts.interface ? { interface: opts.interface } : {}),
  };
  return {
    worker,
    dashboard: opts.dashboard ?? true,
    dashboardAddress: opts.dashboardAddress ?? DEFAULT_DASHBOARD_ADDRESS,
    ...(opts.interface ? { interface: opts.interface } : {}),
    quiet: opts.quiet ?? !process.env.TESSERA_LOG_LEVEL,
    timeoutMs,
    ...(opts.unreachableAfterMs !== undefined ? { unreachableAfterMs: opts.unreachableAfterMs } : {}),
  };
}

/**
 * Errors every rank hits alike (a bad option, a world too small) or that
 * another rank reports (the scheduler's rank failed, a rank never checked
 * in): printed once, not once per rank.
 */
export function sharedError(err: unknown, rank: number): boolean {
  if (err instanceof BootstrapFailedError) return true;
  if (err instanceof CheckInTimeoutError) return rank !== 0;
  return false;
}

/**
 * A non-reporting rank leaves without printing: the reporting rank's exit
 * ends the job (a non-zero exit aborts it), and if it does not, this rank
 * exits non-zero itself a little later.
 */
export function leaveQuietly(): Promise<never> {
  return new Promise(() => {
    setTimeout(() => process.exit(1), 2_000);
  });
}

/** A short, user-facing description of an error: the message of a Tessera error, the stack of anything else. */
export function describeError(err: unknown): string {
  const e = err as Partial<TesseraError> & { stack?: string };
  if (typeof e?.code === 'string' && e.code.startsWith('ERR_TESSERA') && e.message) return e.message;
  return e?.stack ?? String(err);
}

/**
 * A world of 1 because nothing launched the script in parallel: say so,
 * since "needs at least 2 ranks" alone does not tell how to get them.
 */
export function explainWorldTooSmall(err: unknown, size: number): unknown {
  if (!(err instanceof WorldTooSmallError) || size !== 1 || launcherWorldSize(process.env)) return err;
  const e = new WorldTooSmallError(
    err.required,
    err.actual,
    `${err.message}. This process was not started by an MPI launcher (mpirun, mpiexec, srun), so it is alone; ` +
      `start it with one, or use a LocalCluster to run on this machine`,
  );
  e.stack = `${e.name}: ${e.message}\n${(err.stack ?? '').split('\n').slice(1).join('\n')}`;
  return e;
}

/** This process's rank when joining the job failed (so MPI cannot say): the launcher's variables, else 0. */
export function rankBeforeMpi(): number {
  return rankFromEnvironment(process.env)?.rank ?? 0;
}
