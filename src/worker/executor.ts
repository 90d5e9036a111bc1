/**
 * A pool of executor threads (node:worker_threads). Each thread gets at most
 * `depth` jobs at a time: one running and the next already queued, so the
 * thread does not idle while the main thread reacts to a completion.
 */
import { Worker } from 'node:worker_threads';
import type { JobResult, RunJob } from './executor-thread.js';
import type { SerializedValue } from '../protocol/messages.js';
import type { FunctionSpec } from '../graph/function-spec.js';
import type { Logger } from '../logging.js';

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
}

const THREAD_URL = new URL('./executor-thread.js', import.meta.url);

function transferable(frames: SerializedValue['frames']): SerializedValue['frames'] {
  // Shared buffers pass by reference; a small view into a large buffer is copied compactly.
  return frames.map((f) => (f.buffer instanceof SharedArrayBuffer || f.byteLength * 2 >= f.buffer.byteLength ? f : f.slice()));
}

export class ExecutorPool {
  private readonly threads: ExecutorThread[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  /** Called when a thread has room for another job. */
  onCapacity: () => void = () => {};

  constructor(readonly nthreads: number, private readonly log: Logger, private readonly depth = 2) {
    for (let i = 0; i < nthreads; i++) this.threads.push(this.spawn(i));
  }

  private spawn(index: number): ExecutorThread {
    const worker = new Worker(THREAD_URL, { workerData: { index } });
    const t: ExecutorThread = { index, worker, inFlight: new Set() };
    worker.on('message', (r: JobResult) => this.onResult(t, r));
    worker.on('error', (err) => this.log.error(`executor thread ${index} crashed: ${err.stack ?? err.message}`));
    worker.on('exit', (code) => this.onExit(t, code));
    return t;
  }

  /** Jobs that could be accepted right now. */
  get capacity(): number {
    let n = 0;
    for (const t of this.threads) n += Math.max(0, this.depth - t.inFlight.size);
    return n;
  }

  get executing(): number {
    let n = 0;
    for (const t of this.threads) n += Math.min(1, t.inFlight.size);
    return n;
  }

  run(key: string, fn: FunctionSpec, args: Uint8Array, depKeys: string[], depValues: SerializedValue[]): Promise<JobOutcome> {
    let best: ExecutorThread | null = null;
    for (const t of this.threads) if (!best || t.inFlight.size < best.inFlight.size) best = t;
    const t = best!;
    const id = this.nextId++;
    t.inFlight.add(id);
    const job: RunJob = { type: 'run', id, key, fn, args, depKeys, depValues: depValues.map((v) => ({ kind: v.kind, frames: transferable(v.frames) })) };
    return new Promise((resolve) => {
      this.pending.set(id, { resolve, thread: t, key });
      t.worker.postMessage(job);
    });
  }

  private onResult(t: ExecutorThread, r: JobResult): void {
    const p = this.pending.get(r.id);
    t.inFlight.delete(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    if (r.type === 'done') p.resolve({ ok: true, value: r.value, valueType: r.valueType, start: r.start, stop: r.stop, thread: t.index });
    else p.resolve({ ok: false, error: r.error, start: r.start, stop: r.stop, thread: t.index });
    this.onCapacity();
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
    this.log.warn(`executor thread ${t.index} exited with code ${code}; starting a new one`);
    this.threads[t.index] = this.spawn(t.index);
    this.onCapacity();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
