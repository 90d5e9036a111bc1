/**
 * initialize() and sendCloseSignal(), with dask-mpi's semantics: the same
 * script runs on every rank; rank 0 becomes the scheduler, rank 1 goes on
 * as the client, every other rank becomes a worker named by its rank.
 *
 *   import { initialize } from 'tessera-compute/mpi';
 *   await initialize();                  // only rank 1 gets past this line
 *   const { Client } = await import('tessera-compute');
 *   const client = await Client.connect();
 *   ...
 *   await client.close();                // the script ends: every rank exits
 *
 * How the client's end reaches the other ranks (exit: true):
 * - the script ends normally (Node's event loop drains, 'beforeExit'): the
 *   cluster is shut down through a client, and the rank exits with the
 *   script's exit code;
 * - an uncaught exception or unhandled rejection: printed, the cluster is
 *   shut down, and the rank exits with status 1, which makes mpirun/srun
 *   exit non-zero;
 * - process.exit() called by the script: there is no time for network
 *   traffic, so an MPI message tells the scheduler's rank to shut down;
 * - the process is killed: the scheduler's rank sees its lifeline close and
 *   shuts the cluster down (lifeline.ts).
 */
import { Socket } from 'node:net';
import { inspect } from 'node:util';
import { MpiError, WorldTooSmallError } from '../../errors.js';
import { fatalErrorReported, setExitPolicy } from '../../mpi/runtime.js';
import { jobIdFromEnvironment } from '../../mpi/env.js';
import { assignRoles, type RoleAssignment } from './roles.js';
import { RANK_TAGS, RankCluster, dashboardLine, infoWanted, rankName, type Outcome } from './cluster.js';
import { startRank } from './start-rank.js';
import { trace } from './trace.js';
import { describeError, explainWorldTooSmall, leaveQuietly, rankBeforeMpi, resolveCommon, sharedError, type ClusterOptions, type ResolvedCommon } from './options.js';
import { joinJob, type Membership } from './membership.js';

export interface InitializeOptions extends ClusterOptions {
  /** Also write the scheduler's address and token here (JSON, mode 0600), for clients outside the job (a notebook on the login node). */
  schedulerFile?: string;
  /** Scheduler port (default 0: any free port). */
  schedulerPort?: number;
  /**
   * true (default): ranks other than the client's exit the process when the
   * cluster shuts down, and the client's end shuts the cluster down.
   * false: they resolve `false` instead, and the client must call
   * sendCloseSignal() (for clusters inside a larger MPI program).
   */
  exit?: boolean;
  /**
   * Worker ranks this job must have (default 1): with fewer ranks than
   * scheduler + client + minWorkers, initialize() fails at once with
   * WorldTooSmallError instead of waiting forever for a worker. 0 when
   * workers join from elsewhere, e.g. through schedulerFile and
   * `tessera-compute mpi --no-scheduler --scheduler-file FILE`.
   */
  minWorkers?: number;
}

const WHO = 'tessera-compute/mpi';
/** The cluster this process takes part in, while it runs. */
let active: RankCluster | null = null;
let starting = false;

/** Sets the variables Client.connect() reads when called without arguments. */
export function exportContact(cluster: RankCluster): void {
  process.env.TESSERA_SCHEDULER_ADDRESS = cluster.contact.address;
  process.env.TESSERA_TOKEN = cluster.contact.token;
}

/** Prints the dashboard line (client's rank). */
export function announceDashboard(cluster: RankCluster): void {
  const line = dashboardLine(cluster.contact, WHO);
  if (line && infoWanted()) process.stderr.write(`${line}\n`);
}

export function warnIfNoWorkers(assignment: RoleAssignment, rank: number, who: string): void {
  if (assignment.workerRanks.length === 0 && rank === (assignment.clientRank ?? assignment.schedulerRank ?? 0)) {
    process.stderr.write(
      `${who}: this job of ${assignment.size} rank${assignment.size === 1 ? '' : 's'} has no rank left for a worker; tasks will wait until ` +
        `workers join (launch more ranks, or add workers with: tessera-compute mpi --no-scheduler --scheduler-file FILE)\n`,
    );
  }
}

export function lostMessage(cluster: RankCluster, outcome: Outcome): string {
  if (outcome.kind === 'scheduler-lost') {
    const why = outcome.reason === 'unreachable'
      ? 'is unreachable (its node stopped answering on the network: a cut link or a failed node)'
      : 'is gone (its process ended without shutting the cluster down)';
    return `${WHO}: the scheduler on ${rankName(cluster.contact.peers, outcome.rank)} ${why}; rank ${cluster.rank} stops`;
  }
  if (outcome.kind === 'client-lost') {
    return `${WHO}: the client on ${rankName(cluster.contact.peers, outcome.rank)} is gone; the cluster was shut down`;
  }
  return '';
}

