/**
 * The worker's state machine driven directly, without I/O: events in,
 * instructions out. Every state is built with validation on, so each event
 * is also checked against all invariants; the randomised sequences at the
 * end also check that the store the instructions build matches the keys the
 * state holds in memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FETCH_BATCH, FETCH_BATCH_BYTES, InvalidWorkerStateError, WorkerState } from '../../src/worker/state.js';
import type { WorkerEvent } from '../../src/worker/events.js';
import type { Execute, GatherDep, Instruction } from '../../src/worker/instructions.js';
import type { DepInfo, Msg, SerializedValue } from '../../src/protocol/messages.js';
import { random } from '../fixtures/random.js';

const FN = { kind: 'inline', source: '(x) => x', name: 'f' } as const;
const ME = 'tcp://me:1';

function value(n = 8): SerializedValue {
  return { kind: 'bytes', frames: [new Uint8Array(n)] };
}

function newState(slots = 2): WorkerState {
  const s = new WorkerState({ address: ME, validate: true, maxExecuting: Math.max(slots, 4) });
  s.handle({ op: 'executor-capacity', free: slots });
  return s;
}

function compute(key: string, deps: DepInfo[] = [], priority: number[] = [0]): WorkerEvent {
  return { op: 'compute-task', key, fn: FN, args: new Uint8Array(), deps, priority };
}

function dep(key: string, ...who: string[]): DepInfo {
  return { key, nbytes: 8, who };
}

function ops(ins: Instruction[]): string[] {
  return ins.map((i) => (i.op === 'send' ? `send:${i.msg.op}` : i.op));
}

function only<T extends Instruction['op']>(ins: Instruction[], op: T): Extract<Instruction, { op: T }>[] {
  return ins.filter((i) => i.op === op) as Extract<Instruction, { op: T }>[];
}

function msgs(ins: Instruction[], op: string): Msg[] {
  return ins.flatMap((i) => (i.op === 'send' && i.msg.op === op ? [i.msg] : []));
}

function success(e: Execute, v = value()): WorkerEvent {
  return { op: 'execute-success', key: e.key, runId: e.runId, value: v, valueType: 'Uint8Array', start: 10, stop: 20, thread: 0 };
}

function failure(e: Execute): WorkerEvent {
  return { op: 'execute-failure', key: e.key, runId: e.runId, error: { name: 'Error', message: 'boom', stack: '' }, start: 10, stop: 20, thread: 0 };
}

function stateOf(s: WorkerState, key: string): string | undefined {
  return s.tasks.get(key)?.state;
}

// ------------------------------------------------------------------ compute

test('a task without inputs runs at once and its result is stored and reported', () => {
  const s = newState();
  const ins = s.handle(compute('a'));
  assert.deepEqual(ops(ins), ['execute']);
  const e = only(ins, 'execute')[0]!;
  assert.equal(stateOf(s, 'a'), 'executing');
  const done = s.handle(success(e, value(5)));
  assert.deepEqual(ops(done), ['store-data', 'send:task-finished']);
  assert.deepEqual(msgs(done, 'task-finished')[0], {
    op: 'task-finished', key: 'a', nbytes: 5, type: 'Uint8Array', startstops: [{ action: 'compute', start: 10, stop: 20, thread: 0 }],
  });
  assert.equal(stateOf(s, 'a'), 'memory');
  assert.deepEqual([...s.memoryKeys()], ['a']);
});

test('a failed run is reported and forgotten', () => {
  const s = newState();
  const e = only(s.handle(compute('a')), 'execute')[0]!;
  const done = s.handle(failure(e));
  assert.deepEqual(ops(done), ['send:task-erred']);
  assert.equal((msgs(done, 'task-erred')[0]!.exception as { message: string }).message, 'boom');
  assert.equal(s.tasks.size, 0);
});

test('ready tasks start in priority order, never more than the pool has room for, and not while paused', () => {
  const s = newState(0);
  for (const [k, p] of [['c', 3], ['a', 1], ['d', 4], ['b', 2]] as const) assert.deepEqual(s.handle(compute(k, [], [p])), []);
  assert.equal(s.ready.size, 4);
  const first = only(s.handle({ op: 'executor-capacity', free: 2 }), 'execute');
  assert.deepEqual(first.map((e) => e.key), ['a', 'b']);
  assert.equal(s.freeSlots, 0);
  s.handle({ op: 'pause' });
  assert.deepEqual(s.handle({ op: 'executor-capacity', free: 2 }), []);
  assert.deepEqual(only(s.handle({ op: 'unpause' }), 'execute').map((e) => e.key), ['c', 'd']);
});

test('a key already in memory is reported finished at once; one already assigned is ignored', () => {
  const s = newState();
  const e = only(s.handle(compute('a')), 'execute')[0]!;
  assert.deepEqual(s.handle(compute('a')), [], 'already executing');
  s.handle(success(e, value(3)));
  const again = s.handle(compute('a'));
  assert.deepEqual(msgs(again, 'task-finished').map((m) => [m.key, m.nbytes]), [['a', 3]]);
});

// ------------------------------------------------------------------ fetches

test('inputs are fetched in one request per peer at the end of the turn, then the task runs with transfers reported', () => {
  const s = newState();
  const i1 = s.handle(compute('x', [dep('a', 'p1', 'p2'), dep('b', 'p1')]));
  assert.deepEqual(ops(i1), ['gather-later']);
  assert.deepEqual(ops(s.handle(compute('y', [dep('c', 'p2')]))), [], 'one gather asked for per turn');
  assert.equal(stateOf(s, 'a'), 'fetch');
  const g = only(s.handle({ op: 'gather' }), 'gather-dep');
  assert.deepEqual(g.map((x) => [x.peer, x.keys]), [['p1', ['a', 'b']], ['p2', ['c']]]);
  assert.equal(stateOf(s, 'a'), 'flight');
  const done = s.handle({ op: 'gather-dep-success', gatherId: g[0]!.gatherId, peer: 'p1', keys: ['a', 'b'], data: { a: value(4), b: value(6) }, start: 1, stop: 2 });
  assert.deepEqual(ops(done), ['store-data', 'store-data', 'send:add-keys', 'execute']);
  assert.deepEqual(msgs(done, 'add-keys')[0]!.keys, ['a', 'b']);
  const e = only(done, 'execute')[0]!;
  assert.deepEqual([e.key, e.depKeys], ['x', ['a', 'b']]);
  const fin = msgs(s.handle(success(e)), 'task-finished')[0]!;
  assert.deepEqual(fin.startstops, [
    { action: 'transfer', start: 1, stop: 2, source: 'p1', nbytes: 4 },
    { action: 'transfer', start: 1, stop: 2, source: 'p1', nbytes: 6 },
    { action: 'compute', start: 10, stop: 20, thread: 0 },
  ]);
  assert.equal(stateOf(s, 'y'), 'waiting');
});

test(`a long list of keys from one peer goes out in requests of ${FETCH_BATCH}`, () => {
  const s = newState();
  const deps = Array.from({ length: FETCH_BATCH * 2 + 5 }, (_, i) => dep(`k${i}`, 'p1'));
  s.handle(compute('x', deps));
  const g = only(s.handle({ op: 'gather' }), 'gather-dep');
  assert.deepEqual(g.map((x) => x.keys.length), [FETCH_BATCH, FETCH_BATCH, 5]);
  assert.equal(new Set(g.map((x) => x.gatherId)).size, 3);
});

test(`keys from one peer go out in requests of at most ${FETCH_BATCH_BYTES} bytes; a larger value goes alone`, () => {
  const s = newState();
  const MB = 1_000_000;
  const sizes = [20 * MB, 20 * MB, 20 * MB, 70 * MB, 1, 1, 49 * MB];
  s.handle(compute('x', sizes.map((nbytes, i) => ({ ...dep(`k${i}`, 'p1'), nbytes }))));
  const g = only(s.handle({ op: 'gather' }), 'gather-dep');
  assert.deepEqual(g.map((x) => x.keys), [['k0', 'k1'], ['k2'], ['k3'], ['k4', 'k5', 'k6']]);
});

test('a key a peer lacks is asked of the next holder; with none left the scheduler is told and the key waits for new holders', () => {
  const s = newState();
  s.handle(compute('x', [dep('a', 'p1', 'p2')]));
  const g1 = only(s.handle({ op: 'gather' }), 'gather-dep')[0]!;
  const r1 = s.handle({ op: 'gather-dep-success', gatherId: g1.gatherId, peer: 'p1', keys: ['a'], data: {}, start: 1, stop: 2 });
  assert.deepEqual(ops(r1), ['gather-later']);
  const g2 = only(s.handle({ op: 'gather' }), 'gather-dep')[0]!;
  assert.equal(g2.peer, 'p2');
  const r2 = s.handle({ op: 'gather-dep-failure', gatherId: g2.gatherId, peer: 'p2', keys: ['a'] });
  assert.deepEqual(msgs(r2, 'missing-data'), [{ op: 'missing-data', key: 'a', errant: 'p2' }]);
  assert.equal(stateOf(s, 'a'), 'missing');
  // The scheduler re-plans: the dependent is freed, and the key with it.
  s.handle({ op: 'free-keys', keys: ['x'] });
  assert.equal(s.tasks.size, 0);
});

test('a missing input gets new holders from a later assignment', () => {
  const s = newState();
  s.handle(compute('x', [dep('a')]));
  assert.equal(stateOf(s, 'a'), 'missing', 'no holder but this worker');
  assert.deepEqual(ops(s.handle(compute('y', [dep('a', 'p3')]))), ['gather-later']);
  assert.equal(stateOf(s, 'a'), 'fetch');
});

test('a reply that comes after a reset is ignored (the generation of fetches)', () => {
  const s = newState();
  s.handle(compute('x', [dep('a', 'p1')]));
  const g = only(s.handle({ op: 'gather' }), 'gather-dep')[0]!;
  s.handle({ op: 'reset' });
  assert.deepEqual(s.handle({ op: 'gather-dep-success', gatherId: g.gatherId, peer: 'p1', keys: ['a'], data: { a: value() }, start: 1, stop: 2 }), []);
  // The same key asked again is a new request; the old reply still does not count.
  s.handle(compute('x', [dep('a', 'p1')]));
  const g2 = only(s.handle({ op: 'gather' }), 'gather-dep')[0]!;
  assert.notEqual(g2.gatherId, g.gatherId);
  assert.deepEqual(s.handle({ op: 'gather-dep-success', gatherId: g.gatherId, peer: 'p1', keys: ['a'], data: { a: value() }, start: 1, stop: 2 }), []);
  assert.equal(stateOf(s, 'a'), 'flight');
});

test('data that arrives for nobody is dropped', () => {
  const s = newState();
  s.handle(compute('x', [dep('a', 'p1')]));
  const g = only(s.handle({ op: 'gather' }), 'gather-dep')[0]!;
  s.handle({ op: 'free-keys', keys: ['x'] });
  assert.equal(stateOf(s, 'a'), 'flight', 'the reply is still awaited');
  assert.deepEqual(s.handle({ op: 'gather-dep-success', gatherId: g.gatherId, peer: 'p1', keys: ['a'], data: { a: value() }, start: 1, stop: 2 }), []);
  assert.equal(s.tasks.size, 0);
});

test('a key assigned while its value is in flight is finished by the fetched value', () => {
  const s = newState();
  s.handle(compute('x', [dep('a', 'p1')]));
  const g = only(s.handle({ op: 'gather' }), 'gather-dep')[0]!;
  assert.deepEqual(s.handle(compute('a')), []);
  const done = s.handle({ op: 'gather-dep-success', gatherId: g.gatherId, peer: 'p1', keys: ['a'], data: { a: value(7) }, start: 1, stop: 2 });
  assert.deepEqual(msgs(done, 'task-finished').map((m) => [m.key, m.nbytes]), [['a', 7]]);
  assert.deepEqual(only(done, 'execute').map((e) => e.key), ['x']);
});

test('a key assigned while in flight is computed here if the fetch fails', () => {
  const s = newState();
  s.handle(compute('x', [dep('a', 'p1')]));
  const g = only(s.handle({ op: 'gather' }), 'gather-dep')[0]!;
  s.handle(compute('a'));
  const r = s.handle({ op: 'gather-dep-failure', gatherId: g.gatherId, peer: 'p1', keys: ['a'] });
  assert.deepEqual(msgs(r, 'missing-data'), [], 'the scheduler asked for it to be computed');
  const e = only(r, 'execute')[0]!;
  assert.equal(e.key, 'a');
  assert.deepEqual(only(s.handle(success(e)), 'execute').map((x) => x.key), ['x']);
});

test('acquire-replicas fetches copies, reports them, and drops those nobody holds', () => {
  const s = newState();
  s.handle(compute('a'));
  const ins = s.handle({ op: 'acquire-replicas', keys: [{ key: 'r1', nbytes: 8, who: ['p1'] }, { key: 'a', nbytes: 8, who: ['p1'] }, { key: 'r2', nbytes: 8, who: [ME] }] });
  assert.deepEqual(ops(ins), ['gather-later']);
  assert.equal(stateOf(s, 'r2'), undefined, 'only this worker holds it');
  const g = only(s.handle({ op: 'gather' }), 'gather-dep')[0]!;
  assert.deepEqual(g.keys, ['r1']);
  const done = s.handle({ op: 'gather-dep-success', gatherId: g.gatherId, peer: 'p1', keys: ['r1'], data: { r1: value() }, start: 1, stop: 2 });
  assert.deepEqual(msgs(done, 'add-keys')[0]!.keys, ['r1']);
  assert.equal(stateOf(s, 'r1'), 'memory');
});

test('update-data stores a value and releases the tasks waiting for it', () => {
  const s = newState();
  s.handle(compute('x', [dep('a', 'p1')]));
  const ins = s.handle({ op: 'update-data', items: [{ key: 'a', value: value() }] });
  assert.deepEqual(ops(ins), ['store-data', 'execute']);
  assert.equal(s.toFetch.size, 0);
});

// ------------------------------------------------------- free, steal, cancel

test('freeing a running task cancels its run; its late result is ignored, and the key may be assigned again', () => {
  const s = newState();
  const e = only(s.handle(compute('a')), 'execute')[0]!;
  const freed = s.handle({ op: 'free-keys', keys: ['a'] });
  assert.deepEqual(freed, [{ op: 'cancel-execution', key: 'a', runId: e.runId }]);
  assert.equal(stateOf(s, 'a'), 'cancelled');
  // Assigned again before the pool reported the cancelled run: a new run.
  const again = only(s.handle(compute('a')), 'execute')[0]!;
  assert.notEqual(again.runId, e.runId);
  assert.deepEqual(s.handle(failure(e)), [], 'the cancelled run is settled silently');
  assert.equal(stateOf(s, 'a'), 'executing');
  assert.deepEqual(ops(s.handle(success(again))), ['store-data', 'send:task-finished']);
});

test('a cancelled run that settles is forgotten without a report', () => {
  const s = newState();
  const e = only(s.handle(compute('a')), 'execute')[0]!;
  s.handle({ op: 'free-keys', keys: ['a'] });
  assert.deepEqual(s.handle(success(e)), []);
  assert.equal(s.tasks.size, 0);
});

test('a run freed while its inputs were read from disk is forgotten', () => {
  const s = newState();
  const e = only(s.handle(compute('a')), 'execute')[0]!;
  s.handle({ op: 'free-keys', keys: ['a'] });
  assert.equal(s.isExecuting('a', e.runId), false);
  assert.deepEqual(s.handle({ op: 'execute-cancelled', key: 'a', runId: e.runId }), []);
  assert.equal(s.tasks.size, 0);
});

test('an input freed before the run could read it is reported missing', () => {
  const s = newState();
  s.handle({ op: 'update-data', items: [{ key: 'a', value: value() }] });
  const e = only(s.handle(compute('x', [dep('a', ME)])), 'execute')[0]!;
  s.handle({ op: 'free-keys', keys: ['a'] });
  const r = s.handle({ op: 'execute-input-missing', key: 'x', runId: e.runId, dep: 'a' });
  assert.deepEqual(msgs(r, 'missing-data'), [{ op: 'missing-data', key: 'a', errant: ME }]);
  assert.equal(s.tasks.size, 0);
});

test('freeing data a waiting task needs fetches it again from its other holders', () => {
  const s = newState(0);
  s.handle({ op: 'update-data', items: [{ key: 'a', value: value() }] });
  s.handle(compute('x', [dep('a', ME, 'p1')]));
  assert.equal(stateOf(s, 'x'), 'ready');
  const ins = s.handle({ op: 'free-keys', keys: ['a'] });
  assert.deepEqual(ops(ins), ['delete-data', 'gather-later']);
  assert.equal(stateOf(s, 'x'), 'waiting');
  assert.equal(stateOf(s, 'a'), 'fetch');
});

test('a task not started can be stolen; a running one cannot', () => {
  const s = newState(1);
  const e = only(s.handle(compute('a')), 'execute')[0]!;
  s.handle(compute('b'));
  s.handle(compute('c', [dep('z', 'p1')]));
  assert.deepEqual(msgs(s.handle({ op: 'steal-request', key: 'b' }), 'steal-response'), [{ op: 'steal-response', key: 'b', ok: true }]);
  assert.deepEqual(msgs(s.handle({ op: 'steal-request', key: 'c' }), 'steal-response'), [{ op: 'steal-response', key: 'c', ok: true }]);
  assert.equal(stateOf(s, 'z'), undefined, 'its input is no longer fetched');
  const r = s.handle({ op: 'steal-request', key: 'a' });
  assert.deepEqual(msgs(r, 'steal-response'), [{ op: 'steal-response', key: 'a', ok: false }]);
  assert.deepEqual(msgs(s.handle({ op: 'steal-request', key: 'nope' }), 'steal-response'), [{ op: 'steal-response', key: 'nope', ok: false }]);
  assert.equal(s.ready.size, 0);
  s.handle(success(e));
  assert.deepEqual([...s.tasks.keys()], ['a']);
});

test('reset forgets every task and deletes all data; late results are ignored and the state works afterwards', () => {
  const s = newState();
  const ea = only(s.handle(compute('a')), 'execute')[0]!;
  const eb = only(s.handle(compute('b')), 'execute')[0]!;
  s.handle(success(ea));
  s.handle(compute('x', [dep('q', 'p1')]));
  const ins = s.handle({ op: 'reset' });
  assert.deepEqual(ins, [{ op: 'delete-data', keys: ['a'] }]);
  assert.equal(s.tasks.size + s.ready.size + s.toFetch.size + s.executing.size, 0);
  assert.deepEqual(s.handle(success(eb)), []);
  s.handle({ op: 'executor-capacity', free: 2 });
  const e = only(s.handle(compute('b')), 'execute')[0]!;
  assert.deepEqual(ops(s.handle(success(e))), ['store-data', 'send:task-finished']);
});

test('validate() catches a broken invariant', () => {
  const s = newState();
  s.handle(compute('a'));
  s.tasks.get('a')!.state = 'memory';
  assert.throws(() => s.validate(), InvalidWorkerStateError);
});

// ----------------------------------------------------------- randomised


/**
 * The runner, simulated: a store, an executor pool with a fixed number of
 * slots, peers that answer or not. Instructions are applied as the server
 * applies them, and the store must always hold exactly the keys the state
 * has in memory.
 */
