/**
 * The body of an executor thread: receives tasks from the worker's main
 * thread, runs the user's function and posts back the serialized result.
 * User code runs only here, never on the main thread, so a long CPU-bound
 * task cannot delay heartbeats or serving data to peers.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { loadFunction } from './function-loader.js';
import { decodeArgs, deserializeValue, serializeValue, valueType } from '../graph/serialize.js';
import { errorToInfo } from '../comm/comm.js';
import type { FunctionSpec } from '../graph/function-spec.js';
import type { SerializedValue } from '../protocol/messages.js';

export interface RunJob {
  type: 'run';
  id: number;
  key: string;
  fn: FunctionSpec;
  args: Uint8Array;
  depKeys: string[];
  depValues: SerializedValue[];
}

export type JobResult =
  | { type: 'done'; id: number; value: SerializedValue; valueType: string; start: number; stop: number }
  | { type: 'error'; id: number; error: ReturnType<typeof errorToInfo>; start: number; stop: number };

const port = parentPort!;
const index = (workerData as { index: number } | undefined)?.index ?? threadId;

/** A standalone copy that can be transferred without dragging a shared pool buffer along. */
function own(f: Uint8Array): Uint8Array {
  if (f.buffer instanceof SharedArrayBuffer) return f;
  return f.byteOffset === 0 && f.byteLength === f.buffer.byteLength ? f : f.slice();
}

async function run(job: RunJob): Promise<void> {
  const start = Date.now();
  try {
    const fn = await loadFunction(job.fn);
    const values = new Map<string, unknown>();
    for (let i = 0; i < job.depKeys.length; i++) values.set(job.depKeys[i]!, deserializeValue(job.depValues[i]!));
    const args = decodeArgs(job.args, values);
    let result: unknown = fn(...args);
    if (result && typeof (result as { then?: unknown }).then === 'function') result = await result;
    const sv = serializeValue(result);
    const frames = sv.frames.map(own);
    const transfer = frames.filter((f) => !(f.buffer instanceof SharedArrayBuffer)).map((f) => f.buffer as ArrayBuffer);
    const msg: JobResult = { type: 'done', id: job.id, value: { kind: sv.kind, frames }, valueType: valueType(result), start, stop: Date.now() };
    port.postMessage(msg, transfer);
  } catch (err) {
    const msg: JobResult = { type: 'error', id: job.id, error: errorToInfo(err), start, stop: Date.now() };
    port.postMessage(msg);
  }
}

// Jobs are run one at a time, in arrival order; the main thread keeps at most
// a couple queued here so the thread never waits for its next task.
let chain: Promise<void> = Promise.resolve();
port.on('message', (job: RunJob) => {
  chain = chain.then(() => run(job));
});

export const executorIndex = index;
