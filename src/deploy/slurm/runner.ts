/**
 * SlurmRunner: a whole cluster inside one `srun` job step, the batch-runner
 * model of dask-jobqueue's SlurmRunner. Every task runs the same script:
 *
 *   task 0  runs the scheduler and writes the scheduler file;
 *   task 1  is the client: `SlurmRunner.start()` resolves there only and the
 *           script carries on with `Client.connect(runner)`;
 *   task 2+ run workers named by their SLURM_PROCID ('2', '3', ...).
 *
 * They meet through a scheduler file on the shared file system (its name may
 * contain `{jobId}`). `runner.close()` on the client shuts the cluster down
 * and every task exits 0. If the client task dies without closing, the
 * scheduler notices its lifeline connection close and shuts down too, so the
 * job ends instead of idling until its walltime.
 *
 * Heterogeneous jobs (`#SBATCH hetjob`, `srun --het-group=0-1`): SLURM_PROCID
 * counts across components, so the scheduler and client land in component 0
 * (give it 2 tasks) and the workers in the others.
 */
import { promises as fs } from 'node:fs';
import { resolve } from 'node:path';
import { resolveWorkerOptions } from '../../worker/options.js';
import type { ClusterLike } from '../../comm/resolve-scheduler.js';
import { readSchedulerFile, type SchedulerFileContents } from '../../comm/scheduler-file.js';
import { WorldTooSmallError, InvalidArgumentError, SchedulerFileError } from '../../errors.js';
import { createLogger } from '../../logging.js';
import { slurmStep, expandSchedulerFile, SlurmError, type Env, type SlurmStep } from './env.js';
import type { SlurmSchedulerOptions, SlurmWorkerOptions } from './options.js';

export interface SlurmRunnerOptions {
  /**
   * Scheduler file on a file system every node shares; `{jobId}` becomes
   * SLURM_JOB_ID. Default 'scheduler-{jobId}.json' in the working directory.
   */
  schedulerFile?: string;
  schedulerOptions?: SlurmSchedulerOptions;
  /** For the worker tasks; without a memoryLimit they run with none. */
  workerOptions?: SlurmWorkerOptions;
  /** Run a client on task 1 (default true). False: task 0 scheduler, all others workers (the script is a pure cluster). */
  client?: boolean;
  /** On the client, wait until this many workers joined (default: every worker task). */
  waitForWorkers?: number;
  /** How long the client and workers wait for the scheduler file, and the client for its workers (default 120 s). */
  timeoutMs?: number;
  /**
   * Scheduler and worker tasks exit the process when the cluster shuts down
   * (default true). False: start() resolves there too, after shutdown, with
   * `role` saying what the task did.
   */
  exit?: boolean;
  /** The environment to read SLURM_* from (tests). */
  env?: Env;
}

export type SlurmRole = 'scheduler' | 'client' | 'worker';

const CLIENT_GONE_MS = 3_000;
/** Set on the scheduler task's globalThis by the client task's check-in. */
const CLIENT_SEEN = '__tesseraSlurmRunnerClientSeen';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Which role a task has in a step: pure, for tests and for the error messages. */
export function slurmRole(step: SlurmStep, withClient = true): { role: SlurmRole; workerName: string | null } {
  const needed = withClient ? 3 : 2;
  if (step.nTasks < needed) {
    throw new WorldTooSmallError(needed, step.nTasks,
      `this Slurm job step has ${step.nTasks} task${step.nTasks === 1 ? '' : 's'} but SlurmRunner needs at least ${needed}: ` +
      `the scheduler (task 0), ${withClient ? 'the client (task 1) and ' : ''}at least one worker. ` +
      `Launch more tasks (srun -n ${needed}, or #SBATCH --ntasks=${needed})${withClient ? ', or pass client: false for a cluster without a client task' : ''}`);
  }
  if (step.hetGroups) {
    const first = step.hetGroups[0]!;
    const head = withClient ? 2 : 1;
    if (first < head) {
      throw new SlurmError(`in a heterogeneous job the scheduler${withClient ? ' and the client' : ''} run in the first component, ` +
        `which has ${first} task${first === 1 ? '' : 's'} here; give it ${head} (#SBATCH --ntasks=${head} before '#SBATCH hetjob')`);
    }
    if (step.hetGroups.length > 1 && step.hetGroups.slice(1).every((n) => n === 0)) {
      throw new SlurmError('the heterogeneous job step has no tasks outside the first component, so it has no workers; run srun --het-group=0-1');
    }
  }
  if (step.procId === 0) return { role: 'scheduler', workerName: null };
  if (withClient && step.procId === 1) return { role: 'client', workerName: null };
  return { role: 'worker', workerName: String(step.procId) };
}

/**
 * Waits for the scheduler file of this step. A file left by another job or an
 * earlier step (same name) is waited out rather than refused: task 0 replaces
 * it once its scheduler is up.
 */
async function waitForStepFile(path: string, stepKey: string, timeoutMs: number): Promise<SchedulerFileContents> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const info = await readSchedulerFile(path, { jobId: stepKey });
      if (info.jobId === stepKey) return info;
      last = `it was written by ${info.jobId ? `job ${info.jobId}` : 'a process outside any job'}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new SchedulerFileError(path, 'stale',
        `scheduler file ${path}: the scheduler of job step ${stepKey} (task 0) did not write it within ${Math.round(timeoutMs / 1000)} s ` +
        `(${last}). Check task 0's output, and that the path is on a file system every node shares`);
    }
    await sleep(200);
  }
}

