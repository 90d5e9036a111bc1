/**
 * A pool of executor threads (node:worker_threads). Each thread gets at most
 * `depth` jobs at a time: one running and the next already queued, so the
 * thread does not idle while the main thread reacts to a completion.
 */
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import type { JobResult, RunJob } from './executor-thread.js';
import type { SerializedValue } from '../protocol/messages.js';
import type { FunctionSpec } from '../graph/function-spec.js';
import { copyBytes } from '../graph/serialize.js';
import type { Logger } from '../logging.js';
import { compiledModuleUrl } from '../layout.js';

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
}

interface ExecutorThread {
  index: number;
  worker: Worker;
  inFlight: Set<number>;
  /** Jobs to post at the end of this event-loop turn, as one message. */
  outbox: RunJob[];
}

const THREAD_URL = compiledModuleUrl('worker/executor-thread.js');

/**
 * postMessage clones a typed array's whole underlying buffer, not just the
 * view: a task's arguments are a view into the batch message they arrived
 * in, so without this every job would copy that entire batch. Shared
 * buffers pass by reference; small views into large buffers are copied.
 */
function compactView(f: Uint8Array): Uint8Array {
  return f.buffer instanceof SharedArrayBuffer || f.byteLength * 2 >= f.buffer.byteLength ? f : copyBytes(f);
}

function transferable(frames: SerializedValue['frames']): SerializedValue['frames'] {
  return frames.map(compactView);
}

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

  constructor(readonly nthreads: number, private readonly log: Logger) {}

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
    const { Worker } = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
    const worker = new Worker(THREAD_URL, { workerData: { index } });
    const t: ExecutorThread = { index, worker, inFlight: new Set(), outbox: [] };
    worker.on('message', (rs: JobResult[]) => {
      for (const r of rs) this.onResult(t, r);
      this.onCapacity();
    });
    worker.on('error', (err) => this.log.error(`executor thread ${index} crashed: ${err.stack ?? err.message}`));
    worker.on('exit', (code) => this.onExit(t, code));
    return t;
  }

  /**
   * Jobs a thread may hold: one running and one queued is enough for slow
   * tasks; tiny tasks need more so a thread never waits on the main thread.
   */
  private get depth(): number {
    return this.meanMs < 1 ? 16 : 2;
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
    const id = this.nextId++;
    t.inFlight.add(id);
    const job: RunJob = { id, key, fn, args: compactView(args), depKeys, depValues: depValues.map((v) => ({ kind: v.kind, frames: transferable(v.frames) })) };
    t.outbox.push(job);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return new Promise((resolve) => {
      this.pending.set(id, { resolve, thread: t, key });
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const t of this.threads) {
      if (t.outbox.length === 0) continue;
      const jobs = t.outbox;
      t.outbox = [];
      t.worker.postMessage(jobs);
    }
  }

  private onResult(t: ExecutorThread, r: JobResult): void {
    const p = this.pending.get(r.id);
    t.inFlight.delete(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    this.meanMs = 0.9 * this.meanMs + 0.1 * (r.stop - r.start);
    if (r.type === 'done') p.resolve({ ok: true, value: r.value, valueType: r.valueType, start: r.start, stop: r.stop, thread: t.index });
    else p.resolve({ ok: false, error: r.error, start: r.start, stop: r.stop, thread: t.index });
  }

  /** A thread died (process.exit in a task, a native crash): fail its jobs and replace it. */
  private onExit(t: ExecutorThread, code: number): void {
    if (this.closed) return;
    const now = Date.now();
    for (const id of t.inFlight) {
      const p = this.pending.get(id);
      if (!p) continue;
      this.pending.delete(id);
      p.resolve({
        ok: false,
        error: { name: 'ExecutorThreadExit', message: `the executor thread running ${p.key} exited with code ${code} (did the task call process.exit?)`, stack: '' },
        start: now, stop: now, thread: t.index,
      });
    }
    t.inFlight.clear();
    t.outbox = [];
    this.log.warn(`executor thread ${t.index} exited with code ${code}; starting a new one`);
    this.threads[t.index] = this.spawn(t.index);
    this.onCapacity();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
