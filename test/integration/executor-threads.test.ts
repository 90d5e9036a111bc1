/**
 * Issue 11, "nothing is ever lost": executor threads that are stuck or out
 * of memory, and client.restart(), on real LocalClusters. Every wait has a
 * timeout; the durations in them are liveness bounds, not measurements.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, LocalCluster, CancelledError, KilledWorkerError, TaskError } from '../../src/index.js';
import type { Future } from '../../src/index.js';

const clusters: LocalCluster[] = [];
const clients: Client[] = [];

after(async () => {
  for (const c of clients) await c.close().catch(() => {});
  for (const c of clusters) await c.close().catch(() => {});
});

async function start(opts: Parameters<typeof LocalCluster.start>[0]): Promise<{ cluster: LocalCluster; client: Client }> {
  const cluster = await LocalCluster.start({ dashboard: false, ...opts });
  clusters.push(cluster);
  const client = await Client.connect(cluster);
  clients.push(client);
  return { cluster, client };
}

/** `p`, or a failure naming `what` after `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the (only) worker reports a task executing on its thread. */
async function executing(client: Client): Promise<void> {
  await until(async () => Object.values((await client.schedulerInfo()).workers).some((w) => w.metrics.executing > 0), 20_000, 'the task to start');
}

async function workerPids(client: Client): Promise<number[]> {
  const r = await within(client.run(() => process.pid), 20_000, 'client.run()');
  return Object.values(r).sort((a, b) => a - b);
}

test('a cancelled or released task that never settles frees its executor thread', async () => {
  // One worker with one thread: anything stuck on that thread blocks everything else.
  const { client } = await start({ nWorkers: 1, threadsPerWorker: 1, validate: true });
  const stuck: { what: string; submit: () => Future<unknown>; drop: (f: Future<unknown>) => Promise<void> }[] = [
    { what: 'a promise nobody resolves', submit: () => client.submit({ fn: () => new Promise(() => {}), pure: false }), drop: (f) => f.cancel() },
    { what: 'a busy loop', submit: () => client.submit({ fn: () => { for (;;); }, pure: false }), drop: (f) => f.cancel() },
    // Released by its only client while running: the same path as cancel.
    { what: 'a released busy loop', submit: () => client.submit({ fn: () => { for (;;); }, pure: false }), drop: async (f) => f.release() },
  ];
  for (const [i, s] of stuck.entries()) {
    const f = s.submit();
    await executing(client);
    await s.drop(f);
    if (!f.isReleased) await assert.rejects(f.result({ timeoutMs: 10_000 }), CancelledError);
    assert.equal(await within(client.submit((x: number) => x + 1, i).result(), 20_000, `a task after cancelling ${s.what}`), i + 1);
    const ran = await within(client.run((x: number) => x * 2, i), 20_000, `client.run() after cancelling ${s.what}`);
    assert.deepEqual(Object.values(ran), [i * 2]);
  }
});

test('client.restart() with nannies: every future is cancelled, new processes come back, the cluster works', async () => {
  const { cluster, client } = await start({ nWorkers: 2, threadsPerWorker: 1, validate: true });
  const pidsBefore = await workerPids(client);
  const held = client.submit((x: number) => x * 10, 4);
  assert.equal(await held.result({ timeoutMs: 20_000 }), 40);
  const stuck = client.submit({ fn: () => new Promise(() => {}), pure: false });
  await within(client.restart({ timeoutMs: 60_000 }), 70_000, 'client.restart()');
  for (const f of [held, stuck]) {
    assert.equal(f.status, 'cancelled');
    await assert.rejects(f.result({ timeoutMs: 5_000 }), (err: unknown) => {
      assert.ok(err instanceof CancelledError, `got ${String(err)}`);
      assert.match((err as Error).message, /restarted/);
      return true;
    });
  }
  const info = await client.schedulerInfo();
  assert.equal(Object.keys(info.workers).length, 2);
  assert.equal(Object.values(info.tasksByState).reduce((a, b) => a + b, 0), 0, 'the scheduler forgot every task');
  const pidsAfter = await workerPids(client);
  assert.equal(pidsAfter.length, 2);
  assert.ok(pidsAfter.every((p) => !pidsBefore.includes(p)), `new worker processes (before ${pidsBefore}, after ${pidsAfter})`);
  // The same key again is computed anew; LocalCluster.workers follows the new processes.
  assert.equal(await within(client.submit((x: number) => x * 10, 4).result(), 20_000, 'a task after the restart'), 40);
  assert.deepEqual(cluster.workers.map((w) => w.address).sort(), Object.keys(info.workers).sort());
});

