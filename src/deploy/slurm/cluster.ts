/**
 * SlurmCluster: dask-jobqueue's SLURMCluster. The scheduler runs in this
 * process (e.g. on a login node); every worker is its own `sbatch` job whose
 * script comes from jobScript(). scale() submits or retires jobs, adapt()
 * follows the scheduler's backlog, close() cancels every job.
 *
 * A watcher polls `squeue` (and `scontrol show job` for jobs that left the
 * queue): a job that ends without being asked to is reported (the 'job-ended'
 * event, `failures`) and, while the cluster still wants it, replaced. That is
 * what carries a long computation across worker-job turnover: a worker whose
 * walltime nears retires (--lifetime), its job ends, a new job takes over,
 * and the scheduler recomputes from lineage anything that was lost.
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { promises as fs } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import type { ClusterLike } from '../../comm/resolve-scheduler.js';
import { SchedulerServer } from '../../scheduler/server.js';
import { connect } from '../../comm/connect.js';
import type { Comm } from '../../comm/comm.js';
import type { ClientToScheduler, SchedulerToClient } from '../../protocol/messages.js';
import { CLIENT_TO_SCHEDULER } from '../../protocol/validate.js';
import { InvalidArgumentError } from '../../errors.js';
import type { SlurmSchedulerOptions } from './options.js';
import { createLogger, type Logger } from '../../logging.js';
import { SlurmError } from './env.js';
import { jobScript, defaultSchedulerFile, DEFAULT_JOB_NAME, type JobScriptOptions } from './job-script.js';

export interface SlurmClusterOptions extends Omit<JobScriptOptions, 'schedulerFile'> {
  /** Worker jobs to submit at start (default 0; use scale() or adapt()). */
  nWorkers?: number;
  /** Scheduler file for the workers (default ~/.tessera/slurm/<cluster id>.json; must be on a shared file system). */
  schedulerFile?: string;
  /** In-process scheduler options: host (default 0.0.0.0, so compute nodes reach it), port, interface, dashboard... */
  schedulerOptions?: SlurmSchedulerOptions;
  /** Environment for sbatch/squeue/scancel/scontrol (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** How often the jobs are polled (ms, default 1000). */
  pollIntervalMs?: number;
  /** Give up replacing jobs after this many in a row ended without their worker ever joining (default 3). */
  maxStartFailures?: number;
  /** Seconds a retiring worker's job may stay before it is cancelled (default 60). */
  retireTimeout?: number;
  /** Log INFO lines (default true). */
  verbose?: boolean;
}

export type JobState = 'pending' | 'running' | 'retiring' | 'cancelling' | 'finished';

export interface SlurmJob {
  id: string;
  workerName: string;
  state: JobState;
  /** Slurm's last state for it (PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, CANCELLED, ...). */
  slurmState: string;
  reason: string;
  submittedAt: number;
  /** Whether its worker ever joined the scheduler. */
  joined: boolean;
  /** Set when the job ended: Slurm's exit code 'code:signal', when known. */
  exitCode?: string;
  /** Why the cluster wanted it gone, if it did. */
  removal?: 'scale-down' | 'close';
}

export interface JobEnded {
  job: SlurmJob;
  /** True when the cluster did not ask the job to end (failed, killed, walltime, worker retired at its lifetime). */
  unexpected: boolean;
  /** True when it ended badly: not COMPLETED, or before its worker joined. */
  failed: boolean;
  message: string;
}

export interface AdaptOptions {
  minimum?: number;
  maximum?: number;
  /** Ms between decisions (default 1000). */
  intervalMs?: number;
  /** Consecutive decisions to scale down before workers are retired (default 3, as Dask). */
  waitCount?: number;
  /** Tasks per worker thread the backlog may hold before another job is asked for (default 1). */
  tasksPerThread?: number;
}

