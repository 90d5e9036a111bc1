/**
 * Stimuli of the worker's state machine (src/worker/state.ts): what the
 * scheduler asked, what a peer sent back, what an executor thread reported,
 * what the runner decided about memory. Each carries everything the state
 * needs, times included, so handling one is pure.
 */
import type { ErrorInfo, Replica, SchedulerToWorkerMsg, SerializedValue } from '../protocol/messages.js';

/** The scheduler assigns a task to this worker: the compute-task message itself. */
export type ComputeTaskEvent = Extract<SchedulerToWorkerMsg, { op: 'compute-task' }>;

/** The scheduler no longer wants these keys here: their work is cancelled and their data dropped. */
export interface FreeKeysEvent {
  op: 'free-keys';
  keys: string[];
}

/** The scheduler would move a task elsewhere: give it up unless it started. */
export interface StealRequestEvent {
  op: 'steal-request';
  key: string;
}

/** The scheduler asks for copies of data held by others (a retiring worker hands off its data). */
export interface AcquireReplicasEvent {
  op: 'acquire-replicas';
  keys: Replica[];
}

/** The scheduler places data here (scatter). */
export interface UpdateDataEvent {
  op: 'update-data';
  items: { key: string; value: SerializedValue }[];
}

/** Time to send the fetches asked for since the last one (see the GatherLater instruction). */
export interface GatherEvent {
  op: 'gather';
}

/** A peer answered a get-data request; keys it did not send it no longer holds. */
export interface GatherDepSuccessEvent {
  op: 'gather-dep-success';
  gatherId: number;
  peer: string;
  keys: string[];
  data: Record<string, SerializedValue>;
  start: number;
  stop: number;
}

/** A get-data request failed (the peer is gone or the connection broke): none of its keys came. */
export interface GatherDepFailureEvent {
  op: 'gather-dep-failure';
  gatherId: number;
  peer: string;
  keys: string[];
}

export interface ExecuteSuccessEvent {
  op: 'execute-success';
  key: string;
  runId: number;
  value: SerializedValue;
  valueType: string;
  start: number;
  stop: number;
  thread: number;
}

/** The task threw, its thread died, or its job was cancelled by the pool. */
export interface ExecuteFailureEvent {
  op: 'execute-failure';
  key: string;
  runId: number;
  error: ErrorInfo;
  start: number;
  stop: number;
  thread: number;
}

/** The run was cancelled while its inputs were read from disk: it never reached a thread. */
export interface ExecuteCancelledEvent {
  op: 'execute-cancelled';
  key: string;
  runId: number;
}

/** An input was freed while the run's inputs were read from disk. */
export interface ExecuteInputMissingEvent {
  op: 'execute-input-missing';
  key: string;
  runId: number;
  dep: string;
}

/** How many more jobs the executor pool accepts right now. */
export interface ExecutorCapacityEvent {
  op: 'executor-capacity';
  free: number;
}

/** Memory is above the pause threshold: start no new tasks (fetches and running tasks go on). */
export interface PauseEvent {
  op: 'pause';
}

export interface UnpauseEvent {
  op: 'unpause';
}

/** Forget every task and all data: client.restart() in place, or the scheduler was lost. */
export interface ResetEvent {
  op: 'reset';
}

export type WorkerEvent =
  | ComputeTaskEvent
  | FreeKeysEvent
  | StealRequestEvent
  | AcquireReplicasEvent
  | UpdateDataEvent
  | GatherEvent
  | GatherDepSuccessEvent
  | GatherDepFailureEvent
  | ExecuteSuccessEvent
  | ExecuteFailureEvent
  | ExecuteCancelledEvent
  | ExecuteInputMissingEvent
  | ExecutorCapacityEvent
  | PauseEvent
  | UnpauseEvent
  | ResetEvent;
