/**
 * Which rank does what in an MPI-launched cluster, with dask-mpi's rules:
 *
 * - the scheduler runs on `schedulerRank` (unless `scheduler: false`, when
 *   the workers join a cluster that already runs elsewhere);
 * - the client (the user's script or function) runs on `clientRank`;
 * - with `exclusiveWorkers` (the default) every other rank runs a worker;
 *   without it every rank runs a worker, the scheduler's and client's too;
 * - a worker is named by its rank ('2'), or `${workerName}-${rank}`.
 *
 * The scheduler and the client may share a rank (dask-mpi's execute matrix
 * includes that). A world too small for the requested roles is refused with
 * a WorldTooSmallError saying how many ranks are needed and for what.
 */
import { InvalidArgumentError, WorldTooSmallError } from '../../errors.js';

export { WorldTooSmallError };

export interface RoleOptions {
  /** Rank of the client, or null when no rank runs client code (the `tessera-compute mpi` CLI). Default 1. */
  clientRank?: number | null;
  /** Rank of the scheduler. Default 0. */
  schedulerRank?: number;
  /** Run a scheduler (false: workers join an existing cluster). Default true. */
  scheduler?: boolean;
  /** Workers only on ranks without a scheduler or client. Default true. */
  exclusiveWorkers?: boolean;
  /** Worker name prefix: workers are named `${workerName}-${rank}`; without it, `${rank}`. */
  workerName?: string;
  /**
   * The fewest workers the cluster may have. Default 1: a cluster without
   * workers never runs a task, so the client would wait forever. (dask-mpi's
   * execute() accepts worker-less worlds; pass 0 for exactly its rule.)
   */
  minWorkers?: number;
  /**
   * Whether a WorldTooSmallError may suggest letting workers share ranks
   * (exclusiveWorkers: false, --inclusive-workers). Callers that offer no
   * such choice (initialize()) pass false. Default true.
   */
  offerSharedRanks?: boolean;
}

export interface RankRoles {
  rank: number;
  scheduler: boolean;
  client: boolean;
  worker: boolean;
  /** The worker's name when this rank runs one, else null. */
  workerName: string | null;
}

export interface RoleAssignment {
  size: number;
  /** Null with `scheduler: false`. */
  schedulerRank: number | null;
  /** Null when no rank runs client code. */
  clientRank: number | null;
  exclusiveWorkers: boolean;
  workerRanks: number[];
  /** The roles of one rank. */
  roles(rank: number): RankRoles;
}

function checkRank(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${name} must be a non-negative integer rank, got ${String(value)}`);
  }
  return value;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The ranks that run workers in a world of `size`. */
function workersIn(size: number, exclusive: boolean, occupied: ReadonlySet<number>): number[] {
  const out: number[] = [];
  for (let r = 0; r < size; r++) if (!exclusive || !occupied.has(r)) out.push(r);
  return out;
}

/**
 * Assigns roles to the ranks of a world of `size`. Throws WorldTooSmallError
 * (code ERR_TESSERA_WORLD_TOO_SMALL) when the world lacks a requested rank
 * or has fewer than `minWorkers` worker ranks, and InvalidArgumentError for
 * ranks that are not non-negative integers.
 */
export function assignRoles(size: number, opts: RoleOptions = {}): RoleAssignment {
  if (!Number.isInteger(size) || size < 1) throw new InvalidArgumentError(`the world size must be a positive integer, got ${String(size)}`);
  const withScheduler = opts.scheduler ?? true;
  const schedulerRank = withScheduler ? checkRank('schedulerRank', opts.schedulerRank ?? 0) : null;
  const clientRank = opts.clientRank === null ? null : checkRank('clientRank', opts.clientRank ?? 1);
  const exclusive = opts.exclusiveWorkers ?? true;
  const minWorkers = opts.minWorkers ?? 1;
  if (!Number.isInteger(minWorkers) || minWorkers < 0) throw new InvalidArgumentError(`minWorkers must be a non-negative integer, got ${String(minWorkers)}`);
  const prefix = opts.workerName;

  const occupied = new Set<number>();
  if (schedulerRank !== null) occupied.add(schedulerRank);
  if (clientRank !== null) occupied.add(clientRank);
  // The smallest world that has every named rank and enough worker ranks.
  let required = Math.max(1, ...[...occupied].map((r) => r + 1));
  while (workersIn(required, exclusive, occupied).length < minWorkers) required++;

  if (size < required) {
    const needs: string[] = [];
    if (schedulerRank !== null) needs.push(`the scheduler on rank ${schedulerRank}`);
    if (clientRank !== null) needs.push(`the client on rank ${clientRank}`);
    if (minWorkers > 0) {
      needs.push(`${plural(minWorkers, 'worker')}${exclusive && occupied.size > 0 ? ` on ${minWorkers === 1 ? 'a rank' : 'ranks'} of ${minWorkers === 1 ? 'its' : 'their'} own (exclusive workers)` : ''}`);
    }
    const what = needs.length > 1 ? `${needs.slice(0, -1).join(', ')} and ${needs[needs.length - 1]}` : needs[0] ?? 'the cluster';
    throw new WorldTooSmallError(
      required,
      size,
      `this MPI job has ${plural(size, 'rank')} but needs at least ${required}: ${what}. ` +
        `Launch it with more processes (e.g. mpirun -np ${required} or srun -n ${required})` +
        (exclusive && occupied.size > 0 && minWorkers > 0 && (opts.offerSharedRanks ?? true) ? `, or let workers share ranks with the scheduler and client (exclusiveWorkers: false, --inclusive-workers)` : ''),
    );
  }

  const workerRanks = workersIn(size, exclusive, occupied);
  return {
    size,
    schedulerRank,
    clientRank,
    exclusiveWorkers: exclusive,
    workerRanks,
    roles(rank: number): RankRoles {
      if (!Number.isInteger(rank) || rank < 0 || rank >= size) {
        throw new InvalidArgumentError(`rank must be an integer from 0 to ${size - 1}, got ${String(rank)}`);
      }
      const worker = !exclusive || !occupied.has(rank);
      return {
        rank,
        scheduler: rank === schedulerRank,
        client: rank === clientRank,
        worker,
        workerName: worker ? (prefix ? `${prefix}-${rank}` : String(rank)) : null,
      };
    },
  };
}
