/**
 * Start-up cost is paid by every rank of a job: importing 'tessera-compute/mpi'
 * must not load the scheduler, worker, client or dashboard modules (the
 * ranks load only what their role needs, after MPI has started).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REGISTER = fileURLToPath(new URL('../fixtures/mpi/import-register.js', import.meta.url));
const ENTRY = new URL('../../src/deploy/mpi/index.js', import.meta.url).href;

test("importing tessera-compute/mpi loads only the MPI binding and the deploy layer", () => {
  const r = spawnSync(process.execPath, ['--import', REGISTER, '--input-type=module', '-e', `await import(${JSON.stringify(ENTRY)})`], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const loaded = [...new Set(r.stderr.split('\n').filter((l) => l.startsWith('TESSERA_IMPORT ')).map((l) => l.slice(15)))];
  assert.ok(loaded.some((u) => u.endsWith('/src/deploy/mpi/initialize.js')), `the hook saw the imports:\n${r.stderr}`);
  // The worker options and the memory-size parser that checks them (resolveWorkerOptions) are the one
  // options vocabulary every rank checks its options with; they load nothing else of the worker.
  const light = /\/src\/worker\/(options|memory)\.js$/;
  const heavy = loaded.filter((u) => (/\/src\/(scheduler|worker|client|dashboard|comm|graph|dataframe|protocol)\//.test(u) && !light.test(u)) || /node_modules\/(koffi|acorn|eslint-scope|nodejs-polars)\//.test(u));
  assert.deepEqual(heavy, [], 'loaded before initialize() runs');
});
