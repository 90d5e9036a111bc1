/**
 * One rank's part of an MPI-launched cluster, shared by initialize(),
 * execute() and `tessera-compute mpi`: start what the rank's roles ask for (the
 * scheduler, a worker), hand the scheduler's contact to every rank over MPI,
 * and watch the other ranks through lifelines (lifeline.ts).
 *
 * Start-up is arranged for speed, since every rank of a big job waits for
 * the slowest step:
 * - the scheduler starts while the other ranks check in (bootstrap.ts);
 * - the worker modules load while a rank waits for the scheduler's contact;
 * - the core modules (scheduler, worker, client) are imported only by the
 *   ranks that need them, after MPI is initialised.
 *
 * Stale scheduler files (dask-mpi #45): the scheduler's rank deletes the
 * file before anything else and the scheduler writes it anew, atomically;
 * the ranks of this job never read it (they get the contact over MPI), so
 * no rank can pick up an address from an earlier run.
 */
import { availableParallelism, hostname, totalmem } from 'node:os';
import { createServer } from 'node:net';
import { rm, readFile } from 'node:fs/promises';
import { TesseraError, MpiError, TimeoutError } from '../../errors.js';
import { ANY_SOURCE, type Communicator } from '../../mpi/index.js';
import type { Membership } from './membership.js';
import { markPeerLost } from '../../mpi/runtime.js';
import { createLogger, type Logger } from '../../logging.js';
import { bootstrap, type ClusterContact, type PeerInfo } from './bootstrap.js';
import type { RankRoles, RoleAssignment } from './roles.js';
import { keepaliveIdleFor, LifelineClient, LifelineServer, LIFELINE_KEEPALIVE_MS, type LostReason } from './lifeline.js';
import type { SchedulerServer } from '../../scheduler/server.js';
import type { WorkerOptions } from '../../worker/options.js';

/** Point-to-point tags used on the cluster's communicator, next to BOOTSTRAP_TAGS. */
export const RANK_TAGS = {
  /** worker rank -> client rank: "my worker is registered with the scheduler". */
  workerReady: 32762,
  /** client rank -> scheduler rank: "the client's process is exiting; shut the cluster down". */
  clientExit: 32763,
  /** client rank -> worker ranks (external scheduler): "the client is done; stop your worker". */
  stopWorker: 32764,
} as const;

export const DEFAULT_DASHBOARD_ADDRESS = ':8787';

/** What every rank learns from the bootstrap. */
export interface Contact extends ClusterContact {
  dashboardPort: number | null;
  dashboardHost: string | null;
  /** The scheduler rank's lifeline server, or null when the scheduler runs outside this job. */
  lifeline: { host: string; port: number } | null;
  /** Worker ranks per host name, to share memory with `memoryLimit: 'auto'`. */
  workersPerHost: Record<string, number>;
  /** Every rank's host and pid, for messages that name a rank. */
  peers: { rank: number; host: string; pid: number }[];
}

/** A worker on this rank: the WorkerServer itself, or its nanny. */
export interface WorkerHandle {
  readonly address: string;
  readonly name: string;
  readonly finished: Promise<void>;
  close(): Promise<void>;
}

export interface SchedulerConfig {
  port: number;
  file?: string;
  interface?: string;
  dashboard: boolean;
  dashboardAddress: string;
  jobId?: string;
}

export interface ExternalScheduler {
  address?: string;
  file?: string;
  token?: string;
}

export interface WorkerConfig {
  nthreads: number;
  memoryLimit: number | string;
  localDirectory?: string;
  interface?: string;
  nanny: boolean;
  options: Partial<WorkerOptions>;
}

