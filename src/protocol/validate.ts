/**
 * The one check of untrusted input: every decoded message is held against
 * the channel it arrived on (messages.ts) before any handler sees it, so
 * handlers can trust the declared types. A message that does not fit is a
 * ProtocolError, which closes that connection only.
 *
 * This runs for every message, so it is a switch over `op` with typeof
 * checks that allocate nothing unless they fail (then they build the text
 * of the error). Only the fields the receiver reads are checked; extra
 * fields are ignored, as msgpack peers of a compatible version may add some.
 */
import { RawFrames, decodeMessage } from './codec.js';
import { ProtocolError } from '../errors.js';
import { checkTaskRuns } from './task-runs.js';
import type {
  Channel, ClientToScheduler, ErrorInfo, MessageOf, NoMessages, ReplyOf, RequestOp, PeerToWorker, SchedulerToClient, SchedulerToWorker, TaskRun, WorkerToScheduler,
} from './messages.js';
import type { Hello, Refused, Welcome } from './handshake.js';

type Fields = Record<string, unknown>;

/**
 * How one end of a connection checks what it receives: messages of channel
 * `In`, and the replies to its own requests of channel `Out`. Each check
 * returns why the message does not fit, or null.
 */
export interface Protocol<In extends Channel, Out extends Channel> {
  readonly name: string;
  message(m: Fields): string | null;
  reply(op: string, m: Fields): string | null;
  /** Never set: ties the checks to the channels they check, for Comm's typing. */
  readonly channels?: { in: In; out: Out };
}

// ---------------------------------------------------------------- field checks
// Each returns null when the field fits, or the complaint.

