/**
 * The scheduler's shuffle extension (src/scheduler/shuffle.ts) on the pure
 * state machine, validation on: who owns which output, the unpacks pinned
 * there, the same answer for every transfer of a run, a new run for a
 * resubmitted graph, and a restart (forget, rerun, a higher run over the
 * workers left) when an owner is lost mid-shuffle.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SchedulerState, type Effects } from '../../src/scheduler/state.js';
import { ShuffleExtension } from '../../src/scheduler/shuffle.js';
import { stimulusFactory } from '../../src/scheduler/stimulus.js';
import { shuffleKey } from '../../src/graph/shuffle-keys.js';
import type { Msg, TaskDef } from '../../src/protocol/messages.js';

const FN = { kind: 'inline', source: '(x) => x', name: 'f' } as const;
let fakeNow = 1_700_000_000_000;
const st = stimulusFactory(() => ++fakeNow).bind(null, 'test');
const ID = 'abcdef0123456789';

function def(key: string, deps: string[] = []): TaskDef {
  return { key, fn: FN, args: new Uint8Array(), deps };
}

/** A shuffle of n inputs into m outputs, each output wanted by the client. */
function submit(s: SchedulerState, n: number, m: number): void {
  const transfers = Array.from({ length: n }, (_, i) => shuffleKey('transfer', ID, i));
  const unpacks = Array.from({ length: m }, (_, j) => shuffleKey('unpack', ID, j));
  const defs = [...transfers.map((k) => def(k)), def(shuffleKey('barrier', ID), transfers), ...unpacks.map((k) => def(k, [shuffleKey('barrier', ID)]))];
  s.updateGraph('c', defs, unpacks, 0, st());
}

function setup(workers: string[]): { s: SchedulerState; ext: ShuffleExtension } {
  const s = new SchedulerState({ validate: true });
  for (const w of workers) s.addWorker({ address: w, name: w, nthreads: 1, memoryLimit: 0, host: 'h', pid: 1, localDirectory: '' }, st());
  return { s, ext: new ShuffleExtension(s) };
}

function finish(s: SchedulerState, key: string): Effects {
  const ts = s.tasks.get(key)!;
  assert.equal(ts.state, 'processing', `${key} should be processing`);
  return s.taskFinished(ts.processingOn!.address, key, 8, 'number', [], st());
}

function messages(eff: Effects, op: string): Msg[] {
  return [...eff.toWorkers.values()].flat().filter((m) => m.op === op);
}

test('the first transfer to ask starts a run: outputs round-robin over the workers, unpacks pinned to their owners', () => {
  const { s, ext } = setup(['tcp://b:1', 'tcp://a:1']);
  submit(s, 3, 5);
  const run = ext.get(ID, 5);
  assert.equal(run.runId, 1);
  assert.deepEqual(run.owners, ['tcp://a:1', 'tcp://b:1', 'tcp://a:1', 'tcp://b:1', 'tcp://a:1']);
  for (let j = 0; j < 5; j++) assert.deepEqual([...s.tasks.get(shuffleKey('unpack', ID, j))!.workerRestrictions!], [run.owners[j]]);
  // Every later transfer of the run gets the same answer.
  assert.deepEqual(ext.get(ID, 5), run);
  // The unpacks run where their shards are.
  for (let i = 0; i < 3; i++) finish(s, shuffleKey('transfer', ID, i));
  finish(s, shuffleKey('barrier', ID));
  for (let j = 0; j < 5; j++) assert.equal(s.tasks.get(shuffleKey('unpack', ID, j))!.processingOn?.address, run.owners[j]);
});

test('a graph submitted again (a new barrier task) gets a new run', () => {
  const { s, ext } = setup(['tcp://a:1', 'tcp://b:1']);
  submit(s, 2, 2);
  const first = ext.get(ID, 2);
  s.clientReleasesKeys('c', [shuffleKey('unpack', ID, 0), shuffleKey('unpack', ID, 1)], st());
  assert.equal(s.tasks.get(shuffleKey('barrier', ID)), undefined);
  assert.throws(() => ext.get(ID, 2), /no barrier task/);
  submit(s, 2, 2);
  assert.equal(ext.get(ID, 2).runId, first.runId + 1);
});

test('losing an owner mid-shuffle restarts it: workers forget the run, transfers run again, the next run avoids the dead worker', () => {
  const { s, ext } = setup(['tcp://a:1', 'tcp://b:1']);
  submit(s, 4, 4);
  const run = ext.get(ID, 4);
  finish(s, shuffleKey('transfer', ID, 0));
  finish(s, shuffleKey('transfer', ID, 1));
  s.removeWorker('tcp://b:1', st());
  const eff = ext.workerRemoved('tcp://b:1', st());
  s.validate();
  assert.deepEqual(messages(eff, 'shuffle-forget'), [{ op: 'shuffle-forget', id: ID, runId: run.runId + 1 }]);
  assert.deepEqual(ext.active(), []);
  // Both finished transfers lost their results and run again, with the others.
  for (let i = 0; i < 4; i++) assert.ok(['processing', 'waiting', 'queued'].includes(s.tasks.get(shuffleKey('transfer', ID, i))!.state), `transfer ${i}`);
  assert.equal(s.tasks.get(shuffleKey('barrier', ID))!.state, 'waiting');
  const next = ext.get(ID, 4);
  assert.equal(next.runId, run.runId + 1);
  assert.deepEqual(next.owners, ['tcp://a:1', 'tcp://a:1', 'tcp://a:1', 'tcp://a:1']);
});

test('losing a worker that owns nothing restarts nothing; losing an output after the shuffle finished runs it again', () => {
  const { s, ext } = setup(['tcp://a:1', 'tcp://b:1', 'tcp://c:1']);
  submit(s, 2, 2);
  const run = ext.get(ID, 2); // outputs on a and b
  s.removeWorker('tcp://c:1', st());
  assert.equal(messages(ext.workerRemoved('tcp://c:1', st()), 'shuffle-forget').length, 0);
  assert.equal(ext.active().length, 1);
  for (let i = 0; i < 2; i++) finish(s, shuffleKey('transfer', ID, i));
  finish(s, shuffleKey('barrier', ID));
  for (let j = 0; j < 2; j++) finish(s, shuffleKey('unpack', ID, j));
  // b held output 1, whose shards are gone once it was unpacked: only a new run can make it again.
  s.removeWorker('tcp://b:1', st());
  const eff = ext.workerRemoved('tcp://b:1', st());
  s.validate();
  assert.deepEqual(messages(eff, 'shuffle-forget'), [{ op: 'shuffle-forget', id: ID, runId: run.runId + 1 }]);
  assert.notEqual(s.tasks.get(shuffleKey('unpack', ID, 1))!.state, 'memory');
  assert.deepEqual(ext.get(ID, 2).owners, ['tcp://a:1', 'tcp://a:1']);
});
