/**
 * The scheduler's state machine driven directly, without I/O. Every test runs
 * with validation on, so each batch of transitions is also checked against
 * all invariants.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Effects, SchedulerState, InvalidStateError } from '../../src/scheduler/state.js';
import { confirmSteal, planSteals } from '../../src/scheduler/stealing.js';
import { handoffPlan, retireWorker } from '../../src/scheduler/retirement.js';
import { stimulusFactory } from '../../src/scheduler/stimulus.js';
import type { Msg, TaskDef } from '../../src/protocol/messages.js';
import type { WorkerState } from '../../src/scheduler/entities.js';

const FN = { kind: 'inline', source: '(x) => x', name: 'f' } as const;

/** Fake time: each stimulus is one ms after the previous one. */
let fakeNow = 1_700_000_000_000;
const nextStimulus = stimulusFactory(() => ++fakeNow);
const st = () => nextStimulus('test');

function def(key: string, deps: string[] = [], extra: Partial<TaskDef> = {}): TaskDef {
  return { key, fn: FN, args: new Uint8Array(), deps, ...extra };
}

function worker(s: SchedulerState, address: string, nthreads = 1): Effects {
  return s.addWorker({ address, name: address, nthreads, memoryLimit: 0, host: 'localhost', pid: 1, localDirectory: '' }, st());
}

function sent(eff: Effects, address: string, op: string): Msg[] {
  for (const [ws, msgs] of eff.toWorkers) if (ws.address === address) return msgs.filter((m) => m.op === op);
  return [];
}

function toClient(eff: Effects, op: string): Msg[] {
  return [...eff.toClients.values()].flat().filter((m) => m.op === op);
}

/** Keys the client was told are in memory. */
function inMemory(eff: Effects): string[] {
  return toClient(eff, 'keys-in-memory').flatMap((m) => m.keys as string[]);
}

function finish(s: SchedulerState, key: string, nbytes = 8): Effects {
  const ts = s.tasks.get(key)!;
  assert.equal(ts.state, 'processing', `${key} should be processing`);
  return s.taskFinished(ts.processingOn!.address, key, nbytes, 'number', [{ action: 'compute', start: 1, stop: 2, thread: 0 }], st());
}

function state(s: SchedulerState, key: string): string | undefined {
  return s.tasks.get(key)?.state;
}

test('released > waiting > processing > memory, and the client is told', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  const eff = s.updateGraph('c', [def('a'), def('b', ['a'])], ['b'], 0, st());
  assert.equal(state(s, 'a'), 'processing');
  assert.equal(state(s, 'b'), 'waiting');
  const compute = sent(eff, 'w1', 'compute-task');
  assert.deepEqual(compute.map((m) => m.key), ['a']);
  const e2 = finish(s, 'a');
  assert.equal(state(s, 'a'), 'memory');
  assert.equal(state(s, 'b'), 'processing');
  assert.deepEqual((sent(e2, 'w1', 'compute-task')[0]!.deps as { key: string; who: string[] }[]).map((d) => [d.key, d.who]), [['a', ['w1']]]);
  const e3 = finish(s, 'b');
  assert.equal(state(s, 'b'), 'memory');
  assert.deepEqual(inMemory(e3), ['b']);
  // 'a' is no longer needed by anyone: memory > released, its data freed on the worker.
  assert.equal(state(s, 'a'), 'released');
  assert.deepEqual(sent(e3, 'w1', 'free-keys').flatMap((m) => m.keys as string[]), ['a']);
});

test('placement prefers the worker that holds the inputs', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  worker(s, 'w2');
  s.updateGraph('c', [def('a', [], { workers: ['w2'] }), def('b', ['a'])], ['b'], 0, st());
  assert.equal(s.tasks.get('a')!.processingOn!.address, 'w2');
  s.taskFinished('w2', 'a', 50e6, 'Buffer', [], st());
  assert.equal(s.tasks.get('b')!.processingOn!.address, 'w2');
});

