/**
 * The cluster bootstrap (check-in with the scheduler's rank, then the
 * contact details to every rank) under real launchers, including the
 * failures it exists for: a rank that never checks in, a scheduler rank
 * that fails or goes silent.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { describeJob, fixtureLines, fixturePath, mpirunArgs, requireCommand, runJob } from './helpers.js';

const FIXTURE = fixturePath('bootstrap.js');
const NODE = process.execPath;
const TEST_TIMEOUT = 120_000;
const CONTACT = { address: 'tcp://10.0.0.8:8786', token: 'secret-token', id: 'cluster-1' };

interface Line {
  rank: number;
  size: number;
  value?: unknown;
  peers?: { rank: number; hasHost: boolean; hasPid: boolean }[] | null;
  error?: { name: string; code: string | null; message: string; missingRanks: number[] | null };
  skipped?: boolean;
  barrierAfterFailure?: boolean;
  elapsedMs?: number;
}

function linesByRank(stdout: string): Map<number, Line[]> {
  const out = new Map<number, Line[]>();
  for (const l of fixtureLines<Line>(stdout)) out.set(l.rank, [...(out.get(l.rank) ?? []), l]);
  return out;
}

function assertOk(stdout: string, size: number, root: number, context: string): void {
  const byRank = linesByRank(stdout);
  assert.deepEqual([...byRank.keys()].sort(), [...Array(size).keys()], context);
  for (const [rank, [line]] of byRank) {
    assert.deepEqual(line!.value, CONTACT, `rank ${rank} got the contact\n${context}`);
    if (rank === root) {
      assert.deepEqual(line!.peers, [...Array(size).keys()].map((r) => ({ rank: r, hasHost: true, hasPid: true })), 'the root lists every peer');
    } else {
      assert.equal(line!.peers, null);
    }
  }
}

describe('MPI bootstrap', () => {
  test('mpirun -np 4: every rank gets the contact from rank 0', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob('mpirun', mpirunArgs(4, NODE, FIXTURE, 'ok', '0'));
    assert.equal(r.code, 0, describeJob(r));
    assertOk(r.stdout, 4, 0, describeJob(r));
  });

  test('the scheduler may sit on another rank', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob('mpirun', mpirunArgs(4, NODE, FIXTURE, 'ok', '2'));
    assert.equal(r.code, 0, describeJob(r));
    assertOk(r.stdout, 4, 2, describeJob(r));
  });

  test('mpiexec.mpich -n 3', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpiexec.mpich');
    const r = await runJob('mpiexec.mpich', ['-n', '3', NODE, FIXTURE, 'ok', '0']);
    assert.equal(r.code, 0, describeJob(r));
    assertOk(r.stdout, 3, 0, describeJob(r));
  });

  test('a rank that never checks in is named, on every rank that did', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob('mpirun', mpirunArgs(4, NODE, FIXTURE, 'missing'));
    assert.equal(r.code, 0, describeJob(r));
    const byRank = linesByRank(r.stdout);
    assert.equal(byRank.get(3)?.[0]?.skipped, true, describeJob(r));
    for (const rank of [0, 1, 2]) {
      const e = byRank.get(rank)?.[0]?.error;
      assert.ok(e, `rank ${rank} reports an error\n${describeJob(r)}`);
      assert.equal(e.name, 'CheckInTimeoutError');
      assert.equal(e.code, 'ERR_TESSERA_TIMEOUT');
      assert.deepEqual(e.missingRanks, [3]);
      assert.match(e.message, /rank 3 of 4 never checked in with rank 0 within 1\.5 s/);
    }
    const rootElapsed = byRank.get(0)![0]!.elapsedMs!;
    assert.ok(rootElapsed >= 1_400 && rootElapsed < 15_000, `the root gave up after its timeout (${rootElapsed} ms)`);
  });

  test("the root's failure reaches every rank, and the communicator still works", { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob('mpirun', mpirunArgs(4, NODE, FIXTURE, 'fail'));
    assert.equal(r.code, 0, describeJob(r));
    const byRank = linesByRank(r.stdout);
    assert.match(byRank.get(0)![0]!.error!.message, /could not bind port 8786/);
    for (const rank of [1, 2, 3]) {
      const e = byRank.get(rank)![0]!.error!;
      assert.equal(e.name, 'BootstrapFailedError');
      assert.equal(e.code, 'ERR_TESSERA_CONNECT', 'keeps the root error code');
      assert.match(e.message, /rank 0 failed before the cluster could start: the scheduler could not bind port 8786/);
    }
    for (const rank of [0, 1, 2, 3]) assert.equal(byRank.get(rank)![1]?.barrierAfterFailure, true, `rank ${rank} passed the barrier`);
  });

  test('a silent scheduler rank is named by the others', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob('mpirun', mpirunArgs(3, NODE, FIXTURE, 'silent-root'));
    assert.equal(r.code, 0, describeJob(r));
    const byRank = linesByRank(r.stdout);
    for (const rank of [1, 2]) {
      const e = byRank.get(rank)![0]!.error!;
      assert.equal(e.code, 'ERR_TESSERA_TIMEOUT');
      assert.match(e.message, new RegExp(`rank ${rank} checked in but rank 0 \\(the scheduler's\\) did not answer within 3 s`));
    }
  });
});
