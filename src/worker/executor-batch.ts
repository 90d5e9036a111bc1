/**
 * The wire form of job and result batches between a worker's main thread and
 * its executor threads (executor.ts, executor-thread.ts).
 *
 * postMessage's structured clone is costly per object and, above all, per
 * typed array: each one gets an ArrayBuffer of its own on the other side. A
 * job as plain objects (its function spec, key, argument bytes, one typed
 * array per dependency frame) cost ~10 us to post, more than a trivial task
 * takes to run. So a batch travels as one transferred byte buffer holding
 * every small payload back to back, one transferred Int32Array/Float64Array
 * of numbers saying where each piece is, and an array of strings. Frames in
 * shared memory (large values, see shared-memory.ts) pass by reference in a
 * side array, as before, so large inputs are still never copied; a large
 * result frame is transferred whole rather than copied into the batch.
 *
 * A function spec crosses once per thread: the pool numbers the specs it has
 * sent to a thread and jobs name their function by that number.
 */
import type { ErrorInfo, FunctionSpec, SerializedValue } from '../protocol/messages.js';

/** A job as the pool holds it (and re-posts it to a replacement thread). */
export interface RunJob {
  id: number;
  key: string;
  fn: FunctionSpec;
  args: Uint8Array;
  depKeys: string[];
  depValues: SerializedValue[];
}

/** A job as the executor thread reads it: its function by number, its bytes views into the batch. */
export interface ReceivedJob {
  id: number;
  key: string;
  fnId: number;
  args: Uint8Array;
  depKeys: string[];
  depValues: SerializedValue[];
}

export type JobResult =
  | { type: 'done'; id: number; value: SerializedValue; valueType: string; start: number; stop: number }
  | { type: 'error'; id: number; error: ErrorInfo; start: number; stop: number };

/** Main thread to executor thread. */
export interface JobBatch {
  /** The thread forgets every spec numbered before this batch (the pool renumbers once too many distinct ones were sent). */
  reset: boolean;
  /** Specs this thread has not been sent before, with the numbers jobs use for them. */
  fns: Array<[number, FunctionSpec]>;
  /** Per job: id, fnId, args offset, args length, dependency count, then per dependency: kind, frame count, per frame its place (see FRAME_PLACE) and length. */
  meta: Int32Array;
  bytes: Uint8Array;
  /** Per job: its key, then its dependencies' keys. */
  strings: string[];
  /** Frames passed by reference (shared memory). */
  side: Uint8Array[];
}

/** Executor thread to main thread. */
export interface ResultBatch {
  /** Per result: id, 0 (done) or 1 (error), start, stop; a done one then: kind, frame count, per frame its place and length. */
  meta: Float64Array;
  bytes: Uint8Array;
  /** Per done result: its valueType. */
  strings: string[];
  /** Per error result: its error. */
  errors: ErrorInfo[];
  /** Frames in shared memory, or large ones transferred whole. */
  side: Uint8Array[];
}

/**
 * A frame's place in `meta`: an offset into `bytes` when >= 0, else
 * -1 - (its index in `side`).
 */
const KIND_BYTES = 0;
const KIND_MSGPACK = 1;

/**
 * Result frames at least this large are transferred as they are instead of
 * being copied into the batch (and out again on the main thread).
 */
const INLINE_RESULT_BELOW = 64 * 1024;

function kindCode(kind: SerializedValue['kind']): number {
  return kind === 'bytes' ? KIND_BYTES : KIND_MSGPACK;
}

function kindOf(code: number): SerializedValue['kind'] {
  return code === KIND_BYTES ? 'bytes' : 'msgpack';
}

function isShared(f: Uint8Array): boolean {
  return f.buffer instanceof SharedArrayBuffer;
}

/**
 * Distinct specs numbered before the numbering starts over: a client that
 * makes a fresh function per task would otherwise grow both sides' tables
 * without bound.
 */
const MAX_NUMBERED = 4096;

/**
 * Buffers up to this size may be shared by the small values cut from them
 * (see decodeResults and DataStore.put): what one value can keep alive
 * beyond its own bytes.
 */
export const SHAREABLE_BUFFER_BYTES = 512;

/** Whether a view of `len` bytes into a buffer of `bufferLen` may be kept instead of copied. */
export function keepsView(len: number, bufferLen: number): boolean {
  return bufferLen <= SHAREABLE_BUFFER_BYTES || len * 2 >= bufferLen;
}

