/**
 * The recommendations of one stimulus: which state each task should move to
 * next, in the order they were made, as Dask's transitions pass them on.
 *
 * It behaves as a Map from task to state that is read while it grows: a
 * task recommended again while it waits for its turn keeps its place with
 * the new target; a task recommended after its turn came goes to the end.
 * But a Map here cost an allocation per task: V8 shrinks a Map's table
 * when deletions empty it, and a cleared Map gets a new table, and a
 * cascade of a finished task fills and empties one every time. So the
 * queue is two arrays that are reused from stimulus to stimulus, and each
 * task records its own place in them (`TaskState.recSlot`). There is one
 * per scheduler state, which handles one stimulus at a time.
 */
import type { TaskState } from './entities.js';
import type { TaskStateName } from './snapshot.js';

/** Above this many entries the arrays are dropped between stimuli rather than kept. */
const KEEP_CAPACITY = 1 << 16;

export class Recommendations {
  /** Emptied (null) once handed out or withdrawn, so the queue never keeps a forgotten task alive. */
  private tasks: (TaskState | null)[] = [];
  private targets: TaskStateName[] = [];
  /** Entries in use: tasks[0..count). */
  private count = 0;
  /** The next entry to hand out: entries before it were taken. */
  private head = 0;

  /** Empties the queue for a new stimulus (also after one that threw midway). */
  reset(): this {
    if (this.tasks.length > KEEP_CAPACITY) {
      this.tasks = [];
      this.targets = [];
    } else {
      for (let i = this.head; i < this.count; i++) this.tasks[i] = null; // left by a stimulus that threw
    }
    this.count = 0;
    this.head = 0;
    return this;
  }

  /** Recommends `target` for `ts`: in its waiting place if it has one, else at the end. */
  set(ts: TaskState, target: TaskStateName): void {
    if (this.holds(ts)) {
      this.targets[ts.recSlot] = target;
      return;
    }
    const i = this.count++;
    this.tasks[i] = ts;
    this.targets[i] = target;
    ts.recSlot = i;
  }

  /** The target waiting for `ts`, if any. */
  get(ts: TaskState): TaskStateName | undefined {
    return this.holds(ts) ? this.targets[ts.recSlot] : undefined;
  }

  /** Withdraws the recommendation waiting for `ts`; returns its place (for `restore`), or -1 when there was none. */
  take(ts: TaskState): number {
    if (!this.holds(ts)) return -1;
    const slot = ts.recSlot;
    ts.recSlot = -1;
    return slot; // the entry stays until handed out: restore may put it back
  }

  /** Puts back a recommendation withdrawn by `take`, in its place with its target; nothing was handed out since. */
  restore(ts: TaskState, slot: number): void {
    if (slot < this.head || slot >= this.count || this.tasks[slot] !== ts) return;
    ts.recSlot = slot;
  }

  /** Hands out the next waiting task (its target in `nextTarget`), or null when none is left. */
  next(): TaskState | null {
    while (this.head < this.count) {
      const i = this.head++;
      const ts = this.tasks[i]!;
      this.tasks[i] = null;
      if (ts.recSlot !== i) continue; // withdrawn (take)
      ts.recSlot = -1;
      this.nextTarget = this.targets[i]!;
      return ts;
    }
    return null;
  }

  /** The target of the task `next` returned last. */
  nextTarget: TaskStateName = 'released';

  private holds(ts: TaskState): boolean {
    const i = ts.recSlot;
    return i >= this.head && i < this.count && this.tasks[i] === ts;
  }
}
