/**
 * What goes wrong, handled: dead workers, tasks that kill their workers,
 * wrong tokens, garbage on the wire, a parent killed with its cluster
 * running, memory pressure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Client, LocalCluster, delayed, remoteModule, KilledWorkerError, TesseraError } from '../../src/index.js';
import { FrameDecoder, frameMessage } from '../../src/protocol/frames.js';
import { decodeMessage, encodeMessage } from '../../src/protocol/codec.js';
import { makeHello } from '../../src/protocol/handshake.js';
import { parseAddress } from '../../src/comm/address.js';
import type * as Tasks from '../fixtures/core/tasks.js';

const tasks = remoteModule<typeof Tasks>(new URL('../fixtures/core/tasks.js', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a worker killed with SIGKILL in the middle of a graph: the result is still correct', async () => {
  await using cluster = await LocalCluster.start({ nWorkers: 2, dashboard: false, validate: true });
  await using client = await Client.connect(cluster);
  const slowInc = delayed(tasks.slowInc);
  const add = delayed(tasks.add);
  // 200 slow leaves (spread over both workers) reduced in a tree.
  let layer = Array.from({ length: 200 }, (_, i) => slowInc(i, 10));
  while (layer.length > 1) {
    const next = [];
    for (let i = 0; i < layer.length; i += 2) next.push(i + 1 < layer.length ? add(layer[i]!, layer[i + 1]!) : layer[i]!);
    layer = next;
  }
  const f = client.compute(layer[0]!);
  await new Promise((r) => setTimeout(r, 400));
  const victim = cluster.workers[1]!.process;
  victim.kill('SIGKILL');
  assert.equal(await f.result({ timeoutMs: 60_000 }), (200 * 201) / 2);
  const info = await client.schedulerInfo();
  assert.equal(Object.keys(info.workers).length, 1, 'the dead worker was removed');
});

test('a task that keeps killing its workers errs with KilledWorkerError', async () => {
  await using cluster = await LocalCluster.start({ nWorkers: 2, dashboard: false, allowedFailures: 1 });
  await using client = await Client.connect(cluster);
  const f = client.submit(tasks.killMyWorker);
  await assert.rejects(f.result({ timeoutMs: 30_000 }), (err: unknown) => {
    assert.ok(err instanceof KilledWorkerError, `got ${String(err)}`);
    assert.equal(err.code, 'ERR_TESSERA_KILLED_WORKER');
    assert.match(err.message, /workers that died/);
    // Rebuilt from the scheduler's fields, not re-created on the client with placeholders.
    assert.equal(err.key, f.key);
    assert.equal(err.attempts, 2);
    assert.match(err.lastWorker, /^tcp:\/\//);
    return true;
  });
});

test('a wrong token is refused with a clear error; garbage on the wire leaves the scheduler serving', async () => {
  await using cluster = await LocalCluster.start({ nWorkers: 1, dashboard: false });
  await assert.rejects(Client.connect(cluster.schedulerAddress, { token: 'not-the-token' }), (err: unknown) => {
    assert.equal((err as TesseraError).code, 'ERR_TESSERA_AUTH');
    assert.match((err as Error).message, /wrong auth token/);
    return true;
  });
  const { host, port } = parseAddress(cluster.schedulerAddress);
  const hello = Buffer.concat(frameMessage(encodeMessage(makeHello('client', cluster.token))));
  const shapes = [
    () => randomBytes(1 + Math.floor(Math.random() * 200)),                                  // noise before the handshake
    () => Buffer.concat([hello, randomBytes(64)]),                                           // noise after it
    () => { const b = Buffer.alloc(8); b.writeUInt32LE(1, 0); b.writeUInt32LE(0xfffffff0, 4); return Buffer.concat([hello, b]); }, // huge frame
    () => Buffer.concat([hello, ...frameMessage([randomBytes(30)])]),                        // undecodable header
    () => Buffer.concat([hello, ...frameMessage(encodeMessage({ no: 'op' }))]),               // no op
    () => Buffer.concat([hello, ...frameMessage(encodeMessage({ op: 'update-graph', tasks: 5 }))]), // wrong field types
    () => Buffer.concat([hello, ...frameMessage(encodeMessage({ op: 'who-has', keys: null, rid: 1 }))]),
    () => Buffer.concat([hello, ...frameMessage(encodeMessage({ op: 'nonsense' }))]),
    () => Buffer.concat([...frameMessage(encodeMessage({ op: 'hello', protocol: 999, role: 'client', token: cluster.token }))]),
  ];
  // 1,000 connections, up to 50 at a time.
  let sent = 0;
  const one = () => new Promise<void>((resolve) => {
    const s = netConnect({ host, port }, () => s.end(shapes[sent++ % shapes.length]!()));
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    s.resume();
    setTimeout(() => s.destroy(), 2000).unref();
  });
  for (let i = 0; i < 1000; i += 50) await Promise.all(Array.from({ length: 50 }, one));
  assert.equal(sent, 1000);
  await using client = await Client.connect(cluster);
  assert.equal(await client.submit((x: number) => x * 2, 21).result(), 42);
  // A protocol-version mismatch is refused with a message saying so.
  const refusal = await new Promise<{ op: string; message: string }>((resolve, reject) => {
    const s = netConnect({ host, port }, () => {
      s.write(Buffer.concat(frameMessage(encodeMessage({ op: 'hello', protocol: 999, role: 'client', token: cluster.token }))));
    });
    const d = new FrameDecoder();
    s.on('data', (chunk) => {
      const msgs = d.push(chunk);
      if (msgs.length) resolve(decodeMessage(msgs[0]!) as { op: string; message: string });
    });
    s.on('error', reject);
  });
  assert.equal(refusal.op, 'refused');
  assert.match(refusal.message, /protocol version mismatch/);
});

test('killing the parent of a LocalCluster leaves no process behind', async () => {
  const script = `
    import { LocalCluster } from ${JSON.stringify(new URL('../../src/index.js', import.meta.url).href)};
    const c = await LocalCluster.start({ nWorkers: 2, dashboard: false });
    const pids = [c.workers[0].process.pid, c.workers[1].process.pid, c['scheduler'].pid];
    console.log(JSON.stringify(pids));
    setInterval(() => {}, 1000);
  `;
  const parent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pids = await new Promise<number[]>((resolve, reject) => {
    let out = '';
    parent.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out) as number[]);
    });
    parent.on('exit', () => reject(new Error('parent exited early')));
  });
  assert.equal(pids.length, 3);
  assert.ok(pids.every(alive));
  parent.kill('SIGKILL');
  await until(() => pids.every((p) => !alive(p)), 10_000, 'the cluster processes to exit');
});

test('close() leaves no process behind', async () => {
  const cluster = await LocalCluster.start({ nWorkers: 2, dashboard: false });
  const pids = cluster.workers.map((w) => w.process.pid!);
  await cluster.close();
  await until(() => pids.every((p) => !alive(p)), 5000, 'workers to exit');
});

test('a worker over its memory target spills to disk and still serves every result', async () => {
  // Without a nanny: this is the worker's own spilling, and its RSS may pass the
  // nanny's 95% while garbage from spilled and reloaded buffers awaits collection.
  await using cluster = await LocalCluster.start({ nWorkers: 1, dashboard: false, memoryLimit: '400MB', nanny: false });
  await using client = await Client.connect(cluster);
  // 400 MB limit -> spill target 240 MB; hold 300 MB of results.
  const futures = Array.from({ length: 30 }, (_, i) => client.submit({ fn: tasks.bytes, args: [10_000_000, i], pure: false }));
  const sums = futures.map((f) => client.submit(tasks.checksum, f));
  await client.gather(sums);
  let spilled = 0;
  await until(async () => {
    const info = await client.schedulerInfo();
    spilled = Object.values(info.workers)[0]!.metrics.spilledBytes;
    return spilled > 0;
  }, 10_000, 'spilled bytes to be reported');
  const values = await client.gather(futures);
  values.forEach((v, i) => {
    assert.equal(v.length, 10_000_000);
    assert.equal(v[123], i);
  });
});

test('a worker paused for memory resumes once what it spilled is garbage, even with nothing left to spill', async () => {
  // Without a nanny: holding 300 MB of garbage in a 400 MB worker is the point
  // here, and a nanny would restart the worker at 95% (tested in executor-threads).
  await using cluster = await LocalCluster.start({ nWorkers: 1, dashboard: false, memoryLimit: '400MB', nanny: false });
  await using client = await Client.connect(cluster);
  // 300 MB is over the spill target (240 MB): the store writes it to disk at
  // once, leaving a 300 MB buffer that is garbage but not yet collected, and
  // the process over the pause threshold (320 MB) with nothing left to spill.
  const big = client.submit({ fn: tasks.bytes, args: [300_000_000, 1], pure: false });
  await until(async () => Object.values((await client.schedulerInfo()).workers)[0]!.metrics.spilledBytes > 0, 15_000, 'the result to be spilled');
  // A paused worker allocates almost nothing, so V8 collects that buffer on
  // its own late (~8 s on this project's machine) or never (a loaded CI run
  // stayed paused for minutes); the worker collects it itself, checking
  // every heartbeat (0.5 s). The deadline is a liveness bound, 10 heartbeats.
  const next = client.submit({ fn: tasks.checksum, args: [new Uint8Array(10)], pure: false });
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([next.result(), new Promise((r) => (timer = setTimeout(() => r('still paused'), 5_000)))]);
  clearTimeout(timer);
  assert.equal(done, 10, 'the worker ran a new task');
  big.release();
});

test('a retiring worker hands its results to another worker instead of losing them', async () => {
  await using cluster = await LocalCluster.start({ nWorkers: 2, dashboard: false, validate: true });
  await using client = await Client.connect(cluster);
  // Random values: recomputing them would give different numbers, so equality proves they were moved.
  const random = (i: number) => ({ i, r: Math.random() });
  const held = Array.from({ length: 20 }, (_, i) => client.submit({ fn: random, args: [i], workers: ['1'], pure: false }));
  const before = await client.gather(held);
  // And work queued behind a long task on the leaving worker moves too.
  const blocker = client.submit({ fn: tasks.slowInc, args: [0, 1500], workers: ['1'], allowOtherWorkers: true, pure: false });
  await client.retireWorkers(['1'], { timeoutMs: 60_000 });
  const info = await client.schedulerInfo();
  assert.deepEqual(Object.values(info.workers).map((w) => w.name), ['0']);
  assert.deepEqual(await client.gather(held), before, 'the same values: handed over, not recomputed');
  assert.equal(await blocker.result(), 1);
});

test('a worker that joins late steals work queued on a busy one', async () => {
  await using cluster = await LocalCluster.start({ nWorkers: 1, dashboard: false, validate: true });
  await using client = await Client.connect(cluster);
  // 40 tasks that all depend on data held by worker 0: placement puts them all there.
  const seed = client.submit({ fn: tasks.bytes, args: [1000, 1], pure: false });
  await seed.result();
  const work = Array.from({ length: 40 }, (_, i) => client.submit({ fn: (b: Uint8Array, i: number, ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end);
    return { i, pid: process.pid, n: b.length };
  }, args: [seed, i, 100], pure: false }));
  await new Promise((r) => setTimeout(r, 300));
  await cluster.scale(2);
  const results = await client.gather(work);
  const pids = new Set(results.map((r) => r.pid));
  assert.equal(pids.size, 2, 'the new worker ran some of the queued tasks');
  assert.deepEqual(results.map((r) => r.i), Array.from({ length: 40 }, (_, i) => i));
});
