/**
 * The command line as a user meets it on a bad day: bad flags, a worker
 * whose scheduler is not there or goes away, a scheduler that is stopped,
 * and a client handed a stale scheduler file. Every path ends, with a clear
 * line and the right exit status; nothing is left running or lying around.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'tessera-compute';
import { TESSERA_BIN } from '../fixtures/package.js';

function start(args: string[], env: NodeJS.ProcessEnv = process.env): { p: ChildProcess; output: () => string } {
  const p = spawn(process.execPath, [TESSERA_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (out += d));
  return { p, output: () => out };
}

function exited(p: ChildProcess, timeoutMs: number, what: string): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${what} (pid ${p.pid}) was still running after ${timeoutMs} ms`));
    }, timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tessera-cli-life-'));
}

describe('bad flags exit non-zero at once with one clear line', () => {
  const cases: [string[], RegExp][] = [
    [['scheduler', '--dashboard-address', 'garbage'], /--dashboard-address 'garbage' is not an address: use ':PORT'/],
    [['scheduler', '--dashboard-address', ':99999'], /--dashboard-address ':99999' is not an address/],
    [['scheduler', '--port', '99999'], /--port must be an integer from 0 to 65535, got '99999'/],
    [['scheduler', '--worker-ttl', '0'], /--worker-ttl must be an integer of at least 1/],
    [['worker', 'tcp://127.0.0.1:1', '--nthreads', '0'], /--nthreads must be an integer of at least 1, got '0'/],
    [['worker', 'tcp://127.0.0.1:1', '--port', '70000'], /--port must be an integer from 0 to 65535/],
  ];
  for (const [args, message] of cases) {
    test(args.join(' '), { timeout: 20_000 }, () => {
      const dir = tempDir();
      try {
        const r = spawnSync(process.execPath, [TESSERA_BIN, ...args, ...(args[0] === 'scheduler' ? ['--scheduler-file', join(dir, 's.json')] : [])], {
          encoding: 'utf8', timeout: 15_000, env: { ...process.env, TESSERA_TOKEN: 'x' },
        });
        assert.equal(r.error, undefined, `it must exit by itself: ${String(r.error)}`);
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, message);
        assert.equal(r.stderr.trim().split('\n').length, 1, `one line, no stack trace:\n${r.stderr}`);
        assert.equal(existsSync(join(dir, 's.json')), false, 'no scheduler file is written');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('a worker that gives up exits non-zero', () => {
  test('at start-up: nothing listens at the address', { timeout: 30_000 }, async () => {
    const w = start(['worker', 'tcp://127.0.0.1:1', '--death-timeout', '2'], { ...process.env, TESSERA_TOKEN: 'x' });
    const code = await exited(w.p, 20_000, 'the worker');
    assert.equal(code, 1, w.output());
    assert.match(w.output(), /could not connect to tcp:\/\/127\.0\.0\.1:1/);
  });

  test('after losing its scheduler for longer than --death-timeout', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const file = join(dir, 'scheduler.json');
    const s = start(['scheduler', '--scheduler-file', file, '--port', '0', '--no-dashboard']);
    const w = start(['worker', '--scheduler-file', file, '--death-timeout', '2']);
    try {
      const client = await connectWhenReady(file);
      await client.waitForWorkers(1, { timeoutMs: 20_000 });
      await client.close();
      s.p.kill('SIGKILL');
      const code = await exited(w.p, 30_000, 'the worker whose scheduler was killed');
      assert.equal(code, 1, w.output());
      assert.match(w.output(), /scheduler unreachable for 2 s; worker exiting/);
    } finally {
      s.p.kill('SIGKILL');
      w.p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function connectWhenReady(file: string, timeoutMs = 20_000): Promise<Client> {
  await waitFor(() => existsSync(file), timeoutMs, `the scheduler file ${file}`);
  return Client.connect({ schedulerFile: file });
}

describe('the scheduler file lives as long as its scheduler', () => {
  for (const how of ['SIGINT', 'SIGTERM', 'shutdown()'] as const) {
    test(`removed when the scheduler stops by ${how}`, { timeout: 40_000 }, async () => {
      const dir = tempDir();
      const file = join(dir, 'scheduler.json');
      const s = start(['scheduler', '--scheduler-file', file, '--port', '0', '--no-dashboard']);
      try {
        const client = await connectWhenReady(file);
        if (how === 'shutdown()') await client.shutdown();
        else {
          await client.close();
          s.p.kill(how);
        }
        const code = await exited(s.p, 20_000, 'the scheduler');
        assert.equal(code, 0, s.output());
        assert.equal(existsSync(file), false, `${file} must be removed on a clean exit`);
      } finally {
        s.p.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test("a newer scheduler's file is not removed by an older one", { timeout: 40_000 }, async () => {
    const dir = tempDir();
    const file = join(dir, 'scheduler.json');
    const s = start(['scheduler', '--scheduler-file', file, '--port', '0', '--no-dashboard']);
    try {
      await waitFor(() => existsSync(file), 20_000, 'the scheduler file');
      const other = { ...JSON.parse(readFileSync(file, 'utf8')), id: 'another-scheduler' };
      writeFileSync(file, JSON.stringify(other));
      s.p.kill('SIGTERM');
      await exited(s.p, 20_000, 'the scheduler');
      assert.equal(existsSync(file), true, 'the file now belongs to another scheduler');
    } finally {
      s.p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a client given a stale file says within a second that its scheduler is gone', { timeout: 40_000 }, async () => {
    const dir = tempDir();
    const file = join(dir, 'scheduler.json');
    const s = start(['scheduler', '--scheduler-file', file, '--port', '0', '--no-dashboard']);
    try {
      await waitFor(() => existsSync(file), 20_000, 'the scheduler file');
      const info = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; host: string };
      s.p.kill('SIGKILL');
      await exited(s.p, 20_000, 'the scheduler');
      assert.equal(existsSync(file), true, 'a killed scheduler leaves its file behind');

      // On this host: the process is gone, which needs no waiting (it used to be a 10 s connect timeout;
      // the bounds leave room for a loaded machine).
      let t0 = Date.now();
      await assert.rejects(Client.connect({ schedulerFile: file }), (err: Error) => {
        assert.match(err.message, new RegExp(`scheduler file ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: its scheduler is gone \\(its process no longer exists; it was pid ${info.pid} on ${info.host}, started `));
        return true;
      });
      assert.ok(Date.now() - t0 < 3_000, `answered in ${Date.now() - t0} ms`);

      // Written on another host: nothing accepts connections at its address.
      writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), host: 'another-node' }));
      t0 = Date.now();
      await assert.rejects(Client.connect({ schedulerFile: file }), /its scheduler is gone \(nothing accepts connections at tcp:\/\/127\.0\.0\.1:\d+; it was pid \d+ on another-node/);
      assert.ok(Date.now() - t0 < 5_000, `answered in ${Date.now() - t0} ms`);
    } finally {
      s.p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('LocalCluster refuses 0 threads per worker before starting anything (never silently one)', async () => {
  const { LocalCluster } = await import('tessera-compute');
  await assert.rejects(LocalCluster.start({ threadsPerWorker: 0, dashboard: false }), /threadsPerWorker must be a positive integer, got 0/);
});
