/**
 * Options of a worker process: the one vocabulary for workers. The CLI,
 * LocalCluster, MPI and Slurm layers derive theirs from it (Pick, or
 * WorkerOptions['...'] where a layer documents its own default), and check
 * what their users give through resolveWorkerOptions().
 */
import { InvalidArgumentError } from '../errors.js';
import { parseMemoryLimit } from './memory.js';

export interface WorkerOptions {
  /** Scheduler address 'tcp://host:port' (or give schedulerFile). */
  schedulerAddress?: string;
  /** Read the scheduler address and token from this file (waits for it to appear). */
  schedulerFile?: string;
  /** Auth token; read from the scheduler file or TESSERA_TOKEN when omitted. */
  token?: string;
  /** Name shown in schedulerInfo and used by `workers: [...]` restrictions; default the address. */
  name?: string;
  /** Executor threads (default 1). */
  nthreads?: number;
  /** Bytes, or a string like '4GB', or 'auto' (system memory / workers on the host); 0 = no limit. */
  memoryLimit?: number | string;
  /** Where spilled data goes (default os.tmpdir()/tessera-worker-<pid>). */
  localDirectory?: string;
  /** Interface whose IPv4 address is advertised. */
  interface?: string;
  /** Host/IP to listen on for peers. */
  host?: string;
  /** Port for peers (default 0 = any). */
  port?: number;
  /** Exit when the scheduler has been unreachable this long (default 60 s). */
  deathTimeoutMs?: number;
  /** Retire gracefully after this long (walltime-aware, Slurm). */
  lifetimeMs?: number;
  /** Quiet logs. */
  quiet?: boolean;
}

/** What every deployment decides for its workers; the rest (scheduler, token, name, ...) each sets itself. */
export type WorkerResources = Pick<WorkerOptions, 'nthreads' | 'memoryLimit' | 'localDirectory' | 'interface'>;

/**
 * Applies the worker defaults and checks the options, the one place that
 * does, so that a bad value is refused where it was given (on every rank
 * alike, before any process starts) rather than by each worker: nthreads is
 * a positive integer (default 1); memoryLimit, when given, is a size the
 * worker can read (parseMemoryLimit's own message otherwise), or 'auto',
 * which stays 'auto' for the layer that knows how many workers share the
 * host. The memory default differs by layer ('auto' for LocalCluster, MPI
 * and the CLI, no limit for SlurmRunner's workers), so each layer applies
 * its own and documents it. `names` spells the options as the layer's users
 * do (cores, memory).
 */
export function resolveWorkerOptions<T extends WorkerResources>(
  opts: T,
  names: { nthreads?: string; memoryLimit?: string } = {},
): T & { nthreads: number } {
  const nthreads: unknown = opts.nthreads ?? 1;
  if (typeof nthreads !== 'number' || !Number.isInteger(nthreads) || nthreads < 1) {
    throw new InvalidArgumentError(`${names.nthreads ?? 'nthreads'} must be a positive integer, got ${String(nthreads)}`);
  }
  const memoryLimit: unknown = opts.memoryLimit;
  if (memoryLimit !== undefined && memoryLimit !== 'auto') {
    if (typeof memoryLimit !== 'number' && typeof memoryLimit !== 'string') {
      throw new InvalidArgumentError(`${names.memoryLimit ?? 'memoryLimit'} must be bytes, a size like '4GB', or 'auto', got ${String(memoryLimit)}`);
    }
    parseMemoryLimit(memoryLimit);
  }
  return { ...opts, nthreads };
}
