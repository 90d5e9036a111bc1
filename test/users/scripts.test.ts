/**
 * Users' scripts: the published Dask examples this project follows (NREL's,
 * NeSI's, Azure ML's prep_nyctaxi, dask-mpi's hostname counter), ported the
 * way a user writes them: importing only the package, never calling close().
 * Each runs as a child process exactly as a user starts it (`node job.js`,
 * `mpirun -np 4 node job.js`), and must print its answer, exit 0, end soon
 * after its last line, and leave no process behind.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeJob, jobEnv, mpirunArgs, requireCommand, runJob, type JobResult } from '../mpi/helpers.js';
import { TESSERA_BIN } from '../fixtures/package.js';
import { startSlurm, type SlurmTestCluster } from '../slurm/cluster.js';

const NODE = process.execPath;
const script = (name: string) => fileURLToPath(new URL(`../fixtures/users/${name}`, import.meta.url));
/** No test waits forever: a script that does not end within this is a failure (it hung). */
const HANG_MS = 90_000;
/** The most a script may take from printing its last line to its exit: "within a few seconds". */
const END_MS = 10_000;

/** Runs `node <script>` as a user does, in its own process group, timing the gap between the last output and the exit. */
async function runScript(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<JobResult & { tailMs: number }> {
  let lastOutput = Date.now();
  const r = await runJob(command, args, {
    env: opts.env ?? jobEnv({ TESSERA_LOG_LEVEL: undefined }),
    timeoutMs: HANG_MS,
    onStdout: () => {
      lastOutput = Date.now();
    },
  });
  return { ...r, tailMs: Date.now() - lastOutput };
}

function assertEndedCleanly(r: JobResult & { tailMs: number }): void {
  const context = describeJob(r);
  assert.equal(r.timedOut, false, `the script never ended\n${context}`);
  assert.equal(r.code, 0, context);
  assert.deepEqual(r.leftovers, [], `no process may outlive the script\n${context}`);
  assert.ok(r.tailMs < END_MS, `the script ended ${r.tailMs} ms after its last line (at most ${END_MS} ms)\n${context}`);
}

describe("users' scripts on a LocalCluster", () => {
  test("NREL's delayed inc/dec/add with a module-level helper passed as an argument", { timeout: HANG_MS + 10_000 }, async () => {
    const r = await runScript(NODE, [script('nrel-delayed.js')]);
    assertEndedCleanly(r);
    assert.match(r.stdout, /^total = 3$/m, describeJob(r));
    assert.match(r.stdout, /^dashboard: http:\/\/127\.0\.0\.1:\d+\/status$/m, describeJob(r));
  });

  test('a task that uses a module-level helper directly is refused with both ways out, and the script still ends', { timeout: HANG_MS + 10_000 }, async () => {
    const r = await runScript(NODE, [script('nrel-helper-captured.js')]);
    const context = describeJob(r);
    assert.equal(r.timedOut, false, `the script never ended\n${context}`);
    assert.equal(r.code, 1, context);
    assert.match(r.stderr, /ClosureError/, context);
    assert.match(r.stderr, /'sleep'/, context);
    assert.match(r.stderr, /argument/, context);
    assert.match(r.stderr, /remoteModule/, context);
    assert.deepEqual(r.leftovers, [], `no process may outlive the script\n${context}`);
  });

  test("NeSI's futures example: map, futures as arguments, gather", { timeout: HANG_MS + 10_000 }, async () => {
    const r = await runScript(NODE, [script('nesi-futures.js')]);
    assertEndedCleanly(r);
    assert.match(r.stdout, /^squares: 0,1,4,9,16,25,36,49,64,81$/m, describeJob(r));
    assert.match(r.stdout, /^total: -285$/m, describeJob(r));
  });

  describe('prep_nyctaxi, output written next to the input, rows checked against pandas', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'tessera-users-prep-'));
      const gen = spawnSync(NODE, [TESSERA_BIN, 'demo-data', '--rows', '30000', '--files', '3', '--out', join(dir, 'data'), '--seed', '7'], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(gen.status, 0, `demo-data failed: ${gen.stderr}`);
    });
    after(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('node prep-nyctaxi.js data data/prepared', { timeout: HANG_MS + 30_000 }, async () => {
      const data = join(dir, 'data');
      const out = join(data, 'prepared');
      const r = await runScript(NODE, [script('prep-nyctaxi.js'), data, out]);
      assertEndedCleanly(r);
      const rows = Number(/^rows: (\d+)$/m.exec(r.stdout)?.[1]);
      assert.ok(readdirSync(out).some((f) => f.endsWith('.parquet')), 'Parquet files were written');
      assert.ok(readdirSync(data).filter((f) => f.endsWith('.csv')).length === 3, 'the input is untouched');
      assert.equal(rows, pandasPrepRows(data), `the row count matches pandas running the same query\n${describeJob(r)}`);
    });
  });
});

