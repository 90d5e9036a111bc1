/**
 * What a transition carries from the stimulus that asked for it. Most
 * transitions need nothing but the task; those that record facts from a
 * worker (a result, an error, scattered data, a confirmed steal) get them as
 * a typed payload. `TransitionPayloads` maps each such transition to its
 * payload; `kind` tells them apart at run time, so a payload sent to the
 * wrong transition is an InvalidTransitionError, not a silent misreading.
 */
import type { ErrorInfo, StartStop } from '../protocol/messages.js';
import type { TaskStateName } from './snapshot.js';
import type { WorkerState } from './entities.js';

/** A worker computed the task. */
export interface TaskFinishedPayload {
  readonly kind: 'task-finished';
  readonly nbytes: number;
  readonly type: string;
  readonly startstops: StartStop[];
}

/** The task's function threw on a worker. */
export interface TaskErredPayload {
  readonly kind: 'task-erred';
  readonly worker: WorkerState;
  readonly exception: ErrorInfo;
  readonly startstops: StartStop[];
}

/** A client placed the task's data on a worker; it has no lineage. */
export interface ScatteredPayload {
  readonly kind: 'scattered';
  readonly worker: WorkerState;
  readonly nbytes: number;
  readonly type: string;
}

/**
 * The task's worker gave it up before starting it; it goes to the thief, or
 * wherever the scheduler chooses when there is none (a retiring worker giving
 * its tasks away) or the thief no longer runs.
 */
export interface StealConfirmedPayload {
  readonly kind: 'steal-confirmed';
  readonly thief: WorkerState | null;
}

export type TransitionPayload = TaskFinishedPayload | TaskErredPayload | ScatteredPayload | StealConfirmedPayload;

/**
 * The transitions that take a payload. released>memory and
 * processing>waiting exist only with one (for scatter and steals);
 * for the others it is optional: processing>erred without one is the
 * scheduler's own verdict (KilledWorker), waiting>processing without one
 * lets the scheduler choose the worker.
 */
export interface TransitionPayloads {
  'released>memory': ScatteredPayload;
  'processing>memory': TaskFinishedPayload;
  'processing>erred': TaskErredPayload;
  'processing>waiting': StealConfirmedPayload;
  'waiting>processing': StealConfirmedPayload;
}

export type TransitionName = `${TaskStateName}>${TaskStateName}`;

/** The payload of one transition (never, for transitions that take none). */
export type PayloadOf<T extends TransitionName> = T extends keyof TransitionPayloads ? TransitionPayloads[T] : never;

/** The payloads a request to reach `finish` may carry, whatever the task's current state. */
export type PayloadInto<F extends TaskStateName> = TransitionPayloads[Extract<keyof TransitionPayloads, `${string}>${F}`>];
