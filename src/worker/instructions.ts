/**
 * What the worker's state machine (src/worker/state.ts) asks its runner
 * (src/worker/server.ts) to do: the only way state changes reach sockets,
 * executor threads and the data store.
 */
import type { FunctionSpec, SendOf, SerializedValue, WorkerToScheduler } from '../protocol/messages.js';

/** Run a task on an executor thread, with the values of `depKeys` from the store; report an execute-* event with `runId`. */
export interface Execute {
  op: 'execute';
  key: string;
  runId: number;
  fn: FunctionSpec;
  args: Uint8Array;
  depKeys: string[];
}

/**
 * A running (or starting) task was freed: drop its job, ending and
 * replacing its thread if it already started. The pool settles the job,
 * which comes back as an execute-* event for `runId`.
 */
export interface CancelExecution {
  op: 'cancel-execution';
  key: string;
  runId: number;
}

/** Ask `peer` for `keys` (one get-data request); report a gather-dep-* event with `gatherId`. */
export interface GatherDep {
  op: 'gather-dep';
  gatherId: number;
  peer: string;
  keys: string[];
}

/**
 * Deliver a gather event at the end of this event-loop turn: the fetches
 * asked for by a burst of messages then go out as one request per peer.
 */
export interface GatherLater {
  op: 'gather-later';
}

export interface StoreData {
  op: 'store-data';
  key: string;
  value: SerializedValue;
}

export interface DeleteData {
  op: 'delete-data';
  keys: string[];
}

/**
 * A message to the scheduler: task-finished, task-erred, missing-data,
 * steal-response, add-keys.
 */
export interface SendMessage {
  op: 'send';
  msg: SendOf<WorkerToScheduler>;
}

export type Instruction = Execute | CancelExecution | GatherDep | GatherLater | StoreData | DeleteData | SendMessage;