const ACTIVE_SLURM = /^(PENDING|RUNNING|CONFIGURING|COMPLETING|SUSPENDED|REQUEUED|REQUEUE_HOLD|REQUEUE_FED|RESIZING|SIGNALING|STAGE_OUT)$/;

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (err) => resolve({ code: null, stdout, stderr: stderr + String(err) }));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    if (input !== undefined) child.stdin!.end(input);
  });
}

function record(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/(\S+?)=(\S*)/g)) if (!(m[1]! in out)) out[m[1]!] = m[2]!;
  return out;
}

export class SlurmCluster extends EventEmitter implements ClusterLike, AsyncDisposable {
  readonly jobs = new Map<string, SlurmJob>();
  /** Jobs that ended without the cluster asking (failures, and workers that retired at their lifetime). */
  readonly ended: JobEnded[] = [];
  /** The subset of `ended` that failed, with Slurm's word on why. */
  readonly failures: JobEnded[] = [];
  /** Set when the cluster stopped replacing jobs that never started a worker. */
  lastError: SlurmError | null = null;

  private target = 0;
  private closed = false;
  private poller: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private adaptTimer: NodeJS.Timeout | null = null;
  private startFailures = 0;
  private control: Comm<SchedulerToClient, ClientToScheduler> | null = null;
  private readonly log: Logger;
  private readonly env: NodeJS.ProcessEnv;

  private constructor(
    private readonly server: SchedulerServer,
    readonly schedulerFile: string,
    private readonly opts: SlurmClusterOptions,
  ) {
    super();
    this.env = opts.env ?? process.env;
    this.log = createLogger('slurm-cluster', opts.verbose === false ? 'warn' : undefined);
    // Reports go to the log unless someone listens; an EventEmitter 'error' would throw.
    this.on('job-ended', (e: JobEnded) => {
      if (e.failed) this.log.warn(e.message);
      else this.log.info(e.message);
    });
  }