export interface RankConfig {
  /** This process's place in the job, and the communicator (null: the ranks meet through the scheduler file). */
  member: Membership;
  assignment: RoleAssignment;
  /** How to run the scheduler (on assignment.schedulerRank), or how to find the one that runs elsewhere. */
  scheduler: SchedulerConfig;
  external?: ExternalScheduler;
  worker: WorkerConfig;
  /** Warnings and errors only (default for initialize/execute; `tessera-compute mpi` logs INFO too). */
  quiet: boolean;
  /** Bootstrap and worker start-up deadline (ms). */
  timeoutMs: number;
  /** The client's rank waits until every worker rank's worker has registered. */
  clientWaitsForWorkers: boolean;
  /** The scheduler's rank listens for the client rank's exit message (initialize()). */
  watchClientExit: boolean;
  /** Prefix of messages printed for the user ('tessera-compute/mpi', 'tessera-compute mpi'). */
  who: string;
  /** How long a rank's node may stay unreachable before the other ranks count it as gone (ms; default about 30 s). */
  unreachableAfterMs?: number;
}

export type Outcome =
  | { kind: 'done' }
  | { kind: 'scheduler-lost'; rank: number; reason?: LostReason }
  | { kind: 'client-lost'; rank: number };

/**
 * TESSERA_MPI_TRACE=1 prints when each start-up step of each rank ends: ms
 * since the process started, the wall clock, and the CPU time the process
 * has used (for `bench/mpi` and for slow clusters).
 */
const TRACE = process.env.TESSERA_MPI_TRACE === '1';
export function trace(rank: number, step: string): void {
  if (!TRACE) return;
  const cpu = process.cpuUsage();
  const line = { rank, step, ms: Math.round(performance.now()), at: Date.now(), cpuMs: Math.round((cpu.user + cpu.system) / 1000) };
  process.stderr.write(`TESSERA_MPI_TRACE ${JSON.stringify(line)}\n`);
}

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

function rankName(peers: Contact['peers'], rank: number): string {
  const p = peers.find((x) => x.rank === rank);
  return p ? `rank ${rank} (pid ${p.pid} on ${p.host})` : `rank ${rank}`;
}

