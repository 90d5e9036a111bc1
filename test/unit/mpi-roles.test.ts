import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, WorldTooSmallError } from '../../src/errors.js';
import { assignRoles } from '../../src/deploy/mpi/roles.js';
import { EXECUTE_MATRIX } from '../fixtures/mpi/execute-matrix.js';

/** [rank, scheduler, client, worker] for every rank. */
function table(size: number, opts: Parameters<typeof assignRoles>[1]) {
  const a = assignRoles(size, opts);
  return [...Array(size).keys()].map((r) => {
    const x = a.roles(r);
    return [r, x.scheduler, x.client, x.worker] as const;
  });
}

describe('assignRoles: the dask-mpi execute matrix', () => {
  for (const [size, clientRank, schedulerRank, exclusiveWorkers, ok] of EXECUTE_MATRIX) {
    test(`size ${size}, client ${clientRank}, scheduler ${schedulerRank}, exclusive ${exclusiveWorkers}: ${ok ? 'ok' : 'too small'}`, () => {
      if (!ok) {
        assert.throws(() => assignRoles(size, { clientRank, schedulerRank, exclusiveWorkers }), WorldTooSmallError);
        return;
      }
      const a = assignRoles(size, { clientRank, schedulerRank, exclusiveWorkers });
      // As in dask-mpi's own test: workers on every rank, minus scheduler and client when exclusive.
      const expected = [...Array(size).keys()].filter((r) => !exclusiveWorkers || (r !== clientRank && r !== schedulerRank));
      assert.deepEqual(a.workerRanks, expected);
      assert.equal(a.roles(schedulerRank).scheduler, true);
      assert.equal(a.roles(clientRank).client, true);
      for (const r of expected) assert.equal(a.roles(r).workerName, String(r), 'workers are named by rank');
    });
  }
});

describe('assignRoles', () => {
  test('initialize defaults: scheduler 0, client 1, workers 2+', () => {
    assert.deepEqual(table(4, {}), [
      [0, true, false, false],
      [1, false, true, false],
      [2, false, false, true],
      [3, false, false, true],
    ]);
  });

  test('inclusive workers also run on the scheduler and client ranks', () => {
    assert.deepEqual(table(3, { exclusiveWorkers: false }), [
      [0, true, false, true],
      [1, false, true, true],
      [2, false, false, true],
    ]);
  });

  test('the CLI: no client, workers named PREFIX-RANK, scheduler on another rank', () => {
    const a = assignRoles(3, { clientRank: null, schedulerRank: 1, workerName: 'tessera-mpi' });
    assert.equal(a.clientRank, null);
    assert.deepEqual(a.workerRanks, [0, 2]);
    assert.equal(a.roles(0).workerName, 'tessera-mpi-0');
    assert.equal(a.roles(1).workerName, null);
    assert.throws(() => assignRoles(1, { clientRank: null }), WorldTooSmallError, 'dask-mpi CLI: a scheduler and a worker need 2 ranks');
    assert.deepEqual(assignRoles(2, { clientRank: null }).workerRanks, [1]);
  });

  test('--no-scheduler: every rank is a worker', () => {
    const a = assignRoles(2, { clientRank: null, scheduler: false, workerName: 'more' });
    assert.equal(a.schedulerRank, null);
    assert.deepEqual(a.workerRanks, [0, 1]);
    assert.equal(a.roles(1).workerName, 'more-1');
    assert.deepEqual(assignRoles(1, { clientRank: null, scheduler: false }).workerRanks, [0]);
  });

  test('a world with no worker rank is refused unless minWorkers is 0 (dask-mpi parity)', () => {
    assert.throws(() => assignRoles(2, {}), (err: unknown) => err instanceof WorldTooSmallError && err.required === 3 && err.actual === 2);
    assert.deepEqual(assignRoles(2, { minWorkers: 0 }).workerRanks, []);
  });

  test('minWorkers asks for more worker ranks', () => {
    assert.throws(() => assignRoles(4, { minWorkers: 3 }), (err: unknown) => err instanceof WorldTooSmallError && err.required === 5);
    assert.deepEqual(assignRoles(5, { minWorkers: 3 }).workerRanks, [2, 3, 4]);
  });

  test('the error says how many ranks are needed and for what', () => {
    assert.throws(
      () => assignRoles(1, {}),
      (err: unknown) => {
        assert.ok(err instanceof WorldTooSmallError);
        assert.equal(err.code, 'ERR_TESSERA_WORLD_TOO_SMALL');
        assert.equal(err.required, 3);
        assert.equal(err.actual, 1);
        assert.match(err.message, /this MPI job has 1 rank but needs at least 3/);
        assert.match(err.message, /the scheduler on rank 0, the client on rank 1 and 1 worker on a rank of its own/);
        assert.match(err.message, /mpirun -np 3/);
        assert.match(err.message, /--inclusive-workers/);
        return true;
      },
    );
    assert.throws(() => assignRoles(4, { clientRank: 5 }), /needs at least 6: the scheduler on rank 0, the client on rank 5/);
  });

  test('bad arguments', () => {
    assert.throws(() => assignRoles(0), InvalidArgumentError);
    assert.throws(() => assignRoles(4, { schedulerRank: -1 }), InvalidArgumentError);
    assert.throws(() => assignRoles(4, { clientRank: 1.5 }), InvalidArgumentError);
    assert.throws(() => assignRoles(4).roles(4), InvalidArgumentError);
  });
});
