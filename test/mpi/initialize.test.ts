/**
 * initialize() under real launchers, ported from dask-mpi's test suite and
 * extended with the exit behaviour dask-mpi lacks: the script's failure
 * makes the launcher exit non-zero, every rank is gone promptly, a lost
 * rank never hangs the job, and a clean run prints nothing but its own
 * output and the one dashboard line.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeJob, fixtureLines, fixturePath, jobEnv, libraryPath, mpirunArgs, requireCommand, runJob, type JobResult } from './helpers.js';

const FIXTURE = fixturePath('initialize.js');
const NODE = process.execPath;
const TEST_TIMEOUT = 120_000;
/** The bound: after the client fails, every rank is gone within this. */
const EXIT_BOUND_MS = 15_000;

interface Basic {
  scenario: string;
  workers: string[];
  pinned: number;
  pinnedOnWorker2: boolean;
  squares: number[];
  dashboardLink: string | null;
  env: { address: boolean; client: (string | null)[]; worker: (string | null)[] };
  size: number;
}

const DASHBOARD_LINE = /^tessera-compute\/mpi: dashboard at http:\/\/([\d.]+):(\d+)\/status - from your computer: ssh -L (\d+):([\d.]+):(\d+) <login-node>, then open http:\/\/localhost:(\d+)\/status$/;

/** Lines of output other than the fixture's own. */
function noise(r: JobResult): string[] {
  const lines = [...r.stdout.split('\n'), ...r.stderr.split('\n')].filter((l) => l.trim() !== '');
  return lines.filter((l) => !l.startsWith('TESSERA_FIXTURE ') && !DASHBOARD_LINE.test(l));
}

function assertBasic(r: JobResult, size: number | null): void {
  const context = describeJob(r);
  assert.equal(r.code, 0, context);
  const lines = fixtureLines<Basic>(r.stdout);
  assert.equal(lines.length, 1, `only the client's rank gets past initialize()\n${context}`);
  const l = lines[0]!;
  assert.equal(l.size, size, `the world has ${size} ranks (a library that does not match the launcher gives N worlds of 1)`);
  assert.deepEqual(l.workers, ['2', '3'], 'ranks 2 and 3 run workers named by their rank');
  assert.equal(l.pinned, 11);
  assert.equal(l.pinnedOnWorker2, true, "the task pinned to worker '2' ran there");
  assert.deepEqual(l.squares, [1, 4, 9, 16]);
  assert.equal(l.env.address, true, 'TESSERA_SCHEDULER_ADDRESS is set for Client.connect()');
  // [OMPI_MCA_pml, HWLOC_COMPONENTS, UCX_MEM_EVENTS]: set only until MPI started (src/mpi/runtime.ts quickStartSettings).
  assert.deepEqual(l.env.client, [null, null, null], "the client's environment is left as the user had it");
  assert.deepEqual(l.env.worker, [null, null, null], "a worker rank's tasks see the environment as the user had it");
  assert.deepEqual(r.leftovers, [], context);
}

