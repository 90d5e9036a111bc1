/**
 * `tessera-compute/slurm`: Tessera on Slurm with dask-jobqueue's two models.
 *
 *   SlurmRunner   one `srun` step holds the whole cluster (task 0 scheduler,
 *                 task 1 the client script, the rest workers);
 *   SlurmCluster  a client process (e.g. on a login node) runs the scheduler
 *                 and submits each worker as its own `sbatch` job.
 */
export { SlurmRunner, slurmRole, type SlurmRunnerOptions, type SlurmRole } from './runner.js';
export { slurmStep, expandSchedulerFile, SlurmError, type SlurmStep } from './env.js';
export { WorldTooSmallError } from '../../errors.js';
export { SlurmCluster, type SlurmClusterOptions, type SlurmJob, type JobEnded, type JobState, type AdaptOptions } from './cluster.js';
export {
  jobScript, parseWalltime, formatWalltime, workerLifetime, defaultTesseraCommand, type JobScriptOptions,
} from './job-script.js';