  static async start(opts: SlurmClusterOptions = {}): Promise<SlurmCluster> {
    const id = `tessera-${randomUUID().slice(0, 8)}`;
    const schedulerFile = opts.schedulerFile ?? defaultSchedulerFile(id);
    const so = opts.schedulerOptions ?? {};
    const server = await SchedulerServer.start({
      host: '0.0.0.0',
      port: 0,
      ...so,
      token: randomBytes(24).toString('hex'),
      schedulerFile,
      ...(so.quiet === undefined && opts.verbose === false ? { quiet: true } : {}),
    });
    const cluster = new SlurmCluster(server, schedulerFile, opts);
    try {
      // Slurm fails a job at launch (JobLaunchFailure) when its -o/-e directory is missing.
      if (opts.logDirectory) await fs.mkdir(opts.logDirectory, { recursive: true });
      const r = await run('sbatch', ['--version'], cluster.env);
      if (r.code !== 0) {
        throw new SlurmError(`sbatch is not available (${r.stderr.trim() || `exit code ${r.code}`}); SlurmCluster must run where Slurm's ` +
          'client commands work (a login node; Debian package slurm-client). Set SLURM_CONF if the configuration is not in /etc/slurm');
      }
      if (opts.nWorkers) await cluster.scale(opts.nWorkers);
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  get schedulerAddress(): string {
    return this.server.address;
  }

  get token(): string {
    return this.server.token;
  }

  get dashboardLink(): string | undefined {
    if (this.server.dashboardPort === undefined) return undefined;
    const host = this.server.dashboardHost ?? new URL(this.server.address.replace(/^tcp:/, 'http:')).hostname;
    return `http://${host}:${this.server.dashboardPort}/status`;
  }

  /** The script each worker job runs. */
  jobScript(): string {
    const { nWorkers: _n, env: _e, pollIntervalMs: _p, maxStartFailures: _m, retireTimeout: _r, verbose: _v, schedulerOptions: _s, ...js } = this.opts;
    return jobScript({ ...js, schedulerFile: this.schedulerFile });
  }

  private get jobName(): string {
    return this.opts.jobName ?? DEFAULT_JOB_NAME;
  }

  /** Jobs that count towards the target: submitted and not on their way out. */
  private activeJobs(): SlurmJob[] {
    return [...this.jobs.values()].filter((j) => j.state === 'pending' || j.state === 'running');
  }

  /** Worker jobs the cluster wants (scale()'s or adapt()'s last word). */
  get targetJobs(): number {
    return this.target;
  }

  /**
   * Sets the number of worker jobs: `scale(4)`, `scale({ jobs: 4 })` or
   * `scale({ workers: 4 })` (one worker per job). Going up submits jobs;
   * going down cancels pending jobs first, then retires running workers
   * (their tasks and data move to the others) and cancels their jobs.
   */
  async scale(n: number | { jobs?: number; workers?: number }): Promise<void> {
    if (this.closed) throw new SlurmError('this SlurmCluster is closed');
    const want = typeof n === 'number' ? n : n.jobs ?? n.workers;
    if (want === undefined || !Number.isInteger(want) || want < 0) {
      throw new InvalidArgumentError(`scale() needs a non-negative integer number of jobs or workers, got ${JSON.stringify(n)}`);
    }
    this.target = want;
    this.startFailures = 0;
    this.lastError = null;
    await this.reconcile();
  }

  private async reconcile(): Promise<void> {
    const active = this.activeJobs();
    if (active.length < this.target) {
      if (this.lastError) return;
      const ids = await Promise.all(Array.from({ length: this.target - active.length }, () => this.submit()));
      this.log.info(`submitted ${ids.length} worker job${ids.length === 1 ? '' : 's'}: ${ids.join(', ')}`);
    } else if (active.length > this.target) {
      const snapshot = this.server.snapshot();
      const byName = new Map(snapshot.workers.map((w) => [w.name, w]));
      // Pending jobs first; then the running workers with the least data and work.
      const ordered = active.sort((a, b) => {
        if (a.state !== b.state) return a.state === 'pending' ? -1 : 1;
        const wa = byName.get(a.workerName);
        const wb = byName.get(b.workerName);
        return (wa ? wa.inMemory + wa.processing : -1) - (wb ? wb.inMemory + wb.processing : -1) || Number(b.id) - Number(a.id);
      });
      await Promise.all(ordered.slice(0, active.length - this.target).map((j) => this.removeJob(j, 'scale-down')));
    }
    this.ensurePolling();
  }

  private async submit(): Promise<string> {
    const r = await run('sbatch', ['--parsable'], this.env, this.jobScript());
    if (r.code !== 0) {
      throw new SlurmError(`sbatch refused the worker job: ${r.stderr.trim() || `exit code ${r.code}`}. The script was:\n${this.jobScript()}`);
    }
    const id = r.stdout.trim().split(';')[0]!;
    this.jobs.set(id, {
      id, workerName: `${this.jobName}-${id}`, state: 'pending', slurmState: 'PENDING', reason: '', submittedAt: Date.now(), joined: false,
    });
    return id;
  }

  private async removeJob(job: SlurmJob, why: 'scale-down' | 'close'): Promise<void> {
    job.removal = why;
    const joined = this.server.snapshot().workers.some((w) => w.name === job.workerName);
    if (job.state === 'running' && joined && why === 'scale-down') {
      job.state = 'retiring';
      await this.retireWorker(job.workerName);
      // The worker exits after retiring, which ends the job; cancel it if it lingers.
      const timer = setTimeout(() => {
        if (this.jobs.get(job.id)?.state === 'retiring') void this.cancel([job]);
      }, (this.opts.retireTimeout ?? 60) * 1000);
      timer.unref();
      return;
    }
    await this.cancel([job]);
  }

  private async cancel(jobs: SlurmJob[]): Promise<void> {
    if (!jobs.length) return;
    for (const j of jobs) if (j.state !== 'finished') j.state = 'cancelling';
    const r = await run('scancel', jobs.map((j) => j.id), this.env);
    if (r.code !== 0 && !/Invalid job id|already completing or completed/i.test(r.stderr)) {
      this.log.warn(`scancel ${jobs.map((j) => j.id).join(' ')} failed: ${r.stderr.trim()}`);
    }
  }

  private async retireWorker(name: string): Promise<void> {
    try {
      if (!this.control || this.control.isClosed) {
        const { comm } = await connect(this.server.address, { role: 'client', token: this.server.token, timeoutMs: 10_000 });
        this.control = comm.typed(CLIENT_TO_SCHEDULER);
        this.control.onMessage = () => {};
      }
      await this.control.request({ op: 'retire-workers', workers: [name] }, 60_000);
    } catch (err) {
      this.log.warn(`could not retire worker ${name} gracefully (${(err as Error).message}); its job will be cancelled`);
    }
  }

  // ------------------------------------------------------------------ watching

  private ensurePolling(): void {
    if (this.poller || this.closed) return;
    this.poller = setInterval(() => {
      if (!this.polling) this.polling = this.poll().finally(() => (this.polling = null));
    }, this.opts.pollIntervalMs ?? 1000);
    this.poller.unref();
  }

  /** One look at the queue: job states, workers that joined, jobs that ended. */
  async poll(): Promise<void> {
    const live = [...this.jobs.values()].filter((j) => j.state !== 'finished');
    if (!live.length) return;
    const r = await run('squeue', ['-h', '-o', '%i|%T|%r', '-j', live.map((j) => j.id).join(',')], this.env);
    if (r.code !== 0 && !/Invalid job id/i.test(r.stderr)) {
      this.log.warn(`squeue failed: ${r.stderr.trim()}`);
      return;
    }
    const seen = new Map<string, { state: string; reason: string }>();
    for (const line of r.stdout.split('\n')) {
      const [id, state, reason] = line.trim().split('|');
      if (id && state) seen.set(id, { state, reason: reason ?? '' });
    }
    const names = new Set(this.server.snapshot().workers.map((w) => w.name));
    for (const job of live) {
      if (names.has(job.workerName)) job.joined = true;
      const s = seen.get(job.id);
      if (s && ACTIVE_SLURM.test(s.state)) {
        job.slurmState = s.state;
        job.reason = s.reason === 'None' ? '' : s.reason;
        if (job.state === 'pending' && s.state !== 'PENDING') job.state = 'running';
        continue;
      }
      await this.jobEnded(job);
    }
    if (!this.closed) await this.reconcile().catch((err: Error) => this.log.warn(err.message));
  }

  private async jobEnded(job: SlurmJob): Promise<void> {
    const r = await run('scontrol', ['show', 'job', '-o', job.id], this.env);
    const rec = r.code === 0 ? record(r.stdout) : {};
    job.state = 'finished';
    job.slurmState = rec.JobState ?? 'UNKNOWN';
    job.reason = rec.Reason && rec.Reason !== 'None' ? rec.Reason : job.reason;
    if (rec.ExitCode) job.exitCode = rec.ExitCode;
    const unexpected = job.removal === undefined;
    const how = `${job.slurmState}${job.exitCode ? `, exit code ${job.exitCode}` : ''}${job.reason ? `, reason ${job.reason}` : ''}`;
    let message: string;
    if (!unexpected) message = `worker job ${job.id} ended (${how})`;
    else if (!job.joined) {
      message = `worker job ${job.id} ended before its worker joined the scheduler (${how}); see its log` +
        `${this.opts.logDirectory ? ` in ${this.opts.logDirectory}` : ''}`;
      this.startFailures++;
    } else if (job.slurmState === 'COMPLETED') {
      message = `worker job ${job.id} finished: worker ${job.workerName} retired (its lifetime ends before the walltime)${this.closed ? '' : '; replacing it'}`;
    } else message = `worker job ${job.id} (worker ${job.workerName}) ended (${how})`;
    if (unexpected && job.joined) this.startFailures = 0;
    const failed = unexpected && (!job.joined || job.slurmState !== 'COMPLETED');
    const event: JobEnded = { job, unexpected, failed, message };
    if (unexpected) this.ended.push(event);
    if (failed) this.failures.push(event);
    this.emit('job-ended', event);
    const max = this.opts.maxStartFailures ?? 3;
    if (unexpected && this.startFailures >= max && !this.lastError) {
      this.lastError = new SlurmError(`${this.startFailures} worker jobs in a row ended before their worker joined (the last: ${message}); ` +
        'not submitting more until scale() is called again. Check the job logs and jobScript()');
      this.log.error(this.lastError.message);
    }
  }

  // ------------------------------------------------------------------ adapt

  /**
   * Scales between `minimum` and `maximum` jobs following the scheduler's
   * backlog: tasks processing, queued or waiting for a worker. Scaling down
   * waits `waitCount` decisions in a row, and retires idle workers first.
   */
  adapt(opts: AdaptOptions = {}): { stop(): void } {
    const minimum = opts.minimum ?? 0;
    const maximum = opts.maximum ?? Infinity;
    if (!(minimum >= 0) || !(maximum >= minimum)) throw new InvalidArgumentError(`adapt() needs 0 <= minimum <= maximum, got ${minimum} and ${maximum}`);
    this.stopAdapting();
    const threads = this.opts.cores ?? 1;
    const perThread = opts.tasksPerThread ?? 1;
    const waitCount = opts.waitCount ?? 3;
    let downVotes = 0;
    const tick = async () => {
      if (this.closed) return;
      const s = this.server.snapshot();
      const t = s.tasksByState;
      const backlog = (t.processing ?? 0) + (t.queued ?? 0) + (t['no-worker'] ?? 0) + (t.waiting ?? 0);
      const wanted = Math.min(maximum, Math.max(minimum, Math.ceil(backlog / (threads * perThread))));
      if (wanted > this.target) {
        downVotes = 0;
        await this.scale(wanted);
      } else if (wanted < this.target) {
        if (++downVotes >= waitCount) {
          downVotes = 0;
          await this.scale(wanted);
        }
      } else downVotes = 0;
    };
    let busy = false;
    this.adaptTimer = setInterval(() => {
      if (busy) return;
      busy = true;
      tick().catch((err: Error) => this.log.warn(`adapt: ${err.message}`)).finally(() => (busy = false));
    }, opts.intervalMs ?? 1000);
    this.adaptTimer.unref();
    return { stop: () => this.stopAdapting() };
  }

  private stopAdapting(): void {
    if (this.adaptTimer) clearInterval(this.adaptTimer);
    this.adaptTimer = null;
  }

  // ------------------------------------------------------------------ close

  /** Cancels every job (scancel), stops the scheduler and removes the scheduler file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopAdapting();
    if (this.poller) clearInterval(this.poller);
    await this.polling;
    const live = [...this.jobs.values()].filter((j) => j.state !== 'finished');
    for (const j of live) j.removal ??= 'close';
    await this.cancel(live);
    void this.control?.close();
    await this.server.close('SlurmCluster closed');
    await fs.rm(this.schedulerFile, { force: true });
    // Jobs may take a moment to leave the queue; say which were still there.
    for (let i = 0; i < 20 && live.length; i++) {
      const r = await run('squeue', ['-h', '-o', '%i', '-j', live.map((j) => j.id).join(',')], this.env);
      if (!r.stdout.trim()) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    for (const j of live) j.state = 'finished';
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  override toString(): string {
    const jobs = [...this.jobs.values()];
    const count = (s: JobState) => jobs.filter((j) => j.state === s).length;
    return `<SlurmCluster ${this.schedulerAddress} jobs: ${count('pending')} pending, ${count('running')} running, target ${this.target}>`;
  }
}
