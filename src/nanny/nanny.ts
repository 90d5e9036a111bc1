/**
 * The nanny: a worker supervisor (`nanny: true`, `--nanny`). The
 * rank process runs the worker in a child process and starts a new one when
 * it dies (a crash, the kernel's OOM killer) or grows past 95% of its memory
 * limit. The rank itself, which is what MPI and the launcher see, stays up,
 * so losing a worker does not end the job. LocalCluster runs one nanny
 * process per worker by default (`nanny: false` turns that off).
 *
 * client.restart() reaches the nanny through its worker: the worker asks
 * over the IPC channel, and the nanny closes it (killing it if it does not
 * exit within RESTART_GRACE_MS) and starts a new one. That is not a death:
 * it does not count towards MAX_RESTARTS.
 *
 * The child is the core's process entry (src/deploy/child.js, also used by
 * LocalCluster): it runs one WorkerServer, reports readiness over the IPC
 * channel and exits when that channel closes, so a dead rank never leaves
 * an orphan behind. A child that exits with status 0 was closed on purpose
 * (the scheduler said so); anything else is a death.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Logger } from '../logging.js';
import type { WorkerOptions } from '../worker/options.js';
import { spawnTesseraChild } from '../deploy/spawn.js';
import { MEMORY_TERMINATE } from '../worker/memory.js';

const START_TIMEOUT_MS = 60_000;
const MEMORY_CHECK_MS = 500;
/** More deaths than this within RESTART_WINDOW_MS and the nanny gives up: the worker cannot run here. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
/** A worker asked to close for a restart is killed if it has not exited by then. */
const RESTART_GRACE_MS = 3_000;

/** Resident set size of a process in bytes (Linux /proc), or null where that is not available. */
function rssOf(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export class Nanny {
  address = '';
  readonly name: string;
  readonly finished: Promise<void>;
  /** How many times the worker was restarted. */
  restarts = 0;
  /** Called with the new worker's address each time a worker process is up (the first included). */
  onWorkerStarted: (address: string) => void = () => {};

  private child: ChildProcess | null = null;
  private closing = false;
  private deaths: number[] = [];
  private memoryTimer: NodeJS.Timeout | null = null;
  /** Worker processes being replaced on request (client.restart()), not because they died. */
  private readonly replacing = new WeakSet<ChildProcess>();
  private resolveFinished!: () => void;
  private readonly opts: WorkerOptions;
  private readonly memoryLimit: number;
  private readonly log: Logger;

  private constructor(opts: WorkerOptions, memoryLimit: number, log: Logger) {
    this.opts = opts;
    this.memoryLimit = memoryLimit;
    this.log = log;
    this.name = opts.name ?? 'worker';
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
  }

  /** Starts the worker child; rejects when it cannot start (its own error is printed by the child). */
  static async start(opts: WorkerOptions, log: Logger): Promise<Nanny> {
    const { parseMemoryLimit } = await import('../worker/memory.js');
    const nanny = new Nanny(opts, parseMemoryLimit(opts.memoryLimit ?? 0), log);
    await nanny.spawn();
    return nanny;
  }

  private async spawn(): Promise<void> {
    const { child, ready } = await spawnTesseraChild(
      { role: 'worker', options: this.opts, supervised: true }, this.opts.token ?? '', `worker ${this.name}`, START_TIMEOUT_MS,
    );
    this.child = child;
    this.address = ready.address;
    child.once('exit', (code, signal) => this.onExit(child, code, signal));
    child.on('message', (m: { type?: string }) => {
      if (m?.type === 'restart') this.replace(child);
    });
    this.watchMemory(child);
    this.onWorkerStarted(this.address);
  }

  /** The worker asked for a new process (client.restart()): close it, then #onExit starts the next. */
  private replace(child: ChildProcess): void {
    if (this.child !== child || this.closing || this.replacing.has(child)) return;
    this.replacing.add(child);
    this.log.info(`worker ${this.name} (pid ${child.pid}) is restarting: starting a new process`);
    if (child.connected) child.send({ type: 'close' });
    else child.kill('SIGKILL');
    setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, RESTART_GRACE_MS).unref();
  }

  private watchMemory(child: ChildProcess): void {
    if (this.memoryTimer) clearInterval(this.memoryTimer);
    if (!(this.memoryLimit > 0) || child.pid === undefined) return;
    const pid = child.pid;
    this.memoryTimer = setInterval(() => {
      const rss = rssOf(pid);
      if (rss !== null && rss > MEMORY_TERMINATE * this.memoryLimit && this.child === child && !this.closing) {
        this.log.warn(
          `worker ${this.name} (pid ${pid}) uses ${Math.round(rss / 2 ** 20)} MiB, over ${MEMORY_TERMINATE * 100}% of its ` +
            `memory limit of ${Math.round(this.memoryLimit / 2 ** 20)} MiB; restarting it`,
        );
        child.kill('SIGKILL');
      }
    }, MEMORY_CHECK_MS);
    this.memoryTimer.unref();
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = null;
    if (this.memoryTimer) clearInterval(this.memoryTimer);
    const replacing = this.replacing.has(child);
    if (this.closing || (code === 0 && !replacing)) {
      this.resolveFinished();
      return;
    }
    if (replacing) {
      this.restarts++;
      this.respawn(0);
      return;
    }
    const now = Date.now();
    this.deaths = [...this.deaths.filter((t) => now - t < RESTART_WINDOW_MS), now];
    if (this.deaths.length > MAX_RESTARTS) {
      this.log.error(`worker ${this.name} died ${this.deaths.length} times within ${RESTART_WINDOW_MS / 1000} s; the nanny gives up`);
      this.resolveFinished();
      return;
    }
    this.log.warn(`worker ${this.name} (pid ${child.pid}) died (${signal ?? `exit code ${code}`}); the nanny restarts it`);
    this.restarts++;
    this.respawn(100);
  }

  /** Starts the next worker process, retrying a few times. */
  private respawn(delayMs: number): void {
    // The scheduler refuses a second worker of the same name until it has noticed the first one's death.
    const attempt = (n: number): void => {
      if (this.closing) return this.resolveFinished();
      this.spawn().catch((err: Error) => {
        if (n < 5 && !this.closing) setTimeout(() => attempt(n + 1), 200 * (n + 1));
        else {
          this.log.error(`worker ${this.name} could not be restarted: ${err.message}`);
          this.resolveFinished();
        }
      });
    };
    setTimeout(() => attempt(0), delayMs);
  }

  /** The worker's process id (changes with every restart), or null between restarts. */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Stops the worker for good. */
  async close(): Promise<void> {
    if (this.closing) return this.finished;
    this.closing = true;
    const child = this.child;
    if (!child) {
      this.resolveFinished();
      return this.finished;
    }
    if (child.connected) child.send({ type: 'close' });
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await this.finished;
    clearTimeout(kill);
  }
}
