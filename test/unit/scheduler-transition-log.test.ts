/**
 * The transition log and stories: every transition is recorded with its
 * stimulus, the buffer is bounded, and an impossible transition reports the
 * key's story.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Effects, InvalidTransitionError, SchedulerState } from '../../src/scheduler/state.js';
import { TransitionLog, formatStory } from '../../src/scheduler/transition-log.js';
import { stimulusFactory, type Stimulus } from '../../src/scheduler/stimulus.js';
import type { TaskDef } from '../../src/protocol/messages.js';
import type { TaskState } from '../../src/scheduler/entities.js';
import { Recommendations } from '../../src/scheduler/recommendations.js';
import type { TaskStateName } from '../../src/scheduler/snapshot.js';
import type { TransitionPayload } from '../../src/scheduler/transition-payloads.js';

const FN = { kind: 'inline', source: '(x) => x', name: 'f' } as const;
const def = (key: string, deps: string[] = []): TaskDef => ({ key, fn: FN, args: new Uint8Array(), deps });

function cluster(): { s: SchedulerState; stim: (name: string) => Stimulus } {
  let now = 1_000;
  const stim = stimulusFactory(() => (now += 10));
  const s = new SchedulerState({ validate: true });
  s.addWorker({ address: 'w1', name: 'w1', nthreads: 1, memoryLimit: 0, host: 'h', pid: 1, localDirectory: '' }, stim('add-worker'));
  return { s, stim };
}

/** The private dispatcher, to ask for transitions no stimulus would. */
function requestTransition(s: SchedulerState, key: string, finish: TaskStateName, stim: Stimulus, payload?: TransitionPayload): void {
  // The private step every stimulus takes, here asked for directly, with a recommendations map of its own.
  const transition = (s as unknown as { transition: (ts: TaskState, f: TaskStateName, r: Recommendations, e: Effects, st: Stimulus, p?: TransitionPayload) => unknown }).transition;
  transition.call(s, s.tasks.get(key)!, finish, new Recommendations(), new Effects(), stim, payload);
}

test('the ring buffer keeps the newest entries, oldest first, and counts all', () => {
  const log = new TransitionLog(3);
  for (let i = 0; i < 5; i++) log.record(`k${i}`, 'released', 'waiting', `s${i}`, i);
  assert.equal(log.length, 3);
  assert.equal(log.total, 5);
  assert.deepEqual(log.entries().map((e) => e.key), ['k2', 'k3', 'k4']);
  assert.deepEqual(log.story('k3', 's4').map((e) => [e.key, e.stimulusId, e.time]), [['k3', 's3', 3], ['k4', 's4', 4]]);
  assert.deepEqual(log.story('k0'), [], 'overwritten');
  assert.throws(() => new TransitionLog(0), RangeError);
});

test('a task\'s story tells each transition with the stimulus that caused it and its time', () => {
  const { s, stim } = cluster();
  const submit = stim('update-graph');
  s.updateGraph('c', [def('a'), def('b', ['a'])], ['b'], 0, submit);
  const done = stim('task-finished');
  s.taskFinished('w1', 'a', 8, 'number', [], done);
  assert.deepEqual(s.story('a').map((r) => [r.start, r.finish, r.stimulusId, r.time]), [
    ['released', 'waiting', submit.stimulusId, submit.now],
    ['waiting', 'processing', submit.stimulusId, submit.now],
    ['processing', 'memory', done.stimulusId, done.now],
  ]);
  // A stimulus id gives everything it caused: a in memory, b sent to the worker.
  assert.deepEqual(s.story(done.stimulusId).map((r) => `${r.key}:${r.start}>${r.finish}`), ['a:processing>memory', 'b:waiting>processing']);
});

test('the log records the state reached, and forgotten tasks keep their story', () => {
  const { s, stim } = cluster();
  const keys = Array.from({ length: 6 }, (_, i) => `r-${i}`);
  s.updateGraph('c', keys.map((k) => def(k)), keys, 0, stim('update-graph'));
  const queued = keys.find((k) => s.tasks.get(k)!.state === 'queued')!;
  assert.deepEqual(s.story(queued).map((r) => r.finish), ['waiting', 'queued'], 'asked for processing, got queued');
  const release = stim('client-releases-keys');
  s.clientReleasesKeys('c', [queued], release);
  assert.equal(s.tasks.get(queued), undefined);
  assert.deepEqual(s.story(queued).slice(-2).map((r) => [r.start, r.finish, r.stimulusId]), [
    ['queued', 'released', release.stimulusId],
    ['released', 'forgotten', release.stimulusId],
  ]);
});

test('an impossible transition is an InvalidTransitionError that tells the key\'s story', () => {
  const { s, stim } = cluster();
  s.updateGraph('c', [def('a', []), def('b', ['a'])], ['b'], 0, stim('update-graph'));
  // b waits for a. Nothing may put b in memory without data: waiting>released, then no released>memory.
  let err: unknown;
  try {
    requestTransition(s, 'b', 'memory', stim('bogus'));
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof InvalidTransitionError, String(err));
  assert.equal(err.key, 'b');
  assert.equal(err.start, 'released');
  assert.equal(err.finish, 'memory');
  assert.match(err.message, /no transition from released to memory for b; its story/);
  assert.match(err.message, /b: released > waiting {2}\(stimulus update-graph-2 at 1970-01-01T00:00:01\.020Z\)/);
  assert.match(err.message, /b: waiting > released {2}\(stimulus bogus-3/);
  assert.deepEqual(err.story.map((r) => r.finish), ['waiting', 'released']);
});

test('a payload sent to a transition that expects another kind is refused', () => {
  const { s, stim } = cluster();
  s.updateGraph('c', [def('a')], ['a'], 0, stim('update-graph'));
  const w1 = s.workers.get('w1')!;
  assert.throws(
    () => requestTransition(s, 'a', 'memory', stim('bogus'), { kind: 'scattered', worker: w1, nbytes: 1, type: 'x' }),
    (e: unknown) => e instanceof InvalidTransitionError && /processing>memory needs a task-finished payload, got scattered/.test(e.message),
  );
  assert.equal(s.tasks.get('a')!.state, 'processing', 'nothing changed');
});

test('stories in messages are cut to the last transitions', () => {
  const story = Array.from({ length: 30 }, (_, i) => ({ key: 'k', start: 'released' as const, finish: 'waiting' as const, stimulusId: `s${i}`, time: i }));
  const text = formatStory(story, 5);
  assert.match(text, /25 earlier transitions/);
  assert.equal(text.split('\n').length, 6);
  assert.match(formatStory([]), /no transitions/);
  assert.match(formatStory([{ ...story[0]!, time: Number.NaN }]), /at NaN/);
});

test('the log capacity is an option, and a small log still tells the recent story', () => {
  let now = 0;
  const stim = stimulusFactory(() => ++now);
  const s = new SchedulerState({ validate: true, transitionLogCapacity: 4 });
  s.addWorker({ address: 'w1', name: 'w1', nthreads: 1, memoryLimit: 0, host: 'h', pid: 1, localDirectory: '' }, stim('add-worker'));
  s.updateGraph('c', [def('a'), def('b')], ['a', 'b'], 0, stim('update-graph'));
  s.taskFinished('w1', 'a', 8, 'number', [], stim('task-finished'));
  assert.equal(s.transitionLog.length, 4);
  assert.ok(s.transitionLog.total > 4);
  assert.deepEqual(s.story('a').at(-1)!.finish, 'memory');
});
