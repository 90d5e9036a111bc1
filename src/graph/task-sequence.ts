/**
 * The tasks of a submission, in order, as the client holds them until they
 * are sent. A map() over a million plain items would otherwise hold a
 * million TaskDef objects, each with an argument array of its own (~150
 * bytes of heap per task besides the few bytes of arguments), all at once
 * before the first chunk goes out. Here such items are a MapTasks run: one
 * function, the keys, and every item's encoded arguments in one growing
 * buffer. They are never made into TaskDefs: each chunk sent carries
 * them as TaskRuns (protocol/messages.ts), slices of those keys and bytes
 * (see Client.streamGraph), which the scheduler expands.
 */
import type { FunctionSpec, TaskDef, TaskRun } from '../protocol/messages.js';

/** The dependencies of a task that has none: one shared (frozen) array. */
const NO_DEPS = Object.freeze([]) as unknown as string[];

/** Tasks of one function over items whose arguments refer to no other task. */
export class MapTasks {
  readonly keys: string[] = [];
  private bytes = new Uint8Array(4096);
  private used = 0;
  /** Where each task's arguments end in `bytes`. */
  private ends = new Uint32Array(1024);

  constructor(
    readonly fn: FunctionSpec,
    private readonly retries = 0,
    private readonly workers: string[] | null = null,
  ) {}

  get length(): number {
    return this.keys.length;
  }

  /** No retries and no worker restrictions: a plain submit may join it (see TaskSequence.addToRun). */
  get plain(): boolean {
    return this.retries === 0 && this.workers === null;
  }

  /** Adds a task; its arguments, the first `length` bytes of `args`, are copied (it may be an encoder's reusable buffer). */
  add(key: string, args: Uint8Array, length = args.byteLength): void {
    const i = this.keys.length;
    if (this.used + length > this.bytes.byteLength) {
      const grown = new Uint8Array(Math.max(this.bytes.byteLength * 2, this.used + length));
      grown.set(this.bytes.subarray(0, this.used));
      this.bytes = grown;
    }
    if (i === this.ends.length) {
      const grown = new Uint32Array(this.ends.length * 2);
      grown.set(this.ends);
      this.ends = grown;
    }
    if (length <= 16) {
      // Small (a number, a short string): a loop beats set()'s call overhead.
      const b = this.bytes;
      for (let j = 0; j < length; j++) b[this.used + j] = args[j]!;
    } else this.bytes.set(length === args.byteLength ? args : args.subarray(0, length), this.used);
    this.used += length;
    this.ends[i] = this.used;
    this.keys.push(key);
  }

  /**
   * Tasks [from, to) as sent: one TaskRun at place `at` of its message. The
   * arguments are a view of this run's buffer (never written again at that
   * place); the ends are copied, counted from the first task's start.
   */
  run(from: number, to: number, at: number): TaskRun {
    const base = from === 0 ? 0 : this.ends[from - 1]!;
    const ends = this.ends.slice(from, to);
    if (base) for (let i = 0; i < ends.length; i++) ends[i] = ends[i]! - base;
    const r: TaskRun = { at, fn: this.fn, keys: this.keys.slice(from, to), args: this.bytes.subarray(base, to > from ? this.ends[to - 1]! : base), ends };
    if (this.retries) r.retries = this.retries;
    if (this.workers) r.workers = this.workers;
    return r;
  }
}

/** Tasks as one message carries them: TaskDefs, and map() runs in their places among them (see TaskRun). */
export interface TaskSlice {
  tasks: TaskDef[];
  runs: TaskRun[];
  /** Tasks in all: TaskDefs and the runs' tasks. */
  length: number;
}

type Segment = TaskDef[] | MapTasks;

/** TaskDefs and MapTasks runs in submission order, taken (built) from the front chunk by chunk. */
export class TaskSequence {
  private segments: (Segment | null)[] = [];
  private total = 0;
  /** Reading position of takeNext: segment index, and offset in it. */
  private seg = 0;
  private offset = 0;

  static of(defs: TaskDef[]): TaskSequence {
    const s = new TaskSequence();
    s.push(defs);
    return s;
  }

  get length(): number {
    return this.total;
  }

  /** Appends TaskDefs (the array is adopted: the caller does not change it afterwards). */
  push(defs: TaskDef[]): void {
    if (defs.length === 0) return;
    this.segments.push(defs);
    this.total += defs.length;
  }

  /**
   * Adds one task of `fn` whose arguments refer to no task (a plain
   * submit): to the last run when that is of the same function and nothing
   * was taken from this sequence yet, else as a new run. A loop of 10,000
   * submits then goes out as one TaskRun, as a map() does.
   */
  addToRun(fn: FunctionSpec, key: string, args: Uint8Array): void {
    const last = this.segments.length ? this.segments[this.segments.length - 1] : null;
    let run: MapTasks;
    if (last instanceof MapTasks && last.fn === fn && last.plain && this.seg === 0 && this.offset === 0) run = last;
    else this.segments.push((run = new MapTasks(fn)));
    run.add(key, args);
    this.total++;
  }

  pushMap(run: MapTasks): void {
    if (run.length === 0) return;
    this.segments.push(run);
    this.total += run.length;
  }

  /** Appends the tasks of another sequence not yet taken from. */
  append(other: TaskSequence): void {
    for (const s of other.segments) if (s) this.segments.push(s);
    this.total += other.total;
  }

  /** Calls `fn` with each task's key and dependencies, in order (tasks not yet taken). */
  forEach(fn: (key: string, deps: readonly string[], index: number) => void): void {
    let index = 0;
    for (const s of this.segments) {
      if (!s) continue;
      if (s instanceof MapTasks) {
        for (const key of s.keys) fn(key, NO_DEPS, index++);
      } else {
        for (const d of s) fn(d.key, d.deps, index++);
      }
    }
  }

  /**
   * The next `count` tasks (fewer at the end), as a message carries them.
   * What they came from is dropped once wholly taken, so a sent chunk can
   * be collected.
   */
  takeNext(count: number): TaskSlice {
    const tasks: TaskDef[] = [];
    const runs: TaskRun[] = [];
    let length = 0;
    while (length < count && this.seg < this.segments.length) {
      const s = this.segments[this.seg]!;
      const n = Math.min(count - length, s.length - this.offset);
      if (s instanceof MapTasks) {
        runs.push(s.run(this.offset, this.offset + n, length));
      } else {
        for (let i = 0; i < n; i++) {
          tasks.push(s[this.offset + i]!);
          // Let each sent chunk's defs go now, not when the whole (maybe million-task) array is done.
          s[this.offset + i] = undefined as never;
        }
      }
      length += n;
      this.offset += n;
      if (this.offset === s.length) {
        this.segments[this.seg++] = null;
        this.offset = 0;
      }
    }
    return { tasks, runs, length };
  }
}
