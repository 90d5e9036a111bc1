/**
 * The scheduler's transition log: the last transitions of all tasks, each
 * with the stimulus that caused it, so that an impossible transition (or a
 * puzzled user) can see a key's story: how it got into the state it is in.
 * After Dask's transition_log and story().
 *
 * A ring buffer of fixed capacity stored as parallel arrays: recording a
 * transition, which happens several times per task, allocates nothing.
 */
import type { TaskStateName } from './snapshot.js';

/** One transition as the log tells it. `finish` is the state the task actually reached. */
export interface TransitionRecord {
  key: string;
  start: TaskStateName;
  finish: TaskStateName;
  stimulusId: string;
  /** ms since the epoch, the time of the stimulus. */
  time: number;
}

export const DEFAULT_TRANSITION_LOG_CAPACITY = 100_000;

export class TransitionLog {
  private readonly keys: string[] = [];
  private readonly starts: TaskStateName[] = [];
  private readonly finishes: TaskStateName[] = [];
  private readonly stimulusIds: string[] = [];
  private readonly times: number[] = [];
  /** Where the next record goes once the buffer is full (the oldest entry). */
  private next = 0;
  /** Transitions recorded since the start, including those overwritten. */
  total = 0;

  constructor(readonly capacity = DEFAULT_TRANSITION_LOG_CAPACITY) {
    if (!(capacity >= 1)) throw new RangeError(`transition log capacity must be at least 1, not ${capacity}`);
  }

  record(key: string, start: TaskStateName, finish: TaskStateName, stimulusId: string, time: number): void {
    this.total++;
    if (this.keys.length < this.capacity) {
      this.keys.push(key);
      this.starts.push(start);
      this.finishes.push(finish);
      this.stimulusIds.push(stimulusId);
      this.times.push(time);
      return;
    }
    const i = this.next;
    this.keys[i] = key;
    this.starts[i] = start;
    this.finishes[i] = finish;
    this.stimulusIds[i] = stimulusId;
    this.times[i] = time;
    this.next = i + 1 === this.capacity ? 0 : i + 1;
  }

  /** Entries kept now (at most the capacity). */
  get length(): number {
    return this.keys.length;
  }

  /** The kept entries, oldest first, that pass `keep` (every one without it). */
  entries(keep?: (key: string, stimulusId: string) => boolean): TransitionRecord[] {
    const out: TransitionRecord[] = [];
    const n = this.keys.length;
    for (let j = 0; j < n; j++) {
      const i = n < this.capacity ? j : (this.next + j) % n;
      const key = this.keys[i]!;
      const stimulusId = this.stimulusIds[i]!;
      if (keep && !keep(key, stimulusId)) continue;
      out.push({ key, start: this.starts[i]!, finish: this.finishes[i]!, stimulusId, time: this.times[i]! });
    }
    return out;
  }

  /**
   * The story of keys or stimuli: every kept transition of one of the keys,
   * or caused by one of the stimulus ids, oldest first.
   */
  story(...keysOrStimulusIds: string[]): TransitionRecord[] {
    const wanted = new Set(keysOrStimulusIds);
    return this.entries((key, stimulusId) => wanted.has(key) || wanted.has(stimulusId));
  }
}

/** A story as lines of text for error messages, the last `limit` transitions. */
export function formatStory(story: readonly TransitionRecord[], limit = 20): string {
  if (story.length === 0) return '  (no transitions of it in the log)';
  const shown = story.slice(-limit);
  const lines = shown.map((r) => `  ${r.key}: ${r.start} > ${r.finish}  (stimulus ${r.stimulusId} at ${formatTime(r.time)})`);
  if (shown.length < story.length) lines.unshift(`  ... ${story.length - shown.length} earlier transitions`);
  return lines.join('\n');
}

function formatTime(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms);
}
