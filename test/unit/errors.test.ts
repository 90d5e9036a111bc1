/**
 * The error table (ERROR_CODES in src/errors.ts) is complete and matches
 * docs/errors.md, and every error that can cross the wire comes back as its
 * own class with its code, message and fields.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as errors from '../../src/errors.js';
import {
  ERROR_CLASSES, ERROR_CODES, TesseraError, isTesseraErrorCode, rebuildError,
  BootstrapFailedError, CancelledError, CheckInTimeoutError, ClosureError, ConnectionClosedError, DashboardError,
  DataFrameError, EngineError, FrameTooLargeError, FunctionError, HandshakeError, InvalidArgumentError,
  InvalidStateError, KilledWorkerError, MissingDataError, MpiError, ProtocolError, QueryError, SchedulerFileError,
  SlurmError, TaskError, TimeoutError, WorldTooSmallError,
  type ErrorClassName, type TesseraErrorCode,
} from '../../src/errors.js';
import * as main from '../../src/index.js';
import * as mpiEntry from '../../src/deploy/mpi/index.js';
import * as slurmEntry from '../../src/deploy/slurm/index.js';
import * as dataframeEntry from '../../src/dataframe/index.js';
import { errorFromInfo, errorToInfo } from '../../src/comm/comm.js';
import { decodeMessage, encodeMessage } from '../../src/protocol/codec.js';
import type { ErrorInfo } from '../../src/protocol/messages.js';
import { SlurmError as SlurmErrorFromEnv } from '../../src/deploy/slurm/env.js';
import { BootstrapFailedError as FromBootstrap, CheckInTimeoutError as CheckInFromBootstrap } from '../../src/deploy/mpi/bootstrap.js';
import { QueryError as QueryErrorFromQuery, parseQuery } from '../../src/dataframe/query.js';
import { InvalidStateError as InvalidStateFromState } from '../../src/scheduler/state.js';
import { readSchedulerFile } from '../../src/comm/scheduler-file.js';

const DOCS = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
const CODES = Object.keys(ERROR_CODES) as TesseraErrorCode[];

/** The classes a code is thrown as, according to the table. */
function classesOf(code: TesseraErrorCode): readonly ErrorClassName[] {
  const e: { error: ErrorClassName; also?: readonly ErrorClassName[] } = ERROR_CODES[code];
  return [e.error, ...(e.also ?? [])];
}

/** One instance of every error class, with its fields set. */
const SAMPLES: Record<ErrorClassName, TesseraError> = {
  TesseraError: new TesseraError('ERR_TESSERA_CONNECT', 'nothing listens at tcp://10.0.0.1:8786'),
  ProtocolError: new ProtocolError('message without an op field'),
  FrameTooLargeError: new FrameTooLargeError(2_000_000, 1_000_000),
  HandshakeError: new HandshakeError('wrong auth token', 'ERR_TESSERA_AUTH'),
  ConnectionClosedError: new ConnectionClosedError('connection to scheduler closed'),
  TimeoutError: new TimeoutError("no reply to 'gather' within 10 ms"),
  TaskError: new TaskError('inc-1', 'RangeError', 'too big', 'RangeError: too big\n    at inc (x.js:1:1)', { fields: { limit: 3 } }),
  KilledWorkerError: new KilledWorkerError('boom-1', 3, 'tcp://10.0.0.2:4000', 'w-2'),
  CancelledError: new CancelledError('slow-1'),
  MissingDataError: new MissingDataError('scatter-1', 'lost', 'the data of scatter-1 was lost'),
  InvalidArgumentError: new InvalidArgumentError('nWorkers must be a non-negative integer, got -1'),
  ClosureError: new ClosureError('f', 'f uses x', [{ name: 'x', line: 1, column: 7 }]),
  FunctionError: new FunctionError('cannot ship a bound function'),
  MpiError: new MpiError('no libmpi found'),
  CheckInTimeoutError: new CheckInTimeoutError('ranks 2, 3 never checked in', [2, 3]),
  BootstrapFailedError: new BootstrapFailedError(0, 'rank 0 failed: port in use', 'ERR_TESSERA_DASHBOARD_PORT_IN_USE'),
  WorldTooSmallError: new WorldTooSmallError(3, 1, 'this MPI job has 1 rank but needs at least 3'),
  SlurmError: new SlurmError('SLURM_JOB_ID is not set'),
  SchedulerFileError: new SchedulerFileError('/shared/s.json', 'other-job', 'scheduler file /shared/s.json: was written by job 7'),
  DashboardError: new DashboardError('port 8787 is in use', 'ERR_TESSERA_DASHBOARD_PORT_IN_USE'),
  DataFrameError: new DataFrameError('cannot read taxi.csv'),
  EngineError: new EngineError('Polars failed'),
  QueryError: new QueryError('a == = 1', 5, "'=' is assignment; use '==' to compare"),
  InvalidStateError: new InvalidStateError('no transition from memory to waiting for x'),
};

