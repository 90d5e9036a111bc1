/**
 * Starting one rank's part of an MPI-launched cluster: what the rank's roles
 * ask for (the scheduler, a worker), with the scheduler's contact handed to
 * every rank over MPI (bootstrap.ts), or found through the scheduler file
 * without MPI (find-scheduler.ts).
 *
 * Start-up is arranged for speed, since every rank of a big job waits for
 * the slowest step:
 * - the scheduler starts while the other ranks check in (bootstrap.ts);
 * - the worker modules load while a rank waits for the scheduler's contact;
 * - the core modules (scheduler, worker, client) are imported only by the
 *   ranks that need them, after MPI is initialised.
 */
import { availableParallelism, hostname, totalmem } from 'node:os';
import { createServer } from 'node:net';
import { rm } from 'node:fs/promises';
import { TesseraError, MpiError, TimeoutError } from '../../errors.js';
import { ANY_SOURCE, type Communicator } from '../../mpi/index.js';
import { createLogger, type Logger } from '../../logging.js';
import { bootstrap, type PeerInfo } from './bootstrap.js';
import type { RankRoles } from './roles.js';
import { keepaliveIdleFor, LifelineClient, LifelineServer, LIFELINE_KEEPALIVE_MS } from './lifeline.js';
import type { SchedulerServer } from '../../scheduler/server.js';
import type { WorkerOptions } from '../../worker/options.js';
import { DEFAULT_DASHBOARD_ADDRESS, RANK_TAGS, RankCluster, type Contact, type RankConfig, type SchedulerConfig, type WorkerConfig, type WorkerHandle } from './cluster.js';
import { resolveExternal, waitForFreshSchedulerFile } from './find-scheduler.js';
import { trace } from './trace.js';
import { tuneSchedulerProcess } from '../scheduler-process.js';

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '0.0.0.0', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/**
 * The default dashboard port may be taken (another cluster on the node, a
 * second job of the same user): like Dask, fall back to any free port
 * rather than run without a dashboard. An address the user chose is kept,
 * and the scheduler says if it cannot be had.
 */
async function dashboardAddressFor(cfg: SchedulerConfig): Promise<string> {
  if (cfg.dashboardAddress !== DEFAULT_DASHBOARD_ADDRESS) return cfg.dashboardAddress;
  return (await portFree(8787)) ? cfg.dashboardAddress : ':0';
}

function hostOf(address: string): string {
  const m = /^tcp:\/\/(?:\[([^\]]+)\]|([^:/]+)):\d+$/.exec(address);
  return m?.[1] ?? m?.[2] ?? '127.0.0.1';
}

async function startScheduler(cfg: RankConfig, log: Logger): Promise<{ server: SchedulerServer; lifeline: LifelineServer | null }> {
  const s = cfg.scheduler;
  tuneSchedulerProcess(); // rank 0 runs only the scheduler
  if (s.file) await rm(s.file, { force: true });
  const [{ SchedulerServer }, dashboardAddress] = await Promise.all([import('../../scheduler/server.js'), dashboardAddressFor(s)]);
  const server = await SchedulerServer.start({
    // Reachable from every node: all interfaces unless one is named.
    ...(s.interface ? { interface: s.interface } : { host: '0.0.0.0' }),
    port: s.port,
    dashboard: s.dashboard,
    dashboardAddress,
    quiet: cfg.quiet,
    ...(s.file ? { schedulerFile: s.file } : {}),
    ...(s.jobId ? { jobId: s.jobId } : {}),
  });
  let lifeline: LifelineServer | null = null;
  try {
    lifeline = await LifelineServer.start(s.interface ? hostOf(server.address) : '0.0.0.0', server.token, keepaliveOf(cfg));
  } catch (err) {
    log.warn(`${cfg.who}: lifelines unavailable (${(err as Error).message}); a rank that dies may go unnoticed until the launcher ends the job`);
  }
  return { server, lifeline };
}

function keepaliveOf(cfg: RankConfig): number {
  return cfg.unreachableAfterMs === undefined ? LIFELINE_KEEPALIVE_MS : keepaliveIdleFor(cfg.unreachableAfterMs);
}

function memoryLimitFor(cfg: WorkerConfig, contact: Contact): number | string {
  if (cfg.memoryLimit !== 'auto') return cfg.memoryLimit;
  return Math.floor(totalmem() / Math.max(1, contact.workersPerHost[hostname()] ?? 1));
}

