import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSchedulerFile, waitForSchedulerFile, writeSchedulerFile } from '../../src/comm/scheduler-file.js';
import { resolveScheduler } from '../../src/comm/resolve-scheduler.js';

const info = (jobId: string, started = Date.now()) => ({ id: 'x', address: 'tcp://127.0.0.1:1', services: {}, started, token: 't', jobId });

test('written atomically with mode 0600; another job\'s file is refused, naming both jobs', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'sf-')), 'scheduler.json');
  await writeSchedulerFile(file, info('job-1'));
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal((await readSchedulerFile(file, { jobId: 'job-1' })).address, 'tcp://127.0.0.1:1');
  await assert.rejects(readSchedulerFile(file, { jobId: 'job-2' }), /written by job job-1, but this is job job-2/);
  await assert.rejects(readSchedulerFile(join(file, '..', 'missing.json')), /does not exist \(has the scheduler started/);
});

test('waiting for a scheduler file outlasts a stale one from another job until it is replaced', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'sf-')), 'scheduler.json');
  await writeSchedulerFile(file, info('old-job'));
  setTimeout(() => void writeSchedulerFile(file, info('new-job')), 300);
  const got = await waitForSchedulerFile(file, { jobId: 'new-job', timeoutMs: 5000 });
  assert.equal(got.jobId, 'new-job');
  await assert.rejects(waitForSchedulerFile(file, { jobId: 'other', timeoutMs: 300 }), /written by job new-job/);
});

test('resolveScheduler: explicit token, then the file\'s, then TESSERA_TOKEN; no token at all is refused before connecting', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'sf-')), 'scheduler.json');
  await writeSchedulerFile(file, { ...info('job-1'), address: 'tcp://127.0.0.1:2', token: 'from-file' });
  const env = { TESSERA_TOKEN: 'from-env' };
  assert.deepEqual(await resolveScheduler('tcp://127.0.0.1:1', { env }), { address: 'tcp://127.0.0.1:1', token: 'from-env' });
  assert.equal((await resolveScheduler({ address: 'tcp://127.0.0.1:1', token: 'given' }, { env })).token, 'given');
  assert.equal((await resolveScheduler({ schedulerAddress: 'tcp://127.0.0.1:1', token: 'cluster' }, { env, token: 'option' })).token, 'option');
  const fromFile = await resolveScheduler({ schedulerFile: file }, { env });
  assert.equal(fromFile.address, 'tcp://127.0.0.1:2');
  assert.equal(fromFile.token, 'from-file');
  assert.equal(fromFile.file?.path, file);
  assert.equal((await resolveScheduler(undefined, { env: { TESSERA_SCHEDULER_FILE: file } })).token, 'from-file');
  assert.deepEqual(await resolveScheduler(undefined, { env: { TESSERA_SCHEDULER_ADDRESS: 'tcp://127.0.0.1:3', TESSERA_TOKEN: '' } }), { address: 'tcp://127.0.0.1:3', token: '' });
  await assert.rejects(resolveScheduler('tcp://127.0.0.1:1', { env: {} }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ERR_TESSERA_AUTH');
    assert.match(err.message, /no auth token for the scheduler at tcp:\/\/127\.0\.0\.1:1: .*scheduler file.*TESSERA_TOKEN/);
    return true;
  });
  await assert.rejects(resolveScheduler(undefined, { env: {} }), /neither TESSERA_SCHEDULER_ADDRESS nor TESSERA_SCHEDULER_FILE/);
  await assert.rejects(resolveScheduler({ schedulerFile: file, jobId: 'job-2' }, { env }), /written by job job-1/);
});

test('resolveScheduler waits for a scheduler file when asked to, as a worker started before its scheduler does', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'sf-')), 'scheduler.json');
  setTimeout(() => void writeSchedulerFile(file, info('job-1')), 300);
  assert.equal((await resolveScheduler({ schedulerFile: file }, { waitForFileMs: 5000, env: {} })).token, 't');
});
