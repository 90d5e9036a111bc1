/**
 * A cluster started by hand: `tessera-compute scheduler` and two `tessera-compute worker`
 * processes meeting through a scheduler file, and a client that finds them
 * the same way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '../../src/index.js';
import { TESSERA_BIN } from '../fixtures/package.js';

const CLI = TESSERA_BIN;

function tessera(args: string[]): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function exited(p: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (p.exitCode !== null) return Promise.resolve(p.exitCode);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`process ${p.pid} still running after ${timeoutMs} ms`)), timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

function collect(p: ChildProcess): () => string {
  let out = '';
  p.stdout?.on('data', (d) => (out += d));
  p.stderr?.on('data', (d) => (out += d));
  return () => out;
}

/** Connects once the scheduler has written its file (the CLI processes start in parallel). */
async function connectWhenReady(file: string, timeoutMs = 20_000): Promise<Client> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await Client.connect({ schedulerFile: file });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test('tessera-compute scheduler + 2 tessera-compute worker + a client through the scheduler file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
  const file = join(dir, 'scheduler.json');
  const sched = tessera(['scheduler', '--scheduler-file', file, '--port', '0', '--no-dashboard']);
  const schedLog = collect(sched);
  const workers = [tessera(['worker', '--scheduler-file', file, '--nthreads', '2', '--name', 'a']), tessera(['worker', '--scheduler-file', file, '--nthreads', '2', '--name', 'b'])];
  const logs = workers.map(collect);
  try {
    const client = await connectWhenReady(file);
    assert.equal((statSync(file).mode & 0o777).toString(8), '600', 'the scheduler file is private');
    await client.waitForWorkers(2, { timeoutMs: 20_000 });
    const info = await client.schedulerInfo();
    assert.deepEqual(Object.values(info.workers).map((w) => w.name).sort(), ['a', 'b']);
    assert.deepEqual(Object.values(info.workers).map((w) => w.nthreads), [2, 2]);
    assert.deepEqual(await client.gather(client.map((x: number) => x * 10, [1, 2, 3, 4])), [10, 20, 30, 40]);
    await client.shutdown();
    // Shutting down the cluster ends every process with status 0.
    assert.equal(await exited(sched, 10_000), 0, schedLog());
    for (let i = 0; i < 2; i++) assert.equal(await exited(workers[i]!, 10_000), 0, logs[i]!());
    assert.match(schedLog(), /scheduler at tcp:\/\//);
  } finally {
    for (const p of [sched, ...workers]) p.kill('SIGKILL');
  }
});

test('a worker whose scheduler vanishes exits on its own after --death-timeout', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
  const file = join(dir, 'scheduler.json');
  const sched = tessera(['scheduler', '--scheduler-file', file, '--port', '0', '--no-dashboard']);
  const worker = tessera(['worker', '--scheduler-file', file, '--death-timeout', '2']);
  const log = collect(worker);
  try {
    const client = await connectWhenReady(file);
    await client.waitForWorkers(1, { timeoutMs: 20_000 });
    await client.close();
    sched.kill('SIGKILL');
    const t0 = Date.now();
    assert.equal(await exited(worker, 15_000), 1, "a worker that gives up exits non-zero");
    assert.ok(Date.now() - t0 < 15_000);
    assert.match(log(), /lost the scheduler/);
  } finally {
    sched.kill('SIGKILL');
    worker.kill('SIGKILL');
  }
});

test('--help explains every flag; bad input gets a clear error', () => {
  for (const cmd of ['scheduler', 'worker']) {
    const r = spawnSync(process.execPath, [CLI, cmd, '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.match(r.stdout, new RegExp(`Usage: tessera-compute ${cmd}`));
    for (const flag of cmd === 'scheduler' ? ['--host', '--port', '--interface', '--scheduler-file', '--dashboard-address', '--no-dashboard'] : ['--nthreads', '--memory-limit', '--local-directory', '--name', '--interface', '--scheduler-file']) {
      assert.ok(r.stdout.includes(flag), `${cmd} --help mentions ${flag}`);
    }
  }
  const main = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
  assert.match(main.stdout, /Commands:/);
  const bad = spawnSync(process.execPath, [CLI, 'scheduler', '--interface', 'nosuchif0', '--port', '0'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /network interface 'nosuchif0' does not exist on this host; interfaces here: .*lo/);
  const unknown = spawnSync(process.execPath, [CLI, 'worker', '--bogus'], { encoding: 'utf8' });
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /unknown option '--bogus'/);
  const noTarget = spawnSync(process.execPath, [CLI, 'worker'], { encoding: 'utf8' });
  assert.match(noTarget.stderr, /give the scheduler address/);
});

test('SIGTERM makes a worker retire gracefully: its results move to another worker', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
  const file = join(dir, 'scheduler.json');
  const sched = tessera(['scheduler', '--scheduler-file', file, '--port', '0', '--no-dashboard']);
  const a = tessera(['worker', '--scheduler-file', file, '--name', 'a']);
  const b = tessera(['worker', '--scheduler-file', file, '--name', 'b']);
  try {
    const client = await connectWhenReady(file);
    await client.waitForWorkers(2, { timeoutMs: 20_000 });
    const random = (i: number) => ({ i, r: Math.random() });
    const held = Array.from({ length: 10 }, (_, i) => client.submit({ fn: random, args: [i], workers: ['a'], pure: false }));
    const before = await client.gather(held);
    a.kill('SIGTERM');
    assert.equal(await exited(a, 20_000), 0);
    assert.deepEqual(await client.gather(held), before, 'handed over, not recomputed');
    await client.shutdown();
    await exited(sched, 10_000);
  } finally {
    for (const p of [sched, a, b]) p.kill('SIGKILL');
  }
});

test('tessera-compute scheduler --dashboard-address serves the dashboard there; --no-dashboard serves none', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
  for (const withDashboard of [true, false]) {
    const file = join(dir, `scheduler-${withDashboard}.json`);
    const sched = tessera(['scheduler', '--scheduler-file', file, '--port', '0', ...(withDashboard ? ['--dashboard-address', '127.0.0.1:0'] : ['--no-dashboard'])]);
    try {
      const client = await connectWhenReady(file);
      const port = (await client.schedulerInfo()).services.dashboard;
      if (withDashboard) {
        assert.ok(port && port > 0);
        assert.equal(client.dashboardLink, `http://127.0.0.1:${port}/status`);
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        assert.equal((await res.text()).trim(), 'ok');
        const file2 = JSON.parse(readFileSync(file, 'utf8')) as { services: { dashboard?: number } };
        assert.equal(file2.services.dashboard, port, 'the scheduler file names the dashboard port');
      } else {
        assert.equal(port, undefined);
        assert.equal(client.dashboardLink, undefined);
      }
      await client.shutdown();
      await exited(sched, 10_000);
    } finally {
      sched.kill('SIGKILL');
    }
  }
});
