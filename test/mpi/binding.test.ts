/**
 * The MPI binding under real launchers: OpenMPI's mpirun and MPICH's
 * mpiexec (Debian packages openmpi-bin and mpich). Each job runs a compiled
 * fixture on every rank and the test checks what all ranks printed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { describeJob, fixtureLines, fixturePath, jobEnv, libraryPath, mpirunArgs, requireCommand, runJob } from './helpers.js';

const WORLD = fixturePath('world.js');
const FAIL = fixturePath('fail.js');
const INFO = fixturePath('info.js');
const TIMEOUTS = fixturePath('timeouts.js');
const LATE = fixturePath('late.js');
const TEST_TIMEOUT = 120_000;
/** This very node binary, so the ranks run what the tests run. */
const NODE = process.execPath;

interface WorldLine {
  rank: number;
  size: number;
  family: string;
  path: string;
  bcast: { hello: string; size: number; nested: unknown; bigDigest: string; bigLength: number };
  expectedDigest: string;
  fromLast: string;
  sub: { color: number; rank: number; size: number; rootWorldRank: number };
  nullSplit: boolean;
  asyncValue: { asyncFrom: number; bigDigest: string };
  ring: { value: number; source: number; tag: number; expectedSource: number };
  gathered: number[] | null;
  eventLoopRan: boolean;
  launcherNoDelay: boolean | null;
  ucxMemEvents: string | null;
}

interface ErrorLine {
  code: string | null;
  message: string;
}

/** A job run with the other family's library: it fails, no rank runs as a world of 1, and each rank's error is an MpiError. */
function mismatchErrors(r: Awaited<ReturnType<typeof runJob>>): ErrorLine[] {
  assert.notEqual(r.code, 0, describeJob(r));
  assert.equal(fixtureLines(r.stdout).length, 0, `no rank may run as a world of 1\n${describeJob(r)}`);
  const errors = fixtureLines<ErrorLine>(r.stdout, 'TESSERA_FIXTURE_ERROR');
  assert.ok(errors.length >= 1, describeJob(r));
  for (const e of errors) assert.equal(e.code, 'ERR_TESSERA_MPI');
  return errors;
}

/** The timeouts fixture, run with 2 ranks under either launcher. */
function assertTimeouts(stdout: string, context: string): void {
  const lines = fixtureLines<Record<string, unknown>>(stdout).sort((a, b) => (a.rank as number) - (b.rank as number));
  assert.equal(lines.length, 2, context);
  // The fixture's JSON lines have a different shape per scenario.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const [r0, r1] = lines as [Record<string, any>, Record<string, any>];
  assert.equal(r0.barrierTimeout?.code, 'ERR_TESSERA_TIMEOUT', context);
  assert.match(r0.barrierTimeout.message, /barrier on rank 0 of 2 did not complete within 300 ms/);
  assert.ok(r0.waitedMs >= 290 && r0.waitedMs < 10_000, `waited ${r0.waitedMs} ms`);
  assert.equal(r0.afterTimeout?.code, 'ERR_TESSERA_MPI');
  assert.match(r0.afterTimeout.message, /timed out and is still pending inside MPI/);
  assert.equal(r0.recvTimeout?.code, 'ERR_TESSERA_TIMEOUT');
  assert.match(r0.recvTimeout.message, /receive from rank 1 with tag 99/);
  assert.equal(r0.reply, 'joined');
  assert.equal(r1.go, 'go');
}