test('root tasks beyond the worker slots are queued and released as slots free', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  const keys = Array.from({ length: 10 }, (_, i) => `r-${i}`);
  s.updateGraph('c', keys.map((k) => def(k)), keys, 0, st());
  const processing = keys.filter((k) => state(s, k) === 'processing');
  const queued = keys.filter((k) => state(s, k) === 'queued');
  assert.equal(processing.length, s.taskSlots(s.workers.get('w1')!));
  assert.equal(processing.length + queued.length, 10);
  // The queue comes out in priority (submission) order.
  assert.deepEqual(processing, keys.slice(0, processing.length));
  finish(s, processing[0]!);
  assert.equal(state(s, queued[0]!), 'processing');
});

test('with no workers tasks are no-worker until one arrives', () => {
  const s = new SchedulerState({ validate: true });
  s.updateGraph('c', [def('a', [], { workers: ['special'] })], ['a'], 0, st());
  assert.equal(state(s, 'a'), 'no-worker');
  worker(s, 'w1');
  assert.equal(state(s, 'a'), 'no-worker', 'restriction not met');
  const eff = s.addWorker({ address: 'w9', name: 'special', nthreads: 1, memoryLimit: 0, host: 'h', pid: 2, localDirectory: '' }, st());
  assert.equal(state(s, 'a'), 'processing');
  assert.equal(sent(eff, 'w9', 'compute-task').length, 1);
});

test('an error errs the task and its dependents, and tells the client with the exception', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  s.updateGraph('c', [def('a'), def('b', ['a']), def('c', ['b'])], ['c'], 0, st());
  const eff = s.taskErred('w1', 'a', { name: 'RangeError', message: 'boom', stack: 'RangeError: boom\n    at f' }, [], st());
  assert.equal(state(s, 'a'), 'erred');
  assert.equal(state(s, 'b'), 'erred');
  assert.equal(state(s, 'c'), 'erred');
  const msgs = toClient(eff, 'task-erred');
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0]!.key, 'c');
  assert.equal(msgs[0]!.blame, 'a');
  assert.equal((msgs[0]!.exception as { message: string }).message, 'boom');
  assert.equal(s.tasks.get('c')!.exceptionBlame!.key, 'a');
});

test('a task with retries runs again after an error', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  s.updateGraph('c', [def('a', [], { retries: 1 })], ['a'], 0, st());
  s.taskErred('w1', 'a', { name: 'Error', message: 'flaky', stack: '' }, [], st());
  assert.equal(state(s, 'a'), 'processing');
  s.taskErred('w1', 'a', { name: 'Error', message: 'flaky again', stack: '' }, [], st());
  assert.equal(state(s, 'a'), 'erred');
});

test('releasing a key in each state frees it and forgets it', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  // processing > released > forgotten, with free-keys to the worker
  s.updateGraph('c', [def('p')], ['p'], 0, st());
  let eff = s.clientReleasesKeys('c', ['p'], st());
  assert.equal(state(s, 'p'), undefined);
  assert.deepEqual(sent(eff, 'w1', 'free-keys').flatMap((m) => m.keys as string[]), ['p']);
  // memory > released > forgotten
  s.updateGraph('c', [def('m')], ['m'], 0, st());
  finish(s, 'm');
  eff = s.clientReleasesKeys('c', ['m'], st());
  assert.equal(state(s, 'm'), undefined);
  assert.deepEqual(sent(eff, 'w1', 'free-keys').flatMap((m) => m.keys as string[]), ['m']);
  // queued > released
  const many = Array.from({ length: 10 }, (_, i) => `q-${i}`);
  s.updateGraph('c', many.map((k) => def(k)), many, 0, st());
  const q = many.find((k) => state(s, k) === 'queued')!;
  s.clientReleasesKeys('c', [q], st());
  assert.equal(state(s, q), undefined);
  // waiting > released: releasing a graph's output releases its inputs too
  s.updateGraph('c', [def('x', [], { workers: ['nobody'] }), def('y', ['x'])], ['y'], 0, st());
  assert.equal(state(s, 'x'), 'no-worker');
  assert.equal(state(s, 'y'), 'waiting');
  s.clientReleasesKeys('c', ['y'], st());
  assert.equal(state(s, 'y'), undefined);
  assert.equal(state(s, 'x'), undefined, 'no-worker > released > forgotten');
  // erred > forgotten
  const s2 = new SchedulerState({ validate: true });
  worker(s2, 'w1');
  s2.updateGraph('c', [def('e')], ['e'], 0, st());
  s2.taskErred('w1', 'e', { name: 'Error', message: 'x', stack: '' }, [], st());
  assert.equal(state(s2, 'e'), 'erred');
  s2.clientReleasesKeys('c', ['e'], st());
  assert.equal(state(s2, 'e'), undefined);
});