class Harness {
  readonly s: WorkerState;
  readonly store = new Map<string, SerializedValue>();
  readonly runs = new Map<number, Execute>();
  readonly gathers = new Map<number, GatherDep>();
  gatherPending = false;
  readonly sent: Msg[] = [];

  constructor(readonly slots: number) {
    this.s = new WorkerState({ address: ME, validate: true, maxExecuting: slots });
    this.apply({ op: 'executor-capacity', free: slots });
  }

  apply(ev: WorkerEvent): void {
    const ins = this.s.handle(ev);
    const cancelled: Execute[] = [];
    for (const i of ins) {
      switch (i.op) {
        case 'store-data': this.store.set(i.key, i.value); break;
        case 'delete-data': for (const k of i.keys) assert.ok(this.store.delete(k), `deleted ${k}, which the store lacked`); break;
        case 'execute':
          for (const k of i.depKeys) assert.ok(this.store.has(k), `${i.key} started without its input ${k}`);
          this.runs.set(i.runId, i);
          break;
        case 'cancel-execution': {
          const run = this.runs.get(i.runId);
          assert.ok(run, `cancelled run ${i.runId} of ${i.key}, which is not running`);
          this.runs.delete(i.runId);
          cancelled.push(run);
          break;
        }
        case 'gather-dep': this.gathers.set(i.gatherId, i); break;
        case 'gather-later': this.gatherPending = true; break;
        case 'send': this.sent.push(i.msg); break;
      }
    }
    assert.deepEqual([...this.store.keys()].sort(), [...this.s.memoryKeys()].sort(), 'store ⇔ memory');
    assert.ok(this.runs.size <= this.slots, 'runs within the pool');
    // The pool settles a cancelled job at once, as a failure.
    for (const run of cancelled) this.apply({ op: 'execute-failure', key: run.key, runId: run.runId, error: { name: 'CancelledError', message: 'cancelled', stack: '', code: 'ERR_TESSERA_CANCELLED' }, start: 0, stop: 0, thread: 0 });
    if (cancelled.length) this.apply({ op: 'executor-capacity', free: this.slots - this.runs.size });
  }
}