test('client.restart() without a nanny resets each worker in place', async () => {
  const { client } = await start({ nWorkers: 1, threadsPerWorker: 1, nanny: false, validate: true });
  const pidsBefore = await workerPids(client);
  const spinning = client.submit({ fn: () => { for (;;); }, pure: false });
  await executing(client);
  await within(client.restart({ timeoutMs: 30_000 }), 40_000, 'client.restart()');
  await assert.rejects(spinning.result({ timeoutMs: 5_000 }), CancelledError);
  assert.deepEqual(await workerPids(client), pidsBefore, 'the same process');
  assert.equal(await within(client.submit((x: number) => x + 1, 1).result(), 20_000, 'a task after the restart'), 2);
});

test('a task that allocates past memoryLimit errs with a clear message; the worker keeps serving', async () => {
  const { client } = await start({ nWorkers: 1, threadsPerWorker: 1, memoryLimit: '200MB' });
  const [pid] = await workerPids(client);
  const kept = client.submit((x: number) => x + 1, 41);
  assert.equal(await kept.result({ timeoutMs: 20_000 }), 42);
  // 800 MB of JavaScript arrays, four times the limit. Without heap limits
  // on the executor threads this succeeds (V8's default heap is ~4 GB).
  const hog = client.submit({
    fn: () => {
      const keep: number[][] = [];
      for (let n = 0; n < 800e6; n += 8e5) keep.push(new Array<number>(1e5).fill(n + 0.5));
      return keep.length;
    },
    pure: false,
  });
  await assert.rejects(within(hog.result(), 60_000, 'the task that allocates too much'), (err: unknown) => {
    assert.ok(err instanceof TaskError, `got ${String(err)}`);
    assert.equal(err.remoteName, 'OutOfMemoryError');
    assert.match(err.message, /ran out of memory/);
    assert.match(err.message, /memory limit of 200 MB/);
    assert.match(err.message, /RSS/);
    assert.match(err.message, /Raise memoryLimit/);
    assert.match(err.message, /more partitions or smaller chunks/);
    return true;
  });
  // The same process (the nanny did not have to step in), at a sane size, still serving its data and new tasks.
  const [pidAfter] = await workerPids(client);
  assert.equal(pidAfter, pid, 'the worker process survived');
  const rss = Object.values(await within(client.run(() => process.memoryUsage.rss()), 20_000, 'client.run()'))[0]!;
  assert.ok(rss < 400e6, `worker RSS ${Math.round(rss / 1e6)} MB after the task, with a 200 MB limit`);
  assert.equal(await kept.result({ timeoutMs: 20_000 }), 42);
  assert.equal(await within(client.submit((x: number) => x * 3, 5).result(), 20_000, 'a task afterwards'), 15);
});

test('a worker process past its memory limit outside the JavaScript heap is restarted by its nanny', async () => {
  const { client } = await start({ nWorkers: 1, threadsPerWorker: 1, memoryLimit: '200MB', allowedFailures: 0 });
  const [pid] = await workerPids(client);
  // Buffers are not bounded by the threads' heap limits: the nanny is what bounds them.
  const hog = client.submit({
    fn: () => {
      (globalThis as { keep?: Buffer }).keep = Buffer.alloc(400e6, 1);
      return new Promise(() => {});
    },
    pure: false,
  });
  await assert.rejects(within(hog.result(), 60_000, 'the task that allocates too much'), KilledWorkerError);
  await within(client.waitForWorkers(1), 60_000, 'the restarted worker');
  await until(async () => Object.keys((await client.schedulerInfo()).workers).length === 1, 30_000, 'the worker to be back');
  const [pidAfter] = await workerPids(client);
  assert.notEqual(pidAfter, pid, 'a new worker process');
  assert.equal(await within(client.submit((x: number) => x + 1, 1).result(), 20_000, 'a task afterwards'), 2);
});
