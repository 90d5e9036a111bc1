/**
 * The scheduler and worker options the Slurm layer passes through, picked
 * from the one vocabulary (SchedulerOptions, WorkerOptions): the rest
 * (addresses, tokens, scheduler files, names) the layer sets itself.
 */
import type { SchedulerOptions } from '../../scheduler/options.js';
import type { WorkerOptions } from '../../worker/options.js';

/** For the scheduler SlurmRunner runs on task 0, and the one SlurmCluster runs in the client's process. */
export type SlurmSchedulerOptions = Pick<SchedulerOptions,
  'host' | 'port' | 'interface' | 'dashboard' | 'dashboardAddress' | 'workerTtlMs' | 'allowedFailures' | 'quiet'>;

/** For SlurmRunner's worker tasks (SlurmCluster's workers take theirs from the job script options). */
export type SlurmWorkerOptions = Pick<WorkerOptions,
  'nthreads' | 'memoryLimit' | 'localDirectory' | 'interface' | 'host' | 'deathTimeoutMs' | 'lifetimeMs' | 'quiet'>;
