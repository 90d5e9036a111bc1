/**
 * The scheduler's queue of recommendations reads like a Map from task to
 * state that is iterated while it grows (what the transitions loop relied
 * on before): a task recommended again while it waits keeps its place with
 * the new target, one recommended after its turn goes to the end, and a
 * withdrawn recommendation can be put back in its place.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Recommendations } from '../../src/scheduler/recommendations.js';
import { TaskGroup, TaskState } from '../../src/scheduler/entities.js';
import type { TaskStateName } from '../../src/scheduler/snapshot.js';

const group = new TaskGroup('t');
const task = (key: string) => new TaskState(key, group);

/** Hands out everything left, as the transitions loop does, calling `during` after each. */
function drain(r: Recommendations, during?: (ts: TaskState, target: TaskStateName) => void): string[] {
  const out: string[] = [];
  for (let ts = r.next(); ts; ts = r.next()) {
    out.push(`${ts.key}:${r.nextTarget}`);
    during?.(ts, r.nextTarget);
  }
  return out;
}

test('in the order made; recommended again while waiting: same place, new target', () => {
  const [a, b, c] = ['a', 'b', 'c'].map(task) as [TaskState, TaskState, TaskState];
  const r = new Recommendations();
  r.set(a, 'waiting');
  r.set(b, 'waiting');
  r.set(c, 'released');
  r.set(a, 'forgotten');
  assert.equal(r.get(a), 'forgotten');
  assert.deepEqual(drain(r), ['a:forgotten', 'b:waiting', 'c:released']);
  assert.equal(r.get(a), undefined, 'handed out');
});

test('what is recommended while handing out is handed out too; after its turn, at the end', () => {
  const [a, b, c] = ['a', 'b', 'c'].map(task) as [TaskState, TaskState, TaskState];
  const r = new Recommendations();
  r.set(a, 'waiting');
  r.set(b, 'waiting');
  const seen = drain(r, (ts, target) => {
    if (ts === a && target === 'waiting') {
      r.set(c, 'processing');
      r.set(a, 'processing'); // a again: its turn came, so after c
      r.set(b, 'memory'); // b still waits: keeps its place
    }
  });
  assert.deepEqual(seen, ['a:waiting', 'b:memory', 'c:processing', 'a:processing']);
});

test('take withdraws, restore puts back in place; reset forgets everything, even after a throw midway', () => {
  const [a, b, c] = ['a', 'b', 'c'].map(task) as [TaskState, TaskState, TaskState];
  const r = new Recommendations();
  r.set(a, 'waiting');
  r.set(b, 'released');
  const slot = r.take(a);
  assert.ok(slot >= 0);
  assert.equal(r.take(a), -1, 'already withdrawn');
  assert.equal(r.get(a), undefined);
  r.set(a, 'erred'); // a new one for a goes to the end...
  assert.equal(r.take(a) >= 0, true); // ...and is withdrawn again
  r.restore(a, slot);
  assert.deepEqual(drain(r), ['a:waiting', 'b:released']);

  r.reset();
  r.set(a, 'waiting');
  r.set(b, 'waiting');
  assert.equal(r.next(), a); // a stimulus that throws here leaves b waiting
  r.reset();
  assert.equal(r.get(b), undefined);
  r.set(c, 'released');
  r.set(b, 'forgotten');
  assert.deepEqual(drain(r), ['c:released', 'b:forgotten']);
});
