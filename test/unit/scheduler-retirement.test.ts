/** Graceful retirement (retirement.ts): what a retiring worker gives away and hands off. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SchedulerState } from '../../src/scheduler/state.js';
import { handoffPlan, retireWorker } from '../../src/scheduler/retirement.js';
import { stimulusFactory } from '../../src/scheduler/stimulus.js';
import type { TaskDef } from '../../src/protocol/messages.js';

const FN = { kind: 'inline', source: '(x) => x', name: 'f' } as const;
const def = (key: string, workers?: string[]): TaskDef => ({ key, fn: FN, args: new Uint8Array(), deps: [], ...(workers ? { workers } : {}) });

let now = 0;
const stim = stimulusFactory(() => ++now);

function cluster(...addresses: string[]): SchedulerState {
  const s = new SchedulerState({ validate: true });
  for (const address of addresses) s.addWorker({ address, name: address, nthreads: 1, memoryLimit: 0, host: 'h', pid: 1, localDirectory: '' }, stim('add-worker'));
  return s;
}

test('retiring marks the worker closing and gives up only its unrestricted tasks', () => {
  const s = cluster('w1', 'w2');
  s.updateGraph('c', [def('free'), def('pinned', ['w1'])], ['free', 'pinned'], 0, stim('update-graph'));
  const onW1 = [...s.workers.get('w1')!.processing.keys()].map((ts) => ts.key);
  assert.ok(onW1.includes('pinned'));
  const given = retireWorker(s, 'w1');
  assert.equal(s.workers.get('w1')!.status, 'closing');
  assert.deepEqual(given, onW1.filter((k) => k !== 'pinned'));
  assert.deepEqual(retireWorker(s, 'nobody'), []);
  assert.equal(s.runningWorkers().map((w) => w.address).join(), 'w2', 'no new work for w1');
});

test('the hand-off spreads keys only the retiring worker holds over the workers with least data', () => {
  const s = cluster('w1', 'w2', 'w3');
  s.updateGraph('c', ['a', 'b', 'c'].map((k) => def(k, ['w1'])).concat([def('big', ['w2'])]), ['a', 'b', 'c', 'big'], 0, stim('update-graph'));
  for (const k of ['a', 'b', 'c']) s.taskFinished('w1', k, 8, 'number', [], stim('task-finished'));
  s.taskFinished('w2', 'big', 1e6, 'Buffer', [], stim('task-finished'));
  retireWorker(s, 'w1');
  const plan = handoffPlan(s, 'w1');
  assert.equal(plan.done, false);
  assert.deepEqual(plan.moves.map((m) => [m.key, m.to.address, m.nbytes]), [['a', 'w3', 8], ['b', 'w2', 8], ['c', 'w3', 8]]);
  s.addKeys('w3', ['a', 'c']);
  s.addKeys('w2', ['b']);
  assert.deepEqual(handoffPlan(s, 'w1'), { done: true, moves: [] });
  assert.deepEqual(handoffPlan(s, 'gone'), { done: true, moves: [] });
});

test('a retiring worker is not done while it processes, nor held back when no one can take its data', () => {
  const s = cluster('w1');
  s.updateGraph('c', [def('a')], ['a'], 0, stim('update-graph'));
  retireWorker(s, 'w1');
  assert.deepEqual(handoffPlan(s, 'w1'), { done: false, moves: [] });
  s.taskFinished('w1', 'a', 8, 'number', [], stim('task-finished'));
  assert.deepEqual(handoffPlan(s, 'w1'), { done: true, moves: [] }, 'no running worker to copy to');
});
