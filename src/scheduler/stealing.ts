/**
 * Work stealing: moving tasks that wait (assigned but not started) on an
 * overloaded worker to an idle one. The policy lives here; the move itself is
 * a pair of transitions in the state (processing>waiting on the victim,
 * waiting>processing on the thief), made only once the victim confirms it
 * had not started the task, so the transition log and validate() see it.
 *
 * The server sends the steal requests and keeps which are in flight.
 */
import { Effects, type SchedulerState } from './state.js';
import type { TaskState, WorkerState } from './entities.js';
import type { Stimulus } from './stimulus.js';

export interface StealPlan {
  ts: TaskState;
  victim: WorkerState;
  thief: WorkerState;
}

/** Inputs a thief would have to fetch beyond this are worth more than the wait (bytes). */
const MAX_STEAL_TRANSFER_BYTES = 10e6;

/**
 * Picks tasks waiting on overloaded workers for idle ones. Returns the steal
 * requests to send; nothing moves until `confirmSteal`. `now` is the server's
 * clock (ms since the epoch).
 */
export function planSteals(state: SchedulerState, now: number, maxPerWorker = 8): StealPlan[] {
  const running = state.runningWorkers();
  const idle = running.filter((ws) => ws.processing.size < ws.nthreads);
  if (idle.length === 0) return [];
  const victims = running
    .filter((ws) => ws.processing.size > ws.nthreads + 1)
    .sort((a, b) => b.processing.size / b.nthreads - a.processing.size / a.nthreads);
  const plans: StealPlan[] = [];
  for (const thief of idle) {
    const victim = victims.find((v) => v.processing.size - v.nthreads > 1);
    if (!victim) break;
    const want = Math.min(maxPerWorker, thief.nthreads * 2, Math.floor((victim.processing.size - victim.nthreads) / 2));
    // Newest assignments first (the end of the processing map): least likely to have started.
    // A task stamped later than `now` (clock steps back) is left alone.
    const candidates = [...victim.processing.keys()].filter((ts) => !ts.workerRestrictions && now - state.assignedAt(ts) >= 0);
    let taken = 0;
    for (let i = candidates.length - 1; i >= 0 && taken < want; i--) {
      const ts = candidates[i]!;
      let bytes = 0;
      for (const d of ts.dependencies) if (!d.whoHas.has(thief)) bytes += Math.max(d.nbytes, 0);
      if (bytes > MAX_STEAL_TRANSFER_BYTES) continue;
      plans.push({ ts, victim, thief });
      taken++;
    }
  }
  return plans;
}

/**
 * The victim answered a steal request. `ok`: it had not started the task and
 * dropped it, so the task moves to the thief (or, if the thief is gone or
 * busy closing, wherever the scheduler would put it now). Not ok, or the task
 * moved on meanwhile (finished, released, the victim died): nothing changes.
 */
export function confirmSteal(state: SchedulerState, key: string, victimAddress: string, thiefAddress: string, ok: boolean, stim: Stimulus): Effects {
  if (!ok) return new Effects();
  return state.taskStolen(key, victimAddress, thiefAddress, stim);
}
