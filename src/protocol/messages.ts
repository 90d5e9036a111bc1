/**
 * The wire protocol, one channel per pair of peers and direction.
 *
 * Every message is a msgpack map with an `op`. A channel direction is
 * declared as a `Channel`: its one-way messages (`sends`, op -> fields) and
 * its requests (`requests`, op -> the request's fields and the fields of the
 * reply). A request carries a `rid`; the answer is
 * `{ op: 'reply', rid, ok: true, ...reply }` or `{ op: 'reply', rid, ok: false, error }`.
 * `Comm<In, Out>` (src/comm/comm.ts) carries one channel each way, and what
 * comes in is checked against it once, at decode (src/protocol/validate.ts).
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

/**
 * Any message, untyped. Only for code that looks at messages generically
 * (tests filtering by op); protocol code uses the channel unions below.
 */
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

/**
 * Tasks of one function over items whose arguments refer to no task (what
 * map() makes), sent as one record instead of a TaskDef each: the function
 * once, the keys, and all their argument bytes end to end (task i's are
 * `args[ends[i-1] .. ends[i])`, from 0 for the first). They take the places
 * `at`, `at + 1`, ... of the message's task order, between its TaskDefs
 * (graph/task-sequence.ts writes them, protocol/task-runs.ts expands them).
 * A TaskDef each cost the client an object, a view and an encoded map with
 * four field names per task, and the scheduler their decoding.
 */
export interface TaskRun {
  at: number;
  fn: FunctionSpec;
  keys: string[];
  args: Uint8Array;
  ends: Uint32Array;
  retries?: number;
  workers?: string[];
}

/** A serialized value: raw bytes (Uint8Array results) or msgpack. */
export interface SerializedValue {
  kind: 'bytes' | 'msgpack';
  frames: Uint8Array[];
}

/** The largest msgpack value a get-data reply carries inline when asked to (see PeerToWorker 'get-data'). */
export const INLINE_VALUE_MAX_BYTES = 1024;

export interface WireValue {
  kind: 'bytes' | 'msgpack';
  data: RawFrames;
}

export interface DepInfo {
  key: string;
  nbytes: number;
  who: string[];
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
  /** The worker's P2P shuffle buffer (worker/shuffle/buffer.ts): shards in memory now, at most, and bytes spilled in total. */
  shuffle?: { memoryBytes: number; peakMemoryBytes: number; spilledBytes: number };
}

/** A value placed on workers by scatter, as it travels. */
export interface ScatterItem {
  key: string;
  type?: string;
  value: WireValue;
}

/** A piece of data a worker is asked to copy from the workers that hold it. */
export interface Replica {
  key: string;
  nbytes: number;
  who: string[];
}

/** One worker's answer to a broadcast run. */
export interface RunResult {
  ok: boolean;
  value?: WireValue;
  error?: ErrorInfo;
}

/** The scheduler as `client.schedulerInfo()` reports it. */
export interface SchedulerInfo {
  type: 'Scheduler';
  id: string;
  address: string;
  version: string;
  started: number;
  services: { dashboard?: number };
  dashboardHost?: string;
  workers: Record<string, {
    name: string; host: string; nthreads: number; memoryLimit: number; pid: number; localDirectory: string;
    status: string; nbytes: number; processing: number; inMemory: number; lastSeen: number;
    metrics: { rss: number; cpu: number; executing: number; managedBytes: number; spilledBytes: number; shuffle?: WorkerMetrics['shuffle'] };
  }>;
  tasksByState: Record<string, number>;
}

// ------------------------------------------------------------------ channels

/** One direction of a connection: its one-way messages and its requests with their replies. */
export interface Channel {
  sends: object;
  requests: object;
}

/** A channel on which nothing is sent (the answering side of a request-only channel sends only replies). */
export interface NoMessages extends Channel {
  sends: Record<never, never>;
  requests: Record<never, never>;
}

/** The one-way messages of a channel, as a union discriminated by `op`. */
export type SendOf<C extends Channel> = { [K in keyof C['sends'] & string]: { op: K } & C['sends'][K] }[keyof C['sends'] & string];