export class SlurmRunner implements ClusterLike, AsyncDisposable {
  private closed = false;

  private constructor(
    readonly role: SlurmRole,
    readonly step: SlurmStep,
    readonly schedulerFile: string,
    readonly schedulerAddress: string,
    readonly token: string,
    private readonly lifeline: { shutdown(): Promise<void>; close(): Promise<void> } | null,
  ) {}

  get jobId(): string {
    return this.step.jobId;
  }

  /**
   * Starts this task's role. Resolves on the client task (task 1) once the
   * scheduler and the workers are up; on every other task it runs the
   * scheduler or a worker until the cluster shuts down, then exits the
   * process with code 0 (see `exit`).
   */
  static async start(opts: SlurmRunnerOptions = {}): Promise<SlurmRunner> {
    const env = opts.env ?? process.env;
    const step = slurmStep(env);
    const withClient = opts.client ?? true;
    const { role, workerName } = slurmRole(step, withClient);
    const schedulerFile = resolve(expandSchedulerFile(opts.schedulerFile ?? 'scheduler-{jobId}.json', step.jobId));
    // Keyed by step, not only job: a second srun in the same job must not find the first one's scheduler.
    const stepKey = `${step.jobId}.${step.stepId}`;
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const exit = opts.exit ?? true;
    // Checked on every task alike, so a bad value is refused once per task at start, not by the workers alone.
    const workerOptions = resolveWorkerOptions(opts.workerOptions ?? {});
    const log = createLogger(`slurm-runner[${step.procId}]`, opts.schedulerOptions?.quiet ? 'warn' : undefined);

    if (role === 'scheduler') {
      const { SchedulerServer } = await import('../../scheduler/server.js');
      const so = opts.schedulerOptions ?? {};
      const server = await SchedulerServer.start({
        // Other nodes must reach it: listen everywhere and advertise this host's address.
        host: so.host ?? '0.0.0.0',
        port: so.port ?? 0,
        ...so,
        schedulerFile,
        jobId: stepKey,
      });
      log.info(`scheduler of job ${step.jobId} at ${server.address}; scheduler file ${schedulerFile}`);
      let goneSince = 0;
      const watch = setInterval(() => {
        // The client's lifeline: once the client task has checked in (see below), no clients for a while means it is gone.
        const seenClient = (globalThis as Record<string, unknown>)[CLIENT_SEEN] === true;
        if (server.snapshot().clients > 0) {
          goneSince = 0;
        } else if (seenClient && withClient) {
          goneSince ||= Date.now();
          if (Date.now() - goneSince > CLIENT_GONE_MS) void server.close('the client task ended without runner.close()');
        }
      }, 500);
      watch.unref();
      await server.finished;
      clearInterval(watch);
      await fs.rm(schedulerFile, { force: true });
      return SlurmRunner.done('scheduler', step, schedulerFile, server.address, server.token, exit);
    }

    const info = await waitForStepFile(schedulerFile, stepKey, timeoutMs);

    if (role === 'worker') {
      const { WorkerServer } = await import('../../worker/server.js');
      const worker = await WorkerServer.start({
        ...workerOptions,
        schedulerAddress: info.address,
        token: info.token,
        name: workerName!,
      });
      await worker.finished;
      return SlurmRunner.done('worker', step, schedulerFile, info.address, info.token, exit);
    }

    const { Client } = await import('../../client/client.js');
    const lifeline = await Client.connect({ address: info.address, token: info.token }, { setAsCurrent: false, timeoutMs: 30_000 });
    const workers = step.nTasks - (withClient ? 2 : 1);
    const want = opts.waitForWorkers ?? workers;
    if (!Number.isInteger(want) || want < 0) throw new InvalidArgumentError(`waitForWorkers must be a non-negative integer, got ${want}`);
    if (want > 0) await lifeline.waitForWorkers(want, { timeoutMs });
    // Check in with the scheduler task, so that it shuts the cluster down if this task dies without close(),
    // however short-lived the script is (a poll of the client count could miss it).
    await lifeline.runOnScheduler(() => {
      (globalThis as Record<string, unknown>)['__tesseraSlurmRunnerClientSeen'] = true;
    });
    const runner = new SlurmRunner('client', step, schedulerFile, info.address, info.token, lifeline);
    // A script that ends without runner.close() (as Python scripts do) ends the job the same way:
    // once Node's event loop drains, the cluster is shut down and every task exits 0.
    process.once('beforeExit', () => void runner.close());
    return runner;
  }

  private static done(role: SlurmRole, step: SlurmStep, file: string, address: string, token: string, exit: boolean): Promise<SlurmRunner> {
    if (exit) {
      // Leave with success whatever handles user code left open; the script after start() never runs here.
      setImmediate(() => process.exit(0));
      return new Promise<never>(() => {});
    }
    const r = new SlurmRunner(role, step, file, address, token, null);
    r.closed = true;
    return Promise.resolve(r);
  }

  /** Shuts down the scheduler and every worker task (they exit 0), then disconnects. Client task only. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.lifeline?.shutdown();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  toString(): string {
    return `<SlurmRunner job=${this.step.jobId} tasks=${this.step.nTasks} scheduler=${this.schedulerAddress}>`;
  }
}