/** The rows prep_nyctaxi keeps, computed by pandas itself (Debian's python3-pandas) from the same CSV files. */
function pandasPrepRows(data: string): number {
  const py = `
import glob, sys
import pandas as pd
df = pd.concat([pd.read_csv(f) for f in sorted(glob.glob(sys.argv[1] + '/*.csv'))])
q = ('fare_amount > 0 and fare_amount < 500 and passenger_count > 0 and passenger_count < 6 and '
     'pickup_longitude > -75 and pickup_longitude < -73 and dropoff_longitude > -75 and dropoff_longitude < -73 and '
     'pickup_latitude > 40 and pickup_latitude < 42 and dropoff_latitude > 40 and dropoff_latitude < 42')
print(len(df.query(q)))
`;
  const r = spawnSync('/usr/bin/python3', ['-c', py, data], { encoding: 'utf8', timeout: 120_000 });
  if (r.error || r.status !== 0) {
    assert.fail(`pandas could not run (${r.error?.message ?? r.stderr}); the users' suite checks results against pandas: install Debian's python3-pandas (apt-get install -y python3-pandas)`);
  }
  return Number(r.stdout.trim());
}

describe("users' scripts under MPI", () => {
  for (const launcher of ['mpirun', 'mpiexec.mpich'] as const) {
    test(`${launcher} -np 4 node mpi-hostname.js: no close(), every rank ends`, { timeout: HANG_MS + 10_000 }, async () => {
      requireCommand(launcher);
      const args = launcher === 'mpirun' ? mpirunArgs(4, NODE, script('mpi-hostname.js')) : ['-n', '4', NODE, script('mpi-hostname.js')];
      const r = await runScript(launcher, args);
      assertEndedCleanly(r);
      const counts = /^Counter\((\{.*\})\)$/m.exec(r.stdout);
      assert.ok(counts, describeJob(r));
      const total = Object.values(JSON.parse(counts[1]!) as Record<string, number>).reduce((a, b) => a + b, 0);
      assert.equal(total, 20, describeJob(r));
    });
  }

  test('mpirun -np 4 node mpi-execute.js: execute() with a client never closed; every rank ends', { timeout: HANG_MS + 10_000 }, async () => {
    requireCommand('mpirun');
    const r = await runScript('mpirun', mpirunArgs(4, NODE, script('mpi-execute.js')));
    assertEndedCleanly(r);
    assert.match(r.stdout, /^sum of squares: 285$/m, describeJob(r));
  });

  test('a client of `tessera-compute mpi` found through the scheduler file ends without close(); the cluster stays up', { timeout: HANG_MS + 30_000 }, async () => {
    requireCommand('mpirun');
    const dir = mkdtempSync(join(tmpdir(), 'tessera-users-mpi-cli-'));
    const file = join(dir, 'scheduler.json');
    const cluster = spawn('mpirun', mpirunArgs(3, NODE, TESSERA_BIN, 'mpi', '--scheduler-file', file, '--no-dashboard'), {
      env: jobEnv({ TESSERA_LOG_LEVEL: 'warn' }), stdio: 'ignore', detached: true,
    });
    try {
      const deadline = Date.now() + 60_000;
      while (!existsSync(file)) {
        assert.ok(Date.now() < deadline, `the cluster wrote no scheduler file ${file} within 60 s`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const r = await runScript(NODE, [script('scheduler-file-client.js'), file]);
      assertEndedCleanly(r);
      assert.match(r.stdout, /^total: 10$/m, describeJob(r));
      assert.equal(cluster.exitCode, null, 'the cluster keeps running for other clients');
      // A second client, as another user script would, finds it still there.
      const again = await runScript(NODE, [script('scheduler-file-client.js'), file]);
      assertEndedCleanly(again);
    } finally {
      try {
        process.kill(-cluster.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('mpirun -np 2: too small for scheduler, client and a worker: WorldTooSmallError at once, non-zero', { timeout: HANG_MS + 10_000 }, async () => {
    requireCommand('mpirun');
    const r = await runScript('mpirun', mpirunArgs(2, NODE, script('mpi-hostname.js')));
    const context = describeJob(r);
    assert.equal(r.timedOut, false, `the job never ended\n${context}`);
    assert.notEqual(r.code, 0, context);
    assert.match(r.stderr, /WorldTooSmallError/, context);
    assert.match(r.stderr, /3 ranks|at least 3/, context);
    assert.deepEqual(r.leftovers, [], context);
  });
});

describe("users' scripts under Slurm", () => {
  let slurm: SlurmTestCluster;
  before(async () => {
    slurm = await startSlurm();
  });
  after(async () => {
    await slurm?.stop();
  });

  test('sbatch + srun -n 4 node slurm-runner.js: SlurmRunner without close(); every task exits 0', { timeout: HANG_MS + 30_000 }, async () => {
    const jobs = join(slurm.dir, 'jobs');
    const path = join(jobs, 'users-runner.sh');
    writeFileSync(path, `#!/bin/bash
#SBATCH --ntasks=4
#SBATCH --time=2
srun --kill-on-bad-exit=0 ${NODE} ${script('slurm-runner.js')}
echo "SRUN_EXIT=$?"
`, { mode: 0o755 });
    const started = Date.now();
    const id = slurm.sbatch([`--chdir=${jobs}`, `--output=${jobs}/users-runner-%j.out`, path]);
    const job = await slurm.waitJob(id, HANG_MS);
    const output = readFileSync(join(jobs, `users-runner-${id}.out`), 'utf8');
    assert.match(output, /^sum of squares below 100: 328350$/m, output);
    assert.match(output, /SRUN_EXIT=0\b/, output);
    assert.equal(job.JobState, 'COMPLETED', output);
    assert.equal(job.ExitCode, '0:0', output);
    assert.doesNotMatch(output, /ended without runner.close/, 'the end of the script shut the cluster down, not the scheduler\'s watchdog');
    assert.ok(Date.now() - started < HANG_MS, 'the job ended');
  });
});
