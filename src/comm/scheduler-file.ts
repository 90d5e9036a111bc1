/**
 * The scheduler file: how processes of one cluster find the scheduler on a
 * shared file system. Written atomically (temp file + rename) with mode 0600
 * because it carries the auth token, replacing any stale file from an
 * earlier run. Readers can refuse a file from another job.
 */
import { promises as fs, readFileSync, unlinkSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { hostname } from 'node:os';
import { SchedulerFileError, type SchedulerFileReason } from '../errors.js';

export interface SchedulerFileContents {
  type: 'Scheduler';
  id: string;
  address: string;
  services: { dashboard?: number };
  started: number;
  pid: number;
  host: string;
  jobId?: string;
  token: string;
}

export async function writeSchedulerFile(path: string, info: Omit<SchedulerFileContents, 'type' | 'pid' | 'host'>): Promise<void> {
  const contents: SchedulerFileContents = { type: 'Scheduler', pid: process.pid, host: hostname(), ...info };
  await fs.mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  await fs.writeFile(tmp, JSON.stringify(contents, null, 2) + '\n', { mode: 0o600 });
  await fs.rename(tmp, path);
}

function fileError(path: string, reason: SchedulerFileReason, problem: string): SchedulerFileError {
  return new SchedulerFileError(path, reason, `scheduler file ${path}: ${problem}`);
}

/** Reads and validates a scheduler file; throws a clear error for a malformed file or another job's file. */
export async function readSchedulerFile(path: string, opts: { jobId?: string } = {}): Promise<SchedulerFileContents> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw code === 'ENOENT'
      ? fileError(path, 'missing', 'does not exist (has the scheduler started? is the path on a file system every node shares?)')
      : fileError(path, 'unreadable', (err as Error).message);
  }
  let parsed: Partial<SchedulerFileContents>;
  try {
    parsed = JSON.parse(text) as Partial<SchedulerFileContents>;
  } catch {
    throw fileError(path, 'invalid-json', 'is not valid JSON (perhaps partially written by an older tool); delete it and restart the scheduler');
  }
  if (parsed.type !== 'Scheduler' || typeof parsed.address !== 'string' || typeof parsed.token !== 'string') {
    throw fileError(path, 'not-scheduler-file', 'is not a Tessera scheduler file (missing type, address or token)');
  }
  if (opts.jobId && parsed.jobId && parsed.jobId !== opts.jobId) {
    throw fileError(path, 'other-job', `was written by job ${parsed.jobId}, but this is job ${opts.jobId}: it is stale, from an earlier run. ` +
      `Delete it or use a per-job file name (e.g. scheduler-{jobId}.json)`);
  }
  return parsed as SchedulerFileContents;
}

/** What a scheduler that is starting up will soon fix: no file yet, a half-written one, an earlier job's. */
const WORTH_WAITING: ReadonlySet<SchedulerFileReason> = new Set(['missing', 'invalid-json', 'other-job']);

/** Waits for a scheduler file to appear (workers may start before the scheduler), then reads it. */
export async function waitForSchedulerFile(
  path: string,
  opts: { jobId?: string; timeoutMs?: number; notBefore?: number } = {},
): Promise<SchedulerFileContents> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    try {
      const info = await readSchedulerFile(path, opts);
      // A file older than our own start may be a stale one about to be replaced.
      if (opts.notBefore === undefined || info.started >= opts.notBefore) return info;
    } catch (err) {
      // Missing, half-written, or another job's stale file about to be replaced: keep waiting.
      if (!(err instanceof SchedulerFileError && WORTH_WAITING.has(err.reason)) || Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw fileError(path, 'stale', `no scheduler file newer than our start appeared within ${opts.timeoutMs ?? 60_000} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Removes the scheduler file if it is still the one scheduler `id` wrote (a
 * newer scheduler may have replaced it). Synchronous, so it also works in a
 * process 'exit' hook.
 */
export function removeSchedulerFile(path: string, id: string): void {
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as Partial<SchedulerFileContents>;
    if (info.id === id) unlinkSync(path);
  } catch {
    // already gone, or not ours to remove
  }
}

/** When the file's scheduler ran on this host: whether that process is still alive. null elsewhere. */
export function schedulerProcessAlive(info: SchedulerFileContents): boolean | null {
  if (info.host !== hostname() || !Number.isInteger(info.pid)) return null;
  try {
    process.kill(info.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The error for a scheduler file whose scheduler is gone: which file, which scheduler, what to do. */
export function staleSchedulerFileError(path: string, info: SchedulerFileContents, evidence: string): SchedulerFileError {
  const started = Number.isFinite(info.started) ? new Date(info.started).toISOString() : 'unknown';
  return fileError(path, 'stale', `its scheduler is gone (${evidence}; it was pid ${info.pid} on ${info.host}, started ${started}, at ${info.address}). ` +
    'The file is stale: start the scheduler again (it replaces the file), or delete the file');
}
