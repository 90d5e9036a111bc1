/**
 * Where the scheduler keeps a graph message's argument bytes. Decoded, each
 * task's arguments are a view of the received frame, and a TaskState keeps
 * its arguments for as long as it lives (to send them, and again should a
 * worker die): a few of a chunk's tasks still alive kept the whole frame,
 * keys and field names included (~1.5 MB per 10,000-task chunk of a tree).
 * Copied into one buffer of just the argument bytes per message, the frame
 * is free once the message is handled. A million-task tree reduction kept
 * ~150 bytes per task of frames that way.
 */
import type { TaskDef, TaskRun } from '../protocol/messages.js';

/**
 * Gives a graph message's argument bytes buffers of their own: the TaskDefs'
 * one shared buffer of just their bytes, each run its own copy of its bytes
 * (one copy per run, which protocol/task-runs.ts then cuts per task).
 */
export function detachArgs(defs: TaskDef[], runs: TaskRun[] | undefined): void {
  if (defs.length) compactArgs(defs);
  if (runs) for (const run of runs) run.args = run.args.slice();
}

/** Points each def's `args` at a copy in one buffer of all their bytes (the defs are the caller's, just decoded). */
export function compactArgs(defs: TaskDef[]): void {
  let total = 0;
  for (const d of defs) total += d.args.byteLength;
  const arena = new Uint8Array(total);
  let at = 0;
  for (const d of defs) {
    const n = d.args.byteLength;
    if (n <= 16) {
      // Small (a number, two task references): a loop beats set()'s call overhead.
      const src = d.args;
      for (let i = 0; i < n; i++) arena[at + i] = src[i]!;
    } else arena.set(d.args, at);
    d.args = arena.subarray(at, at + n);
    at += n;
  }
}
