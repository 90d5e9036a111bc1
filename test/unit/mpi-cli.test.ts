import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { InvalidArgumentError } from '../../src/errors.js';
import { DEFAULT_NAME, helpText, parseMpiArgs } from '../../src/cli/mpi.js';
import { TESSERA_BIN } from '../fixtures/package.js';

const MAIN = TESSERA_BIN;

describe('tessera-compute mpi: arguments', () => {
  test('defaults', () => {
    assert.deepEqual(parseMpiArgs([]), {
      schedulerPort: 0,
      schedulerRank: 0,
      protocol: 'tcp',
      nthreads: 1,
      memoryLimit: 'auto',
      scheduler: true,
      nanny: false,
      exclusiveWorkers: true,
      workerOptions: {},
      dashboard: true,
      dashboardAddress: ':8787',
      name: DEFAULT_NAME,
      unreachableAfterMs: 30_000,
    });
  });

  test('every flag', () => {
    const o = parseMpiArgs([
      '--scheduler-file', 'sched.json', '--scheduler-port=8786', '--scheduler-rank', '1', '--interface', 'ib0',
      '--protocol', 'tcp', '--nthreads', '4', '--memory-limit', '8GB', '--local-directory', '/tmp/spill',
      '--nanny', '--inclusive-workers', '--worker-options', '{"lifetimeMs": 1000}', '--no-dashboard',
      '--dashboard-address', ':9999', '--name', 'job', '--unreachable-after', '45',
    ]);
    assert.deepEqual(o, {
      schedulerFile: 'sched.json',
      schedulerPort: 8786,
      schedulerRank: 1,
      interface: 'ib0',
      protocol: 'tcp',
      nthreads: 4,
      memoryLimit: '8GB',
      localDirectory: '/tmp/spill',
      scheduler: true,
      nanny: true,
      exclusiveWorkers: false,
      workerOptions: { lifetimeMs: 1000 },
      dashboard: false,
      dashboardAddress: ':9999',
      name: 'job',
      unreachableAfterMs: 45_000,
    });
  });

  test('--no-scheduler with an address or a scheduler file', () => {
    assert.equal(parseMpiArgs(['--no-scheduler', 'tcp://10.0.0.8:8786'])?.schedulerAddress, 'tcp://10.0.0.8:8786');
    assert.equal(parseMpiArgs(['--no-scheduler', '--scheduler-file', 's.json'])?.scheduler, false);
    assert.throws(() => parseMpiArgs(['--no-scheduler']), /give its SCHEDULER_ADDRESS or --scheduler-file/);
  });

  test('--exclusive-workers after --inclusive-workers wins', () => {
    assert.equal(parseMpiArgs(['--inclusive-workers', '--exclusive-workers'])?.exclusiveWorkers, true);
  });

  test('mistakes are refused with what to do', () => {
    const bad: [string[], RegExp][] = [
      [['tcp://10.0.0.8:8786'], /only used with --no-scheduler/],
      [['--no-scheduler', 'http://x:1'], /must look like tcp:\/\/host:port/],
      [['--protocol', 'ucx'], /tcp only/],
      [['--worker-options', '{nope'], /--worker-options must be a JSON object/],
      [['--worker-options', '[1]'], /--worker-options must be a JSON object/],
      [['--scheduler-port', '70000'], /--scheduler-port must be an integer from 0 to 65535/],
      [['--scheduler-rank', '-1'], /--scheduler-rank must be an integer of at least 0/],
      [['--nthreads', '0'], /--nthreads must be an integer of at least 1/],
      [['--unreachable-after', '5'], /--unreachable-after must be an integer of at least 11, got '5'/],
      [['--bogus'], /unknown option '--bogus'/],
      [['--no-scheduler', 'tcp://a:1', 'tcp://b:2'], /at most one SCHEDULER_ADDRESS/],
      [['--name', 'a b'], /--name must not contain spaces/],
    ];
    for (const [argv, message] of bad) {
      assert.throws(() => parseMpiArgs(argv), (err: unknown) => err instanceof InvalidArgumentError && message.test(err.message), argv.join(' '));
    }
  });

  test('--help lists every flag of DESIGN.md with dask-mpi spellings', () => {
    const help = helpText();
    for (const flag of [
      '--scheduler-file', '--scheduler-port', '--scheduler-rank', '--interface', '--protocol', '--nthreads',
      '--memory-limit', '--local-directory', '--scheduler/--no-scheduler', '--nanny/--no-nanny',
      '--exclusive-workers/--inclusive-workers', '--worker-options', '--dashboard/--no-dashboard',
      '--dashboard-address', '--name',
    ]) {
      assert.ok(help.includes(flag), `help mentions ${flag}`);
    }
    assert.match(help, /SCHEDULER_ADDRESS/);
    assert.match(help, /PREFIX-RANK/);
  });

  test('`tessera-compute mpi --help` through the dispatcher exits 0 without starting MPI', () => {
    const r = spawnSync(process.execPath, [MAIN, 'mpi', '--help'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, TESSERA_MPI_LIB: '/nonexistent' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Usage: mpirun -np N tessera-compute mpi/);
    assert.match(r.stdout, /--exclusive-workers\/--inclusive-workers/);
  });

  test('a bad flag through the dispatcher exits non-zero with the message', () => {
    const r = spawnSync(process.execPath, [MAIN, 'mpi', '--protocol', 'ucx'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /tessera-compute: --protocol ucx is not supported/);
  });
});