test('a key wanted by two clients survives one of them releasing it', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  s.updateGraph('c1', [def('a')], ['a'], 0, st());
  s.updateGraph('c2', [def('a')], ['a'], 0, st());
  finish(s, 'a');
  s.clientReleasesKeys('c1', ['a'], st());
  assert.equal(state(s, 'a'), 'memory');
  s.removeClient('c2', st());
  assert.equal(state(s, 'a'), undefined);
});

test('a dead worker: its running tasks are rescheduled, data only it held is recomputed', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  worker(s, 'w2');
  s.updateGraph('c', [def('a', [], { workers: ['w1'], allowOtherWorkers: true }), def('b', ['a'], { workers: ['w2'] }), def('c', [], { workers: ['w1'], allowOtherWorkers: true })], ['b', 'c'], 0, st());
  s.taskFinished('w1', 'a', 8, 'number', [], st());
  assert.equal(state(s, 'b'), 'processing');
  assert.equal(state(s, 'c'), 'processing');
  const eff = s.removeWorker('w1', st());
  // c was running on w1: rescheduled on w2 (loose restriction). a only lived on w1 and b needs it: recomputed.
  assert.equal(s.tasks.get('c')!.processingOn?.address, 'w2');
  assert.equal(s.tasks.get('c')!.suspicious, 1);
  assert.equal(state(s, 'a'), 'processing');
  assert.equal(state(s, 'b'), 'waiting');
  assert.ok(sent(eff, 'w2', 'free-keys').flatMap((m) => m.keys as string[]).includes('b'), 'b is cancelled on w2 until a is back');
  s.taskFinished('w2', 'a', 8, 'number', [], st());
  assert.equal(state(s, 'b'), 'processing');
});

test('a task that keeps killing workers errs with KilledWorker after allowedFailures', () => {
  const s = new SchedulerState({ validate: true, allowedFailures: 1 });
  worker(s, 'w1');
  s.updateGraph('c', [def('bad')], ['bad'], 0, st());
  s.removeWorker('w1', st());
  assert.equal(state(s, 'bad'), 'no-worker');
  worker(s, 'w2');
  assert.equal(state(s, 'bad'), 'processing');
  const eff = s.removeWorker('w2', st());
  assert.equal(state(s, 'bad'), 'erred');
  const msg = toClient(eff, 'task-erred')[0]!;
  assert.equal((msg.exception as { code: string }).code, 'ERR_TESSERA_KILLED_WORKER');
  assert.match((msg.exception as { message: string }).message, /2 workers that died/);
});

test('missing data reported by a worker re-plans the dependent', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  worker(s, 'w2');
  s.updateGraph('c', [def('a', [], { workers: ['w1'] }), def('b', ['a'], { workers: ['w2'] })], ['b'], 0, st());
  s.taskFinished('w1', 'a', 8, 'number', [], st());
  assert.equal(s.tasks.get('b')!.processingOn!.address, 'w2');
  s.missingData('w2', 'a', 'w1', st());
  // a's only replica is gone: recomputed; b waits for it again.
  assert.equal(state(s, 'a'), 'processing');
  assert.equal(state(s, 'b'), 'waiting');
});

