/**
 * Message shapes. Every protocol message is a msgpack map with an `op`.
 * Requests that expect an answer carry `rid`; the answer is
 * `{ op: 'reply', rid, ok, ... }` or `{ op: 'reply', rid, ok: false, error }`.
 */
import type { RawFrames } from './codec.js';

/**
 * A function as it travels to a worker (src/graph/function-spec.ts says
 * how): an inline function's source text and name, or a module's URL and
 * the name of its export.
 */
export type FunctionSpec =
  | { readonly kind: 'inline'; readonly source: string; readonly name: string }
  | { readonly kind: 'module'; readonly url: string; readonly export: string };

export interface Msg {
  op: string;
  rid?: number;
  [field: string]: unknown;
}

export interface ErrorInfo {
  name: string;
  message: string;
  stack: string;
  code?: string;
  /**
   * The thrown value's own fields as data: an Error's extras (`code`,
   * `row`, ...) or a thrown object's properties.
   */
  fields?: Record<string, unknown>;
  /**
   * Present when what was thrown is not an Error (`throw { code: 42 }`,
   * `throw 'bad'`): the value itself, as data. Wrapped so that a thrown
   * `undefined` or `null` is still told apart from an Error.
   */
  thrown?: { value: unknown };
  /**
   * 'scheduler' when the scheduler raised it itself (a task that killed its
   * workers, data that is gone) rather than a task throwing it: the client
   * rebuilds such an error as its own class instead of wrapping it in a
   * TaskError.
   */
  origin?: 'scheduler';
}

/** A task as submitted by a client: function, encoded arguments, dependency keys. */
export interface TaskDef {
  key: string;
  fn: FunctionSpec;
  /** msgpack bytes of the argument list, dependency references as TaskRef extensions. */
  args: Uint8Array;
  deps: string[];
  retries?: number;
  workers?: string[];
  /** Workers are a preference, not a requirement. */
  allowOtherWorkers?: boolean;
}

/** A serialized value: raw bytes (Uint8Array results) or msgpack. */
export interface SerializedValue {
  kind: 'bytes' | 'msgpack';
  frames: Uint8Array[];
}

export interface WireValue {
  kind: 'bytes' | 'msgpack';
  data: RawFrames;
}

export interface DepInfo {
  key: string;
  nbytes: number;
  who: string[];
}

export interface ComputeTaskMsg extends Msg {
  op: 'compute-task';
  key: string;
  fn: FunctionSpec;
  args: Uint8Array;
  deps: DepInfo[];
  priority: number[];
}

export interface StartStop {
  action: 'compute' | 'transfer';
  start: number;
  stop: number;
  thread?: number;
  source?: string;
  nbytes?: number;
}

export interface WorkerMetrics {
  rss: number;
  cpu: number;
  executing: number;
  ready: number;
  managedBytes: number;
  spilledBytes: number;
  inMemory: number;
  paused: boolean;
}
