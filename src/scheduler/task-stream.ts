/**
 * The task stream: what every worker thread did and when (computations,
 * transfers, errors), kept for the dashboard's task-stream plot and for
 * performance reports. A bounded buffer read incrementally by cursor, so the
 * dashboard polls only what is new.
 */
import type { StartStop } from '../protocol/messages.js';
import type { TaskStreamEvent } from './snapshot.js';
import type { TaskState, WorkerState } from './entities.js';

export const DEFAULT_TASK_STREAM_CAPACITY = 50_000;

export class TaskStream {
  private readonly events: TaskStreamEvent[] = [];
  private cursor = 0;

  constructor(readonly capacity = DEFAULT_TASK_STREAM_CAPACITY) {}

  /** Records what a worker reported doing for a task (compute and transfer intervals). */
  record(ts: TaskState, ws: WorkerState, startstops: readonly StartStop[], erred: boolean): void {
    for (const ss of startstops) {
      const event: TaskStreamEvent = {
        cursor: ++this.cursor,
        key: ts.key,
        group: ts.group.name,
        worker: ws.address,
        thread: ss.thread ?? 0,
        kind: erred ? 'error' : ss.action,
        start: ss.start,
        stop: ss.stop,
      };
      // Set only when known (no spread of a temporary object per event).
      if (ss.nbytes !== undefined) event.nbytes = ss.nbytes;
      this.events.push(event);
    }
    // Trim in batches (20% over capacity) so the splice is amortised.
    if (this.events.length > this.capacity * 1.2) this.events.splice(0, this.events.length - this.capacity);
  }

  /** Events with cursor > since, oldest first, at most `limit`; `cursor` is where to continue. */
  since(since: number, limit = 5000): { cursor: number; events: TaskStreamEvent[] } {
    const s = this.events;
    // Binary search for the first event after `since`.
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid]!.cursor <= since) lo = mid + 1;
      else hi = mid;
    }
    const events = s.slice(lo, lo + limit);
    return { cursor: events.length ? events[events.length - 1]!.cursor : Math.max(since, 0), events };
  }

  /** The cursor of the newest event (0 before the first). */
  get head(): number {
    return this.cursor;
  }
}