test('work stealing moves unstarted tasks to an idle worker when the victim confirms', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  // Non-root tasks all go to w1 (it holds their input).
  s.updateGraph('c', [def('seed', [], { workers: ['w1'] })], ['seed'], 0, st());
  s.taskFinished('w1', 'seed', 8, 'number', [], st());
  const keys = Array.from({ length: 8 }, (_, i) => `t-${i}`);
  s.updateGraph('c', keys.map((k) => def(k, ['seed'])), keys, 0, st());
  assert.ok(keys.every((k) => s.tasks.get(k)!.processingOn!.address === 'w1'));
  worker(s, 'w2');
  const plans = planSteals(s, fakeNow);
  assert.ok(plans.length > 0);
  assert.ok(plans.every((p) => p.victim.address === 'w1' && p.thief.address === 'w2'));
  const stolen = plans[0]!.ts.key;
  const refused = plans[1]?.ts.key;
  const eff = confirmSteal(s, stolen, 'w1', 'w2', true, st());
  assert.equal(s.tasks.get(stolen)!.processingOn!.address, 'w2');
  assert.equal(sent(eff, 'w2', 'compute-task')[0]!.key, stolen);
  if (refused) {
    confirmSteal(s, refused, 'w1', 'w2', false, st());
    assert.equal(s.tasks.get(refused)!.processingOn!.address, 'w1');
  }
});

test('scattered data lost with its worker errs its dependents clearly', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  s.scattered('c', [{ key: 'data', nbytes: 100, type: 'Buffer', worker: 'w1' }], st());
  assert.equal(state(s, 'data'), 'memory');
  s.updateGraph('c', [def('use', ['data'], { workers: ['nobody'] })], ['use'], 0, st());
  assert.equal(state(s, 'use'), 'no-worker');
  const eff = s.removeWorker('w1', st());
  assert.equal(state(s, 'data'), 'erred');
  assert.equal(state(s, 'use'), 'erred');
  assert.match(JSON.stringify(toClient(eff, 'task-erred')), /scatter it again/);
});

test('scattered data enters memory through released>memory, under the scatter stimulus', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  s.updateGraph('c', [def('use', ['data'], { workers: ['w1'] })], ['use'], 0, st());
  assert.equal(state(s, 'use'), 'erred', 'data unknown yet');
  s.clientReleasesKeys('c', ['use'], st());
  // The usual order: scatter first, then compute on it.
  const scatter = st();
  const eff = s.scattered('c', [{ key: 'data', nbytes: 100, type: 'Buffer', worker: 'w1' }], scatter);
  assert.deepEqual(inMemory(eff), ['data']);
  assert.deepEqual(s.story('data').at(-1), { key: 'data', start: 'released', finish: 'memory', stimulusId: scatter.stimulusId, time: scatter.now });
  assert.equal(s.groups.get('data')!.nbytes, 100);
  // A second scatter of the same key adds a replica without a transition.
  worker(s, 'w2');
  const again = st();
  s.scattered('c', [{ key: 'data', nbytes: 100, type: 'Buffer', worker: 'w2' }], again);
  assert.equal(s.tasks.get('data')!.whoHas.size, 2);
  assert.deepEqual(s.story(again.stimulusId), []);
});

test('a scatter unblocks a task waiting on the key, in the same stimulus', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  s.updateGraph('c', [def('x', [], { workers: ['nobody'] }), def('y', ['x'])], ['y'], 0, st());
  assert.equal(state(s, 'y'), 'waiting');
  s.clientReleasesKeys('c', ['y'], st());
  const scatter = st();
  s.scattered('c', [{ key: 'x', nbytes: 8, type: 'number', worker: 'w1' }], scatter);
  s.updateGraph('c', [def('z', ['x'])], ['z'], 0, st());
  assert.equal(state(s, 'z'), 'processing');
});

test('validate() checks the state after a scatter: a broken transition is caught', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  // Sabotage: released>memory forgets to record the replica.
  (s as unknown as { addReplica: () => void }).addReplica = () => {};
  assert.throws(() => s.scattered('c', [{ key: 'data', nbytes: 1, type: 'number', worker: 'w1' }], st()), /data is in memory on no worker/);
});

