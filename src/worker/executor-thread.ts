/**
 * The body of an executor thread: receives batches of tasks from the
 * worker's main thread, runs the user's functions one after another and
 * posts back serialized results. User code runs only here, never on the main
 * thread, so a long CPU-bound task cannot delay heartbeats or serving data
 * to peers.
 *
 * Messages are batched both ways because a postMessage costs tens of
 * microseconds: more than a trivial task itself. Results of quick tasks are
 * held until the batch ends or a millisecond has passed; a slow task's result
 * goes out at once.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { cachedFunction, loadFunction } from '../graph/function-loader.js';
import { decodeArgs, deserializeValue, serializeValue, valueType } from '../graph/serialize.js';
import { errorToInfo } from '../comm/comm.js';
import type { FunctionSpec } from '../protocol/messages.js';
import type { AnyFunction } from '../graph/function-spec.js';
import { decodeJobs, encodeResults, type JobBatch, type JobResult, type ReceivedJob } from './executor-batch.js';

/** What the pool gives each thread (see executor.ts). */
export interface ExecutorThreadData {
  index: number;
  /**
   * Slot 0: the id of the job this thread is running, 0 between jobs; read
   * by the pool to decide whether cancelling a job means ending this thread.
   * Slot 1: how many cancellations the pool has posted to `control`, so the
   * thread reads the port only when there is something new on it.
   */
  running: Int32Array;
  /** Ids of jobs cancelled before they started: drained synchronously before each job. */
  control: MessagePort;
}

const port = parentPort!;
const data = workerData as ExecutorThreadData | undefined;
export const executorIndex = data?.index ?? 0;
const running = data?.running ?? new Int32Array(2);
const control = data?.control;
const cancelled = new Set<number>();
let cancellationsSeen = 0;

/**
 * Whether the pool cancelled `id` before it started. The running slot is
 * written before the control port is read, and the pool posts a
 * cancellation before it reads the slot: so either this check sees the
 * cancellation, or the pool sees the job running and ends the thread.
 */
function wasCancelled(id: number): boolean {
  const posted = Atomics.load(running, 1);
  if (posted === cancellationsSeen && cancelled.size === 0) return false;
  cancellationsSeen = posted;
  if (control) for (let m = receiveMessageOnPort(control); m; m = receiveMessageOnPort(control)) for (const c of m.message as number[]) cancelled.add(c);
  return cancelled.delete(id);
}

/** The function specs the pool has numbered for this thread (see FunctionNumbers). */
const specs = new Map<number, FunctionSpec>();
/** The functions of those numbers once loaded: saves building the loader's key string per task. */
const functions = new Map<number, AnyFunction>();

async function functionOf(fnId: number): Promise<AnyFunction> {
  const known = functions.get(fnId);
  if (known !== undefined) return known;
  const spec = specs.get(fnId);
  if (spec === undefined) throw new Error(`internal: executor thread ${executorIndex} was never sent function ${fnId}`);
  const fn = cachedFunction(spec) ?? (await loadFunction(spec));
  functions.set(fnId, fn);
  return fn;
}

const FLUSH_MS = 1;
let outbox: JobResult[] = [];
let lastFlush = performance.now();

function flush(): void {
  if (outbox.length === 0) return;
  // Encoding copies the result frames (or takes large ones whole), so msgpack's reused buffer is free again.
  const { batch, transfer } = encodeResults(outbox);
  port.postMessage(batch, transfer);
  outbox = [];
  lastFlush = performance.now();
}

async function run(job: ReceivedJob): Promise<void> {
  const start = Date.now();
  Atomics.store(running, 0, job.id);
  if (wasCancelled(job.id)) {
    Atomics.store(running, 0, 0);
    // Answered so the pool counts the slot free; the pool no longer waits for its outcome.
    outbox.push({ type: 'error', id: job.id, error: { name: 'CancelledError', message: `${job.key} was cancelled`, stack: '' }, start, stop: start });
    return;
  }
  try {
    const fn = functions.get(job.fnId) ?? (await functionOf(job.fnId));
    const values = new Map<string, unknown>();
    for (let i = 0; i < job.depKeys.length; i++) values.set(job.depKeys[i]!, deserializeValue(job.depValues[i]!));
    // A promise only when a function passed as an argument is not loaded yet.
    let args = decodeArgs(job.args, values);
    if (!Array.isArray(args)) args = await args;
    let result: unknown = fn(...args);
    if (result && typeof (result as { then?: unknown }).then === 'function') result = await result;
    // msgpackr packs each value after the previous one in its buffer, or into a fresh buffer, never over
    // an earlier one: the frame stays valid until flush() copies it into the batch.
    outbox.push({ type: 'done', id: job.id, value: serializeValue(result), valueType: valueType(result), start, stop: Date.now() });
  } catch (err) {
    outbox.push({ type: 'error', id: job.id, error: errorToInfo(err), start, stop: Date.now() });
  }
  Atomics.store(running, 0, 0);
  if (performance.now() - lastFlush >= FLUSH_MS) flush();
}

// Batches run in arrival order, one job at a time.
let chain: Promise<void> = Promise.resolve();
port.on('message', (batch: JobBatch) => {
  if (batch.reset) {
    specs.clear();
    functions.clear();
  }
  for (const [id, spec] of batch.fns) specs.set(id, spec);
  const jobs = decodeJobs(batch);
  chain = chain.then(async () => {
    for (const job of jobs) await run(job);
    flush();
  });
});
