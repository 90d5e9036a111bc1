/**
 * The core runtime on a real LocalCluster: a scheduler and two worker
 * processes talking TCP on loopback. The scheduler validates its state
 * machine after every batch of transitions.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import {
  Client, LocalCluster, delayed, compute, remoteModule, wait, asCompleted, progress, TaskError, CancelledError, TesseraError, Future,
} from '../../src/index.js';
import type * as Tasks from '../fixtures/core/tasks.js';

const tasks = remoteModule<typeof Tasks>(new URL('../fixtures/core/tasks.js', import.meta.url));

let cluster: LocalCluster;
let client: Client;

before(async () => {
  cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboard: false, validate: true });
  client = await Client.connect(cluster);
});

after(async () => {
  await client?.shutdown();
  await cluster?.close();
});

test('the README example: submit, map, gather, delayed + compute', async () => {
  assert.equal(await client.submit((x: number) => x + 1, 10).result(), 11);
  assert.deepEqual(await client.gather(client.map((x: number) => x * x, [1, 2, 3])), [1, 4, 9]);
  const inc = delayed((x: number) => x + 1);
  const add = delayed((a: number, b: number) => a + b);
  assert.equal(await compute(add(inc(1), inc(2))), 5);
});

test('the options form of submit, module functions, and futures as arguments', async () => {
  const a = client.submit({ fn: tasks.inc, args: [20], key: 'inc-20', retries: 2, priority: 5 });
  assert.equal(a.key, 'inc-20');
  const b = client.submit(tasks.add, a, 100);
  assert.equal(await b.result(), 121);
  const total = client.submit(tasks.sum, [a, b, 1]);
  assert.equal(await total.result(), 21 + 121 + 1);
});

test('values round-trip: objects, typed arrays, Maps, Buffers, undefined, BigInt', async () => {
  const value = { s: 'x', n: 1.5, arr: [1, null, 'a'], f64: new Float64Array([1, 2.5]), m: new Map([['k', 1]]), big: 2n ** 70n, u: undefined, d: new Date(0) };
  const back = await client.submit((v: typeof value) => v, value).result();
  assert.deepEqual(back, value);
  const buf = await client.submit(tasks.bytes, 3_000_000, 7).result();
  assert.ok(Buffer.isBuffer(buf));
  assert.equal(buf.length, 3_000_000);
  assert.equal(buf[2_999_999], 7);
  // Many results in one gather: small ones travel inline, concatenated, the rest as frames; records of
  // different shapes, and the same shape again, must each decode as themselves.
  const mixed: unknown[] = [
    { a: 1 }, { b: 'x', c: [1, 2] }, null, undefined, 'str', 'y'.repeat(5000), Buffer.from([1, 2, 3]), new Float32Array([1, 2]),
    new Map([['k', { z: 1 }]]), 2n ** 70n, { a: 2 }, [{ x: 1 }, { y: 2 }, { x: 3 }], new Date(5), { nested: { a: { b: 'c' } } },
  ];
  const items = Array.from({ length: 20 }, () => mixed).flat();
  assert.deepEqual(await client.gather(client.map((v: unknown) => v, items, { pure: false })), items);
});

test('a 2,000-task delayed graph with dependencies across workers', async () => {
  const inc = delayed(tasks.inc);
  const add = delayed(tasks.add);
  // 1,000 leaves reduced pairwise in a tree (999 adds) plus a final inc: 2,000 tasks.
  let layer = Array.from({ length: 1000 }, (_, i) => inc(i));
  while (layer.length > 1) {
    const next = [];
    for (let i = 0; i < layer.length; i += 2) next.push(i + 1 < layer.length ? add(layer[i]!, layer[i + 1]!) : layer[i]!);
    layer = next;
  }
  const result = inc(layer[0]!);
  const expected = Array.from({ length: 1000 }, (_, i) => i + 1).reduce((a, b) => a + b, 0) + 1;
  assert.equal(await compute(result), expected);
  // Both workers took part (the inputs really crossed between them).
  const info = await client.schedulerInfo();
  assert.equal(Object.keys(info.workers).length, 2);
});

test('an error in a task is re-raised on the client with its message and the remote stack', async () => {
  const f = client.submit(tasks.failDeep, 'bad input 42');
  await assert.rejects(f.result(), (err: unknown) => {
    assert.ok(err instanceof TaskError);
    assert.equal(err.code, 'ERR_TESSERA_TASK_FAILED');
    assert.equal(err.remoteName, 'RangeError');
    assert.match(err.message, /bad input 42/);
    assert.match(err.remoteStack, /innerFailure/);
    assert.match(err.remoteStack, /fixtures\/core\/tasks\.js/);
    assert.match(err.stack!, /remote stack/);
    return true;
  });
  assert.equal(f.status, 'error');
  // Dependents fail with the same error, blaming the original task.
  const g = client.submit(tasks.inc, f);
  await assert.rejects(g.result(), /bad input 42/);
  // An inline function's error too.
  await assert.rejects(client.submit((x: number) => { if (x > 1) throw new TypeError(`too big: ${x}`); return x; }, 5).result(), /TypeError: too big: 5/);
});

test('a function that captures a local variable is refused on the client, naming the variable', () => {
  const factor = 3;
  assert.throws(() => client.submit((x: number) => x * factor, 2), (err: unknown) => {
    assert.equal((err as TesseraError).code, 'ERR_TESSERA_CLOSURE');
    assert.match((err as Error).message, /factor/);
    assert.match((err as Error).message, /pass it as an argument/i);
    return true;
  });
});

test('retries re-run a failing task', async () => {
  // Fails on the first worker process it runs in, succeeds on a retry elsewhere or later.
  const flaky = (marker: string) => {
    const g = globalThis as unknown as Record<string, number>;
    g[marker] = (g[marker] ?? 0) + 1;
    if (g[marker] === 1) throw new Error('first attempt fails');
    return g[marker];
  };
  const f = client.submit({ fn: flaky, args: [`m-${Date.now()}`], retries: 3, pure: false });
  assert.ok((await f.result()) >= 2);
});

test('worker restrictions pin a task to the named worker', async () => {
  const info = await client.schedulerInfo();
  const byName = new Map(Object.values(info.workers).map((w) => [w.name, w.pid]));
  for (const name of ['0', '1']) {
    const pid = await client.submit({ fn: tasks.pid, args: [], workers: [name], pure: false }).result();
    assert.equal(pid, byName.get(name));
  }
});

test('scatter, run, runOnScheduler, schedulerInfo, waitForWorkers', async () => {
  const data = Buffer.alloc(100_000, 3);
  const f = await client.scatter(data);
  assert.equal(await client.submit(tasks.checksum, f).result(), 3 * Math.ceil(100_000 / 4096) + 100_000);
  const pids = await client.run(() => process.pid);
  assert.equal(Object.keys(pids).length, 2);
  const info = await client.schedulerInfo();
  for (const [addr, w] of Object.entries(info.workers)) assert.equal(pids[addr], w.pid);
  assert.equal(await client.runOnScheduler(() => os.hostname()), (await import('node:os')).hostname());
  assert.equal(info.type, 'Scheduler');
  await client.waitForWorkers(2, { timeoutMs: 5000 });
  await assert.rejects(client.waitForWorkers(5, { timeoutMs: 300 }), /only 2 of 5 workers/);
  assert.equal(client.dashboardLink, undefined, 'dashboard disabled');
  assert.match(String(client), /processes=2 threads=2/);
});

test('cancel stops a computation and rejects its result', async () => {
  const f = client.submit({ fn: tasks.slowInc, args: [1, 5000], pure: false });
  await new Promise((r) => setTimeout(r, 100));
  await f.cancel();
  await assert.rejects(f.result(), CancelledError);
  assert.equal(f.status, 'cancelled');
});

test('wait and asCompleted', async () => {
  const fs = [300, 10, 150].map((ms, i) => client.submit({ fn: tasks.slowInc, args: [i, ms], pure: false }));
  const order: number[] = [];
  for await (const f of asCompleted(fs)) order.push(await f.result());
  assert.deepEqual(order.sort(), [1, 2, 3]);
  const more = [10, 400].map((ms) => client.submit({ fn: tasks.slowInc, args: [ms, ms], pure: false }));
  const first = await wait(more, { returnWhen: 'FIRST_COMPLETED' });
  assert.ok(first.done.length >= 1);
  const all = await wait(more);
  assert.equal(all.notDone.length, 0);
  // Nothing to wait for: both return at once.
  assert.deepEqual(await wait([]), { done: [], notDone: [] });
  assert.deepEqual(await wait([], { returnWhen: 'FIRST_COMPLETED' }), { done: [], notDone: [] });
  // Errors and cancellations count as completed; wait never throws them.
  const bad = client.submit({ fn: (x: number) => { throw new Error(`bad ${x}`); }, args: [1], pure: false });
  const slow = client.submit({ fn: tasks.slowInc, args: [5, 3_000], pure: false });
  const cancelled = client.submit({ fn: tasks.slowInc, args: [6, 3_000], pure: false });
  await cancelled.cancel();
  const settled = await wait([bad, cancelled]);
  assert.deepEqual(settled.done.map((f) => f.status).sort(), ['cancelled', 'error']);
  // A timeout names how many futures are still pending.
  await assert.rejects(wait([slow, bad], { timeoutMs: 200 }), /futures not complete within 200 ms \(1 of 2 still pending\)/);
  const statuses: string[] = [];
  for await (const f of asCompleted([slow, bad])) {
    statuses.push(f.status);
    if (statuses.length === 1) await slow.cancel();
  }
  assert.deepEqual(statuses, ['error', 'cancelled']);
});

test('releasing futures frees the data on the workers', async () => {
  const managed = async () => {
    const info = await client.schedulerInfo();
    return Object.values(info.workers).reduce((a, w) => a + w.metrics.managedBytes, 0);
  };
  // Earlier tests' results that only garbage collection releases may still be held: count from here.
  const before = await managed();
  const futures = Array.from({ length: 10 }, (_, i) => client.submit({ fn: tasks.bytes, args: [1_000_000, i], pure: false }));
  await wait(futures);
  const deadline = Date.now() + 10_000;
  while ((await managed()) - before < 10_000_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok((await managed()) - before >= 10_000_000, 'results held on the workers');
  client.release(futures);
  while ((await managed()) - before > 1_000_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok((await managed()) - before < 1_000_000, `memory freed (still ${(await managed()) - before} bytes more than before)`);
});

test('a garbage-collected future releases its key', async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  assert.ok(gc, 'the test runner starts node with --expose-gc');
  let f: Future<Buffer> | null = client.submit({ fn: tasks.bytes, args: [2_000_000, 1], pure: false });
  const key = f.key;
  await f.result();
  f = null;
  const deadline = Date.now() + 10_000;
  let present = true;
  while (present && Date.now() < deadline) {
    gc!();
    await new Promise((r) => setTimeout(r, 100));
    present = client.keys.has(key);
  }
  assert.equal(present, false, 'the client dropped the key after GC');
});

test('a key released and submitted again in the same turn keeps its result', async () => {
  const first = client.submit(tasks.bytes, 2_000, 4);
  const key = first.key;
  await first.result();
  first.release();
  const again = client.submit(tasks.bytes, 2_000, 4); // the same key, before the release is sent
  assert.equal(again.key, key);
  await new Promise((r) => setTimeout(r, 200)); // the batched release has gone out by now
  assert.equal((await again.result({ timeoutMs: 30_000 })).length, 2_000);
  assert.ok(client.keys.has(key));
  again.release();
});

test('an explicit release and garbage collection of futures of one key: the key stays while any future of it is unreleased', async () => {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const collect = async () => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  // Pure tasks with the same function and arguments share a key: three futures of one key.
  let a: Future<Buffer> | null = client.submit(tasks.bytes, 1_000, 3);
  let b: Future<Buffer> | null = client.submit(tasks.bytes, 1_000, 3);
  const c: Future<Buffer> = client.submit(tasks.bytes, 1_000, 3);
  const key = c.key;
  assert.equal(a.key, key);
  assert.equal(b.key, key);
  await c.result();
  a.release();
  a = null;
  await collect();
  assert.ok(client.keys.has(key), 'b and c still hold the key after a was released and collected');
  b = null; // unreleased, collected
  await collect();
  assert.ok(client.keys.has(key), 'c still holds the key');
  assert.equal((await c.result()).length, 1_000);
  c.release();
  assert.equal(client.keys.has(key), false, 'released with its last future');
  assert.equal(b, null);
});

test('a long CPU-bound task does not block the worker: heartbeats and data serving continue', async () => {
  // Put data on worker 1, start a 2 s spin there, and fetch the data meanwhile.
  const data = client.submit({ fn: tasks.bytes, args: [10_000, 9], workers: ['1'], pure: false });
  await data.result();
  const spin = client.submit({ fn: tasks.spin, args: [2000], workers: ['1'], pure: false });
  await new Promise((r) => setTimeout(r, 200));
  const t0 = Date.now();
  const copy = await data.result();
  assert.equal(copy.length, 10_000);
  assert.ok(Date.now() - t0 < 1500, 'served while the executor thread was busy');
  const before = (await client.schedulerInfo()).workers;
  await new Promise((r) => setTimeout(r, 800));
  const afterInfo = (await client.schedulerInfo()).workers;
  for (const addr of Object.keys(afterInfo)) assert.ok(afterInfo[addr]!.lastSeen > before[addr]!.lastSeen, 'heartbeats kept coming');
  assert.ok((await spin.result()) > 0);
});

test('progress() reports per task group in batch logs and resolves when the futures are done', async () => {
  const lines: string[] = [];
  const stream = { write: (s: string) => { lines.push(s); return true; }, isTTY: false };
  const fs = client.map((x: number) => x + 1, Array.from({ length: 50 }, (_, i) => i), { pure: false });
  await progress(fs, { stream, tty: false });
  const text = lines.join('');
  assert.match(text, /50\/50/);
  assert.ok(fs.every((f) => f.done()));
});

test('the scheduler process runs with the V8 settings measured for large graphs; the workers with their own', async () => {
  // See src/deploy/scheduler-process.ts: without them a million-task graph took 30-60% more peak memory.
  const schedulerArgv = await client.runOnScheduler(() => process.execArgv);
  assert.ok(schedulerArgv.includes('--max-semi-space-size=64'), schedulerArgv.join(' '));
  assert.ok(schedulerArgv.includes('--heap-growing-percent=50'), schedulerArgv.join(' '));
  const workerArgv = Object.values(await client.run(() => process.execArgv));
  assert.equal(workerArgv.length, 2);
  for (const argv of workerArgv) assert.ok(!argv.includes('--heap-growing-percent=50'), argv.join(' '));
});