/** An error's own fields: what the receiving side must get back. */
function ownFields(e: Error): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(e)) if (k !== 'stack') out[k] = (e as unknown as Record<string, unknown>)[k];
  return out;
}

test('every code in the table is documented in docs/errors.md, and every documented code is in the table', () => {
  const headings = new Set([...DOCS.matchAll(/^### (ERR_TESSERA_\w+)$/gm)].map((m) => m[1]!));
  for (const code of CODES) assert.ok(headings.has(code), `${code} has no section in docs/errors.md`);
  const mentioned = new Set([...DOCS.matchAll(/ERR_TESSERA_\w+/g)].map((m) => m[0]));
  for (const code of mentioned) assert.ok(isTesseraErrorCode(code), `docs/errors.md mentions ${code}, which is not in ERROR_CODES`);
  for (const code of CODES) {
    const section = DOCS.slice(DOCS.indexOf(`### ${code}\n`)).split(/\n### |\n## /)[0]!;
    for (const cls of classesOf(code)) assert.ok(section.includes(`\`${cls}\``), `the section on ${code} does not name ${cls}`);
  }
});

test('every exported error class is in the registry and the table; every class the table names exists', () => {
  const registered = new Set<unknown>(Object.values(ERROR_CLASSES));
  const named = new Set(CODES.flatMap(classesOf));
  const entries: [string, Record<string, unknown>][] = [
    ['errors.ts', errors], ['tessera-compute', main], ['tessera-compute/mpi', mpiEntry],
    ['tessera-compute/slurm', slurmEntry], ['tessera-compute/dataframe', dataframeEntry],
  ];
  for (const [entry, mod] of entries) {
    for (const [name, value] of Object.entries(mod)) {
      if (typeof value !== 'function' || !(value === Error || value.prototype instanceof Error)) continue;
      assert.ok(registered.has(value), `${entry} exports ${name}, an error class not in ERROR_CLASSES`);
      assert.ok(named.has(name as ErrorClassName), `${entry} exports ${name}, which no entry of ERROR_CODES names`);
    }
  }
  for (const name of named) assert.ok(Object.hasOwn(ERROR_CLASSES, name), `ERROR_CODES names ${name}, which is not a class`);
  for (const name of Object.keys(ERROR_CLASSES)) assert.ok(named.has(name as ErrorClassName), `${name} is in no entry of ERROR_CODES`);
  for (const name of Object.keys(ERROR_CLASSES) as ErrorClassName[]) {
    assert.ok(main[name as keyof typeof main] === ERROR_CLASSES[name], `tessera-compute does not export ${name}`);
  }
});

test('every class is thrown with a code the table lists for it, and is a TesseraError named after itself', () => {
  assert.deepEqual(Object.keys(SAMPLES).sort(), Object.keys(ERROR_CLASSES).sort(), 'a sample of every class');
  for (const [name, e] of Object.entries(SAMPLES)) {
    assert.ok(e instanceof TesseraError && e instanceof ERROR_CLASSES[name as ErrorClassName], name);
    assert.equal(e.name, name);
    assert.ok(isTesseraErrorCode(e.code), `${name}: ${e.code}`);
    // BootstrapFailedError carries the code of the root's error (its table entry is ERR_TESSERA_MPI).
    if (name !== 'BootstrapFailedError') assert.ok(classesOf(e.code).includes(name as ErrorClassName), `the table lists no ${name} for ${e.code}`);
  }
  assert.ok(classesOf('ERR_TESSERA_MPI').includes('BootstrapFailedError'));
});

test('the classes declared in errors.ts are still exported where they used to be', () => {
  assert.equal(SlurmErrorFromEnv, SlurmError);
  assert.equal(FromBootstrap, BootstrapFailedError);
  assert.equal(CheckInFromBootstrap, CheckInTimeoutError);
  assert.equal(QueryErrorFromQuery, QueryError);
  assert.equal(InvalidStateFromState, InvalidStateError);
  assert.equal(mpiEntry.WorldTooSmallError, WorldTooSmallError);
  assert.equal(mpiEntry.MpiError, MpiError);
  assert.equal(slurmEntry.SlurmError, SlurmError);
  assert.equal(dataframeEntry.QueryError, QueryError);
});

test('errorToInfo then errorFromInfo gives back the same class, code, message and fields, also through msgpack', () => {
  for (const [name, sent] of Object.entries(SAMPLES)) {
    const info = errorToInfo(sent);
    const wire = decodeMessage(encodeMessage(info).map((f) => Buffer.from(f))) as ErrorInfo;
    for (const [how, i] of [['in memory', info], ['through msgpack', wire]] as const) {
      const got = errorFromInfo(i);
      assert.equal(Object.getPrototypeOf(got), Object.getPrototypeOf(sent), `${name} ${how}: came back as ${got.name}`);
      assert.ok(got instanceof TesseraError);
      assert.equal(got.name, name);
      assert.equal(got.code, sent.code, `${name} ${how}`);
      assert.equal(got.message, sent.message, `${name} ${how}`);
      assert.deepEqual(ownFields(got), ownFields(sent), `${name} ${how}: fields`);
    }
  }
  const killed = errorFromInfo(errorToInfo(SAMPLES.KilledWorkerError));
  assert.ok(killed instanceof KilledWorkerError);
  assert.equal(killed.key, 'boom-1');
  assert.equal(killed.attempts, 3);
  assert.equal(killed.lastWorker, 'tcp://10.0.0.2:4000');
  assert.match(killed.message, /the last was w-2 at tcp:\/\/10\.0\.0\.2:4000/);
});

test('a code not in the table is not rebuilt as a Tessera error; a plain Error keeps its name, stack and fields', () => {
  assert.equal(rebuildError({ name: 'TesseraError', message: 'from the future', code: 'ERR_TESSERA_NOT_YET' }), null);
  const plain = Object.assign(new RangeError('too big'), { limit: 3 });
  const got = errorFromInfo(errorToInfo(plain));
  assert.ok(!(got instanceof TesseraError));
  assert.equal(got.name, 'RangeError');
  assert.equal(got.stack, plain.stack);
  assert.equal((got as unknown as { limit: number }).limit, 3);
});

test('an unknown class name with a known code is rebuilt as the class the table gives the code', () => {
  const e = errorFromInfo({ name: 'SomeOlderName', message: 'gone', stack: '', code: 'ERR_TESSERA_MISSING_DATA', fields: { key: 'k', reason: 'released' } });
  assert.ok(e instanceof MissingDataError);
  assert.equal(e.reason, 'released');
});

test('scheduler file errors say why in err.reason, which waitForSchedulerFile branches on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'errors-'));
  const reasonOf = async (path: string, opts = {}) => {
    const err = await readSchedulerFile(path, opts).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof SchedulerFileError, String(err));
    assert.equal(err.code, 'ERR_TESSERA_SCHEDULER_FILE');
    assert.equal(err.path, path);
    return err.reason;
  };
  assert.equal(await reasonOf(join(dir, 'none.json')), 'missing');
  writeFileSync(join(dir, 'half.json'), '{"type": "Sch');
  assert.equal(await reasonOf(join(dir, 'half.json')), 'invalid-json');
  writeFileSync(join(dir, 'other.json'), '{"hello": 1}');
  assert.equal(await reasonOf(join(dir, 'other.json')), 'not-scheduler-file');
  writeFileSync(join(dir, 'job.json'), JSON.stringify({ type: 'Scheduler', address: 'tcp://h:1', token: 't', jobId: '1' }));
  assert.equal(await reasonOf(join(dir, 'job.json'), { jobId: '2' }), 'other-job');
  assert.equal(await reasonOf(dir), 'unreadable');
});

test('a query syntax error is a QueryError with its position, and a DataFrameError', () => {
  assert.throws(() => parseQuery('a = 1'), (err: unknown) => {
    assert.ok(err instanceof QueryError && err instanceof DataFrameError);
    assert.equal(err.code, 'ERR_TESSERA_DATAFRAME');
    assert.equal(err.position, 2);
    return true;
  });
});