test('a dependency the scheduler does not know errs the dependent', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  const eff = s.updateGraph('c', [def('b', ['ghost'])], ['b'], 0, st());
  assert.equal(state(s, 'b'), 'erred');
  assert.match(JSON.stringify(toClient(eff, 'task-erred')), /depends on ghost, which the scheduler does not know/);
});

test('resubmitting a key already in memory reports it at once', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  s.updateGraph('c', [def('a')], ['a'], 0, st());
  finish(s, 'a');
  const eff = s.updateGraph('c2', [def('a')], ['a'], 0, st());
  assert.deepEqual(inMemory(eff), ['a']);
});

test('the validator catches a corrupted state', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  s.updateGraph('c', [def('a')], ['a'], 0, st());
  const ts = s.tasks.get('a')!;
  (ts.processingOn as WorkerState).processing.delete(ts);
  assert.throws(() => s.validate(), InvalidStateError);
});

for (const seed0 of [1, 7, 42, 1234, 99991]) {
  test(`a random workload keeps every invariant and completes (seed ${seed0})`, () => {
    // Random graphs, random finishing order, worker deaths and arrivals, missing
    // replicas, failing tasks with retries, and clients releasing outputs.
    let seed = seed0;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const s = new SchedulerState({ validate: true, allowedFailures: 1000 });
    let nextWorker = 0;
    const addW = () => worker(s, `w${nextWorker++}`, 1 + Math.floor(rand() * 2));
    addW();
    addW();
    const defs: TaskDef[] = [];
    for (let i = 0; i < 300; i++) {
      const deps: string[] = [];
      for (let j = 0; j < 3 && i > 0; j++) if (rand() < 0.5) deps.push(`t-${Math.floor(rand() * i)}`);
      defs.push(def(`t-${i}`, [...new Set(deps)], { retries: 1000 }));
    }
    const outputs = defs.filter((_, i) => i % 7 === 0).map((d) => d.key);
    const dropped = new Set(outputs.filter(() => rand() < 0.2));
    s.updateGraph('c', defs, outputs, 0, st());
    for (let step = 0; step < 50_000; step++) {
      const processing = [...s.tasks.values()].filter((t) => t.state === 'processing');
      if (processing.length === 0 && s.workers.size > 0) break;
      const r = rand();
      if (r < 0.01 && s.workers.size > 1) s.removeWorker([...s.workers.keys()][Math.floor(rand() * s.workers.size)]!, st());
      else if (r < 0.02 || s.workers.size === 0) addW();
      else if (r < 0.03 && processing.length) {
        const t = processing[Math.floor(rand() * processing.length)]!;
        s.taskErred(t.processingOn!.address, t.key, { name: 'Error', message: 'flaky', stack: '' }, [], st());
      } else if (r < 0.04 && processing.length) {
        const t = processing[Math.floor(rand() * processing.length)]!;
        const dep = [...t.dependencies][0];
        const holder = dep && [...dep.whoHas][0];
        if (dep && holder) s.missingData(t.processingOn!.address, dep.key, holder.address, st());
      } else if (r < 0.045 && dropped.size) {
        const k = [...dropped][0]!;
        dropped.delete(k);
        s.clientReleasesKeys('c', [k], st());
        outputs.splice(outputs.indexOf(k), 1);
      } else if (processing.length) finish(s, processing[Math.floor(rand() * processing.length)]!.key);
    }
    for (const k of outputs) assert.equal(state(s, k), 'memory', `${k} computed`);
    // Everything not needed by the remaining outputs has been freed.
    for (const ts of s.tasks.values()) if (ts.state === 'memory') assert.ok(ts.whoWants.size > 0, `${ts.key} held without anyone wanting it`);
  });
}

