/**
 * The scheduler's side of the P2P shuffle (after Dask's shuffle scheduler
 * plugin). A shuffle is three kinds of tasks, named by graph/shuffle-keys.ts:
 * N transfers, one barrier, M unpacks. The scheduler runs them like any
 * tasks; this extension adds what only it can decide:
 *
 * - Ownership. The first transfer of a run asks (`shuffle-get`); the
 *   extension then assigns output partition j to a worker, round-robin over
 *   the workers running at that moment, and pins unpack task j there with a
 *   worker restriction. Every later transfer of the run gets the same
 *   answer, so every shard of output j goes to one worker and the unpack
 *   reads it locally.
 * - Runs. A run is tied to the barrier task it was made for: the same graph
 *   submitted again (same keys, new tasks) gets a new run and a fresh
 *   assignment.
 * - Restarts. When a worker that owns outputs of an unfinished run is lost,
 *   its shards are gone: the run is dropped, workers are told to forget its
 *   shards, and the barrier, every transfer and the unpacks already done are
 *   run again (SchedulerState.rerun). The next transfer to ask starts a run
 *   with a higher id over the workers left; shards of older runs are refused
 *   by receivers. Dask restarts a shuffle the same way.
 *
 * It reads and changes the state only through its public members, and
 * returns Effects for the server to send, as the state's stimuli do.
 */
import { shuffleKey } from '../graph/shuffle-keys.js';
import type { TaskState } from './entities.js';
import { Effects, type SchedulerState } from './state.js';
import type { Stimulus } from './stimulus.js';

interface ShuffleRun {
  readonly id: string;
  readonly runId: number;
  /** owners[j]: the address of the worker that receives output j's shards and runs its unpack. */
  readonly owners: readonly string[];
  /** The barrier task this run is for: a resubmitted graph has a new one, and gets a new run. */
  readonly barrier: TaskState;
}

export class ShuffleExtension {
  private readonly runs = new Map<string, ShuffleRun>();
  /** The last run id given out per shuffle: ids only grow, also across restarts and resubmissions. */
  private readonly lastRunId = new Map<string, number>();

  constructor(private readonly state: SchedulerState) {}

  /** The shuffle's current run, started now (with its owners assigned and its unpacks pinned) if there is none. */
  get(id: string, outputs: number): { runId: number; owners: readonly string[] } {
    const barrier = this.state.tasks.get(shuffleKey('barrier', id));
    if (!barrier) throw new Error(`shuffle ${id} has no barrier task on the scheduler (was its graph released while it ran?)`);
    let run = this.runs.get(id);
    if (run && run.barrier === barrier && run.owners.length === outputs) return run;
    const workers = [...this.state.workers.values()].filter((ws) => ws.status === 'running' || ws.status === 'paused').map((ws) => ws.address).sort();
    if (workers.length === 0) throw new Error(`shuffle ${id}: no running worker to own its outputs`);
    const runId = (this.lastRunId.get(id) ?? 0) + 1;
    this.lastRunId.set(id, runId);
    const owners = Array.from({ length: outputs }, (_, j) => workers[j % workers.length]!);
    run = { id, runId, owners, barrier };
    this.runs.set(id, run);
    for (let j = 0; j < outputs; j++) {
      const unpack = this.state.tasks.get(shuffleKey('unpack', id, j));
      if (!unpack) continue;
      unpack.workerRestrictions = new Set([owners[j]!]);
      unpack.looseRestrictions = false;
    }
    return run;
  }

  /** Shuffles with a run in progress (for tests and the dashboard). */
  active(): { id: string; runId: number; owners: readonly string[] }[] {
    return [...this.runs.values()].map(({ id, runId, owners }) => ({ id, runId, owners }));
  }

  /**
   * A worker left or died (after the state removed it): restart every run
   * that has outputs on it and is not finished. A finished run (all its
   * unpacks in memory, or its tasks gone) is dropped.
   */
  workerRemoved(address: string, stim: Stimulus): Effects {
    const eff = new Effects();
    for (const run of [...this.runs.values()]) {
      const barrier = this.state.tasks.get(shuffleKey('barrier', run.id));
      if (barrier !== run.barrier) {
        this.runs.delete(run.id);
        continue;
      }
      if (!run.owners.includes(address)) continue;
      const unpacks = run.owners.map((_, j) => this.state.tasks.get(shuffleKey('unpack', run.id, j)));
      if (unpacks.every((ts) => !ts || ts.state === 'memory')) {
        this.runs.delete(run.id);
        continue;
      }
      this.runs.delete(run.id);
      // Receivers refuse shards of runs below this one; the next get() gives out a higher id still.
      for (const ws of this.state.workers.values()) eff.worker(ws, { op: 'shuffle-forget', id: run.id, runId: run.runId + 1 });
      const keys = [barrier.key, ...[...barrier.dependencies].map((ts) => ts.key), ...unpacks.filter((ts) => ts?.state === 'memory').map((ts) => ts!.key)];
      merge(eff, this.state.rerun(keys, stim));
    }
    return eff;
  }
}

function merge(into: Effects, from: Effects): void {
  for (const [ws, msgs] of from.toWorkers) for (const m of msgs) into.worker(ws, m);
  for (const [cs, msgs] of from.toClients) for (const m of msgs) into.client(cs, m);
}
