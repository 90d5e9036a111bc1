/**
 * Graceful retirement of workers (lifetime, walltime, scale-down): a retiring
 * worker takes no new work, gives away its unstarted tasks through the steal
 * protocol, and leaves once every key only it holds has a copy elsewhere. The
 * server drives the messages; this module decides what has to move.
 */
import type { SchedulerState } from './state.js';
import type { WorkerState } from './entities.js';

export interface HandoffMove {
  key: string;
  nbytes: number;
  to: WorkerState;
}

/**
 * Marks the worker closing (no new tasks go to a worker that is not
 * running) and returns the keys to ask it to give up: its assigned tasks
 * that are not restricted to it.
 */
export function retireWorker(state: SchedulerState, address: string): string[] {
  const ws = state.workers.get(address);
  if (!ws || ws.status === 'removed') return [];
  // A worker status, not a task state: no transition is involved.
  ws.status = 'closing';
  return [...ws.processing.keys()].filter((ts) => !ts.workerRestrictions).map((ts) => ts.key);
}

/**
 * What a retiring worker still has to do before it may leave: the keys only
 * it holds, each with a running worker to copy it to (spread over the
 * workers holding least data). `done` once nothing is processing there and
 * nothing is unique to it (or no other worker could take the data).
 */
export function handoffPlan(state: SchedulerState, address: string): { done: boolean; moves: HandoffMove[] } {
  const ws = state.workers.get(address);
  if (!ws) return { done: true, moves: [] };
  if (ws.processing.size > 0) return { done: false, moves: [] };
  const targets = state.runningWorkers().sort((a, b) => a.nbytes - b.nbytes);
  const unique = [...ws.hasWhat].filter((ts) => ts.whoHas.size === 1);
  if (unique.length === 0 || targets.length === 0) return { done: true, moves: [] };
  const moves = unique.map((ts, i) => ({ key: ts.key, nbytes: ts.nbytes, to: targets[i % targets.length]! }));
  return { done: false, moves };
}