for (const seed0 of [3, 2024]) {
  test(`the state never reads the clock: time comes with the stimuli (seed ${seed0})`, () => {
    // Everything the server feeds the state, including steals, scatters,
    // retirement and heartbeats, in random order under validate(), with the
    // clock made to throw.
    let seed = seed0;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const realNow = Date.now;
    const realPerfNow = performance.now;
    const clockRead = () => {
      throw new Error('the scheduler state read the clock');
    };
    Date.now = clockRead;
    performance.now = clockRead;
    try {
      let t = 1_000_000;
      const next = stimulusFactory(() => (t += 1 + Math.floor(rand() * 5)));
      const s = new SchedulerState({ validate: true, allowedFailures: 1000, transitionLogCapacity: 100 });
      let nextWorker = 0;
      const addW = () => s.addWorker({ address: `w${nextWorker}`, name: `w${nextWorker++}`, nthreads: 1 + Math.floor(rand() * 2), memoryLimit: 0, host: 'h', pid: 1, localDirectory: '' }, next('add-worker'));
      addW();
      addW();
      s.scattered('c', [{ key: 'input', nbytes: 64, type: 'Buffer', worker: 'w0' }], next('scatter'));
      const defs: TaskDef[] = [];
      for (let i = 0; i < 200; i++) {
        const deps = i > 0 && rand() < 0.7 ? [`t-${Math.floor(rand() * i)}`] : rand() < 0.1 ? ['input'] : [];
        defs.push(def(`t-${i}`, deps, { retries: 1000 }));
      }
      const outputs = defs.filter((_, i) => i % 5 === 0).map((d) => d.key);
      s.updateGraph('c', defs, outputs, 0, next('update-graph'));
      const inFlight = new Map<string, { victim: string; thief: string }>();
      for (let step = 0; step < 20_000; step++) {
        const processing = [...s.tasks.values()].filter((x) => x.state === 'processing');
        const settled = outputs.every((k) => state(s, k) === 'memory' || state(s, k) === 'erred');
        if (settled && inFlight.size === 0) break;
        const workers = [...s.workers.values()];
        const r = rand();
        if (r < 0.01 && workers.length > 1) s.removeWorker(pick(workers).address, next('remove-worker'));
        else if (r < 0.02 || workers.length === 0) addW();
        else if (r < 0.05) {
          for (const p of planSteals(s, t)) if (!inFlight.has(p.ts.key)) inFlight.set(p.ts.key, { victim: p.victim.address, thief: p.thief.address });
        } else if (r < 0.12 && inFlight.size) {
          const [key, f] = pick([...inFlight]);
          inFlight.delete(key);
          confirmSteal(s, key, f.victim, f.thief, rand() < 0.7, next('steal-response'));
        } else if (r < 0.13 && workers.length > 2) {
          const ws = pick(workers);
          for (const key of retireWorker(s, ws.address)) if (!inFlight.has(key)) inFlight.set(key, { victim: ws.address, thief: '' });
          handoffPlan(s, ws.address);
        } else if (r < 0.15 && workers.length) {
          const ws = pick(workers);
          const paused = rand() < 0.3;
          const metrics = { rss: 0, cpu: 0, executing: 0, ready: 0, managedBytes: 0, spilledBytes: 0, inMemory: 0, paused };
          const stim = next('heartbeat');
          if (s.heartbeat(ws.address, metrics, stim)) s.workerResumed(ws.address, stim);
          assert.equal(ws.lastSeen, stim.now);
        } else if (r < 0.16 && processing.length) {
          const x = pick(processing);
          s.taskErred(x.processingOn!.address, x.key, { name: 'Error', message: 'flaky', stack: '' }, [], next('task-erred'));
        } else if (processing.length) {
          const x = pick(processing);
          s.taskFinished(x.processingOn!.address, x.key, 8, 'number', [{ action: 'compute', start: t - 1, stop: t }], next('task-finished'));
        } else if (inFlight.size === 0) {
          // Only paused or closing workers are left: bring one back.
          const ws = pick(workers);
          const stim = next('heartbeat');
          if (s.heartbeat(ws.address, { rss: 0, cpu: 0, executing: 0, ready: 0, managedBytes: 0, spilledBytes: 0, inMemory: 0, paused: false }, stim)) s.workerResumed(ws.address, stim);
          if (ws.status === 'closing') addW();
        } else {
          const [key, f] = pick([...inFlight]);
          inFlight.delete(key);
          confirmSteal(s, key, f.victim, f.thief, false, next('steal-response'));
        }
      }
      for (const k of outputs) assert.equal(state(s, k), s.tasks.get(k)!.exceptionBlame ? 'erred' : 'memory', `${k} finished`);
      assert.ok(s.transitionLog.total > s.transitionLog.length, 'the log wrapped around');
      for (const entry of s.transitionLog.entries()) assert.ok(entry.time > 1_000_000 && entry.time <= t, 'times come from the stimuli');
    } finally {
      Date.now = realNow;
      performance.now = realPerfNow;
    }
  });
}