function isObject(v: unknown): v is Fields {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function areStrings(v: unknown): boolean {
  if (!Array.isArray(v)) return false;
  for (const x of v) if (typeof x !== 'string') return false;
  return true;
}

export function isErrorInfo(v: unknown): v is ErrorInfo {
  return isObject(v) && typeof v['name'] === 'string' && typeof v['message'] === 'string' && typeof v['stack'] === 'string';
}

function isWireValue(v: unknown): boolean {
  return isObject(v) && (v['kind'] === 'bytes' || v['kind'] === 'msgpack') && v['data'] instanceof RawFrames;
}

const bad = (k: string, what: string): string => `field '${k}' must be ${what}`;

const str = (m: Fields, k: string): string | null => (typeof m[k] === 'string' ? null : bad(k, 'a string'));
const optStr = (m: Fields, k: string): string | null => (m[k] === undefined || typeof m[k] === 'string' ? null : bad(k, 'a string'));
const num = (m: Fields, k: string): string | null => (typeof m[k] === 'number' ? null : bad(k, 'a number'));
const optNum = (m: Fields, k: string): string | null => (m[k] === undefined || typeof m[k] === 'number' ? null : bad(k, 'a number'));
const bool = (m: Fields, k: string): string | null => (typeof m[k] === 'boolean' ? null : bad(k, 'a boolean'));
const obj = (m: Fields, k: string): string | null => (isObject(m[k]) ? null : bad(k, 'a map'));
const bytes = (m: Fields, k: string): string | null => (m[k] instanceof Uint8Array ? null : bad(k, 'binary'));
const strings = (m: Fields, k: string): string | null => (areStrings(m[k]) ? null : bad(k, 'an array of strings'));
const optStrings = (m: Fields, k: string): string | null => (m[k] === undefined || areStrings(m[k]) ? null : bad(k, 'an array of strings'));
const errorInfo = (m: Fields, k: string): string | null => (isErrorInfo(m[k]) ? null : bad(k, 'an error (name, message, stack)'));
const wire = (m: Fields, k: string): string | null => (isWireValue(m[k]) ? null : bad(k, 'a value (kind, data frames)'));
function isFunctionSpec(v: unknown): boolean {
  if (!isObject(v)) return false;
  if (v['kind'] === 'inline') return typeof v['source'] === 'string' && typeof v['name'] === 'string';
  return v['kind'] === 'module' && typeof v['url'] === 'string' && typeof v['export'] === 'string';
}
const fn = (m: Fields, k: string): string | null => (isFunctionSpec(m[k]) ? null : bad(k, 'a function (inline source or module export)'));
const rid = (m: Fields): string | null => (typeof m['rid'] === 'number' ? null : bad('rid', 'a number (a request id)'));

/** An array whose every element is a map that `each` accepts. */
function arrayOf(m: Fields, k: string, each: (e: Fields) => string | null): string | null {
  const v = m[k];
  if (!Array.isArray(v)) return bad(k, 'an array');
  for (let i = 0; i < v.length; i++) {
    const e: unknown = v[i];
    if (!isObject(e)) return `${k}[${i}]: not a map`;
    const why = each(e);
    if (why) return `${k}[${i}]: ${why}`;
  }
  return null;
}

function numbers(m: Fields, k: string): string | null {
  const v = m[k];
  if (!Array.isArray(v)) return bad(k, 'an array of numbers');
  for (const x of v) if (typeof x !== 'number') return bad(k, 'an array of numbers');
  return null;
}

/** A map whose every value `each` accepts. */
function recordOf(m: Fields, k: string, each: (v: unknown) => boolean, what: string): string | null {
  const v = m[k];
  if (!isObject(v)) return bad(k, 'a map');
  for (const key in v) if (!each(v[key])) return `${k}.${key} must be ${what}`;
  return null;
}

const taskDef = (t: Fields): string | null =>
  str(t, 'key') ?? fn(t, 'fn') ?? bytes(t, 'args') ?? strings(t, 'deps') ?? optNum(t, 'retries') ?? optStrings(t, 'workers') ??
  (t['allowOtherWorkers'] === undefined || typeof t['allowOtherWorkers'] === 'boolean' ? null : bad('allowOtherWorkers', 'a boolean'));
const taskRun = (r: Fields): string | null =>
  num(r, 'at') ?? fn(r, 'fn') ?? strings(r, 'keys') ?? bytes(r, 'args') ??
  (r['ends'] instanceof Uint32Array ? null : bad('ends', 'a Uint32Array (where each task\'s arguments end)')) ??
  optNum(r, 'retries') ?? optStrings(r, 'workers');
/** The optional `runs` of a graph message: each a TaskRun, and together fitting among its `tasks`. */
function runs(m: Fields): string | null {
  if (m['runs'] === undefined) return null;
  return arrayOf(m, 'runs', taskRun) ?? checkTaskRuns(m['runs'] as TaskRun[], (m['tasks'] as unknown[]).length);
}
const scatterItem = (it: Fields): string | null => str(it, 'key') ?? optStr(it, 'type') ?? wire(it, 'value');
const replica = (r: Fields): string | null => str(r, 'key') ?? num(r, 'nbytes') ?? strings(r, 'who');
const startStop = (s: Fields): string | null => str(s, 'action') ?? num(s, 'start') ?? num(s, 'stop');
const metrics = (w: Fields): string | null =>
  num(w, 'rss') ?? num(w, 'cpu') ?? num(w, 'executing') ?? num(w, 'ready') ?? num(w, 'managedBytes') ??
  num(w, 'spilledBytes') ?? num(w, 'inMemory') ?? bool(w, 'paused');

const unknownOp = (m: Fields): string => `unknown op '${String(m['op'])}'`;

// -------------------------------------------------------------- per channel

export function checkClientToScheduler(m: Fields): string | null {
  switch (m['op']) {
    case 'update-graph': return arrayOf(m, 'tasks', taskDef) ?? runs(m) ?? strings(m, 'keys') ?? num(m, 'priority');
    case 'client-desires-keys':
    case 'client-releases-keys': return strings(m, 'keys');
    case 'who-has': return rid(m) ?? strings(m, 'keys');
    case 'graph-chunk':
      return rid(m) ?? num(m, 'stream') ?? arrayOf(m, 'tasks', taskDef) ?? runs(m) ?? strings(m, 'keys') ?? num(m, 'priority') ??
        strings(m, 'hold') ?? strings(m, 'release') ?? bool(m, 'final');
    case 'identity':
    case 'shutdown': return rid(m);
    case 'wait-for-workers': return rid(m) ?? num(m, 'n');
    case 'scatter': return rid(m) ?? arrayOf(m, 'items', scatterItem) ?? strings(m, 'workers') ?? bool(m, 'broadcast');
    case 'broadcast-run': return rid(m) ?? fn(m, 'fn') ?? bytes(m, 'args') ?? optStrings(m, 'workers');
    case 'run-on-scheduler': return rid(m) ?? fn(m, 'fn') ?? bytes(m, 'args');
    case 'start-performance-report': return rid(m) ?? optStr(m, 'title') ?? optNum(m, 'intervalMs');
    case 'stop-performance-report': return rid(m) ?? str(m, 'id');
    case 'restart': return rid(m) ?? num(m, 'timeoutMs');
    case 'retire-workers': return rid(m) ?? strings(m, 'workers');
    default: return unknownOp(m);
  }
}

export function checkClientToSchedulerReply(op: string, m: Fields): string | null {
  switch (op) {
    case 'who-has': return strings(m, 'workers') ?? numbers(m, 'holders');
    case 'graph-chunk': return num(m, 'started');
    case 'identity': return obj(m, 'info');
    case 'wait-for-workers': return num(m, 'n');
    case 'scatter': return strings(m, 'keys');
    case 'broadcast-run': return obj(m, 'results');
    case 'run-on-scheduler': return wire(m, 'value');
    case 'start-performance-report': return str(m, 'id');
    case 'stop-performance-report': return obj(m, 'data');
    case 'restart': return num(m, 'workers');
    case 'retire-workers': return strings(m, 'retired');
    default: return null;
  }
}

export function checkSchedulerToClient(m: Fields): string | null {
  switch (m['op']) {
    case 'client-id': return str(m, 'id');
    case 'keys-in-memory':
      return strings(m, 'keys') ?? strings(m, 'types') ??
        ((m['keys'] as string[]).length === (m['types'] as string[]).length ? null : 'keys and types must have the same length');
    case 'task-erred': return str(m, 'key') ?? errorInfo(m, 'exception') ?? str(m, 'blame');
    case 'lost-data': return str(m, 'key');
    case 'restarted': return strings(m, 'keys');
    case 'scheduler-closing': return str(m, 'reason');
    default: return unknownOp(m);
  }
}

export function checkSchedulerToWorker(m: Fields): string | null {
  switch (m['op']) {
    case 'compute-task':
      return str(m, 'key') ?? fn(m, 'fn') ?? bytes(m, 'args') ?? arrayOf(m, 'deps', replica) ?? numbers(m, 'priority');
    case 'free-keys': return strings(m, 'keys');
    case 'steal-request': return str(m, 'key');
    case 'acquire-replicas': return arrayOf(m, 'keys', replica);
    case 'close': return str(m, 'reason');
    case 'shuffle-forget': return str(m, 'id') ?? num(m, 'runId');
    case 'update-data': return rid(m) ?? arrayOf(m, 'items', scatterItem);
    case 'run': return rid(m) ?? fn(m, 'fn') ?? bytes(m, 'args');
    case 'retire':
    case 'restart': return rid(m);
    default: return unknownOp(m);
  }
}

export function checkSchedulerToWorkerReply(op: string, m: Fields): string | null {
  switch (op) {
    case 'run': return wire(m, 'value');
    case 'restart': return m['mode'] === 'process' || m['mode'] === 'reset' ? null : bad('mode', "'process' or 'reset'");
    default: return null;
  }
}

export function checkWorkerToScheduler(m: Fields): string | null {
  switch (m['op']) {
    case 'task-finished': return str(m, 'key') ?? num(m, 'nbytes') ?? str(m, 'type') ?? arrayOf(m, 'startstops', startStop);
    case 'task-erred': return str(m, 'key') ?? errorInfo(m, 'exception') ?? arrayOf(m, 'startstops', startStop);
    case 'heartbeat': return isObject(m['metrics']) ? metrics(m['metrics']) : bad('metrics', 'a map');
    case 'add-keys': return strings(m, 'keys');
    case 'missing-data': return str(m, 'key') ?? str(m, 'errant');
    case 'steal-response': return str(m, 'key') ?? bool(m, 'ok');
    case 'retiring': return null;
    case 'register-worker':
      return rid(m) ?? str(m, 'address') ?? str(m, 'name') ?? num(m, 'nthreads') ?? num(m, 'memoryLimit') ?? str(m, 'host') ??
        num(m, 'pid') ?? str(m, 'localDirectory');
    case 'shuffle-get': return rid(m) ?? str(m, 'id') ?? num(m, 'outputs') ?? num(m, 'knownRun');
    default: return unknownOp(m);
  }
}

export function checkWorkerToSchedulerReply(op: string, m: Fields): string | null {
  if (op === 'shuffle-get') return num(m, 'runId') ?? optStrings(m, 'owners');
  return op === 'register-worker' ? str(m, 'id') ?? str(m, 'workerName') : null;
}

export function checkPeerToWorker(m: Fields): string | null {
  switch (m['op']) {
    case 'get-data': return rid(m) ?? strings(m, 'keys') ?? (m['inline'] === undefined ? null : bool(m, 'inline'));
    case 'shuffle-receive':
      return rid(m) ?? str(m, 'id') ?? num(m, 'runId') ?? num(m, 'input') ?? numbers(m, 'outputs') ??
        (m['shards'] instanceof RawFrames ? null : bad('shards', 'binary frames'));
    default: return unknownOp(m);
  }
}

export function checkPeerToWorkerReply(op: string, m: Fields): string | null {
  if (op !== 'get-data') return null;
  const values = m['values'];
  if (!Array.isArray(values)) return bad('values', 'an array of values (kind, data frames) or nulls');
  const inline = m['inline'];
  if (inline !== undefined && !(inline instanceof Uint8Array)) return bad('inline', 'bytes (concatenated msgpack values)');
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === true ? inline === undefined : v !== null && !isWireValue(v)) return `values[${i}]: not a value (kind, data frames), null, or true with inline values`;
  }
  return (m['refused'] === undefined ? null : recordOf(m, 'refused', isErrorInfo, 'an error (name, message, stack)'));
}

