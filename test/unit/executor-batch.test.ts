/**
 * The wire form of job and result batches between a worker's main thread and
 * its executor threads (src/worker/executor-batch.ts), sent through a real
 * MessageChannel so transfers and shared memory behave as between threads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import {
  FunctionNumbers, SHAREABLE_BUFFER_BYTES, decodeJobs, decodeResults, encodeJobs, encodeResults,
  type JobBatch, type JobResult, type ResultBatch, type RunJob,
} from '../../src/worker/executor-batch.js';
import type { FunctionSpec } from '../../src/protocol/messages.js';

/** Posts `msg` through a real port and reads it back, as the other thread would. */
function roundTrip<T>(msg: T, transfer: ArrayBuffer[]): T {
  const { port1, port2 } = new MessageChannel();
  try {
    port1.postMessage(msg, transfer);
    const got = receiveMessageOnPort(port2);
    if (!got) throw new Error('the message posted to the port did not arrive');
    return got.message as T;
  } finally {
    port1.close();
    port2.close();
  }
}

const bytesOf = (...xs: number[]) => new Uint8Array(xs);
const inc: FunctionSpec = { kind: 'module', url: 'file:///fns.js', export: 'inc' };

test('jobs: keys, arguments, dependency frames (inline and shared) and function numbers arrive intact', () => {
  const shared = new Uint8Array(new SharedArrayBuffer(16));
  shared.fill(7);
  const big = new Uint8Array(100);
  const jobs: RunJob[] = [
    { id: 1, key: 'a-1', fn: inc, args: bytesOf(1, 2, 3), depKeys: [], depValues: [] },
    {
      id: 2, key: 'b-ü-2', fn: { kind: 'module', url: 'file:///fns.js', export: 'inc' }, args: big.subarray(10, 12),
      depKeys: ['a-1', 'big'], depValues: [{ kind: 'msgpack', frames: [bytesOf(9)] }, { kind: 'bytes', frames: [shared, bytesOf(4, 5)] }],
    },
    { id: 3, key: 'c', fn: { kind: 'inline', source: 'x => x', name: 'id' }, args: bytesOf(), depKeys: [], depValues: [] },
  ];
  const numbers = new FunctionNumbers();
  const { batch, transfer } = encodeJobs(jobs, numbers);
  const got = decodeJobs(roundTrip<JobBatch>(batch, transfer));
  // The same function, whether the same object or an equal one, has one number; each is sent once.
  assert.deepEqual(batch.fns.map(([id, spec]) => [id, spec.kind]), [[1, 'module'], [2, 'inline']]);
  assert.deepEqual(got.map((j) => [j.id, j.key, j.fnId, [...j.args], j.depKeys]), [
    [1, 'a-1', 1, [1, 2, 3], []],
    [2, 'b-ü-2', 1, [0, 0], ['a-1', 'big']],
    [3, 'c', 2, [], []],
  ]);
  const deps = got[1]!.depValues;
  assert.equal(deps[0]!.kind, 'msgpack');
  assert.deepEqual([...deps[0]!.frames[0]!], [9]);
  assert.equal(deps[1]!.kind, 'bytes');
  assert.ok(deps[1]!.frames[0]!.buffer instanceof SharedArrayBuffer, 'a shared frame passes by reference');
  shared[0] = 42;
  assert.equal(deps[1]!.frames[0]![0], 42, 'the receiver sees the same shared memory');
  assert.deepEqual([...deps[1]!.frames[1]!], [4, 5]);
  // A later batch sends no spec the thread already has.
  assert.deepEqual(encodeJobs([jobs[0]!], numbers).batch.fns, []);
});

test('function numbering starts over, telling the thread, once too many distinct functions were sent', () => {
  const numbers = new FunctionNumbers();
  let reset = false;
  let batches = 0;
  for (let i = 0; !reset && i < 10_000; i++) {
    const fn: FunctionSpec = { kind: 'inline', source: `x => x + ${i}`, name: 'f' };
    const { batch } = encodeJobs([{ id: i + 1, key: `k${i}`, fn, args: bytesOf(), depKeys: [], depValues: [] }], numbers);
    batches++;
    reset = batch.reset;
    if (reset) assert.deepEqual(batch.fns.map(([id]) => id), [1], 'after a reset numbering starts at 1 and the spec is sent again');
  }
  assert.ok(reset, `no reset after ${batches} distinct functions`);
});

