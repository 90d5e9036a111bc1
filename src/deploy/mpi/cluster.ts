/**
 * One rank's part of an MPI-launched cluster, shared by initialize(),
 * execute() and `tessera-compute mpi`: the RankCluster, which holds what the
 * rank runs (the scheduler, a worker) and watches the other ranks through
 * lifelines (lifeline.ts). start-rank.ts starts it.
 *
 * Stale scheduler files (dask-mpi #45): the scheduler's rank deletes the
 * file before anything else and the scheduler writes it anew, atomically;
 * the ranks of this job never read it (they get the contact over MPI), so
 * no rank can pick up an address from an earlier run.
 */
import { rm, readFile } from 'node:fs/promises';
import type { Communicator } from '../../mpi/index.js';
import type { Membership } from './membership.js';
import { markPeerLost } from '../../mpi/runtime.js';
import type { Logger } from '../../logging.js';
import type { ClusterContact } from './bootstrap.js';
import type { RankRoles, RoleAssignment } from './roles.js';
import type { LifelineClient, LifelineServer, LostReason } from './lifeline.js';
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

/** The workers' options, checked and with their defaults (resolveCommon, the mpi command). */
export interface WorkerConfig extends Required<Pick<WorkerOptions, 'nthreads' | 'memoryLimit'>>, Pick<WorkerOptions, 'localDirectory' | 'interface'> {
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


export function rankName(peers: Contact['peers'], rank: number): string {
  const p = peers.find((x) => x.rank === rank);
  return p ? `rank ${rank} (pid ${p.pid} on ${p.host})` : `rank ${rank}`;
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

  private lifelineServer: LifelineServer | null;
  private lifeline: LifelineClient | null = null;
  private resolveSchedulerLost!: (rank: number) => void;
  private resolveClientLost!: (rank: number) => void;
  private ended = false;
  private readonly cfg: RankConfig;

  /** @internal */
  constructor(cfg: RankConfig, contact: Contact, scheduler: SchedulerServer | null, lifelineServer: LifelineServer | null, log: Logger) {
    this.cfg = cfg;
    this.comm = cfg.member.comm;
    this.rank = cfg.member.rank;
    this.size = cfg.member.size;
    this.assignment = cfg.assignment;
    this.roles = cfg.assignment.roles(this.rank);
    this.contact = contact;
    this.scheduler = scheduler;
    this.log = log;
    this.lifelineServer = lifelineServer;
    this.schedulerLost = new Promise((r) => (this.resolveSchedulerLost = r));
    this.clientLost = new Promise((r) => (this.resolveClientLost = r));
    if (lifelineServer) lifelineServer.onLost = (rank, reason) => this.onRankLost(rank, reason);
  }

  /** @internal */
  attachLifeline(lifeline: LifelineClient): void {
    this.lifeline = lifeline;
    const schedulerRank = this.assignment.schedulerRank!;
    lifeline.onLost = (reason) => {
      this.schedulerLostReason = reason;
      this.peerLost(schedulerRank);
      this.resolveSchedulerLost(schedulerRank);
    };
    lifeline.onPeerLost = (rank) => this.peerLost(rank);
  }

  private peerLost(rank: number): void {
    if (this.lostRanks.has(rank)) return;
    this.lostRanks.add(rank);
    markPeerLost();
  }

  /** Why the scheduler's rank was lost: its process ended, or its node stopped answering. */
  schedulerLostReason: LostReason = 'closed';

  /** On the scheduler's rank: a rank's lifeline closed without a goodbye, or its node stopped answering. */
  private onRankLost(rank: number, reason: LostReason = 'closed'): void {
    if (this.ended) return;
    // A client that sent its exit message waits in MPI_Finalize, so its lifeline closes only after ours.
    if (rank === this.assignment.clientRank && this.clientExited) return;
    this.peerLost(rank);
    this.lifelineServer?.announceLost(rank);
    const who = rankName(this.contact.peers, rank);
    const how = reason === 'unreachable' ? 'became unreachable (its node stopped answering on the network)' : 'died';
    if (rank === this.assignment.clientRank) {
      this.log.error(`${this.cfg.who}: the client on ${who} ${how} without shutting the cluster down; shutting it down now`);
      this.resolveClientLost(rank);
    } else {
      const name = this.assignment.roles(rank).workerName;
      this.log.warn(`${this.cfg.who}: ${who} ${how}${name ? ` with its worker '${name}'` : ''}; the cluster carries on without it`);
    }
  }

  /** The scheduler's rank has said goodbye (its cluster ended normally). */
  get schedulerEnded(): boolean {
    return this.lifeline?.schedulerEnded ?? false;
  }

  /** The lifeline to the scheduler's rank closed (for any reason). */
  get lifelineClosed(): Promise<void> | null {
    return this.lifeline?.closed ?? null;
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
      if (this.comm && this.cfg.watchClientExit && client !== null && client !== this.rank) {
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
    if (this.ended) return;
    this.ended = true;
    const file = this.cfg.scheduler.file;
    if (this.scheduler && file) {
      try {
        const info = JSON.parse(await readFile(file, 'utf8')) as { id?: string };
        if (info.id === this.scheduler.id) await rm(file, { force: true });
      } catch {
        // gone or replaced by another cluster: leave it
      }
    }
    await Promise.all([this.lifelineServer?.bye(), this.lifeline?.bye()]);
  }

  /** Stops the services on this rank (without a client). */
  async close(): Promise<void> {
    await this.scheduler?.close('closed');
    await this.worker?.close();
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
