/**
 * Values keep their meaning across a real LocalCluster (issue 11): functions
 * passed as task arguments run on the worker, a function returned by a task
 * is a clear error, and what a task throws reaches the client with its fields.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, LocalCluster, ClosureError, TaskError, compute, delayed, remoteModule } from '../../src/index.js';
import type * as Tasks from '../fixtures/core/tasks.js';

const tasks = remoteModule<typeof Tasks>(new URL('../fixtures/core/tasks.js', import.meta.url));

/** Every wait in this file is bounded: a hung cluster fails the test instead of the run. */
const WAIT_MS = 30_000;

function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Rejects with what `promise` rejected with, bounded; fails if it resolves. */
async function failure(promise: Promise<unknown>, what: string): Promise<unknown> {
  try {
    await within(promise, what);
  } catch (err) {
    return err;
  }
  return assert.fail(`${what} succeeded`);
}

// NREL's Dask example, ported to a TypeScript script: a module-level helper
// used inside a task.
function sleep(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // busy-wait, as time.sleep stands in for work in the original
  }
}

let cluster: LocalCluster | undefined;
let client: Client | undefined;

before(async () => {
  cluster = await within(LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2, dashboard: false, validate: true }), 'cluster start');
  client = await within(Client.connect(cluster), 'client connect');
}, { timeout: 2 * WAIT_MS });

after(async () => {
  try {
    await client?.shutdown();
  } finally {
    await cluster?.close();
  }
}, { timeout: WAIT_MS });

test('a function passed as an argument runs on the worker: top level, nested, through map and delayed', { timeout: WAIT_MS }, async () => {
  const c = client!;
  assert.equal(await within(c.submit((f: (y: number) => number, x: number) => f(x), (y: number) => y + 1, 2).result(), 'submit'), 3);
  const nested = c.submit(
    (o: { ops: { double: (v: number) => number } }, x: number) => o.ops.double(x),
    { ops: { double: (v: number) => v * 2 } },
    21,
  );
  assert.equal(await within(nested.result(), 'nested'), 42);
  const mapped = c.map((f: (x: number) => number) => f(3), [(x: number) => x + 1, (x: number) => x * 10]);
  assert.deepEqual(await within(c.gather(mapped), 'map'), [4, 30]);
  const apply = delayed((f: (s: string) => string, s: string) => f(s));
  assert.equal(await within(compute(apply((s: string) => s.toUpperCase(), 'a')), 'delayed'), 'A');
  // A remoteModule reference as an argument is the module's function on the worker.
  assert.equal(await within(c.submit((f: (x: number) => number, x: number) => f(x), tasks.inc, 41).result(), 'module ref'), 42);
});

test('a module-level helper: refused when captured, with the way out; works when passed as an argument', { timeout: WAIT_MS }, async () => {
  assert.throws(
    () => delayed((x: number) => {
      sleep(1);
      return x + 1;
    }),
    (err: unknown) => {
      assert.ok(err instanceof ClosureError);
      assert.deepEqual(err.variables.map((v) => v.name), ['sleep']);
      assert.match(err.message, /uses sleep \(\d+:\d+\)/);
      assert.match(err.message, /add sleep as a parameter, \(x, sleep\) => …, and pass it as an argument of the task/);
      assert.match(err.message, /remoteModule\(/);
      return true;
    },
  );
  const inc = delayed((x: number, sleepFor: (ms: number) => void) => {
    sleepFor(1);
    return x + 1;
  });
  const add = delayed((a: number, b: number) => a + b);
  assert.equal(await within(compute(add(inc(1, sleep), inc(2, sleep))), 'slowinc graph'), 5);
});

test('a function returned by a task is a clear error naming where it is', { timeout: WAIT_MS }, async () => {
  const f = client!.submit((n: number) => ({ n, format: (x: number) => x.toFixed(2) }), 1);
  const err = await failure(f.result(), 'a task returning a function');
  assert.ok(err instanceof TaskError, String(err));
  assert.match(err.message, /contains function "format" at result\.format, and results must be data/);
  assert.equal(err.remoteName, 'TesseraError');
});

test('a thrown plain object keeps its fields on the client; so do an Error subclass\'s', { timeout: WAIT_MS }, async () => {
  const plain = await failure(
    client!.submit(() => {
      throw { code: 42, reason: 'bad row' };
    }).result(),
    'a task throwing an object',
  );
  assert.ok(plain instanceof TaskError, String(plain));
  assert.deepEqual(plain.thrown, { code: 42, reason: 'bad row' });
  assert.deepEqual(plain.fields, { code: 42, reason: 'bad row' });
  assert.match(plain.message, /it threw \{ code: 42, reason: 'bad row' \}, which is not an Error/);
  assert.doesNotMatch(plain.message, /\[object Object\]/);

  const sub = await failure(
    client!.submit((row: number) => {
      class RowError extends Error {
        override name = 'RowError';
        constructor(message: string, readonly row: number, readonly code = 'E_ROW') {
          super(message);
        }
      }
      throw new RowError(`row ${row} is bad`, row);
    }, 7).result(),
    'a task throwing an Error subclass',
  );
  assert.ok(sub instanceof TaskError, String(sub));
  assert.equal(sub.remoteName, 'RowError');
  assert.deepEqual({ row: sub.fields['row'], code: sub.fields['code'] }, { row: 7, code: 'E_ROW' });
  assert.match(sub.message, /RowError: row 7 is bad/);
});
