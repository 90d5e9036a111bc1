/**
 * execute(): dask-mpi's other entry point. Every rank calls it; the client
 * function runs on `clientRank` with the cluster ready (Client.connect()
 * without arguments finds it), the scheduler on `schedulerRank`, workers on
 * the other ranks (or on every rank, exclusiveWorkers: false). When the
 * function returns or throws, the cluster shuts down and execute() resolves
 * on every rank: with the function's result on the client's rank,
 * undefined elsewhere. A throw is re-thrown on the client's rank.
 *
 * With `scheduler: false` the ranks join a cluster that already runs
 * (schedulerAddress, or schedulerFile): only the workers of this job stop
 * at the end, the cluster stays up.
 */
import { InvalidArgumentError, MpiError } from '../../errors.js';
import { joinJob } from './membership.js';
import { jobIdFromEnvironment } from '../../mpi/env.js';
import { assignRoles, type RoleAssignment } from './roles.js';
import { RANK_TAGS, type RankCluster } from './cluster.js';
import { startRank } from './start-rank.js';
import { announceDashboard, exportContact, lostMessage, shutdownCluster, warnIfNoWorkers } from './initialize.js';
import { explainWorldTooSmall, resolveCommon, type ClusterOptions } from './options.js';

export interface ExecuteOptions<A extends unknown[] = unknown[]> extends ClusterOptions {
  /** Arguments of the client function. */
  clientArgs?: A;
  /** Rank that runs the client function (default 1). */
  clientRank?: number;
  /** Rank that runs the scheduler (default 0). */
  schedulerRank?: number;
  /** Workers only on ranks without the scheduler or the client (default true); false runs one on every rank. */
  exclusiveWorkers?: boolean;
  /** Run a scheduler (default true); false joins the cluster at schedulerAddress or in schedulerFile. */
  scheduler?: boolean;
  /** Address of a running scheduler, with scheduler: false. */
  schedulerAddress?: string;
  /** Auth token of that scheduler (default: the scheduler file's, else TESSERA_TOKEN; see src/comm/resolve-scheduler.ts). */
  token?: string;
  /** Scheduler port (default 0: any free port). */
  schedulerPort?: number;
  /** The scheduler writes its address and token here (JSON, mode 0600); with scheduler: false, it is read from here. */
  schedulerFile?: string;
  /** Worker name prefix: workers are named `${workerName}-${rank}` (default: the rank alone). */
  workerName?: string;
}

const WHO = 'tessera-compute/mpi';

/**
 * The client is done: shut the cluster down, or (external scheduler) retire
 * this job's workers, which hands the results only they hold to the
 * cluster's other workers; the cluster itself stays up.
 */
async function endFromClient(cluster: RankCluster, withScheduler: boolean): Promise<void> {
  if (withScheduler) {
    await shutdownCluster(cluster, 10_000);
    return;
  }
  const { assignment } = cluster;
  const names = assignment.workerRanks.map((r) => assignment.roles(r).workerName!);
  if (names.length === 0) return;
  try {
    const { Client } = await import('../../client/client.js');
    const client = await Client.connect({ address: cluster.contact.address, token: cluster.contact.token }, { setAsCurrent: false, timeoutMs: 5_000 });
    try {
      await client.retireWorkers(names, { timeoutMs: 60_000 });
      return;
    } finally {
      await client.close();
    }
  } catch (err) {
    cluster.log.warn(`${WHO}: could not retire this job's workers (${(err as Error).message}); stopping them`);
  }
  const others = assignment.workerRanks.filter((r) => r !== cluster.rank);
  const comm = cluster.comm;
  if (comm) await Promise.all(others.map((r) => comm.sendAsync({ stop: true }, r, RANK_TAGS.stopWorker, { timeoutMs: 30_000 })));
  await cluster.worker?.close();
}

/**
 * Runs `clientFn(...clientArgs)` on the client's rank of a cluster made of
 * this MPI job's ranks; see the module comment. Every rank must call it.
 * Throws WorldTooSmallError (code ERR_TESSERA_WORLD_TOO_SMALL) when the
 * world is smaller than 1 + max(clientRank, schedulerRank, exclusiveWorkers ? 1 : 0).
 * A null clientFn runs the cluster until a client elsewhere shuts it down.
 */