/** Numbers each distinct function spec for one thread; knows which it has sent. */
export class FunctionNumbers {
  /** Specs arrive as fresh objects per task (decoded per message): looked up by content too, without building a key string. */
  private readonly modules = new Map<string, Map<string, number>>();
  private readonly inline = new Map<string, Map<string, number>>();
  /** The last spec numbered: tasks of one function often share one spec object. */
  private lastSpec: FunctionSpec | null = null;
  private lastId = 0;
  private next = 1;

  /** Called before each batch: whether the numbering starts over (the thread must forget its specs). */
  startBatch(): boolean {
    if (this.next <= MAX_NUMBERED) return false;
    this.lastSpec = null;
    this.modules.clear();
    this.inline.clear();
    this.next = 1;
    return true;
  }

  /** The spec's number; `fresh` receives it when this is the first time. */
  number(spec: FunctionSpec, fresh: Array<[number, FunctionSpec]>): number {
    if (spec === this.lastSpec) return this.lastId;
    const module = spec.kind === 'module';
    const outer = module ? this.modules : this.inline;
    const a = module ? spec.url : spec.source;
    const b = module ? spec.export : spec.name;
    let inner = outer.get(a);
    if (inner === undefined) outer.set(a, (inner = new Map()));
    let id = inner.get(b);
    if (id === undefined) {
      id = this.next++;
      inner.set(b, id);
      fresh.push([id, spec]);
    }
    this.lastSpec = spec;
    this.lastId = id;
    return id;
  }
}

/** Encodes jobs for one thread; `numbers` is that thread's (a new thread starts a new one). */
export function encodeJobs(jobs: readonly RunJob[], numbers: FunctionNumbers): { batch: JobBatch; transfer: ArrayBuffer[] } {
  let metaLen = 0;
  let byteLen = 0;
  let nStrings = 0;
  for (const j of jobs) {
    metaLen += 5;
    byteLen += j.args.byteLength;
    nStrings += 1 + j.depKeys.length;
    for (const v of j.depValues) {
      metaLen += 2 + 2 * v.frames.length;
      for (const f of v.frames) if (!isShared(f)) byteLen += f.byteLength;
    }
  }
  const meta = new Int32Array(metaLen);
  const bytes = new Uint8Array(byteLen);
  const strings = new Array<string>(nStrings);
  const side: Uint8Array[] = [];
  const fns: Array<[number, FunctionSpec]> = [];
  const reset = numbers.startBatch();
  let m = 0;
  let b = 0;
  let s = 0;
  for (const j of jobs) {
    meta[m++] = j.id;
    meta[m++] = numbers.number(j.fn, fns);
    meta[m++] = b;
    meta[m++] = j.args.byteLength;
    meta[m++] = j.depKeys.length;
    bytes.set(j.args, b);
    b += j.args.byteLength;
    strings[s++] = j.key;
    for (let d = 0; d < j.depKeys.length; d++) {
      strings[s++] = j.depKeys[d]!;
      const v = j.depValues[d]!;
      meta[m++] = kindCode(v.kind);
      meta[m++] = v.frames.length;
      for (const f of v.frames) {
        if (isShared(f)) {
          meta[m++] = -1 - side.length;
          side.push(f);
        } else {
          meta[m++] = b;
          bytes.set(f, b);
          b += f.byteLength;
        }
        meta[m++] = f.byteLength;
      }
    }
  }
  return { batch: { reset, fns, meta, bytes, strings, side }, transfer: [meta.buffer, bytes.buffer] };
}

/** Reads a job batch; the jobs' bytes are views into the batch. */
export function decodeJobs(batch: JobBatch): ReceivedJob[] {
  const { meta, bytes, strings, side } = batch;
  const jobs: ReceivedJob[] = [];
  let m = 0;
  let s = 0;
  while (m < meta.length) {
    const id = meta[m++]!;
    const fnId = meta[m++]!;
    const argsAt = meta[m++]!;
    const argsLen = meta[m++]!;
    const nDeps = meta[m++]!;
    const key = strings[s++]!;
    const depKeys = new Array<string>(nDeps);
    const depValues = new Array<SerializedValue>(nDeps);
    for (let d = 0; d < nDeps; d++) {
      depKeys[d] = strings[s++]!;
      const kind = kindOf(meta[m++]!);
      const nFrames = meta[m++]!;
      const frames = new Array<Uint8Array>(nFrames);
      for (let f = 0; f < nFrames; f++) {
        const place = meta[m++]!;
        const len = meta[m++]!;
        frames[f] = place >= 0 ? bytes.subarray(place, place + len) : side[-1 - place]!;
      }
      depValues[d] = { kind, frames };
    }
    jobs.push({ id, key, fnId, args: bytes.subarray(argsAt, argsAt + argsLen), depKeys, depValues });
  }
  return jobs;
}