/** Checks every rank's view of the world fixture for a world of `size` ranks. */
function assertWorld(stdout: string, size: number, family: 'openmpi' | 'mpich', context: string): WorldLine[] {
  const lines = fixtureLines<WorldLine>(stdout).sort((a, b) => a.rank - b.rank);
  assert.deepEqual(lines.map((l) => l.rank), [...Array(size).keys()], `one line per rank 0..${size - 1}\n${context}`);
  for (const l of lines) {
    const who = `rank ${l.rank}`;
    assert.equal(l.size, size, `${who}: world size`);
    assert.equal(l.family, family, `${who}: library family`);
    assert.deepEqual(
      l.bcast,
      { hello: 'from root', size, nested: { list: [1, 2, 3], flag: true, none: null }, bigDigest: l.expectedDigest, bigLength: 300_000 },
      `${who}: bcast from rank 0`,
    );
    assert.equal(l.fromLast, `last=${size - 1}`, `${who}: bcast from the last rank`);
    // split(rank % 2, key = size - rank): each half ordered by descending world rank.
    const members = [...Array(size).keys()].filter((r) => r % 2 === l.rank % 2).sort((a, b) => b - a);
    assert.deepEqual(
      l.sub,
      { color: l.rank % 2, rank: members.indexOf(l.rank), size: members.length, rootWorldRank: members[0] },
      `${who}: sub-communicator`,
    );
    assert.equal(l.nullSplit, l.rank === 0, `${who}: split(null) gives null only where asked`);
    assert.deepEqual(l.asyncValue, { asyncFrom: 1 % size, bigDigest: l.expectedDigest }, `${who}: bcastAsync`);
    assert.deepEqual(l.ring, { value: l.ring.expectedSource, source: l.ring.expectedSource, tag: 7, expectedSource: (l.rank - 1 + size) % size }, `${who}: recvAsync(ANY_SOURCE) reports the sender`);
    assert.equal(l.ucxMemEvents, null, `${who}: UCX_MEM_EVENTS, set while MPI started, is out of the environment again`);
    assert.deepEqual(l.gathered, l.rank === 0 ? [...Array(size - 1).keys()].map((i) => (i + 1) * 10) : null, `${who}: send/recv`);
    assert.equal(l.eventLoopRan, true, `${who}: the event loop ran during the async calls`);
  }
  return lines;
}

describe('MPI binding with OpenMPI (mpirun)', () => {
  test('mpirun -np 4: rank, size, bcast, split, barrier, async and point-to-point', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob('mpirun', mpirunArgs(4, NODE, WORLD));
    assert.equal(r.code, 0, describeJob(r));
    const lines = assertWorld(r.stdout, 4, 'openmpi', describeJob(r));
    assert.match(lines[0]!.path, /libmpi\.so/, 'libraryInfo().path names the loaded libmpi');
    // Without TCP_NODELAY on it, every MPI_Finalize waits ~40 ms on Nagle's algorithm (src/mpi/nodelay.ts).
    for (const l of lines) assert.equal(l.launcherNoDelay, true, `rank ${l.rank}: the connection to mpirun's PMIx server has TCP_NODELAY`);
  });

  test('a process started without a launcher is a world of one', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob(NODE, [WORLD]);
    assert.equal(r.code, 0, describeJob(r));
    assertWorld(r.stdout, 1, 'openmpi', describeJob(r));
  });

  test('a rank that fails ends the whole job with a non-zero status instead of hanging', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob('mpirun', mpirunArgs(3, NODE, FAIL), { timeoutMs: 60_000 });
    assert.equal(r.timedOut, false, `the job hung:\n${describeJob(r)}`);
    assert.notEqual(r.code, 0, describeJob(r));
    assert.match(r.stderr, /rank 1 fails on purpose/, describeJob(r));
    assert.equal(fixtureLines(r.stdout).filter((l) => l.passedBarrier).length, 0, 'no rank got past the barrier');
  });

  test('async calls time out with a TimeoutError and a timed-out collective poisons the communicator', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob('mpirun', mpirunArgs(2, NODE, TIMEOUTS));
    assert.equal(r.code, 0, describeJob(r));
    assertTimeouts(r.stdout, describeJob(r));
  });

  test('initialising MPI after a socket exists warns, and still works', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob('mpirun', mpirunArgs(2, NODE, LATE));
    assert.equal(r.code, 0, describeJob(r));
    assert.equal(fixtureLines(r.stdout).length, 2, describeJob(r));
    assert.match(r.stderr, /TESSERA_MPI_LATE_INIT/, describeJob(r));
    assert.match(r.stderr, /Call mpi\.world\(\) \(or initialize\(\)\) before creating servers/);
  });

  test('the MPICH library under OpenMPI mpirun is reported as a launcher/library mismatch', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const mpich = libraryPath('libmpich.so.12', 'mpich (apt-get install -y mpich)');
    const r = await runJob('mpirun', mpirunArgs(2, '-x', 'TESSERA_MPI_LIB', NODE, WORLD), { env: jobEnv({ TESSERA_MPI_LIB: mpich }) });
    for (const e of mismatchErrors(r)) {
      assert.match(e.message, /world of 1 process/);
      assert.match(e.message, /started 2 \(OMPI_COMM_WORLD_SIZE=2\)/);
      assert.match(e.message, /libmpich\.so\.12/, 'names the library that was loaded');
      assert.match(e.message, /TESSERA_MPI_LIB=\S*libmpi\.so\.40/, "says to point TESSERA_MPI_LIB at OpenMPI's library");
    }
  });

  test('TESSERA_MPI_LIB naming a missing file is an error that says what to do', { timeout: TEST_TIMEOUT }, async () => {
    const r = await runJob(NODE, [WORLD], { env: jobEnv({ TESSERA_MPI_LIB: '/nonexistent/libmpi.so' }) });
    assert.equal(r.code, 2, describeJob(r));
    const [e] = fixtureLines<ErrorLine>(r.stdout, 'TESSERA_FIXTURE_ERROR');
    assert.ok(e, describeJob(r));
    assert.equal(e.code, 'ERR_TESSERA_MPI');
    assert.match(e.message, /TESSERA_MPI_LIB=\/nonexistent\/libmpi\.so could not be used/);
    assert.match(e.message, /\/nonexistent\/libmpi\.so: .*(No such file|cannot open)/);
    assert.match(e.message, /libmpich\.so\.12/, 'suggests the libraries to point at');
  });

  test('libraryInfo() loads the library without initialising MPI', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpirun');
    const r = await runJob(NODE, [INFO]);
    assert.equal(r.code, 0, describeJob(r));
    const [info] = fixtureLines<{ family: string; path: string; version: string | null; initialized: boolean }>(r.stdout);
    assert.ok(info, describeJob(r));
    assert.equal(info.family, 'openmpi');
    assert.equal(info.initialized, false);
    assert.match(info.version ?? '', /Open MPI/);
  });
});