describe('initialize()', () => {
  test('mpirun -np 4: scheduler, client, two workers; a clean run prints only its output and the dashboard line', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    // TESSERA_LOG_LEVEL unset: the default, quiet, output.
    const r = await runJob('mpirun', mpirunArgs(4, NODE, FIXTURE, 'basic'), { env: jobEnv({ TESSERA_LOG_LEVEL: undefined }) });
    assertBasic(r, 4);
    const dashboard = [...r.stderr.split('\n')].filter((l) => DASHBOARD_LINE.test(l));
    assert.equal(dashboard.length, 1, `one dashboard line\n${describeJob(r)}`);
    const [, ip, port, tunnelPort, tunnelIp, tunnelPort2, localPort] = DASHBOARD_LINE.exec(dashboard[0]!)!;
    assert.notEqual(ip, '0.0.0.0');
    assert.deepEqual([tunnelPort, tunnelIp, tunnelPort2, localPort], [port, ip, port, port], 'the tunnel hint matches the URL');
    assert.equal(fixtureLines<Basic>(r.stdout)[0]!.dashboardLink, `http://${ip}:${port}/status`, "the client's dashboardLink is the same URL");
    assert.deepEqual(noise(r), [], `nothing else is printed\n${describeJob(r)}`);
  });

  test('mpiexec.mpich -n 4 with libmpich.so.12', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpiexec.mpich');
    const lib = libraryPath('libmpich.so.12', 'libmpich12 (apt-get install -y mpich)');
    const r = await runJob('mpiexec.mpich', ['-n', '4', NODE, FIXTURE, 'basic'], { env: jobEnv({ TESSERA_MPI_LIB: lib }) });
    assertBasic(r, 4);
  });

  test('no MPI library: the ranks meet through the scheduler file instead, with one warning', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const dir = mkdtempSync(join(tmpdir(), 'tessera-mpi-fallback-'));
    const file = join(dir, 'scheduler.json');
    // A file from an earlier run must not mislead the ranks that read it.
    writeFileSync(file, JSON.stringify({ type: 'Scheduler', id: 'old', address: 'tcp://127.0.0.1:1', services: {}, started: 1, pid: 1, host: 'x', jobId: 'an-earlier-job', token: 't' }));
    try {
      const r = await runJob('mpirun', mpirunArgs(4, NODE, FIXTURE, 'basic'), {
        env: jobEnv({ TESSERA_MPI_LIB: '/nonexistent/libmpi.so', TESSERA_FIXTURE_OPTIONS: JSON.stringify({ dashboardAddress: ':0', schedulerFile: file }) }),
      });
      assertBasic(r, null);
      assert.equal(r.stderr.split('[TESSERA_MPI_FILE_RENDEZVOUS]').length - 1, 1, `one warning\n${describeJob(r)}`);
      assert.match(r.stderr, /no MPI library could be loaded, so the 4 ranks \(OMPI_COMM_WORLD_RANK\) meet through the scheduler file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('no MPI library and no scheduler file: one clear error', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob('mpirun', mpirunArgs(2, NODE, FIXTURE, 'basic'), { env: jobEnv({ TESSERA_MPI_LIB: '/nonexistent/libmpi.so' }) });
    assert.notEqual(r.code, 0, describeJob(r));
    assert.equal(r.stderr.split('TESSERA_MPI_LIB=/nonexistent/libmpi.so could not be used').length - 1, 1, describeJob(r));
    assert.match(r.stderr, /the ranks can still meet through a scheduler file on a file system every node shares: pass schedulerFile/);
  });

  test('mpirun -np 1 fails with the WorldTooSmallError message', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob('mpirun', mpirunArgs(1, NODE, FIXTURE, 'basic'));
    assert.notEqual(r.code, 0, describeJob(r));
    assert.match(r.stderr, /WorldTooSmallError: this MPI job has 1 rank but needs at least 3: the scheduler on rank 0, the client on rank 1 and 1 worker on a rank of its own/);
    assert.match(r.stderr, /pass minWorkers: 0/);
    assert.doesNotMatch(r.stderr, /exclusiveWorkers: false/, 'initialize() has no such option: the error must not offer it');
    assert.match(r.stderr, /ERR_TESSERA_WORLD_TOO_SMALL/);
    assert.deepEqual(fixtureLines(r.stdout), []);
  });

  test('the client script throws: non-zero exit, the error printed once, every rank gone promptly', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob('mpirun', mpirunArgs(4, NODE, FIXTURE, 'throw'));
    const context = describeJob(r);
    assert.notEqual(r.code, 0, context);
    assert.equal(r.timedOut, false, context);
    assert.ok(r.elapsedMs < EXIT_BOUND_MS, `the job ended in ${r.elapsedMs} ms\n${context}`);
    assert.deepEqual(r.leftovers, [], context);
    assert.equal(r.stderr.split('Error: the client script failed on purpose').length - 1, 1, `printed once\n${context}`);
    assert.match(r.stderr, /the client script on rank 1 failed; shutting the cluster down/);
    // The cluster worked until then.
    assert.deepEqual(fixtureLines<{ sum: number }>(r.stdout)[0]?.sum, 3, context);
  });

  test('an unhandled rejection on the client ends the job non-zero too', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob('mpirun', mpirunArgs(4, NODE, FIXTURE, 'reject'));
    assert.notEqual(r.code, 0, describeJob(r));
    assert.ok(r.elapsedMs < EXIT_BOUND_MS, describeJob(r));
    assert.match(r.stderr, /an unhandled rejection on purpose/);
    assert.deepEqual(r.leftovers, []);
  });

  test('process.exit(0) in the script: the cluster still shuts down and the job exits 0', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob('mpirun', mpirunArgs(4, NODE, FIXTURE, 'exit-call'));
    assert.equal(r.code, 0, describeJob(r));
    assert.ok(r.elapsedMs < EXIT_BOUND_MS, describeJob(r));
    assert.deepEqual(fixtureLines<{ workers: string[] }>(r.stdout)[0]?.workers, ['2', '3']);
    assert.deepEqual(r.leftovers, []);
  });

  test('the script calls client.shutdown() itself', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob('mpirun', mpirunArgs(4, NODE, FIXTURE, 'shutdown'));
    assertBasic(r, 4);
  });
});

