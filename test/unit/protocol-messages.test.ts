import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { RawFrames, encodeMessage } from '../../src/protocol/codec.js';
import { Comm, errorToInfo } from '../../src/comm/comm.js';
import { ProtocolError } from '../../src/errors.js';
import type {
  Channel, ClientToScheduler, ClientToSchedulerMsg, ErrorInfo, PeerToWorkerMsg, ReplyOf, RequestOp, SchedulerToClient,
  SchedulerToClientMsg, SchedulerToWorker, SchedulerToWorkerMsg, WireValue, WorkerToScheduler, WorkerToSchedulerMsg, PeerToWorker,
} from '../../src/protocol/messages.js';
import {
  CLIENT_TO_SCHEDULER, PEER_CLIENT, PEER_SERVER, SCHEDULER_TO_CLIENT, SCHEDULER_TO_WORKER, WORKER_TO_SCHEDULER,
  checkReply, decodeFor, unexpectedOp, type Protocol,
} from '../../src/protocol/validate.js';

// ------------------------------------------------------------------ samples
// One message per op. The mapped types make a new op without a sample a
// compile error, so "every op round-trips" stays true.

type Samples<U extends { op: string }> = { [K in U['op']]: Extract<U, { op: K }> };
type ReplySamples<C extends Channel> = { [K in RequestOp<C>]: ReplyOf<C, K> };

const fn = { kind: 'inline', source: '(x) => x + 1', name: 'inc' } as const;
const args = new Uint8Array([0x91, 0x01]);
const value: WireValue = { kind: 'bytes', data: new RawFrames([new Uint8Array([1, 2, 3])]) };
const error: ErrorInfo = { name: 'Error', message: 'boom', stack: 'Error: boom\n    at x' };
const startstops = [{ action: 'compute' as const, start: 1, stop: 2, thread: 0 }];

const clientToScheduler: Samples<ClientToSchedulerMsg> = {
  'update-graph': { op: 'update-graph', tasks: [{ key: 'a', fn, args, deps: [] }, { key: 'b', fn, args, deps: ['a'], retries: 1, workers: ['w'], allowOtherWorkers: true }], keys: ['b'], priority: 0 },
  'client-desires-keys': { op: 'client-desires-keys', keys: ['a'] },
  'client-releases-keys': { op: 'client-releases-keys', keys: ['a', 'b'] },
  'who-has': { op: 'who-has', rid: 1, keys: ['a'] },
  'graph-chunk': {
    op: 'graph-chunk', rid: 12, stream: 1, tasks: [{ key: 'a', fn, args, deps: [] }],
    runs: [{ at: 1, fn, keys: ['m0', 'm1'], args: new Uint8Array([0x91, 0x01, 0x91, 0x02]), ends: Uint32Array.from([2, 4]), retries: 2 }],
    keys: ['a'], priority: 0, hold: ['a'], release: [], final: false,
  },
  'identity': { op: 'identity', rid: 2 },
  'wait-for-workers': { op: 'wait-for-workers', rid: 3, n: 2 },
  'scatter': { op: 'scatter', rid: 4, items: [{ key: 'x', type: 'number', value }], workers: [], broadcast: false },
  'broadcast-run': { op: 'broadcast-run', rid: 5, fn, args, workers: ['w1'] },
  'run-on-scheduler': { op: 'run-on-scheduler', rid: 6, fn, args },
  'shutdown': { op: 'shutdown', rid: 7 },
  'start-performance-report': { op: 'start-performance-report', rid: 8, title: 'run' },
  'stop-performance-report': { op: 'stop-performance-report', rid: 9, id: 'r1' },
  'restart': { op: 'restart', rid: 10, timeoutMs: 1000 },
  'retire-workers': { op: 'retire-workers', rid: 11, workers: ['w1'] },
};

const schedulerToClient: Samples<SchedulerToClientMsg> = {
  'client-id': { op: 'client-id', id: 'client-1' },
  'keys-in-memory': { op: 'keys-in-memory', keys: ['a'], types: ['number'] },
  'task-erred': { op: 'task-erred', key: 'b', exception: error, blame: 'a' },
  'lost-data': { op: 'lost-data', key: 'a' },
  'restarted': { op: 'restarted', keys: ['a'] },
  'scheduler-closing': { op: 'scheduler-closing', reason: 'shutdown' },
};