describe('MPI binding with MPICH (mpiexec.mpich)', () => {
  test('mpiexec.mpich -n 3 with TESSERA_MPI_LIB=libmpich.so.12 is one world of 3', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpiexec.mpich');
    const mpich = libraryPath('libmpich.so.12', 'mpich (apt-get install -y mpich)');
    const r = await runJob('mpiexec.mpich', ['-n', '3', NODE, WORLD], { env: jobEnv({ TESSERA_MPI_LIB: mpich }) });
    assert.equal(r.code, 0, describeJob(r));
    // With the wrong library MPICH would run 3 separate worlds of size 1.
    const lines = assertWorld(r.stdout, 3, 'mpich', describeJob(r));
    assert.match(lines[0]!.path, /libmpich\.so\.12/);
  });

  test("without TESSERA_MPI_LIB the launcher's family is tried first", { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpiexec.mpich');
    libraryPath('libmpich.so.12', 'mpich (apt-get install -y mpich)');
    const r = await runJob('mpiexec.mpich', ['-n', '3', NODE, WORLD]);
    assert.equal(r.code, 0, describeJob(r));
    assertWorld(r.stdout, 3, 'mpich', describeJob(r));
  });

  test('a rank that fails ends the whole job with a non-zero status instead of hanging', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpiexec.mpich');
    const r = await runJob('mpiexec.mpich', ['-n', '3', NODE, FAIL], { timeoutMs: 60_000 });
    assert.equal(r.timedOut, false, `the job hung:\n${describeJob(r)}`);
    assert.notEqual(r.code, 0, describeJob(r));
    assert.match(r.stderr, /rank 1 fails on purpose/, describeJob(r));
  });

  test('async calls time out with a TimeoutError', { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpiexec.mpich');
    const r = await runJob('mpiexec.mpich', ['-n', '2', NODE, TIMEOUTS]);
    assert.equal(r.code, 0, describeJob(r));
    assertTimeouts(r.stdout, describeJob(r));
  });

  test("OpenMPI's library under mpiexec.mpich is reported as a launcher/library mismatch", { timeout: TEST_TIMEOUT }, async () => {
    requireCommand('mpiexec.mpich');
    const ompi = libraryPath('libmpi.so.40', 'libopenmpi3 (apt-get install -y openmpi-bin libopenmpi-dev)');
    const r = await runJob('mpiexec.mpich', ['-n', '2', NODE, WORLD], { env: jobEnv({ TESSERA_MPI_LIB: ompi }) });
    for (const e of mismatchErrors(r)) {
      assert.match(e.message, /started 2 \(PMI_SIZE=2\)/);
      assert.match(e.message, /libmpi\.so\.40/);
      assert.match(e.message, /libmpich\.so\.12/, 'suggests the MPICH-family library');
    }
  });
});
