/**
 * The receiving side of TaskRun (protocol/messages.ts): a message's
 * TaskDefs and runs as one list of TaskDefs in the order the client made
 * them, which is what the scheduler's state machine takes.
 */
import type { TaskDef, TaskRun } from './messages.js';

/** The dependencies of a task that has none: one shared (frozen) array; the scheduler only reads them. */
const NO_DEPS = Object.freeze([]) as unknown as string[];

/** Checks what the field checks of validate.ts cannot: the runs' places and byte ranges fit. Returns what is wrong, or null. */
export function checkTaskRuns(runs: readonly TaskRun[], taskDefs: number): string | null {
  let next = 0; // the first place a run may take
  let defsBefore = 0; // TaskDefs placed before the current run
  for (let r = 0; r < runs.length; r++) {
    const run = runs[r]!;
    if (!Number.isInteger(run.at) || run.at < next) return `runs[${r}].at: ${run.at} overlaps what comes before it (from ${next})`;
    defsBefore += run.at - next;
    if (defsBefore > taskDefs) return `runs[${r}].at: ${run.at} leaves a gap: only ${taskDefs} TaskDefs fill the places before it`;
    if (run.ends.length !== run.keys.length) return `runs[${r}]: ${run.keys.length} keys but ${run.ends.length} argument ends`;
    let prev = 0;
    for (let i = 0; i < run.ends.length; i++) {
      const end = run.ends[i]!;
      if (end < prev || end > run.args.byteLength) return `runs[${r}].ends[${i}]: ${end} is outside the arguments (${prev}..${run.args.byteLength})`;
      prev = end;
    }
    next = run.at + run.keys.length;
  }
  return null;
}

/** `tasks` with the runs' tasks in their places (checked by checkTaskRuns). */
export function withRuns(tasks: TaskDef[], runs: readonly TaskRun[] | undefined): TaskDef[] {
  if (!runs || runs.length === 0) return tasks;
  let total = tasks.length;
  for (const run of runs) total += run.keys.length;
  const out = new Array<TaskDef>(total);
  let t = 0;
  let o = 0;
  for (const run of runs) {
    while (o < run.at) out[o++] = tasks[t++]!;
    const { keys, ends, args, fn } = run;
    let start = 0;
    for (let i = 0; i < keys.length; i++) {
      const end = ends[i]!;
      const d: TaskDef = { key: keys[i]!, fn, args: args.subarray(start, end), deps: NO_DEPS };
      if (run.retries) d.retries = run.retries;
      if (run.workers) d.workers = run.workers;
      out[o++] = d;
      start = end;
    }
  }
  while (t < tasks.length) out[o++] = tasks[t++]!;
  return out;
}