const schedulerToWorker: Samples<SchedulerToWorkerMsg> = {
  'compute-task': { op: 'compute-task', key: 'b', fn, args, deps: [{ key: 'a', nbytes: 8, who: ['tcp://w:1'] }], priority: [0, 1, 2] },
  'free-keys': { op: 'free-keys', keys: ['a'] },
  'steal-request': { op: 'steal-request', key: 'a' },
  'acquire-replicas': { op: 'acquire-replicas', keys: [{ key: 'a', nbytes: 8, who: ['tcp://w:1'] }] },
  'close': { op: 'close', reason: 'retired' },
  'update-data': { op: 'update-data', rid: 1, items: [{ key: 'x', value }] },
  'run': { op: 'run', rid: 2, fn, args },
  'retire': { op: 'retire', rid: 3 },
  'restart': { op: 'restart', rid: 4 },
  'shuffle-forget': { op: 'shuffle-forget', id: 'ab12', runId: 2 },
};

const workerToScheduler: Samples<WorkerToSchedulerMsg> = {
  'task-finished': { op: 'task-finished', key: 'a', nbytes: 8, type: 'number', startstops },
  'task-erred': { op: 'task-erred', key: 'a', exception: error, startstops },
  'heartbeat': { op: 'heartbeat', metrics: { rss: 1, cpu: 2, executing: 0, ready: 0, managedBytes: 0, spilledBytes: 0, inMemory: 0, paused: false } },
  'add-keys': { op: 'add-keys', keys: ['a'] },
  'missing-data': { op: 'missing-data', key: 'a', errant: 'tcp://w:1' },
  'steal-response': { op: 'steal-response', key: 'a', ok: true },
  'retiring': { op: 'retiring' },
  'register-worker': { op: 'register-worker', rid: 1, address: 'tcp://w:1', name: 'w', nthreads: 2, memoryLimit: 0, host: 'h', pid: 1, localDirectory: '/tmp/w' },
  'shuffle-get': { op: 'shuffle-get', rid: 2, id: 'ab12', outputs: 4, knownRun: 0 },
};

const peerToWorker: Samples<PeerToWorkerMsg> = {
  'get-data': { op: 'get-data', rid: 1, keys: ['a'], inline: true },
  'shuffle-receive': { op: 'shuffle-receive', rid: 2, id: 'ab12', runId: 1, input: 3, outputs: [0, 2], shards: new RawFrames([new Uint8Array([1, 2]), new Uint8Array([3])]) },
};

const clientToSchedulerReplies: ReplySamples<ClientToScheduler> = {
  'who-has': { workers: ['tcp://w:1'], holders: [0, -1] },
  'graph-chunk': { started: 3 },
  'identity': { info: { type: 'Scheduler', id: 's', address: 'tcp://s:1', version: '0', started: 0, services: {}, workers: {}, tasksByState: {} } },
  'wait-for-workers': { n: 2 },
  'scatter': { keys: ['x'] },
  'broadcast-run': { results: { 'tcp://w:1': { ok: true, value } } },
  'run-on-scheduler': { value },
  'shutdown': {},
  'start-performance-report': { id: 'r1' },
  'stop-performance-report': { data: {} as ReplyOf<ClientToScheduler, 'stop-performance-report'>['data'] },
  'restart': { workers: 2 },
  'retire-workers': { retired: ['tcp://w:1'] },
};

const schedulerToWorkerReplies: ReplySamples<SchedulerToWorker> = {
  'update-data': {}, 'run': { value }, 'retire': {}, 'restart': { mode: 'reset' },
};
const workerToSchedulerReplies: ReplySamples<WorkerToScheduler> = {
  'register-worker': { id: 's', workerName: 'w' }, 'shuffle-get': { runId: 1, owners: ['tcp://w:1', 'tcp://w:2'] },
};
const peerToWorkerReplies: ReplySamples<PeerToWorker> = {
  'get-data': { values: [value, null, true, true], inline: new Uint8Array([0x01, 0xa1, 0x78]), refused: { b: error } }, 'shuffle-receive': {},
};

