/**
 * What `tessera-compute mpi` does once its arguments are parsed (src/cli/mpi.ts):
 * MPI first (before any socket), roles from assignRoles(), the scheduler on
 * --scheduler-rank, its contact to every rank over MPI, a worker named
 * NAME-RANK on every other rank (every rank with --inclusive-workers).
 * Clients connect through the scheduler file; the job ends when one of them
 * calls shutdown(). With --no-scheduler the ranks add workers to a cluster
 * that already runs, found through SCHEDULER_ADDRESS or --scheduler-file.
 */
import { joinJob, type Membership } from './membership.js';
import { jobIdFromEnvironment } from '../../mpi/env.js';
import { assignRoles, type RoleAssignment } from './roles.js';
import { dashboardLine, infoWanted, rankName, type RankCluster } from './cluster.js';
import { startRank } from './start-rank.js';
import { describeError, leaveQuietly, rankBeforeMpi, sharedError } from './options.js';
import type { SchedulerOptions } from '../../scheduler/options.js';
import type { WorkerOptions } from '../../worker/options.js';

const WHO = 'tessera-compute mpi';

/** Everything `tessera-compute mpi` was asked to do, as src/cli/mpi.ts parses and checks it from the command line. */
export interface MpiCommandOptions {
  /** Address of a running scheduler (tcp://host:port), for --no-scheduler. */
  schedulerAddress?: string;
  /** Scheduler file: written by the scheduler rank, read by workers and clients. */
  schedulerFile?: string;
  /** Port of the scheduler; 0 picks a free one. */
  schedulerPort: number;
  schedulerRank: number;
  /** Network interface whose address is advertised (e.g. ib0, eth0). */
  interface?: WorkerOptions['interface'];
  protocol: 'tcp';
  nthreads: number;
  /** As given (default 'auto': the host's memory shared by its worker ranks), checked. */
  memoryLimit: string;
  localDirectory?: WorkerOptions['localDirectory'];
  /** Run a scheduler (false: add workers to a running cluster). */
  scheduler: boolean;
  /** Run each worker under a nanny that restarts it. */
  nanny: boolean;
  /** Workers only on ranks other than the scheduler's. */
  exclusiveWorkers: boolean;
  /** Extra worker options (JSON object from --worker-options). */
  workerOptions: Record<string, unknown>;
  dashboard: NonNullable<SchedulerOptions['dashboard']>;
  dashboardAddress: NonNullable<SchedulerOptions['dashboardAddress']>;
  /** Worker name prefix: workers are named `${name}-${rank}`. */
  name: string;
  /** How long a rank's node may stay unreachable before the other ranks count it as gone (ms; --unreachable-after). */
  unreachableAfterMs?: number;
}

/** SIGTERM/SIGINT (mpirun forwards both): close this rank's services so spill directories go too; a second signal exits at once. */
function closeOnSignals(cluster: RankCluster): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) process.exit(signal === 'SIGINT' ? 130 : 143);
    signalled = true;
    void cluster.close();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

export async function runMpiCommand(options: MpiCommandOptions): Promise<number> {
  // MPI before any socket or thread (dask-mpi PR#100).
  let member: Membership;
  try {
    member = joinJob({ schedulerFile: options.schedulerFile, who: WHO });
  } catch (err) {
    if (rankBeforeMpi() === 0) throw err;
    return leaveQuietly();
  }
  let assignment: RoleAssignment;
  try {
    assignment = assignRoles(member.size, {
      clientRank: null,
      schedulerRank: options.schedulerRank,
      scheduler: options.scheduler,
      exclusiveWorkers: options.exclusiveWorkers,
      workerName: options.name,
      minWorkers: 0,
    });
  } catch (err) {
    // The same on every rank: rank 0 reports it (and its non-zero exit ends the job).
    if (member.rank === 0) throw err;
    return leaveQuietly();
  }

  const jobId = jobIdFromEnvironment();
  let cluster: RankCluster;
  try {
    cluster = await startRank({
      member,
      assignment,
      scheduler: {
        port: options.schedulerPort,
        dashboard: options.dashboard,
        dashboardAddress: options.dashboardAddress,
        ...(options.schedulerFile ? { file: options.schedulerFile } : {}),
        ...(options.interface ? { interface: options.interface } : {}),
        ...(jobId ? { jobId } : {}),
      },
      ...(options.scheduler
        ? {}
        : {
            external: {
              ...(options.schedulerAddress ? { address: options.schedulerAddress } : {}),
              ...(options.schedulerFile ? { file: options.schedulerFile } : {}),
            },
          }),
      worker: {
        nthreads: options.nthreads,
        memoryLimit: options.memoryLimit,
        nanny: options.nanny,
        options: options.workerOptions,
        ...(options.localDirectory ? { localDirectory: options.localDirectory } : {}),
        ...(options.interface ? { interface: options.interface } : {}),
      },
      quiet: false,
      timeoutMs: 60_000,
      clientWaitsForWorkers: false,
      watchClientExit: false,
      who: WHO,
      ...(options.unreachableAfterMs !== undefined ? { unreachableAfterMs: options.unreachableAfterMs } : {}),
    });
  } catch (err) {
    if (sharedError(err, member.rank)) return leaveQuietly();
    process.stderr.write(`${WHO}: rank ${member.rank}: ${describeError(err)}\n`);
    process.exit(1);
  }

  if (cluster.roles.scheduler) {
    const line = dashboardLine(cluster.contact, WHO);
    if (line && infoWanted()) process.stderr.write(`${line}\n`);
    if (assignment.workerRanks.length === 0) {
      process.stderr.write(`${WHO}: no rank of this job runs a worker; add workers with: tessera-compute mpi --no-scheduler --scheduler-file FILE --name OTHER\n`);
    }
  }
  closeOnSignals(cluster);
  const outcome = await cluster.serve();
  await cluster.end();
  if (outcome.kind === 'scheduler-lost') {
    process.stderr.write(`${WHO}: the scheduler on ${rankName(cluster.contact.peers, outcome.rank)} is gone; rank ${member.rank} stops\n`);
  }
  // Exit here rather than wait for the event loop to drain: a rank is done when its services are.
  process.exit(outcome.kind === 'done' ? 0 : 1);
}