interface Started {
  phase: 'started';
  workers: { name: string; pid: number }[];
  schedulerPid: number;
  clientPid: number;
}

/** Runs the 'slow' scenario and SIGKILLs one of its processes once the tasks are under way. */
function runAndKill(extraArgs: string[], pick: (s: Started) => number): Promise<JobResult & { killedAt: number }> {
  let killedAt = 0;
  return runJob('mpirun', mpirunArgs(4, ...extraArgs, NODE, FIXTURE, 'slow'), {
    onStdout: (text) => {
      if (killedAt) return;
      const started = fixtureLines<Started>(text).find((l) => l.phase === 'started');
      if (!started) return;
      killedAt = Date.now();
      // Mid-job: the first tasks are running.
      setTimeout(() => {
        try {
          process.kill(pick(started), 'SIGKILL');
        } catch {
          // already gone
        }
      }, 300);
    },
  }).then((r) => ({ ...r, killedAt }));
}

describe('a rank killed mid-job', () => {
  test('a worker rank SIGKILLed: mpirun ends the job promptly, non-zero, naming the rank', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runAndKill([], (s) => s.workers.find((w) => w.name === '3')!.pid);
    const context = describeJob(r);
    assert.ok(r.killedAt > 0, context);
    assert.notEqual(r.code, 0, context);
    assert.equal(r.timedOut, false, context);
    assert.match(r.stderr, /rank 3/, context);
    assert.deepEqual(r.leftovers, [], context);
  });

  test('mpirun --enable-recovery: losing a worker rank is survivable, the job completes', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runAndKill(['--enable-recovery'], (s) => s.workers.find((w) => w.name === '3')!.pid);
    const context = describeJob(r);
    const done = fixtureLines<{ phase: string; total: number }>(r.stdout).find((l) => l.phase === 'done');
    assert.equal(done?.total, 552, `every task completed on the remaining worker\n${context}`);
    assert.match(r.stderr, /rank 3 \(pid \d+ on [^)]+\) died with its worker '3'; the cluster carries on without it/, context);
    // Without the lost rank MPI_Finalize would wait forever: the others skip it.
    assert.equal(r.timedOut, false, context);
    assert.deepEqual(r.leftovers, [], context);
  });

  test('mpirun --enable-recovery: the scheduler rank SIGKILLed ends every rank promptly, naming rank 0', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runAndKill(['--enable-recovery'], (s) => s.schedulerPid);
    const context = describeJob(r);
    assert.equal(r.timedOut, false, context);
    assert.ok(Date.now() - r.killedAt < EXIT_BOUND_MS, context);
    assert.match(r.stderr, /the scheduler on rank 0 \(pid \d+ on [^)]+\) is gone/, context);
    assert.deepEqual(fixtureLines<{ phase: string }>(r.stdout).filter((l) => l.phase === 'done'), [], context);
    assert.deepEqual(r.leftovers, [], context);
  });

  test('mpirun --enable-recovery: the client rank SIGKILLed shuts the cluster down', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runAndKill(['--enable-recovery'], (s) => s.clientPid);
    const context = describeJob(r);
    assert.equal(r.timedOut, false, context);
    assert.ok(Date.now() - r.killedAt < EXIT_BOUND_MS, context);
    assert.match(r.stderr, /the client on rank 1 \(pid \d+ on [^)]+\) died without shutting the cluster down; shutting it down now/, context);
    assert.deepEqual(r.leftovers, [], context);
  });
});