/** Request ops of a channel. */
export type RequestOp<C extends Channel> = keyof C['requests'] & string;
type RequestSpec<C extends Channel, K extends RequestOp<C>> = C['requests'][K] extends { args: infer A; reply: infer R } ? { args: A; reply: R } : never;
/** A request as the sender writes it (Comm.request adds the rid). */
export type RequestArgs<C extends Channel, K extends RequestOp<C>> = { op: K } & RequestSpec<C, K>['args'];
/** The fields of the reply to request `K`. */
export type ReplyOf<C extends Channel, K extends RequestOp<C>> = RequestSpec<C, K>['reply'];
/** The requests of a channel as they arrive, with their rid. */
export type RequestOf<C extends Channel> = { [K in RequestOp<C>]: { op: K; rid: number } & RequestSpec<C, K>['args'] }[RequestOp<C>];
/** Everything a handler on the receiving end of channel C can get. */
export type MessageOf<C extends Channel> = SendOf<C> | RequestOf<C>;

type Empty = Record<never, never>;

/** The answer to a request, as it travels (Comm resolves the request with the ok ones). */
export type ReplyMsg =
  | { op: 'reply'; rid: number; ok: true; [field: string]: unknown }
  | { op: 'reply'; rid: number; ok: false; error: ErrorInfo };

/** Fields every `task-erred` carries, whichever way it goes. */
export type TaskErred = {
  key: string;
  exception: ErrorInfo;
};

/** A chunk of a streamed graph submission ('graph-chunk'). */
export interface GraphChunk {
  /** The client's number for the stream; chunks of one stream arrive in order. */
  stream: number;
  tasks: TaskDef[];
  /** Runs of map() tasks among `tasks` (see TaskRun). */
  runs?: TaskRun[];
  /** Keys of this chunk the client holds futures of. */
  keys: string[];
  priority: number;
  hold: string[];
  release: string[];
  final: boolean;
}

export interface ClientToScheduler extends Channel {
  sends: {
    'update-graph': { tasks: TaskDef[]; runs?: TaskRun[]; keys: string[]; priority: number };
    'client-desires-keys': { keys: string[] };
    'client-releases-keys': { keys: string[] };
  };
  requests: {
    /**
     * A holder of each key, by position: `holders[i]` indexes `workers` for
     * `keys[i]`, or is -1 where no worker holds it. Positional, not a map
     * keyed by task key: a gather of a million results asks for 65,536 keys
     * at a time, and a map that large costs its decoder a string and a
     * dictionary entry per key.
     */
    'who-has': { args: { keys: string[] }; reply: { workers: string[]; holders: number[] } };
    /**
     * One chunk of a large graph sent in several (docs/architecture.md,
     * "Streamed graph submission"): `tasks` in topological order, every
     * dependency in this chunk or an earlier one (or already known). `hold`:
     * keys of this chunk that later chunks depend on, kept until `release`
     * names them (or the `final` chunk arrives). The reply says how many
     * tasks the scheduler has started since the stream's first chunk.
     */
    'graph-chunk': { args: GraphChunk; reply: { started: number } };
    'identity': { args: Empty; reply: { info: SchedulerInfo } };
    'wait-for-workers': { args: { n: number }; reply: { n: number } };
    'scatter': { args: { items: ScatterItem[]; workers: string[]; broadcast: boolean }; reply: { keys: string[] } };
    'broadcast-run': { args: { fn: FunctionSpec; args: Uint8Array; workers?: string[] }; reply: { results: Record<string, RunResult> } };
    'run-on-scheduler': { args: { fn: FunctionSpec; args: Uint8Array }; reply: { value: WireValue } };
    'shutdown': { args: Empty; reply: Empty };
    'start-performance-report': { args: { title?: string; intervalMs?: number }; reply: { id: string } };
    // The report's data is the dashboard's format (PerformanceReportData, dashboard/protocol.ts); the wire
    // only carries it, so it is opaque here and protocol/ does not depend on dashboard/.
    'stop-performance-report': { args: { id: string }; reply: { data: object } };
    'restart': { args: { timeoutMs: number }; reply: { workers: number } };
    'retire-workers': { args: { workers: string[] }; reply: { retired: string[] } };
  };
}

