/**
 * Stimuli: every event that reaches the scheduler's state machine (a worker
 * finished a task, a client released a key, a steal was confirmed) comes with
 * an id and the time it happened. The id ties each transition in the log to
 * its cause, as Dask's stimulus_id does; the time keeps the state pure: it
 * never reads the clock, so a run can be replayed and tested with fake time.
 */
export interface Stimulus {
  /** Unique per stimulus, e.g. 'task-finished-1234'; recorded with every transition it causes. */
  readonly stimulusId: string;
  /** When the stimulus arrived, in ms since the epoch (the server's clock). */
  readonly now: number;
}

/**
 * Makes stimuli named `${name}-${n}`, n counting up from 1, stamped by
 * `clock` (the wall clock in the server, a fake one in tests).
 */
export function stimulusFactory(clock: () => number = () => Date.now()): (name: string) => Stimulus {
  let n = 0;
  return (name) => ({ stimulusId: `${name}-${++n}`, now: clock() });
}
