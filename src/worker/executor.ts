/**
 * A pool of executor threads (node:worker_threads). Each thread gets at most
 * `depth` jobs at a time: one running and the next already queued, so the
 * thread does not idle while the main thread reacts to a completion.
 */
import { createRequire } from 'node:module';
import type { MessagePort, Worker } from 'node:worker_threads';
import type { ExecutorThreadData } from './executor-thread.js';
import { FunctionNumbers, decodeResults, encodeJobs, type JobResult, type ResultBatch, type RunJob } from './executor-batch.js';
import type { FunctionSpec, SerializedValue } from '../protocol/messages.js';
import type { Logger } from '../logging.js';
import { compiledModuleUrl } from '../layout.js';
import { executorResourceLimits, type ExecutorHeapLimits } from './memory.js';
import { formatBytes, formatLimit } from '../util/bytes.js';

export interface JobOutcome {
  ok: boolean;
  value?: SerializedValue;
  valueType?: string;
  error?: { name: string; message: string; stack: string; code?: string };
  start: number;
  stop: number;
  thread: number;
}

interface Pending {
  resolve: (r: JobOutcome) => void;
  thread: ExecutorThread;
  key: string;
  /** Kept until the job settles: a replaced thread's unfinished jobs are posted again to its successor. */
  job: RunJob;
}

interface ExecutorThread {
  index: number;
  worker: Worker;
  inFlight: Set<number>;
  /** Jobs to post at the end of this event-loop turn, as one message. */
  outbox: RunJob[];
  /** The function specs this thread has been sent (see executor-batch.ts). */
  numbers: FunctionNumbers;
  /** Slot 0: the id of the job the thread is running (0: none), written by the thread; slot 1: cancellations posted (see executor-thread.ts). */
  running: Int32Array;
  /** Where cancellations of jobs that have not started go (read synchronously by the thread). */
  control: MessagePort;
  /** Replaced by a fresh thread: its exit and any late results are ignored. */
  retired: boolean;
  /** The thread reached its V8 heap limit (ERR_WORKER_OUT_OF_MEMORY); set just before it exits. */
  outOfMemory: boolean;
}

export interface ExecutorPoolOptions {
  /** The worker's memory limit in bytes (0: none): each thread's V8 heap is sized from it. */
  memoryLimit?: number;
}

/** Job ids live in an Int32Array slot: they wrap before 2^31 (0 means no job). */
const MAX_JOB_ID = 0x7fffffff;

const THREAD_URL = compiledModuleUrl('worker/executor-thread.js');