export interface SchedulerToClient extends Channel {
  sends: {
    'client-id': { id: string };
    /** Results now in memory, with their types; one message for all of one cascade (keys[i] has types[i]). */
    'keys-in-memory': { keys: string[]; types: string[] };
    /** `blame`: the key whose task failed (this one, or a dependency). */
    'task-erred': TaskErred & { blame: string };
    'lost-data': { key: string };
    'restarted': { keys: string[] };
    'scheduler-closing': { reason: string };
  };
  requests: Empty;
}

export interface SchedulerToWorker extends Channel {
  sends: {
    'compute-task': { key: string; fn: FunctionSpec; args: Uint8Array; deps: DepInfo[]; priority: number[] };
    'free-keys': { keys: string[] };
    'steal-request': { key: string };
    'acquire-replicas': { keys: Replica[] };
    'close': { reason: string };
    /** Shuffle `id` restarted (a worker was lost) or finished: drop the shards of runs before `runId`. */
    'shuffle-forget': { id: string; runId: number };
  };
  requests: {
    'update-data': { args: { items: ScatterItem[] }; reply: Empty };
    'run': { args: { fn: FunctionSpec; args: Uint8Array }; reply: { value: WireValue } };
    'retire': { args: Empty; reply: Empty };
    /** `process`: a nanny replaces the worker's process; `reset`: the worker reset itself in place. */
    'restart': { args: Empty; reply: { mode: 'process' | 'reset' } };
  };
}

export interface WorkerToScheduler extends Channel {
  sends: {
    'task-finished': { key: string; nbytes: number; type: string; startstops: StartStop[] };
    'task-erred': TaskErred & { startstops: StartStop[] };
    'heartbeat': { metrics: WorkerMetrics };
    'add-keys': { keys: string[] };
    /** `errant`: the worker believed to hold `key` that does not. */
    'missing-data': { key: string; errant: string };
    'steal-response': { key: string; ok: boolean };
    'retiring': Empty;
  };
  requests: {
    'register-worker': {
      args: { address: string; name: string; nthreads: number; memoryLimit: number; host: string; pid: number; localDirectory: string };
      reply: { id: string; workerName: string };
    };
    /**
     * A shuffle transfer task is about to send its shards: the shuffle's
     * current run and, unless the worker already knows that run
     * (`knownRun`), which worker owns each output partition
     * (scheduler/shuffle.ts).
     */
    'shuffle-get': { args: { id: string; outputs: number; knownRun: number }; reply: { runId: number; owners?: string[] } };
  };
}

/** Data requests to a worker, from another worker or from a client gathering results. */
export interface PeerToWorker extends Channel {
  sends: Empty;
  requests: {
    /**
     * `values[i]` is the value of `keys[i]`, or null where this worker does
     * not hold it (positional, as who-has: no map keyed by task key).
     * `inline` (a client's request): small msgpack values (up to
     * INLINE_VALUE_MAX_BYTES each) come back concatenated in the reply's
     * `inline`, in key order, each marked `true` in `values`: the client
     * decodes them all in one pass, with no value object, frame list and
     * frame view per result (gather of a million small results).
     * `refused`: keys held but not sent, and why (a value too large for one frame).
     */
    'get-data': {
      args: { keys: string[]; inline?: boolean };
      reply: { values: (WireValue | true | null)[]; inline?: Uint8Array; refused?: Record<string, ErrorInfo> };
    };
    /**
     * Shards of shuffle `id` (run `runId`) from input partition `input`: frame k of `shards` is for output
     * partition `outputs[k]`, which the receiver owns (worker/shuffle/service.ts).
     */
    'shuffle-receive': { args: { id: string; runId: number; input: number; outputs: number[]; shards: RawFrames }; reply: Empty };
  };
}

export type ClientToSchedulerMsg = MessageOf<ClientToScheduler>;
export type SchedulerToClientMsg = MessageOf<SchedulerToClient>;
export type SchedulerToWorkerMsg = MessageOf<SchedulerToWorker>;
export type WorkerToSchedulerMsg = MessageOf<WorkerToScheduler>;
export type PeerToWorkerMsg = MessageOf<PeerToWorker>;
