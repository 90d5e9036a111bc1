/**
 * `tessera-compute mpi` under mpirun with this test process as the external client,
 * connecting through the scheduler file: dask-mpi's CLI tests (external
 * client, inclusive workers, --no-scheduler growing a cluster,
 * --scheduler-rank, --scheduler-port) plus the stale scheduler file
 * (dask-mpi #45) and the nanny.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Client } from '../../src/index.js';
import { waitForSchedulerFile } from '../../src/comm/scheduler-file.js';
import { describeJob, fixtureLines, fixturePath, mpirunArgs, requireCommand, runJob, type JobResult } from './helpers.js';
import { TESSERA_BIN } from '../fixtures/package.js';

const MAIN = TESSERA_BIN;
const EXECUTE_JOIN = fixturePath('execute-join.js');
const NODE = process.execPath;
const TEST_TIMEOUT = 120_000;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tessera-mpi-cli-'));
}

function staleFile(path: string, address = 'tcp://127.0.0.1:1'): void {
  const stale = { type: 'Scheduler', id: 'scheduler-from-an-earlier-run', address, services: {}, started: 1, pid: 1, host: 'old-node', jobId: 'an-earlier-job', token: 'old-token' };
  writeFileSync(path, JSON.stringify(stale), { mode: 0o600 });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '0.0.0.0', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function workerNames(client: Client): Promise<string[]> {
  return Object.values((await client.schedulerInfo()).workers).map((w) => w.name).sort();
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Fails with the job's output when a job that should be running has already ended. */
function watch(job: Promise<JobResult>): { ended: () => JobResult | null } {
  let result: JobResult | null = null;
  void job.then((r) => (result = r));
  return { ended: () => result };
}