/** A decoded value in comparable form: binary as plain arrays, raw frames as their bytes. */
function plain(v: unknown): unknown {
  if (v instanceof RawFrames) return { rawFrames: v.frames.map((f) => [...f]) };
  if (ArrayBuffer.isView(v)) return [...new Uint8Array(v.buffer, v.byteOffset, v.byteLength)];
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** What the receiving end decodes from `msg` as it would travel (headers and raw frames). */
function travel(msg: unknown): Buffer[] {
  return encodeMessage(msg).map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const channels: [string, Protocol<any, any>, Record<string, { op: string }>][] = [
  ['client to scheduler', SCHEDULER_TO_CLIENT, clientToScheduler],
  ['scheduler to client', CLIENT_TO_SCHEDULER, schedulerToClient],
  ['scheduler to worker', WORKER_TO_SCHEDULER, schedulerToWorker],
  ['worker to scheduler', SCHEDULER_TO_WORKER, workerToScheduler],
  ['peer to worker', PEER_SERVER, peerToWorker],
];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const replyChannels: [string, Protocol<any, any>, Record<string, object>][] = [
  ['client to scheduler', CLIENT_TO_SCHEDULER, clientToSchedulerReplies],
  ['scheduler to worker', SCHEDULER_TO_WORKER, schedulerToWorkerReplies],
  ['worker to scheduler', WORKER_TO_SCHEDULER, workerToSchedulerReplies],
  ['peer to worker', PEER_CLIENT, peerToWorkerReplies],
];

test('every op of every channel round-trips through encode, decode and the check', () => {
  for (const [name, protocol, samples] of channels) {
    for (const [op, msg] of Object.entries(samples)) {
      assert.equal(msg.op, op);
      const [back] = decodeFor(protocol, travel(msg));
      assert.deepEqual(plain(back), plain(msg), `${name} ${op}`);
    }
    // A batch, as Comm sends several messages of one turn.
    const batch = Object.values(samples);
    assert.deepEqual(plain(decodeFor(protocol, travel(batch))), plain(batch), `${name} batch`);
  }
});

test('the reply to every request round-trips and passes its check', () => {
  for (const [name, protocol, replies] of replyChannels) {
    for (const [op, fields] of Object.entries(replies)) {
      const decoded = decodeFor({ name: 'reply', message: () => null, reply: () => null }, travel({ op: 'reply', rid: 1, ok: true, ...fields }))[0];
      assert.deepEqual(plain(checkReply(protocol, op as never, decoded)), plain({ op: 'reply', rid: 1, ok: true, ...fields }), `${name} ${op}`);
    }
  }
});

/** Breaks one message per channel in each way a peer could: a field missing, a field of the wrong type, an unknown op. */
test('a malformed message of each channel is a ProtocolError at decode', () => {
  const broken: [string, Protocol<any, any>, unknown][] = [ // eslint-disable-line @typescript-eslint/no-explicit-any
    ['client to scheduler, missing keys', SCHEDULER_TO_CLIENT, { op: 'client-releases-keys' }],
    ['client to scheduler, keys not strings', SCHEDULER_TO_CLIENT, { op: 'who-has', rid: 1, keys: [1, 2] }],
    ['client to scheduler, a task without args', SCHEDULER_TO_CLIENT, { op: 'update-graph', tasks: [{ key: 'a', fn, deps: [] }], keys: [], priority: 0 }],
    ['client to scheduler, a run with ends as numbers', SCHEDULER_TO_CLIENT,
      { op: 'update-graph', tasks: [], runs: [{ at: 0, fn, keys: ['m'], args: new Uint8Array(2), ends: [2] }], keys: [], priority: 0 }],
    ['client to scheduler, a run past its bytes', SCHEDULER_TO_CLIENT,
      { op: 'update-graph', tasks: [], runs: [{ at: 0, fn, keys: ['m'], args: new Uint8Array(2), ends: Uint32Array.from([3]) }], keys: [], priority: 0 }],
    ['client to scheduler, a request without rid', SCHEDULER_TO_CLIENT, { op: 'identity' }],
    ['client to scheduler, unknown op', SCHEDULER_TO_CLIENT, { op: 'compute-task', key: 'a' }],
    ['scheduler to client, missing exception', CLIENT_TO_SCHEDULER, { op: 'task-erred', key: 'a', blame: 'a' }],
    ['scheduler to client, id not a string', CLIENT_TO_SCHEDULER, { op: 'client-id', id: 7 }],
    ['scheduler to client, unknown op', CLIENT_TO_SCHEDULER, { op: 'free-keys', keys: [] }],
    ['scheduler to worker, priority not numbers', WORKER_TO_SCHEDULER, { ...schedulerToWorker['compute-task'], priority: ['high'] }],
    ['scheduler to worker, a function that is not one', WORKER_TO_SCHEDULER, { ...schedulerToWorker['compute-task'], fn: { kind: 'inline' } }],
    ['scheduler to worker, missing key', WORKER_TO_SCHEDULER, { op: 'steal-request' }],
    ['scheduler to worker, unknown op', WORKER_TO_SCHEDULER, { op: 'client-id', id: 'x' }],
    ['worker to scheduler, nbytes a string', SCHEDULER_TO_WORKER, { ...workerToScheduler['task-finished'], nbytes: '8' }],
    ['worker to scheduler, ok missing', SCHEDULER_TO_WORKER, { op: 'steal-response', key: 'a' }],
    ['worker to scheduler, metrics incomplete', SCHEDULER_TO_WORKER, { op: 'heartbeat', metrics: { rss: 1 } }],
    ['worker to scheduler, unknown op', SCHEDULER_TO_WORKER, { op: 'update-graph', tasks: [], keys: [], priority: 0 }],
    ['peer to worker, keys missing', PEER_SERVER, { op: 'get-data', rid: 1 }],
    ['peer to worker, unknown op', PEER_SERVER, { op: 'put-data', rid: 1 }],
    ['any channel, no op', PEER_SERVER, { keys: [] }],
  ];
  for (const [what, protocol, msg] of broken) {
    assert.throws(() => decodeFor(protocol, travel(msg)), ProtocolError, what);
    // In a batch too: one bad message spoils the wire message.
    assert.throws(() => decodeFor(protocol, travel([msg])), ProtocolError, `${what} (batched)`);
  }
  assert.throws(() => checkReply(CLIENT_TO_SCHEDULER, 'who-has', { op: 'reply', rid: 1, ok: true, workers: ['tcp://w:1'], holders: ['tcp://w:1'] }), ProtocolError);
  assert.throws(() => checkReply(CLIENT_TO_SCHEDULER, 'who-has', { op: 'reply', rid: 1, ok: true, whoHas: { a: ['tcp://w:1'] } }), ProtocolError);
  assert.throws(() => checkReply(SCHEDULER_TO_WORKER, 'restart', { op: 'reply', rid: 1, ok: true, mode: 'reboot' }), ProtocolError);
  assert.throws(() => checkReply(PEER_CLIENT, 'get-data', { op: 'reply', rid: 1, ok: true, values: [null, { kind: 'bytes', data: [] }] }), ProtocolError);
  assert.throws(() => checkReply(PEER_CLIENT, 'get-data', { op: 'reply', rid: 1, ok: true, data: { a: null } }), ProtocolError);
  // `true` marks an inline value: only beside the inline bytes.
  assert.throws(() => checkReply(PEER_CLIENT, 'get-data', { op: 'reply', rid: 1, ok: true, values: [true] }), ProtocolError);
  assert.throws(() => checkReply(PEER_CLIENT, 'get-data', { op: 'reply', rid: 1, ok: true, values: [true], inline: [1] }), ProtocolError);
  assert.throws(() => decodeFor(PEER_SERVER, travel({ op: 'get-data', rid: 1, keys: ['a'], inline: 'yes' })), ProtocolError);
});

test('an error whose message, name or stack user code set to a non-string still makes a valid task-erred', () => {
  const err = new Error('x');
  Object.assign(err, { message: 42, name: { weird: true }, stack: undefined });
  const msg = { op: 'task-erred', key: 'a', exception: errorToInfo(err), startstops: [] };
  const [back] = decodeFor(SCHEDULER_TO_WORKER, travel(msg));
  assert.equal(back?.op === 'task-erred' && back.exception.message, '42');
});

/** Two connected sockets on loopback. */
async function socketPair(): Promise<[Socket, Socket, () => void]> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const a = netConnect(port, '127.0.0.1');
  await new Promise((r) => a.once('connect', r));
  return [a, await accepted, () => server.close()];
}

test('a Comm closes the connection that sends a malformed message, with a ProtocolError, and its handler never sees it', async () => {
  const [a, b, done] = await socketPair();
  const scheduler = new Comm(b).typed(SCHEDULER_TO_WORKER);
  const seen: string[] = [];
  scheduler.onMessage = (m) => seen.push(m.op);
  const raw = new Comm(a);
  // Sent untyped, as a broken or hostile peer would: the typing of `raw` does not allow it.
  const rawSend = raw.sendNow.bind(raw) as (m: object) => void;
  rawSend([{ op: 'add-keys', keys: ['a'] }, { op: 'task-finished', key: 'a', nbytes: 'many', type: '', startstops: [] }]);
  const err = await scheduler.closed;
  assert.ok(err instanceof ProtocolError, String(err));
  assert.match(err.message, /task-finished.*nbytes/);
  assert.deepEqual(seen, ['add-keys'], 'the good message before it was handled, the bad one not');
  raw.abort(new Error('done'));
  done();
});

test('a request resolves with its typed reply; a reply that does not fit fails the request', async () => {
  const [a, b, done] = await socketPair();
  const worker = new Comm(a).typed(WORKER_TO_SCHEDULER);
  worker.onMessage = () => {};
  const scheduler = new Comm(b).typed(SCHEDULER_TO_WORKER);
  scheduler.onMessage = (m) => {
    if (m.op === 'register-worker') scheduler.reply(m, { id: 'scheduler-1', workerName: m.name });
  };
  const reply = await worker.request({ op: 'register-worker', address: 'tcp://w:1', name: 'w', nthreads: 1, memoryLimit: 0, host: 'h', pid: 1, localDirectory: '/' });
  const id: string = reply.id;
  assert.equal(id, 'scheduler-1');
  assert.equal(reply.workerName, 'w');

  // A scheduler answering a restart with a mode the worker does not know.
  const badReply = scheduler.request({ op: 'restart' });
  worker.onMessage = (m) => {
    if (m.op === 'restart') (worker as unknown as { enqueue(m: object): void }).enqueue({ op: 'reply', rid: m.rid, ok: true, mode: 'reboot' });
  };
  await assert.rejects(badReply, /bad reply to 'restart'.*mode/);
  worker.abort(new Error('done'));
  done();
});

// ------------------------------------------------------------- type level
// Never run: compiled only. Each @ts-expect-error fails the build if the
// line below it ever compiles, i.e. if the typing regresses.

export async function typeLevelChecks(
  client: Comm<SchedulerToClient, ClientToScheduler>,
  worker: Comm<SchedulerToWorker, WorkerToScheduler>,
  msg: SchedulerToClientMsg,
): Promise<void> {
  // @ts-expect-error a scheduler-to-worker message cannot be sent on a client's connection
  client.send({ op: 'free-keys', keys: ['a'] });
  // @ts-expect-error a field of the wrong type
  client.send({ op: 'client-releases-keys', keys: [1] });
  // @ts-expect-error a request is not a one-way message
  worker.send({ op: 'register-worker' });
  // @ts-expect-error the reply to wait-for-workers has a numeric n
  const n: string = (await client.request({ op: 'wait-for-workers', n: 1 })).n;
  void n;
  switch (msg.op) {
    case 'client-id':
    case 'keys-in-memory':
    case 'task-erred':
      break;
    // @ts-expect-error lost-data, restarted and scheduler-closing have no case: msg is not never here
    default: throw unexpectedOp(msg, 'scheduler to client');
  }
}
