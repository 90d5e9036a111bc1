/**
 * How the client holds a submission's tasks until they are sent: MapTasks
 * keeps a map()'s items as keys plus one buffer of encoded arguments and
 * builds their TaskDefs on demand; TaskSequence hands tasks out chunk by
 * chunk across runs and plain TaskDefs, in submission order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MapTasks, TaskSequence } from '../../src/graph/task-sequence.js';
import { decodeArgs, encodeArgs, numberArgBytes, packArgs, packNumberArg } from '../../src/graph/serialize.js';
import { checkTaskRuns, withRuns } from '../../src/protocol/task-runs.js';
import type { FunctionSpec, TaskDef } from '../../src/protocol/messages.js';

/** The TaskDefs a message of `slice` stands for, as the scheduler expands them. */
const expand = (slice: { tasks: TaskDef[]; runs: Parameters<typeof withRuns>[1] }): TaskDef[] => withRuns(slice.tasks, slice.runs);

const fn: FunctionSpec = { kind: 'inline', source: '(x) => x', name: 'id' };

test('MapTasks: arguments of thousands of items (past every buffer growth) come back intact', () => {
  const run = new MapTasks(fn, 2, ['w1']);
  const n = 5_000;
  for (let i = 0; i < n; i++) run.add(`id-${i}`, packArgs([i % 3 === 0 ? 'x'.repeat(i % 50) : i]).bytes);
  assert.equal(run.length, n);
  // Sent in uneven slices, each counted from its own start.
  const defs: TaskDef[] = [];
  for (let from = 0; from < n; from += 777) {
    const r = run.run(from, Math.min(n, from + 777), 0);
    assert.equal(checkTaskRuns([r], 0), null);
    defs.push(...withRuns([], [r]));
  }
  for (let i = 0; i < n; i++) {
    const d = defs[i]!;
    assert.equal(d.key, `id-${i}`);
    assert.deepEqual(d.deps, []);
    assert.equal(d.retries, 2);
    assert.deepEqual(d.workers, ['w1']);
    assert.deepEqual(decodeArgs(d.args, new Map()), [i % 3 === 0 ? 'x'.repeat(i % 50) : i]);
  }
});

test('TaskSequence: tasks in order across runs and TaskDefs, taken chunk by chunk', () => {
  const def = (key: string, deps: string[] = []): TaskDef => ({ key, fn, args: encodeArgs([key]).bytes, deps });
  const a = new MapTasks(fn);
  for (let i = 0; i < 5; i++) a.add(`a${i}`, packArgs([i]).bytes);
  const b = new MapTasks(fn);
  for (let i = 0; i < 3; i++) b.add(`b${i}`, packArgs([i]).bytes);
  const defs = [def('t0'), def('t1', ['a0', 't0'])];
  const seq = TaskSequence.of([def('first')]);
  const rest = new TaskSequence();
  rest.pushMap(a);
  rest.push(defs);
  rest.pushMap(b);
  rest.pushMap(new MapTasks(fn)); // empty: adds nothing
  seq.append(rest);
  assert.equal(seq.length, 11);

  const seen: string[] = [];
  seq.forEach((key, deps, i) => seen.push(`${i}:${key}${deps.length ? `<${deps.join(',')}` : ''}`));
  assert.deepEqual(seen, ['0:first', '1:a0', '2:a1', '3:a2', '4:a3', '5:a4', '6:t0', '7:t1<a0,t0', '8:b0', '9:b1', '10:b2']);

  const chunks: string[][] = [];
  for (let c = 0; c < 4; c++) {
    const slice = seq.takeNext(3);
    assert.equal(checkTaskRuns(slice.runs, slice.tasks.length), null);
    const keys = expand(slice).map((d) => d.key);
    assert.equal(slice.length, keys.length);
    chunks.push(keys);
  }
  assert.deepEqual(chunks, [['first', 'a0', 'a1'], ['a2', 'a3', 'a4'], ['t0', 't1', 'b0'], ['b1', 'b2']]);
  assert.deepEqual(seq.takeNext(3), { tasks: [], runs: [], length: 0 }, 'nothing is left');
  // A sent chunk's TaskDefs are not kept by the adopted array.
  assert.deepEqual(defs, [undefined, undefined]);
});

test('TaskSequence.addToRun: plain submits of one function share a run, in order; another function or options start a new one', () => {
  const other: FunctionSpec = { kind: 'inline', source: '(y) => y', name: 'other' };
  const seq = new TaskSequence();
  for (let i = 0; i < 3; i++) seq.addToRun(fn, `s${i}`, packArgs([i]).bytes);
  seq.addToRun(other, 'o0', packArgs(['x']).bytes);
  seq.addToRun(fn, 's3', packArgs([3]).bytes);
  const withRetries = new MapTasks(fn, 2);
  withRetries.add('r0', packArgs([0]).bytes);
  seq.pushMap(withRetries);
  seq.addToRun(fn, 's4', packArgs([4]).bytes); // not into the run with retries
  assert.equal(seq.length, 7);
  const slice = seq.takeNext(10);
  assert.equal(slice.tasks.length, 0);
  assert.deepEqual(slice.runs.map((r) => r.keys), [['s0', 's1', 's2'], ['o0'], ['s3'], ['r0'], ['s4']]);
  const defs = expand(slice);
  assert.deepEqual(defs.map((d) => decodeArgs(d.args, new Map())), [[0], [1], [2], ['x'], [3], [0], [4]]);
  assert.deepEqual(defs.map((d) => d.retries ?? 0), [0, 0, 0, 0, 0, 2, 0]);
});

test('checkTaskRuns refuses runs that overlap, leave gaps, or point outside their bytes', () => {
  const run = (at: number, keys: string[], ends: number[], bytes = 4) => ({ at, fn, keys, args: new Uint8Array(bytes), ends: Uint32Array.from(ends) });
  assert.equal(checkTaskRuns([run(0, ['a', 'b'], [2, 4]), run(3, ['c'], [1])], 1), null);
  assert.match(checkTaskRuns([run(0, ['a', 'b'], [2, 4]), run(1, ['c'], [1])], 1)!, /overlaps/);
  assert.match(checkTaskRuns([run(2, ['a'], [1])], 1)!, /gap/);
  assert.match(checkTaskRuns([run(0, ['a', 'b'], [2])], 0)!, /2 keys but 1 argument ends/);
  assert.match(checkTaskRuns([run(0, ['a', 'b'], [3, 2])], 0)!, /outside/);
  assert.match(checkTaskRuns([run(0, ['a'], [5])], 0)!, /outside/);
});

test('packNumberArg writes the bytes packArgs gives for [n] (so map() and submit() agree on keys)', () => {
  const edges = [63, 64, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, -1, -32, -33, -128, -129, -32_768, -32_769,
    -(2 ** 31), -(2 ** 31) - 1, 0.5, -2.25, NaN, Infinity, -Infinity, -0, 1e300, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
  const values = [...Array.from({ length: 600 }, (_, i) => i - 300), ...edges];
  for (const v of values) {
    const n = packNumberArg(v);
    assert.deepEqual([...numberArgBytes.subarray(0, n)], [...packArgs([v]).bytes], `bytes of [${v}]`);
    // (-0 arrives as 0, as it does through packArgs: the encoder writes it as the integer 0.)
    assert.deepEqual(decodeArgs(numberArgBytes.subarray(0, n), new Map()), [Object.is(v, -0) ? 0 : v]);
  }
  for (const v of ['1', 1n, null, undefined, [1], { a: 1 }]) assert.equal(packNumberArg(v), 0, `${typeof v} is not written`);
});
