import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSchedulerFile, waitForSchedulerFile, writeSchedulerFile } from '../../src/scheduler/scheduler-file.js';

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