test('a retiring worker gets no new work and plans to hand off data only it holds', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  worker(s, 'w2');
  s.updateGraph('c', [def('a', [], { workers: ['w1'] }), def('b', [], { workers: ['w2'] })], ['a', 'b'], 0, st());
  s.taskFinished('w1', 'a', 8, 'number', [], st());
  s.taskFinished('w2', 'b', 8, 'number', [], st());
  s.updateGraph('c', [def('p', [], { workers: ['w1'] })], ['p'], 0, st());
  assert.deepEqual(retireWorker(s, 'w1'), [], 'restricted work stays');
  assert.equal(handoffPlan(s, 'w1').done, false, 'still processing p');
  s.taskFinished('w1', 'p', 8, 'number', [], st());
  const plan = handoffPlan(s, 'w1');
  assert.deepEqual(plan.moves.map((m) => [m.key, m.to.address]).sort(), [['a', 'w2'], ['p', 'w2']]);
  // New root tasks avoid the retiring worker.
  s.updateGraph('c', [def('r')], ['r'], 0, st());
  assert.equal(s.tasks.get('r')!.processingOn!.address, 'w2');
  s.addKeys('w2', ['a', 'p']);
  assert.equal(handoffPlan(s, 'w1').done, true);
  s.removeWorker('w1', st());
  assert.equal(state(s, 'a'), 'memory', 'nothing lost');
});

test('restart forgets every task, tells each client which of its keys are gone, and the state works afterwards', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  worker(s, 'w2');
  s.updateGraph('c1', [def('a'), def('b', ['a'])], ['b'], 0, st());
  finish(s, 'a');
  const qs = Array.from({ length: 200 }, (_, i) => `q${i}`);
  s.updateGraph('c2', [def('x'), ...qs.map((k) => def(k))], ['x', ...qs], 0, st());
  assert.ok(s.queue.size > 0, 'some root tasks are queued');
  s.addClient('idle', st());
  const eff = s.restart(st());
  assert.deepEqual(s.story('a').map((r) => r.finish).slice(-1), ['forgotten'], "a key's story ends with the restart");
  const byClient = new Map<string, Msg[]>([...eff.toClients].map(([cs, msgs]) => [cs.id, msgs]));
  assert.deepEqual(byClient.get('c1')!.map((m) => [m.op, m.keys]), [['restarted', ['b']]]);
  assert.deepEqual((byClient.get('c2')![0]!.keys as string[]).sort(), ['x', ...qs].sort());
  assert.equal(byClient.has('idle'), false, 'a client that wanted nothing is not told');
  assert.equal(eff.toWorkers.size, 0, 'the server restarts the workers');
  assert.equal(s.tasks.size, 0);
  assert.equal(s.queue.size, 0);
  assert.equal(s.unrunnable.size, 0);
  assert.ok(Object.values(s.counts).every((n) => n === 0));
  for (const ws of s.workers.values()) assert.deepEqual([ws.processing.size, ws.hasWhat.size, ws.nbytes, ws.occupancy], [0, 0, 0, 0]);
  assert.equal(s.workers.size, 2, 'workers stay registered');
  // The same keys again are new computations.
  const again = s.updateGraph('c1', [def('a'), def('b', ['a'])], ['b'], 0, st());
  assert.equal(state(s, 'a'), 'processing');
  assert.equal([...again.toWorkers.values()].flat().filter((m) => m.op === 'compute-task').length, 1);
  finish(s, 'a');
  assert.deepEqual(inMemory(finish(s, 'b')), ['b']);
});

