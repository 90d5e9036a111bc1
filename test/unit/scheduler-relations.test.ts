/**
 * TaskState's relations are compact (made on first use, one-member
 * relations to a worker or client shared as that member's `solo` set), yet
 * read like plain sets: these follow a task's replicas and wanting clients
 * through adds and removals, with every invariant validated after each batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SchedulerState } from '../../src/scheduler/state.js';
import { stimulusFactory } from '../../src/scheduler/stimulus.js';
import type { TaskDef } from '../../src/protocol/messages.js';

const FN = { kind: 'inline', source: '(x) => x', name: 'f' } as const;
let fakeNow = 1_700_000_000_000;
const nextStimulus = stimulusFactory(() => ++fakeNow);
const st = () => nextStimulus('test');

function def(key: string, deps: string[] = []): TaskDef {
  return { key, fn: FN, args: new Uint8Array(), deps };
}

function addWorker(s: SchedulerState, address: string): void {
  s.addWorker({ address, name: address, nthreads: 1, memoryLimit: 0, host: 'localhost', pid: 1, localDirectory: '' }, st());
}

test('replicas on one, two, three workers and back: whoHas and hasWhat agree, solo sets never change', () => {
  const s = new SchedulerState({ validate: true });
  for (const w of ['w1', 'w2', 'w3']) addWorker(s, w);
  s.updateGraph('c', [def('a')], ['a'], 0, st());
  const ts = s.tasks.get('a')!;
  assert.equal(ts.whoHas.size, 0);
  const first = ts.processingOn!;
  s.taskFinished(first.address, 'a', 8, 'number', [], st());
  assert.deepEqual([...ts.whoHas].map((w) => w.address), [first.address]);
  const others = ['w1', 'w2', 'w3'].filter((w) => w !== first.address);
  s.addKeys(others[0]!, ['a']);
  s.addKeys(others[1]!, ['a']);
  s.addKeys(others[1]!, ['a']); // a duplicate report changes nothing
  assert.deepEqual([...ts.whoHas].map((w) => w.address), [first.address, ...others], 'insertion order');
  s.removeWorker(first.address, st());
  assert.deepEqual([...ts.whoHas].map((w) => w.address), others);
  s.removeWorker(others[0]!, st());
  assert.deepEqual([...ts.whoHas].map((w) => w.address), [others[1]]);
  for (const ws of s.workers.values()) assert.deepEqual([...ws.solo], [ws], `${ws.address}'s solo set holds only it`);
  assert.equal(first.solo.size, 1, 'a removed worker keeps its solo set intact');
  s.validate();
});

test('two clients want a key, then release it one after the other: it is forgotten after the last', () => {
  const s = new SchedulerState({ validate: true });
  addWorker(s, 'w1');
  s.updateGraph('c1', [def('a'), def('b', ['a'])], ['b'], 0, st());
  s.clientDesiresKeys('c2', ['b'], st());
  const b = s.tasks.get('b')!;
  assert.deepEqual([...b.whoWants].map((c) => c.id), ['c1', 'c2']);
  assert.equal(s.tasks.get('a')!.dependents.size, 1);
  s.clientReleasesKeys('c1', ['b'], st());
  assert.deepEqual([...b.whoWants].map((c) => c.id), ['c2']);
  for (const cs of s.clients.values()) assert.deepEqual([...cs.solo], [cs]);
  s.clientReleasesKeys('c2', ['b'], st());
  assert.equal(b.whoWants.size, 0);
  assert.equal(s.tasks.has('b'), false, 'b is forgotten once nobody wants it');
  assert.equal(s.tasks.has('a'), false, 'and so is its dependency');
});

test('waitingOn: tracked as bits up to 30 dependencies and as a set beyond, same answers either way', () => {
  for (const n of [2, 30, 31, 45]) {
    const s = new SchedulerState({ validate: true });
    addWorker(s, 'w1');
    const inputs = Array.from({ length: n }, (_, i) => `in${i}`);
    s.updateGraph('c', [...inputs.map((k) => def(k)), def('sum', inputs)], ['sum'], 0, st());
    const sum = s.tasks.get('sum')!;
    assert.equal(sum.state, 'waiting');
    assert.equal(sum.waitingCount, n);
    assert.deepEqual([...sum.waitingOn].map((t) => t.key), inputs, `${n}: waits on every input, in order`);
    // Finish inputs as the worker holds them, the most recently assigned first (not in dependency order);
    // validation checks waitingOn against the states after each.
    while (sum.state === 'waiting') {
      const held = [...s.workers.get('w1')!.processing.keys()];
      s.taskFinished('w1', held[held.length - 1]!.key, 8, 'number', [], st());
      const notInMemory = inputs.filter((k) => s.tasks.get(k)!.state !== 'memory');
      if (sum.state === 'waiting') {
        assert.equal(sum.waitingCount, notInMemory.length);
        assert.deepEqual([...sum.waitingOn].map((t) => t.key), notInMemory);
      }
    }
    assert.equal(sum.state, 'processing', `${n}: runs once every input is in memory`);
  }
});