export class ExecutorPool {
  private readonly threads: ExecutorThread[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  /** Called when a thread has room for another job. */
  onCapacity: () => void = () => {};

  /** Recent mean task duration (ms): tiny tasks get deeper per-thread queues. */
  private meanMs = 10;
  private flushScheduled = false;

  /** V8 heap limits of every thread, derived from the worker's memory limit (undefined: V8's defaults). */
  readonly resourceLimits: ExecutorHeapLimits | undefined;
  private readonly memoryLimit: number;

  constructor(readonly nthreads: number, private readonly log: Logger, opts: ExecutorPoolOptions = {}) {
    this.memoryLimit = opts.memoryLimit ?? 0;
    this.resourceLimits = executorResourceLimits(this.memoryLimit, nthreads);
  }

  /**
   * Starts the threads. Separate from the constructor so a worker can first
   * register with its scheduler: starting threads costs CPU that cluster
   * start-up (many processes on few cores) is short of. Jobs posted before a
   * thread is online wait in its message queue.
   */
  start(): void {
    if (this.threads.length || this.closed) return;
    for (let i = 0; i < this.nthreads; i++) this.threads.push(this.spawn(i));
  }

  private spawn(index: number): ExecutorThread {
    // Loaded here, not at import: a worker registers with its scheduler before
    // it starts threads, and node:worker_threads costs ~4 ms of that start.
    const { Worker, MessageChannel } = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
    const running = new Int32Array(new SharedArrayBuffer(8));
    const { port1: control, port2 } = new MessageChannel();
    const data: ExecutorThreadData = { index, running, control: port2 };
    const worker = new Worker(THREAD_URL, {
      workerData: data,
      transferList: [port2],
      ...(this.resourceLimits ? { resourceLimits: this.resourceLimits } : {}),
    });
    const t: ExecutorThread = {
      index, worker, inFlight: new Set(), outbox: [], numbers: new FunctionNumbers(), running, control, retired: false, outOfMemory: false,
    };
    worker.on('message', (batch: ResultBatch) => {
      if (t.retired) return;
      decodeResults(batch, (r) => this.onResult(t, r));
      this.onCapacity();
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (t.retired) return;
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') t.outOfMemory = true; // reported with its task by onExit
      else this.log.error(`executor thread ${index} crashed: ${err.stack ?? err.message}`);
    });
    worker.on('exit', (code) => this.onExit(t, code));
    return t;
  }

  /**
   * Jobs a thread may hold: one running and one queued is enough for slow
   * tasks; tiny tasks need more so a thread never waits on the main thread.
   * The tiniest (a trivial function, ~10 us) go 32 at a time: each batch
   * posted wakes the thread, which costs more CPU than such a task, and 32
   * of them are still well under a millisecond of work committed to it.
   */
  private get depth(): number {
    return this.meanMs < 0.25 ? 32 : this.meanMs < 1 ? 16 : 2;
  }

  /** Jobs that could be accepted right now. */
  get capacity(): number {
    if (this.threads.length === 0) return this.nthreads * this.depth;
    let n = 0;
    const depth = this.depth;
    for (const t of this.threads) n += Math.max(0, depth - t.inFlight.size);
    return n;
  }

  get executing(): number {
    let n = 0;
    for (const t of this.threads) n += Math.min(1, t.inFlight.size);
    return n;
  }

  run(key: string, fn: FunctionSpec, args: Uint8Array, depKeys: string[], depValues: SerializedValue[]): Promise<JobOutcome> {
    this.start();
    let best: ExecutorThread | null = null;
    for (const t of this.threads) if (!best || t.inFlight.size < best.inFlight.size) best = t;
    const t = best!;
    const id = this.nextId;
    this.nextId = id >= MAX_JOB_ID ? 1 : id + 1;
    // The bytes are copied into the batch when it is posted (executor-batch.ts), so views are fine here.
    const job: RunJob = { id, key, fn, args, depKeys, depValues };
    return new Promise((resolve) => {
      this.pending.set(id, { resolve, thread: t, key, job });
      this.post(t, job);
    });
  }

  private post(t: ExecutorThread, job: RunJob): void {
    t.inFlight.add(job.id);
    t.outbox.push(job);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const t of this.threads) {
      if (t.outbox.length === 0) continue;
      const jobs = t.outbox;
      t.outbox = [];
      const { batch, transfer } = encodeJobs(jobs, t.numbers);
      t.worker.postMessage(batch, transfer);
    }
  }

  private onResult(t: ExecutorThread, r: JobResult): void {
    const p = this.pending.get(r.id);
    t.inFlight.delete(r.id);
    if (!p || p.thread !== t) return;
    this.pending.delete(r.id);
    this.meanMs = 0.9 * this.meanMs + 0.1 * (r.stop - r.start);
    if (r.type === 'done') p.resolve({ ok: true, value: r.value, valueType: r.valueType, start: r.start, stop: r.stop, thread: t.index });
    else p.resolve({ ok: false, error: r.error, start: r.start, stop: r.stop, thread: t.index });
  }

  private settle(id: number, p: Pending, error: NonNullable<JobOutcome['error']>): void {
    this.pending.delete(id);
    const now = Date.now();
    p.resolve({ ok: false, error, start: now, stop: now, thread: p.thread.index });
  }