async function startWorker(cfg: RankConfig, roles: RankRoles, contact: Contact, log: Logger): Promise<WorkerHandle> {
  const w = cfg.worker;
  const options: WorkerOptions = {
    nthreads: w.nthreads,
    memoryLimit: memoryLimitFor(w, contact),
    name: roles.workerName!,
    quiet: cfg.quiet,
    ...(w.localDirectory ? { localDirectory: w.localDirectory } : {}),
    ...(w.interface ? { interface: w.interface } : {}),
    ...w.options,
    schedulerAddress: contact.address,
    token: contact.token,
  };
  if (w.nanny) {
    const { Nanny } = await import('../../nanny/nanny.js');
    return Nanny.start(options, log);
  }
  const { WorkerServer } = await import('../../worker/server.js');
  return WorkerServer.start(options);
}

/**
 * Starts this rank's part of the cluster; every rank of the job must call
 * it with the same assignment. Resolves once the rank's services run (and,
 * on the client's rank, once every worker rank's worker has registered).
 */
export async function startRank(cfg: RankConfig): Promise<RankCluster> {
  const { member, assignment } = cfg;
  const { comm, rank } = member;
  const log = createLogger('mpi', cfg.quiet ? 'warn' : undefined);
  const roles = assignment.roles(rank);
  const root = assignment.schedulerRank ?? assignment.clientRank ?? 0;
  trace(rank, 'mpi-ready');

  // Overlap the slow parts with the check-in: the scheduler starts now, the worker code loads now.
  let schedulerStart: Promise<{ server: SchedulerServer; lifeline: LifelineServer | null }> | null = null;
  if (roles.scheduler) {
    schedulerStart = startScheduler(cfg, log);
    schedulerStart.catch(() => {});
  }
  if (roles.worker) import(cfg.worker.nanny ? '../../nanny/nanny.js' : '../../worker/server.js').catch(() => {});
  // The client's script imports 'tessera-compute' next; load it while this rank waits for the others, when
  // there is a core to spare. On an oversubscribed node the load would only take CPU from the ranks
  // that are starting the scheduler and the workers, which is what the client is waiting for.
  if (roles.client && !nodeOversubscribed()) import('../../index.js').catch(() => {});

  const contactFrom = async (peers: PeerInfo[] | null): Promise<Contact> => {
    const workersPerHost: Record<string, number> = {};
    if (peers) {
      for (const r of assignment.workerRanks) {
        const host = peers.find((p) => p.rank === r)?.host ?? hostname();
        workersPerHost[host] = (workersPerHost[host] ?? 0) + 1;
      }
    } else {
      workersPerHost[hostname()] = localRanks();
    }
    const peerList = (peers ?? []).map((p) => ({ rank: p.rank, host: p.host, pid: p.pid }));
    if (schedulerStart) {
      const { server, lifeline } = await schedulerStart;
      trace(rank, 'scheduler-started');
      return {
        address: server.address,
        token: server.token,
        id: server.id,
        dashboardPort: server.dashboardPort ?? null,
        dashboardHost: server.dashboardHost ?? null,
        lifeline: lifeline && comm ? { host: hostOf(server.address), port: lifeline.port } : null,
        workersPerHost,
        peers: peerList,
      };
    }
    const ext = cfg.external
      ? await resolveExternal(cfg.external, cfg.scheduler.jobId)
      : await waitForFreshSchedulerFile(cfg.scheduler.file!, cfg.scheduler.jobId, cfg.timeoutMs, rank, assignment.schedulerRank!);
    return {
      address: ext.address,
      token: ext.token,
      id: ext.id,
      dashboardPort: ext.dashboardPort,
      dashboardHost: ext.dashboardPort !== null ? hostOf(ext.address) : null,
      lifeline: null,
      workersPerHost,
      peers: peerList,
    };
  };

  let contact: Contact;
  try {
    if (comm) {
      ({ value: contact } = await bootstrap<Contact>(comm, rank === root ? contactFrom : null, { root, timeoutMs: cfg.timeoutMs }));
    } else {
      // No MPI: every rank finds the scheduler on its own, through the scheduler file.
      contact = await contactFrom(null);
    }
  } catch (err) {
    // The scheduler may have started after all (a check-in timed out): do not leave it running.
    if (schedulerStart) void schedulerStart.then(({ server, lifeline }) => Promise.all([server.close('start-up failed'), lifeline?.bye()])).catch(() => {});
    throw err;
  }
  trace(rank, 'bootstrapped');

  let scheduler: SchedulerServer | null = null;
  let lifelineServer: LifelineServer | null = null;
  if (schedulerStart) ({ server: scheduler, lifeline: lifelineServer } = await schedulerStart);

  const lifelineStart =
    !roles.scheduler && contact.lifeline
      ? LifelineClient.connect(contact.lifeline.host, contact.lifeline.port, rank, contact.token, 10_000, keepaliveOf(cfg)).catch((err: Error) => {
          log.warn(`${cfg.who}: rank ${rank} has no lifeline to the scheduler's rank (${err.message})`);
          return null;
        })
      : Promise.resolve(null);

  const cluster = new RankCluster(cfg, contact, scheduler, lifelineServer, log);
  let worker: WorkerHandle | null = null;
  if (roles.worker) {
    try {
      worker = cluster.worker = await startWorker(cfg, roles, contact, log);
    } catch (err) {
      const e = err as Error & { code?: string };
      throw new TesseraError(
        (e.code?.startsWith('ERR_TESSERA_') ? e.code : 'ERR_TESSERA_MPI') as TesseraError['code'],
        `rank ${rank} could not start its worker '${roles.workerName}': ${e.message}`,
        { cause: err },
      );
    }
  }
  if (worker) trace(rank, 'worker-registered');
  const lifeline = await lifelineStart;
  if (lifeline) cluster.attachLifeline(lifeline);

  const client = assignment.clientRank;
  if (cfg.clientWaitsForWorkers && client !== null) {
    if (comm && worker && client !== rank) {
      await comm.sendAsync({ name: worker.name, address: worker.address }, client, RANK_TAGS.workerReady, { timeoutMs: cfg.timeoutMs });
    }
    if (roles.client) await (comm ? waitForWorkerRanks(cluster, comm, cfg.timeoutMs) : waitForWorkersThroughScheduler(cluster, cfg.timeoutMs));
  }
  trace(rank, 'ready');
  return cluster;
}