test('streamed graph: held keys compute before their dependents arrive, keep their result for them, and go when released', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1', 4);
  // Chunk 1: 'a', which a later chunk depends on, so the stream holds it: it runs at once.
  const e1 = s.updateGraph('c', [def('a')], [], 0, st(), { stream: 1, hold: ['a'], release: [], final: false });
  assert.deepEqual(sent(e1, 'w1', 'compute-task').map((m) => m.key), ['a']);
  assert.equal(inMemory(finish(s, 'a')).length, 0, 'the stream\'s hold is told nothing');
  assert.equal(state(s, 'a'), 'memory', 'held for the chunk still to come');
  // Chunk 2 (the last): 'b' depends on 'a', which it releases; 'b' is wanted by the client.
  const e2 = s.updateGraph('c', [def('b', ['a'])], ['b'], 0, st(), { stream: 1, hold: [], release: ['a'], final: true });
  assert.deepEqual(sent(e2, 'w1', 'compute-task').map((m) => m.key), ['b']);
  assert.equal(state(s, 'a'), 'memory', 'b still needs it');
  assert.deepEqual(s.tasks.get('b')!.priority.slice(1), [s.tasks.get('a')!.priority[1], 1], 'ordered as one graph');
  finish(s, 'b');
  assert.equal(state(s, 'a'), 'released');
  assert.equal(s.graphStreams.size, 0, 'the final chunk ends the stream');
  s.clientReleasesKeys('c', ['b'], st());
  assert.equal(s.tasks.size, 0, 'everything forgotten once the client lets go');
});

test('streamed graph: a client that leaves mid-stream takes the stream\'s hold with it', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  s.updateGraph('c', [def('a'), def('b')], [], 0, st(), { stream: 7, hold: ['a', 'b'], release: [], final: false });
  finish(s, 'a');
  assert.equal(state(s, 'a'), 'memory');
  s.removeClient('c', st());
  assert.equal(s.graphStreams.size, 0);
  assert.equal(s.tasks.size, 0, 'nothing is kept for chunks that will never come');
});

test('worker slots: by the duration of the next root task\'s group: many for tiny ones, two for slow or unknown ones or large results', () => {
  const s = new SchedulerState({ validate: true });
  worker(s, 'w1');
  const ws = s.workers.get('w1')!;
  assert.equal(s.taskSlots(ws), 2, 'nothing known yet: two per thread');
  const finishAll = (nbytes: number, ms: number): void => {
    while (ws.processing.size) {
      for (const ts of [...ws.processing.keys()]) s.taskFinished('w1', ts.key, nbytes, 'x', [{ action: 'compute', start: 0, stop: ms, thread: 0 }], st());
    }
  };
  const submit = (group: string, from: number, n: number): void => {
    const keys = Array.from({ length: n }, (_, i) => `${group}-${from + i}`);
    s.updateGraph('c', keys.map((k) => def(k)), keys, 0, st());
  };
  submit('tiny', 0, 300);
  assert.equal(ws.processing.size, 2, 'a group none of which has finished: two per thread');
  finishAll(8, 0);
  assert.equal(s.taskSlots(ws, s.groups.get('tiny')), 256, 'tiny quick tasks: as many as a thread may hold');
  submit('slow', 0, 10);
  finishAll(8, 1000);
  assert.equal(s.taskSlots(ws, s.groups.get('slow')), 2, 'slow tasks: two per thread');
  assert.equal(s.taskSlots(ws, s.groups.get('tiny')), 256, 'tiny tasks still many, though the last ones were slow');
  // Both kinds queued: slots follow the task at the head of the queue.
  submit('tiny', 300, 1000);
  assert.equal(ws.processing.size, 256);
  finishAll(8, 0);
  submit('big', 0, 300);
  finishAll(200e6, 0);
  assert.equal(s.taskSlots(ws, s.groups.get('big')), 2, 'quick tasks with 200 MB results: two per thread');
});