/** Whether a result frame is copied into the batch (else passed in the side array). */
function inlined(f: Uint8Array): boolean {
  return !isShared(f) && f.byteLength < INLINE_RESULT_BELOW;
}

/**
 * Encodes results. A large frame that is a view into a bigger buffer (a
 * pool, a reused encoder buffer) is copied first so that transferring it
 * does not move, or detach, the rest of that buffer.
 */
export function encodeResults(results: readonly JobResult[]): { batch: ResultBatch; transfer: ArrayBuffer[] } {
  let metaLen = 0;
  let byteLen = 0;
  for (const r of results) {
    metaLen += 4;
    if (r.type !== 'done') continue;
    metaLen += 2 + 2 * r.value.frames.length;
    for (const f of r.value.frames) if (inlined(f)) byteLen += f.byteLength;
  }
  const meta = new Float64Array(metaLen);
  const bytes = new Uint8Array(byteLen);
  const strings: string[] = [];
  const errors: ErrorInfo[] = [];
  const side: Uint8Array[] = [];
  const transfer: ArrayBuffer[] = [meta.buffer, bytes.buffer];
  let m = 0;
  let b = 0;
  for (const r of results) {
    meta[m++] = r.id;
    meta[m++] = r.type === 'done' ? 0 : 1;
    meta[m++] = r.start;
    meta[m++] = r.stop;
    if (r.type === 'error') {
      errors.push(r.error);
      continue;
    }
    strings.push(r.valueType);
    meta[m++] = kindCode(r.value.kind);
    meta[m++] = r.value.frames.length;
    for (const f of r.value.frames) {
      if (inlined(f)) {
        meta[m++] = b;
        bytes.set(f, b);
        b += f.byteLength;
      } else {
        meta[m++] = -1 - side.length;
        if (isShared(f)) side.push(f);
        else {
          const own = f.byteOffset === 0 && f.byteLength === f.buffer.byteLength ? f : new Uint8Array(f);
          side.push(own);
          transfer.push(own.buffer as ArrayBuffer);
        }
      }
      meta[m++] = f.byteLength;
    }
  }
  return { batch: { meta, bytes, strings, errors, side }, transfer };
}

/**
 * Reads a result batch. The store keeps a result's frames for as long as the
 * data lives, and a view into the batch keeps the whole batch alive with it:
 * a frame is copied out into a buffer of its own unless the batch is tiny
 * (a buffer per value costs ~200 bytes of bookkeeping and GC work anyway, so
 * a few hundred bytes shared by a batch's results cost less) or the frame is
 * most of it. DataStore.put (store.ts) keeps such views as they are.
 */
export function decodeResults(batch: ResultBatch, each: (r: JobResult) => void): void {
  const { meta, bytes, strings, errors, side } = batch;
  let m = 0;
  let s = 0;
  let e = 0;
  while (m < meta.length) {
    const id = meta[m++]!;
    const failed = meta[m++] === 1;
    const start = meta[m++]!;
    const stop = meta[m++]!;
    if (failed) {
      each({ type: 'error', id, error: errors[e++]!, start, stop });
      continue;
    }
    const valueType = strings[s++]!;
    const kind = kindOf(meta[m++]!);
    const nFrames = meta[m++]!;
    const frames = new Array<Uint8Array>(nFrames);
    for (let f = 0; f < nFrames; f++) {
      const place = meta[m++]!;
      const len = meta[m++]!;
      frames[f] = place < 0 ? side[-1 - place]! : keepsView(len, bytes.byteLength) ? bytes.subarray(place, place + len) : bytes.slice(place, place + len);
    }
    each({ type: 'done', id, value: { kind, frames }, valueType, start, stop });
  }
}