  /**
   * Cancels the jobs of `key` (the scheduler freed it: a client cancelled or
   * released it). One that has not started is dropped; one that is running
   * ends its thread, which is replaced: JavaScript cannot be interrupted
   * from outside, and a task that never settles (a busy loop, a promise
   * nobody resolves) would otherwise hold its thread, and every job queued
   * behind it, for good. Returns how many jobs were cancelled.
   */
  cancel(key: string, reason = `${key} was cancelled`): number {
    let n = 0;
    for (const [id, p] of [...this.pending]) {
      if (p.key !== key) continue;
      n++;
      const t = p.thread;
      const i = t.outbox.findIndex((j) => j.id === id);
      this.settle(id, p, { name: 'CancelledError', message: reason, stack: '', code: 'ERR_TESSERA_CANCELLED' });
      if (i >= 0) {
        // Not posted yet: the thread never hears of it.
        t.outbox.splice(i, 1);
        t.inFlight.delete(id);
        continue;
      }
      // Posted: tell the thread to skip it, then see whether it already started (see wasCancelled in executor-thread.ts).
      t.control.postMessage([id]);
      Atomics.add(t.running, 1, 1);
      if (Atomics.load(t.running, 0) === id) {
        this.log.info(`executor thread ${t.index} is running ${key}, which was cancelled: ending the thread and starting a new one`);
        this.replace(t);
      }
    }
    if (n) this.onCapacity();
    return n;
  }

  /**
   * Ends a thread and starts a new one in its place; jobs it held that have
   * not settled are posted again to the new thread, in their original order.
   */
  private replace(t: ExecutorThread): ExecutorThread {
    t.retired = true;
    void t.worker.terminate();
    t.control.close();
    const fresh = this.spawn(t.index);
    this.threads[t.index] = fresh;
    for (const p of this.pending.values()) {
      if (p.thread !== t) continue;
      p.thread = fresh;
      this.post(fresh, p.job);
    }
    t.inFlight.clear();
    t.outbox = [];
    return fresh;
  }

  /**
   * A thread died on its own: its heap reached the limit
   * (ERR_WORKER_OUT_OF_MEMORY), a task called process.exit, a native crash.
   * The job it was running fails with what happened; the jobs queued behind
   * it run on a new thread. The worker process itself is fine.
   */
  private onExit(t: ExecutorThread, code: number): void {
    if (this.closed || t.retired) return;
    const runningId = Atomics.load(t.running, 0);
    const culprit = this.pending.get(runningId);
    if (culprit && culprit.thread === t) {
      const error = t.outOfMemory ? this.outOfMemoryError(culprit.key) : {
        name: 'ExecutorThreadExit',
        message: `the executor thread running ${culprit.key} exited with code ${code} (did the task call process.exit?); the worker started a new thread`,
        stack: '',
      };
      this.settle(runningId, culprit, error);
      if (t.outOfMemory) this.log.warn(error.message);
    }
    if (!t.outOfMemory || !culprit) this.log.warn(`executor thread ${t.index} exited with code ${code}${t.outOfMemory ? ' (out of memory)' : ''}; starting a new one`);
    this.replace(t);
    this.onCapacity();
  }

  private outOfMemoryError(key: string): NonNullable<JobOutcome['error']> {
    const limits = this.resourceLimits;
    const rss = process.memoryUsage.rss();
    const heap = limits ? `its JavaScript heap limit of ${limits.maxOldGenerationSizeMb + limits.maxYoungGenerationSizeMb} MiB` : 'V8\'s default heap limit';
    const share = limits
      ? `, its share of the worker's memory limit of ${formatLimit(this.memoryLimit)}${this.nthreads > 1 ? ` across ${this.nthreads} threads` : ''}`
      : ' (the worker has no memory limit)';
    return {
      name: 'OutOfMemoryError',
      message:
        `task ${key} ran out of memory: its executor thread reached ${heap}${share}; the worker process's RSS is now ${formatBytes(rss)}. ` +
        `The worker replaced the thread and keeps running. Raise memoryLimit${this.nthreads > 1 ? ' or use fewer threads per worker' : ''}, ` +
        `or make each task hold less at once: split the data into more partitions or smaller chunks`,
      stack: '',
      code: 'ERR_WORKER_OUT_OF_MEMORY',
    };
  }

  /**
   * Ends every thread and starts fresh ones (a worker without a nanny
   * resetting itself for client.restart()): every job not yet settled fails
   * with `reason`.
   */
  async restart(reason: string): Promise<void> {
    const old = this.threads.splice(0);
    for (const [id, p] of [...this.pending]) this.settle(id, p, { name: 'CancelledError', message: reason, stack: '', code: 'ERR_TESSERA_CANCELLED' });
    for (const t of old) {
      t.retired = true;
      t.control.close();
    }
    await Promise.all(old.map((t) => t.worker.terminate()));
    if (!this.closed) this.start();
    this.onCapacity();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
