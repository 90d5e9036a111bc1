/** The task stream the dashboard polls: cursors, limits and the bounded buffer. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskStream } from '../../src/scheduler/task-stream.js';
import { TaskGroup, TaskState, WorkerState } from '../../src/scheduler/entities.js';

const ws = new WorkerState('tcp://w1', 'w1', 2, 0, 'h', 1, '');
const task = (key: string) => new TaskState(key, new TaskGroup(key.split('-')[0]!));

test('records one event per reported interval, readable incrementally by cursor', () => {
  const stream = new TaskStream();
  stream.record(task('inc-1'), ws, [
    { action: 'transfer', start: 1, stop: 2, thread: 1, nbytes: 80 },
    { action: 'compute', start: 2, stop: 5, thread: 1 },
  ], false);
  stream.record(task('dec-1'), ws, [{ action: 'compute', start: 3, stop: 4 }], true);
  assert.equal(stream.head, 3);
  const all = stream.since(0);
  assert.equal(all.cursor, 3);
  assert.deepEqual(all.events.map((e) => [e.cursor, e.key, e.group, e.kind, e.thread, e.nbytes]), [
    [1, 'inc-1', 'inc', 'transfer', 1, 80],
    [2, 'inc-1', 'inc', 'compute', 1, undefined],
    [3, 'dec-1', 'dec', 'error', 0, undefined],
  ]);
  assert.ok(!('nbytes' in all.events[1]!), 'no nbytes key on computations');
  assert.deepEqual(stream.since(1, 1).events.map((e) => e.cursor), [2]);
  assert.deepEqual(stream.since(3), { cursor: 3, events: [] });
  assert.deepEqual(stream.since(-5, 0), { cursor: 0, events: [] });
});

test('keeps about its capacity, dropping the oldest, and cursors stay valid', () => {
  const stream = new TaskStream(10);
  for (let i = 0; i < 100; i++) stream.record(task(`t-${i}`), ws, [{ action: 'compute', start: i, stop: i + 1 }], false);
  const kept = stream.since(0, 1000).events;
  assert.ok(kept.length >= 10 && kept.length <= 12, `kept ${kept.length}`);
  assert.equal(kept.at(-1)!.cursor, 100);
  assert.deepEqual(stream.since(95).events.map((e) => e.key), ['t-95', 't-96', 't-97', 't-98', 't-99']);
});