/**
 * Shuts the cluster down from the client's side: through a client
 * connection, unless the scheduler has already ended (the script called
 * client.shutdown()). Never takes longer than `timeoutMs`.
 */
export async function shutdownCluster(cluster: RankCluster, timeoutMs = 5_000): Promise<boolean> {
  const schedulerRank = cluster.assignment.schedulerRank;
  if (cluster.schedulerEnded || (schedulerRank !== null && cluster.lostRanks.has(schedulerRank))) return false;
  const { address, token } = cluster.contact;
  let acknowledged = false;
  const viaClient = (async () => {
    const { Client } = await import('../../client/client.js');
    const client = await Client.connect({ address, token }, { timeoutMs: 2_000, setAsCurrent: false });
    await client.shutdown();
    acknowledged = true;
  })().catch(() => {
    // refused or closed during the handshake: the scheduler is already closing
  });
  let timer: NodeJS.Timeout | undefined;
  const waits: Promise<unknown>[] = [viaClient, new Promise((r) => (timer = setTimeout(r, timeoutMs)))];
  const lifelineClosed = cluster.lifelineClosed?.then(() => {
    acknowledged = true;
  });
  if (lifelineClosed) waits.push(lifelineClosed);
  await Promise.race(waits);
  clearTimeout(timer);
  return acknowledged;
}

function exitCodeNow(): number {
  const c = process.exitCode;
  const n = typeof c === 'number' ? c : Number(c ?? 0);
  return Number.isInteger(n) ? n : 1;
}

/**
 * Closes this process's TCP connections at once (process 'exit'). The exit
 * hook then waits in MPI_Finalize for the other ranks, with the process and
 * its sockets still alive; the scheduler, shutting down, would wait for the
 * client's connection to close until its own timeout.
 */
function closeConnectionsNow(): void {
  const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? [];
  for (const h of handles) {
    if (h instanceof Socket && h !== process.stdout && h !== process.stderr && h.remoteAddress !== undefined) h.destroy();
  }
}

/** exit: true on the client's rank: the end of the script ends the cluster and the process. */
function installClientEnd(cluster: RankCluster): void {
  let ending = false;
  const schedulerRank = cluster.assignment.schedulerRank;
  const finish = async (code: number, error?: { error: unknown }): Promise<void> => {
    if (ending) return;
    ending = true;
    trace(cluster.rank, 'client-ended');
    if (error) {
      // As Node would print it; the MPI exit hook must not print it a second time.
      process.stderr.write(`${inspect(error.error)}\n\n`);
      fatalErrorReported();
      process.stderr.write(`${WHO}: the client script on rank ${cluster.rank} failed; shutting the cluster down\n`);
    }
    const shutDown = await shutdownCluster(cluster);
    await cluster.end();
    trace(cluster.rank, 'exit');
    // Every other rank is leaving through MPI_Finalize: finalize too and exit with the status, rather than
    // MPI_Abort while they finalize, which OpenMPI can turn into a launcher that never exits. Only when the
    // shutdown was acknowledged; otherwise ranks may be stuck, and abort is what ends them.
    if (shutDown && code !== 0) setExitPolicy('finalize');
    process.exit(code);
  };
  process.on('beforeExit', () => void finish(exitCodeNow()));
  // The script may be busy with something other than the cluster: do not let it run on without one.
  void cluster.schedulerLost.then((rank) => {
    if (ending) return;
    process.stderr.write(`${lostMessage(cluster, { kind: 'scheduler-lost', rank, reason: cluster.schedulerLostReason })}\n`);
    void finish(1);
  });
  process.on('uncaughtException', (error) => void finish(1, { error }));
  // Before the MPI hook's own 'exit' listener (which finalizes): process.exit() from the script.
  process.prependListener('exit', () => {
    if (ending || !cluster.comm || schedulerRank === null || schedulerRank === cluster.rank) return;
    if (cluster.schedulerEnded || cluster.lostRanks.has(schedulerRank)) return;
    try {
      // A small message goes out eagerly: MPI_Send returns at once.
      cluster.comm.send({ exiting: true }, schedulerRank, RANK_TAGS.clientExit);
    } catch {
      // MPI is unusable; the lifeline tells the scheduler's rank instead
    }
    closeConnectionsNow();
  });
}

/**
 * initialize() always keeps workers off the scheduler's and client's ranks,
 * so the way out it offers is more ranks, or workers from elsewhere.
 */
function forInitialize(err: unknown): unknown {
  if (!(err instanceof WorldTooSmallError) || err.required <= 2) return err;
  const e = new WorldTooSmallError(err.required, err.actual,
    `${err.message}; or, when workers join from elsewhere (schedulerFile and tessera-compute mpi --no-scheduler), pass minWorkers: 0`);
  e.stack = `${e.name}: ${e.message}\n${(err.stack ?? '').split('\n').slice(1).join('\n')}`;
  return e;
}

