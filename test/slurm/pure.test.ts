/** The Slurm layer's pure parts: step environment, roles, walltimes, the job script and its CLI. No Slurm needed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { slurmStep, slurmRole, expandSchedulerFile, parseWalltime, formatWalltime, workerLifetime, jobScript, WorldTooSmallError } from '../../src/deploy/slurm/index.js';
import { CLI_PATH } from './cluster.js';

const step = (extra: Record<string, string>) => ({ SLURM_JOB_ID: '42', SLURM_STEP_ID: '0', SLURM_PROCID: '0', SLURM_STEP_NUM_TASKS: '4', ...extra });

test('slurmStep reads the srun step and refuses what is not one', () => {
  assert.deepEqual(slurmStep(step({ SLURM_PROCID: '3', SLURMD_NODENAME: 'n1' })), { jobId: '42', stepId: '0', procId: 3, nTasks: 4, hetGroups: null, hetGroup: 0, nodeName: 'n1' });
  assert.throws(() => slurmStep({}), { code: 'ERR_TESSERA_SLURM', message: /SLURM_JOB_ID is not set.*srun/ });
  // The batch script itself: SLURM_PROCID=0 and SLURM_NTASKS, but no step.
  assert.throws(() => slurmStep({ SLURM_JOB_ID: '42', SLURM_PROCID: '0', SLURM_NTASKS: '4' }), { code: 'ERR_TESSERA_SLURM', message: /must be started by srun.*SLURM_STEP_ID/ });
  assert.throws(() => slurmStep({ SLURM_JOB_ID: '42', SLURM_STEP_ID: '0' }), { message: /SLURM_PROCID/ });
});

test('heterogeneous steps: SLURM_PROCID counts across components', () => {
  const het = { SLURM_HET_SIZE: '2', SLURM_NTASKS_HET_GROUP_0: '2', SLURM_NTASKS_HET_GROUP_1: '3', SLURM_STEP_NUM_TASKS: '5' };
  assert.equal(slurmStep(step({ ...het, SLURM_PROCID: '1' })).hetGroup, 0);
  const s = slurmStep(step({ ...het, SLURM_PROCID: '2' }));
  assert.deepEqual([s.hetGroups, s.hetGroup], [[2, 3], 1]);
  assert.deepEqual(slurmRole(s), { role: 'worker', workerName: '2' });
  const small = slurmStep(step({ ...het, SLURM_NTASKS_HET_GROUP_0: '1', SLURM_NTASKS_HET_GROUP_1: '3', SLURM_STEP_NUM_TASKS: '4', SLURM_PROCID: '0' }));
  assert.throws(() => slurmRole(small), { code: 'ERR_TESSERA_SLURM', message: /first component.*has 1 task here; give it 2/ });
});

test('roles: 0 scheduler, 1 client, others workers; WorldTooSmallError below 3 tasks (2 without a client)', () => {
  assert.deepEqual(slurmRole(slurmStep(step({}))), { role: 'scheduler', workerName: null });
  assert.deepEqual(slurmRole(slurmStep(step({ SLURM_PROCID: '1' }))), { role: 'client', workerName: null });
  assert.deepEqual(slurmRole(slurmStep(step({ SLURM_PROCID: '1' })), false), { role: 'worker', workerName: '1' });
  const two = slurmStep(step({ SLURM_STEP_NUM_TASKS: '2' }));
  assert.throws(() => slurmRole(two), (e: unknown) => e instanceof WorldTooSmallError && e.required === 3 && e.actual === 2 && /srun -n 3/.test(e.message));
  assert.equal(slurmRole(two, false).role, 'scheduler');
  assert.throws(() => slurmRole(slurmStep(step({ SLURM_STEP_NUM_TASKS: '1' })), false), { code: 'ERR_TESSERA_WORLD_TOO_SMALL' });
  assert.equal(expandSchedulerFile('/shared/scheduler-{jobId}.json', '42'), '/shared/scheduler-42.json');
});

test('walltimes in every Slurm format, and the worker lifetime leaves a margin', () => {
  assert.equal(parseWalltime(30), 1800);
  assert.equal(parseWalltime('30'), 1800);
  assert.equal(parseWalltime('10:30'), 630);
  assert.equal(parseWalltime('01:00:00'), 3600);
  assert.equal(parseWalltime('1-02'), 93600);
  assert.equal(parseWalltime('1-00:00:10'), 86410);
  assert.throws(() => parseWalltime('soon'), { code: 'ERR_TESSERA_INVALID_ARGUMENT' });
  assert.equal(formatWalltime(93610), '1-02:00:10');
  assert.equal(workerLifetime({ walltime: '01:00:00' }), 3600 - 300);
  assert.equal(workerLifetime({ walltime: '00:05:00' }), 300 - 30);
  assert.equal(workerLifetime({ walltime: '00:05:00', lifetimeMargin: 60 }), 240);
  assert.equal(workerLifetime({ walltime: '00:05:00', lifetime: 10 }), 10);
});

test('jobScript: memory in MiB for --mem, bytes for the worker, quoting', () => {
  const s = jobScript({ memory: '4GiB', cores: 4, schedulerFile: '/shared dir/s.json', tesseraCommand: 'tessera-compute', localDirectory: '$TMPDIR' });
  assert.match(s, /#SBATCH --mem=4096M\n/);
  assert.match(s, /exec tessera-compute worker --scheduler-file '\/shared dir\/s.json' --name "tessera-worker-\$SLURM_JOB_ID" --nthreads 4 --memory-limit 4294967296 --lifetime 1620 --death-timeout 60 --local-directory "\$TMPDIR"\n/);
  assert.throws(() => jobScript({ jobName: 'bad name' }), { code: 'ERR_TESSERA_INVALID_ARGUMENT' });
});

test('tessera-compute slurm job-script prints the script, with repeatable directives', () => {
  const r = spawnSync(process.execPath, [CLI_PATH, 'slurm', 'job-script', '--queue', 'gpu', '--account', 'p1', '--cores', '2', '--memory', '2GB', '--walltime', '02:00:00',
    '--job-extra-directive', '--gres=gpu:1', '--job-extra-directive=--exclusive', '--prologue', 'module load nodejs', '--log-directory', '/logs', '--scheduler-file', '/s.json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const line of ['#SBATCH -p gpu', '#SBATCH -A p1', '#SBATCH --cpus-per-task=2', '#SBATCH --mem=1908M', '#SBATCH -t 02:00:00', '#SBATCH --gres=gpu:1',
    '#SBATCH --exclusive', '#SBATCH -o /logs/tessera-worker-%j.out', '#SBATCH -e /logs/tessera-worker-%j.err', 'module load nodejs']) {
    assert.ok(r.stdout.split('\n').includes(line), `${line} in\n${r.stdout}`);
  }
  assert.match(r.stdout, /--lifetime 6900 /);
  const help = spawnSync(process.execPath, [CLI_PATH, 'slurm', 'job-script', '--help'], { encoding: 'utf8' });
  assert.match(help.stdout, /--job-directives-skip TEXT/);
  const bad = spawnSync(process.execPath, [CLI_PATH, 'slurm', 'nope'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /unknown slurm command 'nope'/);
});

test('jobScript: a tessera command with spaces is a shell prefix, kept as written', () => {
  const s = jobScript({ tesseraCommand: 'apptainer exec --bind $HOME tessera.sif tessera-compute', schedulerFile: '/s.json' });
  assert.match(s, /\nexec apptainer exec --bind \$HOME tessera.sif tessera-compute worker --scheduler-file \/s.json /);
});