describe('tessera-compute mpi', () => {
  test('-np 4: external client through the scheduler file, a stale file replaced, the nanny restarts a killed worker', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const dir = tempDir();
    const file = join(dir, 'scheduler.json');
    staleFile(file);
    const launched = Date.now();
    const spill = join(dir, 'spill');
    const job = runJob('mpirun', mpirunArgs(4, NODE, MAIN, 'mpi', '--scheduler-file', file, '--dashboard-address', ':0', '--nanny', '--local-directory', spill));
    const state = watch(job);
    let client: Client | undefined;
    try {
      const info = await waitForSchedulerFile(file, { notBefore: launched, timeoutMs: 30_000 }).catch((err: Error) => {
        const r = state.ended();
        throw new Error(`${err.message}${r ? `\n${describeJob(r)}` : ''}`);
      });
      assert.notEqual(info.id, 'scheduler-from-an-earlier-run');
      assert.ok(typeof info.jobId === 'string' && info.jobId !== '' && info.jobId !== 'an-earlier-job', `the job id is recorded: ${info.jobId}`);
      assert.equal(statSync(file).mode & 0o777, 0o600, 'the file carries the token: mode 0600');
      assert.equal(typeof info.services.dashboard, 'number', '--dashboard-address :0 reached the scheduler');

      client = await Client.connect({ schedulerFile: file, jobId: info.jobId! });
      await client.waitForWorkers(3, { timeoutMs: 30_000 });
      assert.deepEqual(await workerNames(client), ['tessera-mpi-1', 'tessera-mpi-2', 'tessera-mpi-3']);
      assert.equal(await client.submit((x: number) => x * 2, 21).result(), 42);
      for (const w of Object.values((await client.schedulerInfo()).workers)) {
        assert.ok(w.localDirectory.startsWith(spill), `--local-directory: ${w.localDirectory}`);
        // memory limit 'auto': this host's memory shared by the 3 worker ranks on it.
        assert.equal(w.memoryLimit, Math.floor(totalmem() / 3));
      }

      // The nanny runs the worker in a child process: kill that, not the rank.
      const before = Object.values((await client.schedulerInfo()).workers).find((w) => w.name === 'tessera-mpi-2')!;
      process.kill(before.pid, 'SIGKILL');
      const after = await until('the nanny to restart tessera-mpi-2', async () => {
        const w = Object.values((await client!.schedulerInfo()).workers).find((x) => x.name === 'tessera-mpi-2');
        return w && w.pid !== before.pid ? w : undefined;
      });
      assert.notEqual(after.pid, before.pid);
      assert.equal(await client.submit({ fn: (x: number) => x + 1, args: [1], workers: ['tessera-mpi-2'], pure: false }).result(), 2);
      assert.equal(state.ended(), null, 'the MPI job did not notice the worker restart');

      await client.shutdown();
      const r = await job;
      const context = describeJob(r);
      assert.equal(r.code, 0, context);
      assert.deepEqual(r.leftovers, [], context);
      assert.match(r.stderr, /worker tessera-mpi-2 \(pid \d+\) died \(SIGKILL\); the nanny restarts it/, context);
      assert.equal(existsSync(file), false, 'the scheduler removed its file when the cluster ended');
    } finally {
      await client?.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--scheduler-rank 1 --scheduler-port --inclusive-workers --interface --nthreads --name; --no-scheduler and execute({ scheduler: false }) grow the cluster', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const dir = tempDir();
    const file = join(dir, 'scheduler.json');
    const port = await freePort();
    const launched = Date.now();
    const first = runJob(
      'mpirun',
      mpirunArgs(3, NODE, MAIN, 'mpi', '--scheduler-file', file, '--scheduler-rank', '1', '--scheduler-port', String(port), '--inclusive-workers', '--name', 'a', '--no-dashboard', '--interface', 'lo', '--nthreads', '2'),
    );
    const firstState = watch(first);
    let second: Promise<JobResult> | undefined;
    let client: Client | undefined;
    try {
      const info = await waitForSchedulerFile(file, { notBefore: launched, timeoutMs: 30_000 }).catch((err: Error) => {
        const r = firstState.ended();
        throw new Error(`${err.message}${r ? `\n${describeJob(r)}` : ''}`);
      });
      assert.equal(info.address, `tcp://127.0.0.1:${port}`, `--scheduler-port ${port} on --interface lo`);
      assert.deepEqual(info.services, {}, '--no-dashboard');
      client = await Client.connect({ schedulerFile: file });
      await client.waitForWorkers(3, { timeoutMs: 30_000 });
      const workers = Object.values((await client.schedulerInfo()).workers);
      assert.deepEqual(workers.map((w) => w.name).sort(), ['a-0', 'a-1', 'a-2'], 'inclusive: a worker on every rank, the scheduler rank too');
      assert.equal(workers.find((w) => w.name === 'a-1')!.pid, info.pid, 'rank 1 runs the scheduler and worker a-1 in one process');
      assert.deepEqual(workers.map((w) => w.nthreads), [2, 2, 2], '--nthreads');

      second = runJob('mpirun', mpirunArgs(2, NODE, MAIN, 'mpi', '--no-scheduler', '--scheduler-file', file, '--name', 'more', '--worker-options', '{"nthreads": 3}'));
      const secondState = watch(second);
      await client.waitForWorkers(5, { timeoutMs: 30_000 }).catch((err: Error) => {
        const r = secondState.ended();
        throw new Error(`${err.message}${r ? `\n${describeJob(r)}` : ''}`);
      });
      assert.deepEqual(await workerNames(client), ['a-0', 'a-1', 'a-2', 'more-0', 'more-1']);
      const sums = await client.gather(['more-0', 'more-1', 'a-0'].map((w) => client!.submit({ fn: (x: number) => x + 1, args: [1], workers: [w], pure: false })));
      assert.deepEqual(sums, [2, 2, 2]);
      const more0 = Object.values((await client.schedulerInfo()).workers).find((w) => w.name === 'more-0')!;
      assert.equal(more0.nthreads, 3, '--worker-options reaches the workers');

      // execute({ scheduler: false }) joins too, and at its end only its own workers leave.
      const joined = await runJob('mpirun', mpirunArgs(2, NODE, EXECUTE_JOIN, file));
      assert.equal(joined.code, 0, describeJob(joined));
      const client0 = fixtureLines<{ rank: number; value: { names: string[]; onEx1: number } | null }>(joined.stdout).find((l) => l.rank === 0);
      assert.deepEqual(client0?.value, { names: ['a-0', 'a-1', 'a-2', 'ex-1', 'more-0', 'more-1'], onEx1: 21 }, describeJob(joined));
      assert.deepEqual(await workerNames(client), ['a-0', 'a-1', 'a-2', 'more-0', 'more-1'], 'ex-1 retired; the cluster stays up');

      // One shutdown ends both jobs: the second job's workers are told to close too.
      await client.shutdown();
      for (const r of await Promise.all([first, second])) {
        assert.equal(r.code, 0, describeJob(r));
        assert.deepEqual(r.leftovers, [], describeJob(r));
      }
    } finally {
      await client?.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--no-scheduler with a stale scheduler file stops at once, naming the file and its dead address', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const dir = tempDir();
    const file = join(dir, 'scheduler.json');
    staleFile(file);
    try {
      const r = await runJob('mpirun', mpirunArgs(2, NODE, MAIN, 'mpi', '--no-scheduler', '--scheduler-file', file));
      const context = describeJob(r);
      assert.notEqual(r.code, 0, context);
      assert.ok(r.elapsedMs < 15_000, context);
      const message = new RegExp(
        `scheduler file ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(scheduler scheduler-from-an-earlier-run, job an-earlier-job( \\(this is job [^)]+\\))?, host old-node, started 1970-01-01T00:00:00.001Z\\) points at tcp://127.0.0.1:1, which does not answer`,
      );
      assert.match(r.stderr, message, context);
      assert.equal(r.stderr.split('which does not answer').length - 1, 1, `reported once, by rank 0\n${context}`);
      assert.deepEqual(r.leftovers, [], context);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a world too small for --scheduler-rank is refused once, with the rank count needed', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob('mpirun', mpirunArgs(2, NODE, MAIN, 'mpi', '--scheduler-rank', '3'));
    const context = describeJob(r);
    assert.notEqual(r.code, 0, context);
    assert.match(r.stderr, /tessera-compute: this MPI job has 2 ranks but needs at least 4: the scheduler on rank 3/, context);
    assert.equal(r.stderr.split('needs at least 4').length - 1, 1, context);
  });
});
