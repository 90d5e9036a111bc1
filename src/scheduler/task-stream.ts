/**
 * The task stream: what every worker thread did and when (computations,
 * transfers, errors), kept for the dashboard's task-stream plot and for
 * performance reports. A bounded buffer read incrementally by cursor, so the
 * dashboard polls only what is new.
 *
 * A ring buffer of fixed capacity stored as parallel arrays, like the
 * transition log: recording, once or more per task, allocates nothing, and
 * no event object lives long enough to be promoted and collected later. The
 * event objects are built when the dashboard reads them.
 */
import type { StartStop } from '../protocol/messages.js';
import type { TaskStreamEvent } from './snapshot.js';
import type { TaskState, WorkerState } from './entities.js';

export const DEFAULT_TASK_STREAM_CAPACITY = 50_000;

export class TaskStream {
  private readonly keys: string[] = [];
  private readonly groups: string[] = [];
  private readonly workers: string[] = [];
  private readonly kinds: TaskStreamEvent['kind'][] = [];
  private readonly threads: Float64Array;
  private readonly starts: Float64Array;
  private readonly stops: Float64Array;
  /** NaN where the interval reported no size (computations). */
  private readonly sizes: Float64Array;
  /** Cursor of the newest event; event c sits in slot (c - 1) % capacity. */
  private cursor = 0;

  constructor(readonly capacity = DEFAULT_TASK_STREAM_CAPACITY) {
    if (!(capacity >= 1)) throw new RangeError(`task stream capacity must be at least 1, not ${capacity}`);
    this.threads = new Float64Array(capacity);
    this.starts = new Float64Array(capacity);
    this.stops = new Float64Array(capacity);
    this.sizes = new Float64Array(capacity);
  }

  /** Records what a worker reported doing for a task (compute and transfer intervals). */
  record(ts: TaskState, ws: WorkerState, startstops: readonly StartStop[], erred: boolean): void {
    for (const ss of startstops) {
      const i = this.cursor++ % this.capacity;
      this.keys[i] = ts.key;
      this.groups[i] = ts.group.name;
      this.workers[i] = ws.address;
      this.kinds[i] = erred ? 'error' : ss.action;
      this.threads[i] = ss.thread ?? 0;
      this.starts[i] = ss.start;
      this.stops[i] = ss.stop;
      this.sizes[i] = ss.nbytes ?? NaN;
    }
  }

  /** Events with cursor > since, oldest first, at most `limit`; `cursor` is where to continue. */
  since(since: number, limit = 5000): { cursor: number; events: TaskStreamEvent[] } {
    const oldest = Math.max(1, this.cursor - this.capacity + 1);
    const first = Math.max(oldest, Math.floor(since) + 1);
    const last = Math.min(this.cursor, first + Math.max(0, Math.floor(limit)) - 1);
    const events: TaskStreamEvent[] = [];
    for (let c = first; c <= last; c++) events.push(this.event(c));
    return { cursor: events.length ? last : Math.max(since, 0), events };
  }

  /** The cursor of the newest event (0 before the first). */
  get head(): number {
    return this.cursor;
  }

  private event(cursor: number): TaskStreamEvent {
    const i = (cursor - 1) % this.capacity;
    const e: TaskStreamEvent = {
      cursor,
      key: this.keys[i]!,
      group: this.groups[i]!,
      worker: this.workers[i]!,
      thread: this.threads[i]!,
      kind: this.kinds[i]!,
      start: this.starts[i]!,
      stop: this.stops[i]!,
    };
    if (!Number.isNaN(this.sizes[i])) e.nbytes = this.sizes[i]!;
    return e;
  }
}