const none = (): null => null;
const nothingExpected = (m: Fields): string => unknownOp(m);

// ------------------------------------------------------------ the ends

/** The first messages of every connection: hello, then welcome or refused; checkHello and connect() read them. */
export interface Handshake extends Channel {
  sends: { hello: Omit<Hello, 'op'>; welcome: Omit<Welcome, 'op'>; refused: Omit<Refused, 'op'> };
  requests: Record<never, never>;
}

/** Until a connection knows whom it talks to, its messages are left to the handshake code. */
export const HANDSHAKE: Protocol<Handshake, Handshake> = { name: 'handshake', message: none, reply: none };

/** A client's connection to its scheduler. */
export const CLIENT_TO_SCHEDULER: Protocol<SchedulerToClient, ClientToScheduler> = {
  name: 'scheduler to client', message: checkSchedulerToClient, reply: checkClientToSchedulerReply,
};

/** The scheduler's connection to one client. */
export const SCHEDULER_TO_CLIENT: Protocol<ClientToScheduler, SchedulerToClient> = {
  name: 'client to scheduler', message: checkClientToScheduler, reply: none,
};

/** A worker's connection to its scheduler. */
export const WORKER_TO_SCHEDULER: Protocol<SchedulerToWorker, WorkerToScheduler> = {
  name: 'scheduler to worker', message: checkSchedulerToWorker, reply: checkWorkerToSchedulerReply,
};

