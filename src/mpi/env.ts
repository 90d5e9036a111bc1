/**
 * What the launcher (mpirun, mpiexec, srun) tells a process about its place
 * in the job through environment variables. Pure functions of an environment
 * so they can be tested without a launcher; they never load libmpi.
 *
 * Used for two things: the launcher/library mismatch check (MPI says "1
 * process" while the launcher started N) and the scheduler-file fallback
 * when no libmpi can be loaded at all.
 */

export type Env = Readonly<Record<string, string | undefined>>;

export interface RankInfo {
  rank: number;
  /** The job's process count, or null when the launcher does not say. */
  size: number | null;
  /** The variable the rank was read from, e.g. 'OMPI_COMM_WORLD_RANK'. */
  source: string;
  /** The variable the size was read from, or null. */
  sizeSource: string | null;
}

interface RankSource {
  rank: string;
  sizes: readonly string[];
}

/**
 * In the order to trust them. OpenMPI's own variables first; PMIx next
 * because under `srun --mpi=pmix` PMIX_RANK is the only rank variable an MPI
 * library would use; PMI (MPICH, Intel MPI, `srun --mpi=pmi2`) after that;
 * SLURM_PROCID last because it is set in the batch script itself, so under
 * `mpirun` inside `sbatch` every rank inherits SLURM_PROCID=0.
 */
const RANK_SOURCES: readonly RankSource[] = [
  { rank: 'OMPI_COMM_WORLD_RANK', sizes: ['OMPI_COMM_WORLD_SIZE'] },
  { rank: 'PMIX_RANK', sizes: ['OMPI_COMM_WORLD_SIZE', 'PMIX_SIZE', 'PMI_SIZE', 'SLURM_STEP_NUM_TASKS', 'SLURM_NTASKS'] },
  { rank: 'PMI_RANK', sizes: ['PMI_SIZE'] },
  { rank: 'SLURM_PROCID', sizes: ['SLURM_STEP_NUM_TASKS', 'SLURM_NTASKS', 'SLURM_NPROCS'] },
];

function nonNegativeInt(value: string | undefined): number | null {
  if (value === undefined || !/^\s*\d+\s*$/.test(value)) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : null;
}

function firstSize(env: Env, names: readonly string[]): { size: number; source: string } | null {
  for (const name of names) {
    const n = nonNegativeInt(env[name]);
    if (n !== null && n > 0) return { size: n, source: name };
  }
  return null;
}

/**
 * This process's rank and the job's size as the launcher set them, or null
 * when no launcher variable is present (or none parses as a number).
 */
export function rankFromEnvironment(env: Env = process.env): RankInfo | null {
  for (const src of RANK_SOURCES) {
    const rank = nonNegativeInt(env[src.rank]);
    if (rank === null) continue;
    const size = firstSize(env, src.sizes);
    return { rank, size: size?.size ?? null, source: src.rank, sizeSource: size?.source ?? null };
  }
  return null;
}

export interface LauncherSize {
  size: number;
  /** The variable that says so, e.g. 'OMPI_COMM_WORLD_SIZE'. */
  source: string;
  /** Which kind of launcher set it, for the advice in error messages. */
  launcher: 'openmpi' | 'pmi' | 'pmix' | 'slurm';
}

/**
 * How many processes the launcher started in this job step, or null when
 * nothing says so. Only variables that a launcher sets per process count:
 * a Slurm batch script has SLURM_NTASKS=N but is one process, so Slurm's
 * count is used only inside an `srun` step (SLURM_STEP_NUM_TASKS, or
 * SLURM_NTASKS together with SLURM_STEP_ID).
 */
export function launcherWorldSize(env: Env = process.env): LauncherSize | null {
  const ompi = firstSize(env, ['OMPI_COMM_WORLD_SIZE']);
  if (ompi) return { ...ompi, launcher: 'openmpi' };
  const pmi = firstSize(env, ['PMI_SIZE']);
  if (pmi) return { ...pmi, launcher: 'pmi' };
  const inStep = env.SLURM_STEP_NUM_TASKS !== undefined || nonNegativeInt(env.SLURM_STEP_ID) !== null;
  const slurm = inStep ? firstSize(env, ['SLURM_STEP_NUM_TASKS', 'SLURM_NTASKS']) : null;
  if (slurm) return { ...slurm, launcher: env.PMIX_RANK !== undefined ? 'pmix' : 'slurm' };
  const pmix = env.PMIX_RANK !== undefined ? firstSize(env, ['PMIX_SIZE']) : null;
  if (pmix) return { ...pmix, launcher: 'pmix' };
  return null;
}

export interface JobIdInfo {
  id: string;
  source: string;
}

/**
 * Scheduler, then launcher, job ids. The batch system's id comes first: it is
 * the same for every `mpirun`/`srun` in one batch job, which is what a
 * scheduler file shared within one job should be keyed on.
 */
const JOB_ID_SOURCES: readonly string[] = [
  'SLURM_JOB_ID',
  'SLURM_JOBID',
  'PBS_JOBID',
  'LSB_JOBID',
  'OMPI_MCA_ess_base_jobid',
  'OMPI_MCA_orte_ess_jobid',
  'PMIX_NAMESPACE',
  'PMI_JOBID',
];

/** The job id and the variable it came from, or null outside any job. */
export function jobIdInfoFromEnvironment(env: Env = process.env): JobIdInfo | null {
  for (const name of JOB_ID_SOURCES) {
    const v = env[name]?.trim();
    if (v) return { id: v, source: name };
  }
  return null;
}

/** The job id (SLURM_JOB_ID, PBS/LSF ids, OpenMPI/PMIx job ids), or null. */
export function jobIdFromEnvironment(env: Env = process.env): string | null {
  return jobIdInfoFromEnvironment(env)?.id ?? null;
}