test('results: values, errors, large frames transferred whole and shared ones by reference', () => {
  const large = new Uint8Array(200_000).fill(3);
  const pool = new Uint8Array(300_000);
  const largeView = pool.subarray(1000, 101_000).fill(5);
  const shared = new Uint8Array(new SharedArrayBuffer(8)).fill(6);
  const results: JobResult[] = [
    { type: 'done', id: 1, value: { kind: 'msgpack', frames: [bytesOf(1)] }, valueType: 'number', start: 1.7e12, stop: 1.7e12 + 5 },
    { type: 'error', id: 2, error: { name: 'TypeError', message: 'bad', stack: 'TypeError: bad' }, start: 1, stop: 2 },
    { type: 'done', id: 3, value: { kind: 'bytes', frames: [large, largeView, shared] }, valueType: 'Buffer', start: 3, stop: 4 },
  ];
  const { batch, transfer } = encodeResults(results);
  assert.equal(pool.byteLength, 300_000, 'a view into a bigger buffer is copied before transfer, not the buffer detached');
  const got: JobResult[] = [];
  decodeResults(roundTrip<ResultBatch>(batch, transfer), (r) => got.push(r));
  assert.deepEqual(got.map((r) => [r.type, r.id, r.start, r.stop]), [['done', 1, 1.7e12, 1.7e12 + 5], ['error', 2, 1, 2], ['done', 3, 3, 4]]);
  const [one, err, three] = got as [Extract<JobResult, { type: 'done' }>, Extract<JobResult, { type: 'error' }>, Extract<JobResult, { type: 'done' }>];
  assert.deepEqual([one.value.kind, one.valueType, [...one.value.frames[0]!]], ['msgpack', 'number', [1]]);
  assert.deepEqual(err.error, { name: 'TypeError', message: 'bad', stack: 'TypeError: bad' });
  const [l, lv, s] = three.value.frames as [Uint8Array, Uint8Array, Uint8Array];
  assert.equal(l.byteLength, 200_000);
  assert.ok(l.every((x) => x === 3));
  assert.equal(lv.byteLength, 100_000);
  assert.ok(lv.every((x) => x === 5));
  assert.ok(s.buffer instanceof SharedArrayBuffer);
  assert.deepEqual([...s], [6, 6, 6, 6, 6, 6, 6, 6]);
});

test('small result frames of a large batch get buffers of their own; a tiny batch is shared', () => {
  const many: JobResult[] = Array.from({ length: 40 }, (_, i) => ({
    type: 'done', id: i + 1, value: { kind: 'msgpack', frames: [new Uint8Array(20).fill(i)] }, valueType: 'Array', start: 0, stop: 0,
  }));
  const { batch, transfer } = encodeResults(many);
  assert.ok(batch.bytes.byteLength > SHAREABLE_BUFFER_BYTES);
  const got: JobResult[] = [];
  decodeResults(roundTrip<ResultBatch>(batch, transfer), (r) => got.push(r));
  for (const [i, r] of got.entries()) {
    assert.equal(r.type, 'done');
    const f = (r as Extract<JobResult, { type: 'done' }>).value.frames[0]!;
    assert.equal(f.buffer.byteLength, 20, 'copied out of the batch: keeping it does not keep the batch');
    assert.ok(f.every((x) => x === i));
  }
  const few = encodeResults(many.slice(0, 2));
  const kept: JobResult[] = [];
  decodeResults(roundTrip<ResultBatch>(few.batch, few.transfer), (r) => kept.push(r));
  const [a, b] = kept.map((r) => (r as Extract<JobResult, { type: 'done' }>).value.frames[0]!);
  assert.equal(a!.buffer, b!.buffer, 'two tiny values share their batch buffer');
});