export async function execute<A extends unknown[], R>(
  clientFn: ((...args: A) => R | Promise<R>) | null,
  opts: ExecuteOptions<A> = {},
): Promise<Awaited<R> | undefined> {
  // MPI before any socket or thread (dask-mpi PR#100).
  const member = joinJob({ comm: opts.comm, schedulerFile: opts.schedulerFile, who: WHO });
  const common = resolveCommon(opts);
  const withScheduler = opts.scheduler ?? true;
  if (!withScheduler && !opts.schedulerAddress && !opts.schedulerFile) {
    throw new InvalidArgumentError('execute({ scheduler: false }) joins a running cluster: give its schedulerAddress or schedulerFile');
  }
  if (withScheduler && opts.schedulerAddress) {
    throw new InvalidArgumentError(`schedulerAddress (${opts.schedulerAddress}) is for joining a running cluster: pass scheduler: false too, or leave it out to start a scheduler`);
  }
  if (clientFn !== null && typeof clientFn !== 'function') throw new InvalidArgumentError('execute(clientFn): clientFn must be a function (or null)');
  const clientRank = clientFn ? opts.clientRank ?? 1 : null;
  const schedulerRank = opts.schedulerRank ?? 0;
  const exclusive = opts.exclusiveWorkers ?? true;
  // dask-mpi's rule, 1 + max(clientRank, schedulerRank, exclusiveWorkers): a world with nothing but
  // rank 0 cannot have exclusive workers, while larger worlds may be all scheduler and client.
  const busiest = Math.max(clientRank ?? 0, withScheduler ? schedulerRank : 0);
  let assignment: RoleAssignment;
  try {
    assignment = assignRoles(member.size, {
    clientRank,
    schedulerRank,
    scheduler: withScheduler,
    exclusiveWorkers: exclusive,
    minWorkers: exclusive && busiest === 0 ? 1 : 0,
    ...(opts.workerName ? { workerName: opts.workerName } : {}),
    });
  } catch (err) {
    throw explainWorldTooSmall(err, member.size);
  }
  warnIfNoWorkers(assignment, member.rank, WHO);

  const jobId = jobIdFromEnvironment();
  const cluster = await startRank({
    member,
    assignment,
    scheduler: {
      port: opts.schedulerPort ?? 0,
      dashboard: common.dashboard,
      dashboardAddress: common.dashboardAddress,
      ...(opts.schedulerFile ? { file: opts.schedulerFile } : {}),
      ...(common.interface ? { interface: common.interface } : {}),
      ...(jobId ? { jobId } : {}),
    },
    ...(withScheduler
      ? {}
      : {
          external: {
            ...(opts.schedulerAddress ? { address: opts.schedulerAddress } : {}),
            ...(opts.schedulerFile ? { file: opts.schedulerFile } : {}),
            ...(opts.token ? { token: opts.token } : {}),
          },
        }),
    worker: common.worker,
    quiet: common.quiet,
    timeoutMs: common.timeoutMs,
    ...(common.unreachableAfterMs !== undefined ? { unreachableAfterMs: common.unreachableAfterMs } : {}),
    clientWaitsForWorkers: true,
    watchClientExit: false,
    who: WHO,
  });
  exportContact(cluster);

  if (cluster.roles.client) {
    announceDashboard(cluster);
    let result: Awaited<R> | undefined;
    let failure: { error: unknown } | null = null;
    try {
      result = await clientFn!(...((opts.clientArgs ?? []) as A));
    } catch (error) {
      failure = { error };
    }
    await endFromClient(cluster, withScheduler);
    // A scheduler or worker on this very rank finishes because of that shutdown.
    await cluster.serve();
    await cluster.end();
    if (failure) throw failure.error;
    return result;
  }

  const outcome = await cluster.serve({ stopMessages: !withScheduler });
  await cluster.end();
  if (outcome.kind !== 'done') throw new MpiError(lostMessage(cluster, outcome));
  return undefined;
}