/**
 * Turns the ranks of an MPI job into a Tessera cluster (dask-mpi's
 * initialize): rank 0 runs the scheduler, rank 1 resolves `true` and goes on
 * as the client, ranks 2 and up run workers named '2', '3', ...
 *
 * MPI is initialised first, before this process opens a socket or starts a
 * thread. With `exit: true` (default) the other ranks never resolve: they
 * exit the process when the cluster shuts down, which the client's end
 * triggers. With `exit: false` they resolve `false` after the shutdown and
 * the client calls sendCloseSignal().
 *
 * Rejects with WorldTooSmallError (code ERR_TESSERA_WORLD_TOO_SMALL) in a
 * world of 1 rank, and with the cause when the cluster cannot start (the
 * rank that hit it prints it; a non-zero exit ends the whole job).
 */
export async function initialize(opts: InitializeOptions = {}): Promise<boolean> {
  // MPI before any socket or thread (dask-mpi PR#100).
  const exit = opts.exit ?? true;
  let member: Membership;
  try {
    member = joinJob({ comm: opts.comm, schedulerFile: opts.schedulerFile, who: WHO });
  } catch (err) {
    if (!exit || rankBeforeMpi() === 0) throw err;
    return leaveQuietly();
  }
  let common: ResolvedCommon;
  let assignment: RoleAssignment;
  try {
    if (starting || active) throw new MpiError('initialize() was called while this process already runs a cluster; call it once');
    common = resolveCommon(opts);
    assignment = assignRoles(member.size, {
      clientRank: 1, schedulerRank: 0, exclusiveWorkers: true, minWorkers: opts.minWorkers ?? 1,
      // initialize() has no exclusiveWorkers option, so sharing ranks is no way out it can offer.
      offerSharedRanks: false,
    });
  } catch (err) {
    if (!exit || member.rank === 0) throw explainWorldTooSmall(forInitialize(err), member.size);
    return leaveQuietly();
  }
  const roles = assignment.roles(member.rank);
  warnIfNoWorkers(assignment, member.rank, WHO);

  starting = true;
  let cluster: RankCluster;
  try {
    const jobId = jobIdFromEnvironment();
    cluster = await startRank({
      member,
      assignment,
      scheduler: {
        port: opts.schedulerPort ?? 0,
        ...(opts.schedulerFile ? { file: opts.schedulerFile } : {}),
        dashboard: common.dashboard,
        dashboardAddress: common.dashboardAddress,
        ...(common.interface ? { interface: common.interface } : {}),
        ...(jobId ? { jobId } : {}),
      },
      worker: common.worker,
      quiet: common.quiet,
      timeoutMs: common.timeoutMs,
      ...(common.unreachableAfterMs !== undefined ? { unreachableAfterMs: common.unreachableAfterMs } : {}),
      clientWaitsForWorkers: true,
      watchClientExit: exit,
      who: WHO,
    });
  } catch (err) {
    starting = false;
    if (!exit || roles.client) throw err;
    if (sharedError(err, member.rank)) return leaveQuietly();
    process.stderr.write(`${WHO}: rank ${member.rank}: ${describeError(err)}\n`);
    process.exit(1);
  }
  starting = false;
  active = cluster;
  exportContact(cluster);

  if (roles.client) {
    announceDashboard(cluster);
    if (exit) installClientEnd(cluster);
    return true;
  }

  const outcome = await cluster.serve();
  trace(cluster.rank, 'finished');
  await cluster.end();
  active = null;
  trace(cluster.rank, 'exit');
  if (outcome.kind === 'scheduler-lost') process.stderr.write(`${lostMessage(cluster, outcome)}\n`);
  if (exit) process.exit(outcome.kind === 'done' ? 0 : 1);
  if (outcome.kind !== 'done') throw new MpiError(lostMessage(cluster, outcome));
  return false;
}

/**
 * Shuts down the cluster that initialize() started (scheduler and every
 * worker), from the client's rank: with `exit: false`, call it when the
 * client is done. Resolves once the scheduler has acknowledged.
 */
export async function sendCloseSignal(): Promise<void> {
  const cluster = active;
  if (cluster) {
    await shutdownCluster(cluster, 10_000);
    await cluster.end();
    active = null;
    return;
  }
  const address = process.env.TESSERA_SCHEDULER_ADDRESS;
  if (!address) throw new MpiError('sendCloseSignal(): no cluster to close; call it on the client rank, after initialize() resolved true');
  const { Client } = await import('../../client/client.js');
  // The token: TESSERA_TOKEN, which initialize() set with the address (resolveScheduler's rule; none is an error).
  const client = await Client.connect({ address }, { setAsCurrent: false });
  await client.shutdown();
}