/** The scheduler's connection to one worker. */
export const SCHEDULER_TO_WORKER: Protocol<WorkerToScheduler, SchedulerToWorker> = {
  name: 'worker to scheduler', message: checkWorkerToScheduler, reply: checkSchedulerToWorkerReply,
};

/** A worker serving data to a peer (another worker, or a client gathering results). */
export const PEER_SERVER: Protocol<PeerToWorker, NoMessages> = {
  name: 'peer to worker', message: checkPeerToWorker, reply: none,
};

/** A connection to a worker, for its data (from another worker or a client). */
export const PEER_CLIENT: Protocol<NoMessages, PeerToWorker> = {
  name: 'worker to peer', message: nothingExpected, reply: checkPeerToWorkerReply,
};

/**
 * For the `default` of an exhaustive `switch (msg.op)`: it compiles only if
 * every op has its case, which leaves `msg` (or, for a channel of one
 * message, `msg.op`) of type never there. Validation at decode already
 * refused unknown ops, so reaching it at run time is a bug.
 */
export function unexpectedOp(msgOrOp: never, channel: string): ProtocolError {
  const v: unknown = msgOrOp;
  const op = typeof v === 'object' && v !== null ? (v as { op?: unknown }).op : v;
  return new ProtocolError(`unexpected op '${String(op)}' on the ${channel} channel`);
}

/**
 * Decodes one wire message as the receiving end `protocol` sees it: the
 * messages it holds (one, or a batch), each checked against the channel.
 * Comm does the same in two steps (it may learn its channel only after the
 * handshake); this is the whole edge in one call, for tools and tests.
 */
export function decodeFor<In extends Channel, Out extends Channel>(protocol: Protocol<In, Out>, frames: Buffer[]): MessageOf<In>[] {
  const decoded = decodeMessage(frames);
  const list: unknown[] = Array.isArray(decoded) ? decoded : [decoded];
  for (const m of list) {
    if (!isObject(m) || typeof m['op'] !== 'string') throw new ProtocolError('message without an op field');
    const why = protocol.message(m);
    if (why) throw new ProtocolError(`bad '${m['op']}' message (${protocol.name}): ${why}`);
  }
  return list as MessageOf<In>[];
}

/** Checks a decoded ok reply to our request `op` as `protocol`'s end would; ProtocolError if it does not fit. */
export function checkReply<In extends Channel, Out extends Channel, K extends RequestOp<Out>>(
  protocol: Protocol<In, Out>, op: K, reply: unknown,
): ReplyOf<Out, K> {
  const why = isObject(reply) ? protocol.reply(op, reply) : 'not a map';
  if (why) throw new ProtocolError(`bad reply to '${op}' (${protocol.name}): ${why}`);
  return reply as ReplyOf<Out, K>;
}