/** More ranks on this node than cores. */
function nodeOversubscribed(): boolean {
  return localRanks() > availableParallelism();
}

/** Ranks on this node, from the launcher (memoryLimit 'auto' without MPI), or 1. */
function localRanks(): number {
  for (const name of ['OMPI_COMM_WORLD_LOCAL_SIZE', 'MPI_LOCALNRANKS', 'SLURM_STEP_TASKS_PER_NODE', 'SLURM_NTASKS_PER_NODE']) {
    const n = parseInt(process.env[name] ?? '', 10);
    if (Number.isInteger(n) && n > 0) return n;
  }
  return 1;
}

/** On the client's rank: every worker rank has reported its worker registered. */
async function waitForWorkerRanks(cluster: RankCluster, comm: Communicator, timeoutMs: number): Promise<void> {
  const expected = new Set(cluster.assignment.workerRanks.filter((r) => r !== cluster.rank));
  const deadline = Date.now() + timeoutMs;
  while (expected.size > 0) {
    try {
      const m = await comm.recvAsync(ANY_SOURCE, RANK_TAGS.workerReady, { timeoutMs: Math.max(0, deadline - Date.now()) });
      expected.delete(m.source);
    } catch (err) {
      if (!(err instanceof TimeoutError)) throw err;
      const missing = [...expected].sort((a, b) => a - b);
      throw new MpiError(
        `the worker${missing.length > 1 ? 's' : ''} on rank${missing.length > 1 ? 's' : ''} ${missing.join(', ')} did not register with the ` +
          `scheduler at ${cluster.contact.address} within ${timeoutMs / 1000} s; look at those ranks' output, and check that ` +
          `their nodes can reach that address (choose the network with the interface option, e.g. ib0)`,
      );
    }
  }
}

/** Without MPI: the client's rank asks the scheduler until the job's workers are there. */
async function waitForWorkersThroughScheduler(cluster: RankCluster, timeoutMs: number): Promise<void> {
  const n = cluster.assignment.workerRanks.length;
  if (n === 0) return;
  const { Client } = await import('../../client/client.js');
  const client = await Client.connect({ address: cluster.contact.address, token: cluster.contact.token }, { setAsCurrent: false, timeoutMs });
  try {
    await client.waitForWorkers(n, { timeoutMs });
  } finally {
    await client.close();
  }
}