async function resolveExternal(ext: ExternalScheduler, jobId: string | undefined): Promise<{ address: string; token: string; id: string; dashboardPort: number | null }> {
  const { connect } = await import('../../comm/connect.js');
  let address = ext.address;
  let token = ext.token ?? process.env.TESSERA_TOKEN;
  let id = 'external';
  let dashboardPort: number | null = null;
  let described = '';
  if (!address && ext.file) {
    const { readSchedulerFile } = await import('../../scheduler/scheduler-file.js');
    const info = await readSchedulerFile(ext.file);
    address = info.address;
    token ??= info.token;
    id = info.id;
    dashboardPort = info.services?.dashboard ?? null;
    const job = info.jobId ? `job ${info.jobId}${jobId && info.jobId !== jobId ? ` (this is job ${jobId})` : ''}` : 'no recorded job';
    described = `scheduler file ${ext.file} (scheduler ${info.id}, ${job}, host ${info.host}, started ${new Date(info.started).toISOString()}) points at ${address}`;
  }
  if (!address) throw new TesseraError('ERR_TESSERA_INVALID_ARGUMENT', 'joining a running cluster needs its scheduler address or scheduler file');
  if (token === undefined) {
    throw new TesseraError('ERR_TESSERA_AUTH', `no auth token for ${address}: give the cluster's scheduler file, or set TESSERA_TOKEN to its token`);
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

export class RankCluster {
  /** Null when the ranks met through the scheduler file (no MPI library). */
  readonly comm: Communicator | null;
  readonly rank: number;
  readonly size: number;
  readonly roles: RankRoles;
  readonly assignment: RoleAssignment;
  readonly contact: Contact;
  readonly scheduler: SchedulerServer | null;
  /** Set once the worker on this rank runs. */
  worker: WorkerHandle | null = null;
  readonly log: Logger;
  /** Ranks known to be gone. */
  readonly lostRanks = new Set<number>();
  /** Resolves when the scheduler's rank is found gone (lifeline closed without a goodbye). */
  readonly schedulerLost: Promise<number>;
  /** Resolves (on the scheduler's rank) when the client's rank is found gone. */
  readonly clientLost: Promise<number>;
  /** Set when the client's rank said it is exiting (initialize(), sync exit path). */
  clientExited = false;

  #lifelineServer: LifelineServer | null;
  #lifeline: LifelineClient | null = null;
  #resolveSchedulerLost!: (rank: number) => void;
  #resolveClientLost!: (rank: number) => void;
  #ended = false;
  readonly #cfg: RankConfig;

  /** @internal */
  constructor(cfg: RankConfig, contact: Contact, scheduler: SchedulerServer | null, lifelineServer: LifelineServer | null, log: Logger) {
    this.#cfg = cfg;
    this.comm = cfg.member.comm;
    this.rank = cfg.member.rank;
    this.size = cfg.member.size;
    this.assignment = cfg.assignment;
    this.roles = cfg.assignment.roles(this.rank);
    this.contact = contact;
    this.scheduler = scheduler;
    this.log = log;
    this.#lifelineServer = lifelineServer;
    this.schedulerLost = new Promise((r) => (this.#resolveSchedulerLost = r));
    this.clientLost = new Promise((r) => (this.#resolveClientLost = r));
    if (lifelineServer) lifelineServer.onLost = (rank, reason) => this.#onRankLost(rank, reason);
  }

  /** @internal */
  attachLifeline(lifeline: LifelineClient): void {
    this.#lifeline = lifeline;
    const schedulerRank = this.assignment.schedulerRank!;
    lifeline.onLost = (reason) => {
      this.schedulerLostReason = reason;
      this.#peerLost(schedulerRank);
      this.#resolveSchedulerLost(schedulerRank);
    };
    lifeline.onPeerLost = (rank) => this.#peerLost(rank);
  }

  #peerLost(rank: number): void {
    if (this.lostRanks.has(rank)) return;
    this.lostRanks.add(rank);
    markPeerLost();
  }

  /** Why the scheduler's rank was lost: its process ended, or its node stopped answering. */
  schedulerLostReason: LostReason = 'closed';

  /** On the scheduler's rank: a rank's lifeline closed without a goodbye, or its node stopped answering. */
  #onRankLost(rank: number, reason: LostReason = 'closed'): void {
    if (this.#ended) return;
    // A client that sent its exit message waits in MPI_Finalize, so its lifeline closes only after ours.
    if (rank === this.assignment.clientRank && this.clientExited) return;
    this.#peerLost(rank);
    this.#lifelineServer?.announceLost(rank);
    const who = rankName(this.contact.peers, rank);
    const how = reason === 'unreachable' ? 'became unreachable (its node stopped answering on the network)' : 'died';
    if (rank === this.assignment.clientRank) {
      this.log.error(`${this.#cfg.who}: the client on ${who} ${how} without shutting the cluster down; shutting it down now`);
      this.#resolveClientLost(rank);
    } else {
      const name = this.assignment.roles(rank).workerName;
      this.log.warn(`${this.#cfg.who}: ${who} ${how}${name ? ` with its worker '${name}'` : ''}; the cluster carries on without it`);
    }
  }

  /** The scheduler's rank has said goodbye (its cluster ended normally). */
  get schedulerEnded(): boolean {
    return this.#lifeline?.schedulerEnded ?? false;
  }

  /** The lifeline to the scheduler's rank closed (for any reason). */
  get lifelineClosed(): Promise<void> | null {
    return this.#lifeline?.closed ?? null;
  }

  /**
   * Runs until this rank's services have finished: the scheduler (closed by
   * a client's shutdown) and/or the worker (closed by the scheduler). Also
   * ends, with the reason, when the scheduler's rank or (on the scheduler's
   * rank) the client's rank dies; the scheduler is then closed so that
   * workers leave too. `stop` ends a worker early (execute() with an
   * external scheduler).
   */
  async serve(opts: { signal?: AbortSignal; stopMessages?: boolean } = {}): Promise<Outcome> {
    const services: Promise<void>[] = [];
    if (this.scheduler) services.push(this.scheduler.finished);
    if (this.worker) services.push(this.worker.finished);
    const watchers = new AbortController();
    const waits: Promise<Outcome>[] = [Promise.all(services).then(() => ({ kind: 'done' }) as const)];
    if (!this.roles.scheduler && this.assignment.schedulerRank !== null) {
      waits.push(this.schedulerLost.then((rank) => ({ kind: 'scheduler-lost', rank, reason: this.schedulerLostReason }) as const));
    }
    if (this.scheduler) {
      const scheduler = this.scheduler;
      waits.push(
        this.clientLost.then(async (rank) => {
          await scheduler.close('the client died');
          if (this.worker) await this.worker.close();
          return { kind: 'client-lost', rank } as const;
        }),
      );
      const client = this.assignment.clientRank;
      if (this.comm && this.#cfg.watchClientExit && client !== null && client !== this.rank) {
        this.comm
          .recvAsync(client, RANK_TAGS.clientExit, { signal: watchers.signal })
          .then(() => {
            this.clientExited = true;
            return scheduler.close('the client has ended');
          })
          .catch(() => {});
      }
    }
    if (this.comm && this.worker && opts.stopMessages && this.assignment.clientRank !== null && this.assignment.clientRank !== this.rank) {
      const worker = this.worker;
      this.comm
        .recvAsync(this.assignment.clientRank, RANK_TAGS.stopWorker, { signal: watchers.signal })
        .then(() => worker.close())
        .catch(() => {});
    }
    try {
      return await Promise.race(waits);
    } finally {
      // Nothing stays pending inside MPI (recvAsync polls with MPI_Iprobe), so the communicator stays usable.
      watchers.abort();
    }
  }

  /**
   * This rank is done with the cluster: says goodbye on the lifelines (so
   * nobody takes the exit for a death) and removes the scheduler file this
   * rank wrote, so that no later reader finds a dead address in it.
   */
  async end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    const file = this.#cfg.scheduler.file;
    if (this.scheduler && file) {
      try {
        const info = JSON.parse(await readFile(file, 'utf8')) as { id?: string };
        if (info.id === this.scheduler.id) await rm(file, { force: true });
      } catch {
        // gone or replaced by another cluster: leave it
      }
    }
    await Promise.all([this.#lifelineServer?.bye(), this.#lifeline?.bye()]);
  }

  /** Stops the services on this rank (without a client). */
  async close(): Promise<void> {
    await this.scheduler?.close('closed');
    await this.worker?.close();
  }
}

async function startScheduler(cfg: RankConfig, log: Logger): Promise<{ server: SchedulerServer; lifeline: LifelineServer | null }> {
  const s = cfg.scheduler;
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

/**
 * Without MPI the job's ranks read the address from the scheduler file,
 * which may still be one from an earlier run: only a file of this job (its
 * job id) whose scheduler answers the handshake counts.
 */
async function waitForFreshSchedulerFile(
  file: string,
  jobId: string | undefined,
  timeoutMs: number,
  rank: number,
  schedulerRank: number,
): Promise<{ address: string; token: string; id: string; dashboardPort: number | null }> {
  const { readSchedulerFile } = await import('../../scheduler/scheduler-file.js');
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

/**
 * The one line the client's rank prints: where the dashboard is, and the
 * SSH tunnel that reaches it from a laptop through the login node (the
 * compute nodes of a cluster are rarely reachable directly).
 */
export function dashboardLine(contact: Contact, who: string): string | null {
  if (contact.dashboardPort === null || contact.dashboardHost === null) return null;
  const port = contact.dashboardPort;
  const host = contact.dashboardHost;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/status`;
  const login = process.env.SLURM_SUBMIT_HOST || '<login-node>';
  return `${who}: dashboard at ${url} - from your computer: ssh -L ${port}:${host}:${port} ${login}, then open http://localhost:${port}/status`;
}

/** Whether INFO-level messages (the dashboard line) are wanted: TESSERA_LOG_LEVEL=warn/error/silent turns them off. */
export function infoWanted(): boolean {
  const level = process.env.TESSERA_LOG_LEVEL;
  return !level || level === 'info' || level === 'debug';
}

export { rankName };
