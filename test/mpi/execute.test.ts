/**
 * execute() under mpirun: dask-mpi's parametrised test (mpisize, clientRank,
 * schedulerRank, exclusiveWorkers, outcome), and its no-exit test for
 * initialize() on a sub-communicator.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { describeJob, fixtureLines, fixturePath, mpirunArgs, requireCommand, runJob } from './helpers.js';
import { EXECUTE_MATRIX } from '../fixtures/mpi/execute-matrix.js';

const EXECUTE = fixturePath('execute.js');
const NO_EXIT = fixturePath('no-exit.js');
const NODE = process.execPath;
const TEST_TIMEOUT = 120_000;

interface ClientLine {
  kind: 'client';
  rank: number;
  expected: string[];
  names: string[];
  results: Record<string, number>;
}

interface ReturnedLine {
  kind: 'returned';
  rank: number;
  size: number;
  value: string | null;
}

describe('execute()', () => {
  for (const [m, c, s, x, ok] of EXECUTE_MATRIX) {
    test(`mpisize ${m}, clientRank ${c}, schedulerRank ${s}, exclusiveWorkers ${x}: ${ok ? 'runs' : 'WorldTooSmallError'}`, { timeout: TEST_TIMEOUT }, async () => {
      requireCommand('mpirun');
      const r = await runJob('mpirun', mpirunArgs(m, NODE, EXECUTE, String(m), String(c), String(s), String(x)));
      const context = describeJob(r);
      if (!ok) {
        assert.notEqual(r.code, 0, context);
        assert.match(r.stderr, new RegExp(`WorldTooSmallError: this MPI job has 1 rank but needs at least ${1 + Math.max(c, s, x ? 1 : 0)}`), context);
        assert.deepEqual(fixtureLines(r.stdout), [], context);
        return;
      }
      assert.equal(r.code, 0, context);
      const client = fixtureLines<ClientLine>(r.stdout).filter((l) => l.kind === 'client');
      assert.equal(client.length, 1, context);
      assert.equal(client[0]!.rank, c, 'the client function ran on clientRank');
      assert.deepEqual(client[0]!.names, client[0]!.expected, 'workers on exactly the expected ranks, named by rank');
      for (const name of client[0]!.names) assert.equal(client[0]!.results[name], 11, `a task ran on worker ${name}`);
      const returned = fixtureLines<ReturnedLine>(r.stdout).filter((l) => l.kind === 'returned').sort((a, b) => a.rank - b.rank);
      assert.deepEqual(
        returned.map((l) => [l.rank, l.size, l.value]),
        [...Array(m).keys()].map((rank) => [rank, m, rank === c ? 'client-done' : null]),
        `execute() returned on every rank, the function's value on the client's\n${context}`,
      );
      assert.deepEqual(r.leftovers, [], context);
    });
  }
});

describe('initialize({ comm, exit: false })', () => {
  test("rank 3 splits off, ranks 0-2 run a cluster, then the world communicator still works", { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob('mpirun', mpirunArgs(4, NODE, NO_EXIT));
    const context = describeJob(r);
    assert.equal(r.code, 0, context);
    const lines = fixtureLines<Record<string, unknown>>(r.stdout).sort((a, b) => (a.rank as number) - (b.rank as number));
    assert.equal(lines.length, 4, context);
    assert.deepEqual(lines.map((l) => l.isClient), [false, true, false, null], 'rank 1 was the client; ranks 0 and 2 resolved false');
    assert.deepEqual(lines.map((l) => l.subSize), [3, 3, 3, 1]);
    assert.equal(lines[1]!.result, 11);
    assert.deepEqual(lines[1]!.workers, ['2']);
    for (const l of lines) {
      assert.equal(l.afterCluster, 'world still works', `rank ${l.rank}`);
      assert.deepEqual(l.gathered, { from: 3 }, `rank ${l.rank}`);
    }
  });
});
