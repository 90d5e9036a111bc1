/**
 * Finding a scheduler this rank did not start and does not hear of over MPI:
 * a running cluster's (by address or scheduler file), or, without MPI, the
 * job's own through the scheduler file its rank writes.
 */
import { TesseraError } from '../../errors.js';
import type { ExternalScheduler } from './cluster.js';

/** What a rank needs to reach a scheduler. */
export interface SchedulerContact {
  address: string;
  token: string;
  id: string;
  dashboardPort: number | null;
}

/** A running cluster's scheduler, from its address or its scheduler file: only one that answers the handshake counts. */
export async function resolveExternal(ext: ExternalScheduler, jobId: string | undefined): Promise<SchedulerContact> {
  if (!ext.address && !ext.file) throw new TesseraError('ERR_TESSERA_INVALID_ARGUMENT', 'joining a running cluster needs its scheduler address or scheduler file');
  const { connect } = await import('../../comm/connect.js');
  const { resolveScheduler } = await import('../../comm/resolve-scheduler.js');
  // An address wins over a file; the token follows resolveScheduler()'s rule (explicit, the file's, TESSERA_TOKEN).
  const { address, token, file } = await resolveScheduler(
    ext.address ? { address: ext.address } : { schedulerFile: ext.file! },
    ext.token !== undefined ? { token: ext.token } : {},
  );
  let id = 'external';
  let dashboardPort: number | null = null;
  let described = '';
  if (file) {
    const { info } = file;
    id = info.id;
    dashboardPort = info.services?.dashboard ?? null;
    const job = info.jobId ? `job ${info.jobId}${jobId && info.jobId !== jobId ? ` (this is job ${jobId})` : ''}` : 'no recorded job';
    described = `scheduler file ${ext.file} (scheduler ${info.id}, ${job}, host ${info.host}, started ${new Date(info.started).toISOString()}) points at ${address}`;
  }
  // The file may be left over from a cluster that has ended: only a scheduler that answers the handshake counts.
  try {
    const { comm } = await connect(address, { role: 'client', token, timeoutMs: 3_000 });
    await comm.close();
  } catch (err) {
    const why = (err as Error).message;
    if (described) {
      throw new TesseraError(
        'ERR_TESSERA_SCHEDULER_FILE',
        `${described}, which does not answer (${why}). The file is stale, from a cluster that has ended, or the address ` +
          `cannot be reached from this node: start the cluster first (e.g. mpirun -np N tessera-compute mpi --scheduler-file ${ext.file}), or delete the file`,
      );
    }
    throw new TesseraError('ERR_TESSERA_CONNECT', `no Tessera scheduler answers at ${address}: ${why}`);
  }
  return { address, token, id, dashboardPort };
}

/**
 * Without MPI the job's ranks read the address from the scheduler file,
 * which may still be one from an earlier run: only a file of this job (its
 * job id) whose scheduler answers the handshake counts.
 */
export async function waitForFreshSchedulerFile(
  file: string,
  jobId: string | undefined,
  timeoutMs: number,
  rank: number,
  schedulerRank: number,
): Promise<SchedulerContact> {
  const { readSchedulerFile } = await import('../../comm/scheduler-file.js');
  const { connect } = await import('../../comm/connect.js');
  const notBefore = Date.now() - performance.now() - 5_000;
  const deadline = Date.now() + timeoutMs;
  let last = 'it does not exist';
  while (Date.now() < deadline) {
    try {
      const info = await readSchedulerFile(file);
      if (jobId && info.jobId !== jobId) last = `it is from job ${info.jobId ?? '(none)'}, not this job (${jobId})`;
      else if (!jobId && info.started < notBefore) last = `it was written before this process started`;
      else {
        const { comm } = await connect(info.address, { role: 'client', token: info.token, timeoutMs: 1_000 });
        await comm.close();
        return { address: info.address, token: info.token, id: info.id, dashboardPort: info.services?.dashboard ?? null };
      }
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new TesseraError(
    'ERR_TESSERA_SCHEDULER_FILE',
    `rank ${rank}: no usable scheduler file from this job at ${file} within ${timeoutMs / 1000} s (last: ${last}); ` +
      `the scheduler's rank (${schedulerRank}) may have failed (look at its output), or the path is not on a file system every node shares`,
  );
}
