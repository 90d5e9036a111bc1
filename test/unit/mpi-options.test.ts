/** initialize()/execute() options and the dashboard line, without MPI. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors.js';
import { resolveCommon, checkProtocol, sharedError } from '../../src/deploy/mpi/options.js';
import { dashboardLine, type Contact } from '../../src/deploy/mpi/cluster.js';
import { BootstrapFailedError, CheckInTimeoutError } from '../../src/deploy/mpi/bootstrap.js';

function contact(extra: Partial<Contact> = {}): Contact {
  return {
    address: 'tcp://10.0.0.8:40000', token: 't', id: 's', dashboardPort: 8787, dashboardHost: '10.0.0.8',
    lifeline: null, workersPerHost: {}, peers: [], ...extra,
  };
}

describe('initialize()/execute() options', () => {
  test('defaults', () => {
    const saved = process.env.TESSERA_LOG_LEVEL;
    delete process.env.TESSERA_LOG_LEVEL;
    try {
      const r = resolveCommon({});
      assert.deepEqual(r, {
        worker: { nthreads: 1, memoryLimit: 'auto', nanny: false, options: {} },
        dashboard: true,
        dashboardAddress: ':8787',
        quiet: true,
        timeoutMs: 60_000,
      });
      process.env.TESSERA_LOG_LEVEL = 'info';
      assert.equal(resolveCommon({}).quiet, false, 'TESSERA_LOG_LEVEL decides when set');
    } finally {
      if (saved === undefined) delete process.env.TESSERA_LOG_LEVEL;
      else process.env.TESSERA_LOG_LEVEL = saved;
    }
  });

  test('every option reaches the worker and scheduler configuration', () => {
    const r = resolveCommon({
      nthreads: 4, memoryLimit: '8GB', localDirectory: '/scratch', interface: 'ib0', dashboard: false,
      dashboardAddress: ':9999', protocol: 'tcp', nanny: true, workerOptions: { lifetimeMs: 1000 }, timeoutMs: 5000, quiet: false,
    });
    assert.deepEqual(r, {
      worker: { nthreads: 4, memoryLimit: '8GB', nanny: true, options: { lifetimeMs: 1000 }, localDirectory: '/scratch', interface: 'ib0' },
      dashboard: false,
      dashboardAddress: ':9999',
      interface: 'ib0',
      quiet: false,
      timeoutMs: 5000,
    });
  });

  test("protocols other than tcp are refused with a clear error", () => {
    checkProtocol(undefined);
    checkProtocol('tcp');
    checkProtocol('tcp://');
    for (const p of ['ucx', 'tls', 'inproc']) {
      assert.throws(() => resolveCommon({ protocol: p }), (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError);
        assert.equal(err.code, 'ERR_TESSERA_INVALID_ARGUMENT');
        assert.match(err.message, new RegExp(`protocol '${p}' is not supported: Tessera speaks tcp only`));
        return true;
      });
    }
  });

  test('bad numbers are refused', () => {
    assert.throws(() => resolveCommon({ nthreads: 0 }), /nthreads must be a positive integer, got 0/);
    assert.throws(() => resolveCommon({ nthreads: 1.5 }), /nthreads must be a positive integer/);
    assert.throws(() => resolveCommon({ timeoutMs: -1 }), /timeoutMs must be a positive integer/);
    assert.throws(() => resolveCommon({ workerOptions: [] as never }), /workerOptions must be an object/);
  });

  test('errors every rank shares are printed by one rank only', () => {
    assert.equal(sharedError(new BootstrapFailedError(0, 'the scheduler could not start'), 2), true);
    assert.equal(sharedError(new CheckInTimeoutError('rank 3 never checked in', [3]), 0), false, 'the root reports it');
    assert.equal(sharedError(new CheckInTimeoutError('rank 3 never checked in', [3]), 2), true);
    assert.equal(sharedError(new Error('a worker could not start'), 2), false);
  });
});

describe('the dashboard line', () => {
  test('URL on the scheduler host IP and a ready-to-paste tunnel', () => {
    const saved = process.env.SLURM_SUBMIT_HOST;
    delete process.env.SLURM_SUBMIT_HOST;
    try {
      assert.equal(
        dashboardLine(contact(), 'tessera-compute/mpi'),
        'tessera-compute/mpi: dashboard at http://10.0.0.8:8787/status - from your computer: ssh -L 8787:10.0.0.8:8787 <login-node>, then open http://localhost:8787/status',
      );
      // Under Slurm the login node is known.
      process.env.SLURM_SUBMIT_HOST = 'login01';
      assert.match(dashboardLine(contact({ dashboardPort: 41234 }), 'tessera-compute/mpi')!, /ssh -L 41234:10\.0\.0\.8:41234 login01, then open http:\/\/localhost:41234\/status$/);
    } finally {
      if (saved === undefined) delete process.env.SLURM_SUBMIT_HOST;
      else process.env.SLURM_SUBMIT_HOST = saved;
    }
  });

  test('no line without a dashboard', () => {
    assert.equal(dashboardLine(contact({ dashboardPort: null, dashboardHost: null }), 'tessera-compute/mpi'), null);
  });
});
