/**
 * Work stealing (stealing.ts) against the state machine: the plan, and the
 * confirmed move, which goes through transitions (so the transition log and
 * validate() see it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidStateError, SchedulerState, type Effects } from '../../src/scheduler/state.js';
import { confirmSteal, planSteals } from '../../src/scheduler/stealing.js';
import { stimulusFactory } from '../../src/scheduler/stimulus.js';
import type { TaskDef } from '../../src/protocol/messages.js';

const FN = { kind: 'inline', source: '(x) => x', name: 'f' } as const;
const def = (key: string, deps: string[] = [], extra: Partial<TaskDef> = {}): TaskDef => ({ key, fn: FN, args: new Uint8Array(), deps, ...extra });

let now = 5_000;
const stim = stimulusFactory(() => ++now);

function addWorker(s: SchedulerState, address: string, nthreads = 1): void {
  s.addWorker({ address, name: address, nthreads, memoryLimit: 0, host: 'h', pid: 1, localDirectory: '' }, stim('add-worker'));
}

/** w1 holds `seed` and all eight of its dependents; w2 arrives idle. */
function overloaded(): { s: SchedulerState; keys: string[] } {
  const s = new SchedulerState({ validate: true });
  addWorker(s, 'w1');
  s.updateGraph('c', [def('seed', [], { workers: ['w1'] })], ['seed'], 0, stim('update-graph'));
  s.taskFinished('w1', 'seed', 8, 'number', [], stim('task-finished'));
  const keys = Array.from({ length: 8 }, (_, i) => `t-${i}`);
  s.updateGraph('c', keys.map((k) => def(k, ['seed'])), keys, 0, stim('update-graph'));
  addWorker(s, 'w2');
  return { s, keys };
}

function computeKeys(eff: Effects, address: string): string[] {
  for (const [ws, msgs] of eff.toWorkers) if (ws.address === address) return msgs.filter((m) => m.op === 'compute-task').map((m) => String(m.key));
  return [];
}

test('the plan takes the newest unstarted tasks of the overloaded worker for the idle one', () => {
  const { s, keys } = overloaded();
  const plans = planSteals(s, now);
  // w1 holds 8 for 1 thread: half of the excess, at most 2 per idle thread.
  assert.deepEqual(plans.map((p) => [p.ts.key, p.victim.address, p.thief.address]), [['t-7', 'w1', 'w2'], ['t-6', 'w1', 'w2']]);
  assert.ok(keys.every((k) => s.tasks.get(k)!.processingOn!.address === 'w1'), 'planning moves nothing');
  assert.deepEqual(planSteals(s, s.assignedAt(s.tasks.get('t-7')!) - 1), [], 'tasks stamped after now are left alone');
});

test('nothing to steal: no idle worker, or restricted tasks', () => {
  const s = new SchedulerState({ validate: true });
  addWorker(s, 'w1');
  addWorker(s, 'w2');
  const keys = Array.from({ length: 6 }, (_, i) => `r-${i}`);
  s.updateGraph('c', keys.map((k) => def(k, [], { workers: ['w1'] })), keys, 0, stim('update-graph'));
  assert.deepEqual(planSteals(s, now), [], 'restricted to w1');
});

test('a confirmed steal is processing>waiting>processing under the steal stimulus, and the thief is told', () => {
  const { s } = overloaded();
  const [plan] = planSteals(s, now);
  const key = plan!.ts.key;
  const response = stim('steal-response');
  const eff = confirmSteal(s, key, 'w1', 'w2', true, response);
  assert.equal(s.tasks.get(key)!.processingOn!.address, 'w2');
  assert.equal(s.assignedAt(s.tasks.get(key)!), response.now);
  assert.deepEqual(computeKeys(eff, 'w2'), [key]);
  assert.deepEqual(s.story(response.stimulusId).map((r) => [r.key, r.start, r.finish]), [
    [key, 'processing', 'waiting'],
    [key, 'waiting', 'processing'],
  ]);
  assert.equal(s.workers.get('w1')!.processing.has(s.tasks.get(key)!), false);
});

test('a refused steal, or one for a task that moved on, changes nothing and logs nothing', () => {
  const { s } = overloaded();
  const before = s.transitionLog.total;
  const refused = stim('steal-response');
  confirmSteal(s, 't-7', 'w1', 'w2', false, refused);
  assert.equal(s.tasks.get('t-7')!.processingOn!.address, 'w1');
  s.taskFinished('w1', 't-6', 8, 'number', [], stim('task-finished'));
  const stale = stim('steal-response');
  confirmSteal(s, 't-6', 'w1', 'w2', true, stale);
  assert.equal(s.tasks.get('t-6')!.state, 'memory');
  assert.deepEqual(s.story(refused.stimulusId), []);
  assert.deepEqual(s.story(stale.stimulusId), []);
  assert.ok(s.transitionLog.total > before, 'only the task-finished transitions');
});

test('a task given up without a thief (retirement) or for a departed thief is placed by the scheduler', () => {
  const { s } = overloaded();
  addWorker(s, 'w3');
  s.removeWorker('w2', stim('remove-worker'));
  confirmSteal(s, 't-7', 'w1', 'w2', true, stim('steal-response'));
  assert.equal(s.tasks.get('t-7')!.processingOn!.address, 'w3', 'thief gone: the idle worker');
  confirmSteal(s, 't-6', 'w1', '', true, stim('steal-response'));
  assert.equal(s.tasks.get('t-6')!.state, 'processing');
});

test('validate() checks the state after a steal: a broken move is caught', () => {
  const { s } = overloaded();
  // Sabotage: the victim is not told to drop the task, as if processing>waiting forgot it.
  (s as unknown as { unassign: (ts: unknown) => null }).unassign = () => null;
  assert.throws(() => confirmSteal(s, 't-7', 'w1', 'w2', true, stim('steal-response')), InvalidStateError);
});
