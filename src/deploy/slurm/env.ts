/**
 * What `srun` tells each task about the job step, read from the environment
 * (pure functions, testable without Slurm). Facts from Slurm 22.05:
 *
 * - Inside `srun`, SLURM_PROCID is the task's rank in the step and
 *   SLURM_STEP_NUM_TASKS the step's size. The batch script itself also has
 *   SLURM_PROCID=0 and SLURM_NTASKS=N but no SLURM_STEP_ID: a script started
 *   there directly is one process, not N, and must be refused.
 * - In a heterogeneous step (`srun --het-group=0-1`), SLURM_PROCID counts
 *   across components in order (component 0 holds the lowest ranks),
 *   SLURM_JOB_ID is the same for all of them, SLURM_HET_SIZE is the number
 *   of components and SLURM_NTASKS_HET_GROUP_<i> the tasks of each.
 */
import { SlurmError } from '../../errors.js';

// Declared with every other error in errors.ts; exported here too, where it always was.
export { SlurmError };

export type Env = Readonly<Record<string, string | undefined>>;

export interface SlurmStep {
  jobId: string;
  stepId: string;
  procId: number;
  nTasks: number;
  /** Task counts per heterogeneous component, or null in an ordinary job. */
  hetGroups: number[] | null;
  /** The component this task belongs to (0 outside heterogeneous jobs). */
  hetGroup: number;
  nodeName: string | null;
}

function int(env: Env, name: string): number | null {
  const v = env[name];
  if (v === undefined || !/^\s*\d+\s*$/.test(v)) return null;
  return Number(v);
}

/** The job step this process is a task of; throws SlurmError naming what is missing and how to launch. */
export function slurmStep(env: Env = process.env): SlurmStep {
  const jobId = env.SLURM_JOB_ID?.trim() || env.SLURM_JOBID?.trim();
  if (!jobId) {
    throw new SlurmError('SlurmRunner must run inside a Slurm job, but SLURM_JOB_ID is not set. Submit a batch script with ' +
      'sbatch that starts the program with `srun node script.js` (or run it with srun inside salloc)');
  }
  const procId = int(env, 'SLURM_PROCID');
  const stepId = env.SLURM_STEP_ID?.trim() || env.SLURM_STEPID?.trim();
  if (procId === null || !stepId) {
    throw new SlurmError(`SlurmRunner must be started by srun (one process per task), but ${procId === null ? 'SLURM_PROCID' : 'SLURM_STEP_ID'} ` +
      `is not set: this looks like the batch script of job ${jobId} itself. Launch the program with \`srun node script.js\` ` +
      '(srun -n N, or #SBATCH --ntasks=N)');
  }
  const nTasks = int(env, 'SLURM_STEP_NUM_TASKS') ?? int(env, 'SLURM_NTASKS') ?? int(env, 'SLURM_NPROCS');
  if (nTasks === null || nTasks < 1) {
    throw new SlurmError(`SLURM_STEP_NUM_TASKS (and SLURM_NTASKS) are not set in job ${jobId}, step ${stepId}: SlurmRunner cannot tell how many tasks the step has`);
  }
  let hetGroups: number[] | null = null;
  let hetGroup = 0;
  const hetSize = int(env, 'SLURM_HET_SIZE') ?? int(env, 'SLURM_PACK_SIZE');
  if (hetSize !== null && hetSize > 1) {
    hetGroups = [];
    for (let i = 0; i < hetSize; i++) {
      const n = int(env, `SLURM_NTASKS_HET_GROUP_${i}`) ?? int(env, `SLURM_NTASKS_PACK_GROUP_${i}`);
      if (n === null) {
        // Not every component takes part in this step (srun --het-group=1 only): treat it as one ordinary step.
        hetGroups = null;
        break;
      }
      hetGroups.push(n);
    }
    if (hetGroups && hetGroups.reduce((a, b) => a + b, 0) !== nTasks) hetGroups = null;
    if (hetGroups) {
      let start = 0;
      for (let i = 0; i < hetGroups.length; i++) {
        if (procId < start + hetGroups[i]!) {
          hetGroup = i;
          break;
        }
        start += hetGroups[i]!;
      }
    }
  }
  if (procId >= nTasks) throw new SlurmError(`SLURM_PROCID=${procId} is not below the step's ${nTasks} tasks`);
  return { jobId, stepId, procId, nTasks, hetGroups, hetGroup, nodeName: env.SLURMD_NODENAME ?? null };
}

/** `{jobId}` in a scheduler file name becomes the job id, so concurrent jobs never share a file. */
export function expandSchedulerFile(pattern: string, jobId: string): string {
  return pattern.replaceAll('{jobId}', jobId).replaceAll('%j', jobId);
}
