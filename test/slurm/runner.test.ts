/**
 * SlurmRunner under a real Slurm controller: `sbatch` + `srun -n 4` runs the
 * scheduler, client and two workers, computes, and every task exits 0; a
 * step too small for the roles fails with WorldTooSmallError; a
 * heterogeneous job puts scheduler and client in the small component.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSlurm, fixturePath, type SlurmTestCluster } from './cluster.js';

let slurm: SlurmTestCluster;
before(async () => {
  slurm = await startSlurm();
});
after(async () => {
  await slurm?.stop();
});

function fixtureLine(output: string): Record<string, unknown> {
  const line = output.split('\n').find((l) => l.startsWith('TESSERA_FIXTURE '));
  assert.ok(line, `the client task printed no result; job output:\n${output}`);
  return JSON.parse(line.slice('TESSERA_FIXTURE '.length)) as Record<string, unknown>;
}

/** Submits a batch script, waits for it, returns its final record and output. */
async function runBatch(name: string, script: string, timeoutMs = 60_000): Promise<{ job: Record<string, string>; output: string }> {
  const jobs = join(slurm.dir, 'jobs');
  const path = join(jobs, `${name}.sh`);
  writeFileSync(path, script, { mode: 0o755 });
  const id = slurm.sbatch([`--chdir=${jobs}`, `--output=${jobs}/${name}-%j.out`, path]);
  const job = await slurm.waitJob(id, timeoutMs);
  const output = readFileSync(join(jobs, `${name}-${id}.out`), 'utf8');
  return { job, output };
}

const node = `${process.execPath} ${fixturePath('runner.js')}`;

test('srun -n 4: scheduler, client and two workers compute, and every task exits 0', { timeout: 90_000 }, async () => {
  const { job, output } = await runBatch('runner4', `#!/bin/bash
#SBATCH --ntasks=4
#SBATCH --time=2
srun --kill-on-bad-exit=0 ${node}
echo "SRUN_EXIT=$?"
`);
  const r = fixtureLine(output);
  assert.equal(r.procId, '1');
  assert.deepEqual(r.workers, ['2', '3']);
  assert.deepEqual(r.squares, [1, 4, 9, 16, 25]);
  assert.equal(r.total, 55);
  assert.equal(r.pinnedProcId, '2');
  assert.match(String(r.schedulerFile), new RegExp(`scheduler-${job.JobId}\\.json$`));
  assert.match(output, /SRUN_EXIT=0\b/, output);
  assert.equal(job.JobState, 'COMPLETED', output);
  assert.equal(job.ExitCode, '0:0', output);
});

test('srun -n 2 with a client fails with WorldTooSmallError naming the tasks needed', { timeout: 90_000 }, async () => {
  const { job, output } = await runBatch('runner2', `#!/bin/bash
#SBATCH --ntasks=2
#SBATCH --time=1
srun ${node}
`);
  assert.notEqual(job.JobState, 'COMPLETED', output);
  assert.match(output, /WorldTooSmallError|ERR_TESSERA_WORLD_TOO_SMALL/);
  assert.match(output, /has 2 tasks but SlurmRunner needs at least 3/);
});

test('heterogeneous job: scheduler and client in the small component, workers in the large one', { timeout: 90_000 }, async () => {
  const { job, output } = await runBatch('hetjob', `#!/bin/bash
#SBATCH --ntasks=2
#SBATCH hetjob
#SBATCH --ntasks=3
srun --het-group=0-1 ${node}
echo "SRUN_EXIT=$?"
`, 90_000);
  const r = fixtureLine(output);
  assert.deepEqual(r.hetGroups, [2, 3]);
  assert.equal(r.hetGroup, 0);
  assert.deepEqual(r.workers, ['2', '3', '4']);
  assert.equal(r.total, 55);
  assert.match(output, /SRUN_EXIT=0\b/, output);
  assert.equal(job.JobState, 'COMPLETED', output);
});

test('a client script that dies without runner.close() still ends the job: the scheduler and workers exit', { timeout: 90_000 }, async () => {
  const started = Date.now();
  const { job, output } = await runBatch('runner-throw', `#!/bin/bash
#SBATCH --ntasks=3
#SBATCH --time=2
export TESSERA_FIXTURE_SCENARIO=throw
srun ${node}
echo "SRUN_EXIT=$?"
`);
  assert.match(output, /the user script failed on purpose/);
  assert.match(output, /SRUN_EXIT=[1-9]/, output);
  assert.ok(Date.now() - started < 45_000, 'the job ended well before its walltime');
  assert.match(output, /scheduler closing \(the client task ended without runner.close\(\)\)|client task ended/, output);
  void job;
});