for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
  test(`random events keep every invariant (seed ${seed})`, () => {
    const rand = random(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const h = new Harness(1 + Math.floor(rand() * 4));
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
    const peers = ['p1', 'p2', 'p3', ME];
    for (let step = 0; step < 4_000; step++) {
      const r = rand();
      if (r < 0.25) {
        const key = pick(keys);
        const deps = keys.filter((k) => k < key && rand() < 0.1).map((k) => dep(k, ...peers.filter(() => rand() < 0.5)));
        h.apply(compute(key, deps, [Math.floor(rand() * 100)]));
      } else if (r < 0.33) {
        h.apply({ op: 'free-keys', keys: keys.filter(() => rand() < 0.05) });
      } else if (r < 0.37) {
        h.apply({ op: 'steal-request', key: pick(keys) });
      } else if (r < 0.5 && h.runs.size) {
        const run = pick([...h.runs.values()]);
        h.runs.delete(run.runId);
        const x = rand();
        if (x < 0.7) h.apply(success(run, value(1 + Math.floor(rand() * 100))));
        else if (x < 0.85) h.apply(failure(run));
        else if (x < 0.92) h.apply({ op: 'execute-cancelled', key: run.key, runId: run.runId });
        else h.apply({ op: 'execute-input-missing', key: run.key, runId: run.runId, dep: pick(keys) });
        h.apply({ op: 'executor-capacity', free: h.slots - h.runs.size });
      } else if (r < 0.6 && h.gatherPending) {
        h.gatherPending = false;
        h.apply({ op: 'gather' });
      } else if (r < 0.72 && h.gathers.size) {
        const g = pick([...h.gathers.values()]);
        h.gathers.delete(g.gatherId);
        if (rand() < 0.15) h.apply({ op: 'gather-dep-failure', gatherId: g.gatherId, peer: g.peer, keys: g.keys });
        else {
          const data: Record<string, SerializedValue> = {};
          for (const k of g.keys) if (rand() < 0.8) data[k] = value();
          h.apply({ op: 'gather-dep-success', gatherId: g.gatherId, peer: g.peer, keys: g.keys, data, start: step, stop: step + 1 });
        }
      } else if (r < 0.75) {
        h.apply({ op: 'acquire-replicas', keys: keys.filter(() => rand() < 0.05).map((k) => ({ key: k, nbytes: 8, who: [pick(peers)] })) });
      } else if (r < 0.77) {
        h.apply({ op: 'update-data', items: [{ key: pick(keys), value: value() }] });
      } else if (r < 0.8) {
        h.apply({ op: rand() < 0.5 ? 'pause' : 'unpause' });
      } else if (r < 0.805) {
        // Runs and fetches still out stay in the harness: their late reports must be ignored.
        h.apply({ op: 'reset' });
      }
    }
    // Drain: unpause, answer every fetch and run; nothing may be left hanging but tasks waiting for missing data.
    h.apply({ op: 'unpause' });
    for (let i = 0; i < 10_000 && (h.runs.size || h.gathers.size || h.gatherPending); i++) {
      if (h.gatherPending) {
        h.gatherPending = false;
        h.apply({ op: 'gather' });
      }
      for (const g of [...h.gathers.values()]) {
        h.gathers.delete(g.gatherId);
        h.apply({ op: 'gather-dep-success', gatherId: g.gatherId, peer: g.peer, keys: g.keys, data: Object.fromEntries(g.keys.map((k) => [k, value()])), start: 0, stop: 1 });
      }
      for (const run of [...h.runs.values()]) {
        h.runs.delete(run.runId);
        h.apply(success(run));
      }
      h.apply({ op: 'executor-capacity', free: h.slots });
    }
    for (const ts of h.s.tasks.values()) {
      assert.ok(['memory', 'missing', 'waiting'].includes(ts.state), `${ts.key} left ${ts.state}`);
      if (ts.state === 'waiting') assert.ok([...ts.waitingFor].some((d) => d.state === 'missing' || d.state === 'waiting'), `${ts.key} waits for nothing missing`);
    }
  });
}
