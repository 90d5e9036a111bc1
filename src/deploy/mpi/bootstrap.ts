/**
 * The MPI bootstrap of a cluster: every rank checks in with the scheduler's
 * rank, which then hands every rank the cluster's connection details
 * ({address, token, id}). dask-mpi does this with a bcast and a barrier,
 * both blocking, so one rank that never arrives (crashed before MPI_Init,
 * stuck on a file system, a different program) hangs the whole job with no
 * word of which rank is missing.
 *
 * Here everything is point-to-point and polled (MPI_Iprobe/MPI_Isend through
 * Communicator.recvAsync/sendAsync), so:
 * - the event loop keeps running (the scheduler can start while ranks check in);
 * - each wait has a deadline, and the root's error names the ranks that
 *   never checked in; it also tells the ranks that did, so every live rank
 *   fails with the same message instead of timing out one by one;
 * - a timeout leaves nothing pending inside MPI, so the communicator stays
 *   usable (collectives included) and the caller can abort cleanly.
 *
 * Two tags are reserved on the communicator for this: BOOTSTRAP_TAGS.
 */
import { hostname } from 'node:os';
import { BootstrapFailedError, CheckInTimeoutError, InvalidArgumentError, TimeoutError, isTesseraErrorCode } from '../../errors.js';

// Declared with every other error in errors.ts; exported here too, where they always were.
export { BootstrapFailedError, CheckInTimeoutError };
import { ANY_SOURCE, type Communicator } from '../../mpi/index.js';

/** Tags this module uses on the communicator it is given; user code must not receive on them during a bootstrap. */
export const BOOTSTRAP_TAGS = { checkIn: 32760, fromRoot: 32761 } as const;

/** What each rank reports when it checks in. */
export interface PeerInfo {
  rank: number;
  host: string;
  pid: number;
}

/** The cluster details the scheduler's rank hands to every rank. */
export interface ClusterContact {
  address: string;
  token: string;
  id: string;
  [extra: string]: unknown;
}

export interface BootstrapOptions {
  /** Rank that collects check-ins and produces the value (the scheduler's). */
  root: number;
  /**
   * How long the root waits for all ranks to check in, and each other rank
   * for each message from the root, in ms. Default 60 000: ranks start at
   * different speeds on a busy cluster (node images, shared file systems).
   */
  timeoutMs?: number;
}

export interface BootstrapResult<T> {
  value: T;
  /** On the root: every rank's check-in, ordered by rank. Elsewhere: null. */
  peers: PeerInfo[] | null;
}

type FromRoot<T> =
  | { kind: 'checked-in' }
  | { kind: 'value'; value: T }
  | { kind: 'failed'; message: string; code: string | null; missing: number[] | null };

function rankList(ranks: number[]): string {
  return ranks.length === 1 ? `rank ${ranks[0]}` : `ranks ${ranks.join(', ')}`;
}

/**
 * Runs the bootstrap on every rank of `comm` (each must call it with the
 * same root). `produce` runs on the root only, after every rank has checked
 * in, and gets the check-ins (rank, host, pid) ordered by rank; its result
 * reaches every rank. On the root, a missing rank fails with
 * CheckInTimeoutError naming the ranks; a `produce` that throws is reported
 * to all ranks (BootstrapFailedError there) and rethrown on the root.
 * Elsewhere, a root that goes silent fails with a TimeoutError naming it.
 */
export async function bootstrap<T>(
  comm: Communicator,
  produce: ((peers: PeerInfo[]) => T | Promise<T>) | null,
  opts: BootstrapOptions,
): Promise<BootstrapResult<T>> {
  const { root } = opts;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  if (!Number.isInteger(root) || root < 0 || root >= comm.size) {
    throw new InvalidArgumentError(`bootstrap root must be a rank from 0 to ${comm.size - 1}, got ${root}`);
  }
  if (comm.rank === root) {
    if (!produce) throw new InvalidArgumentError('bootstrap(): the root rank must pass a produce() function');
    return rootSide(comm, produce, root, timeoutMs);
  }
  return { value: await memberSide<T>(comm, root, timeoutMs), peers: null };
}

async function rootSide<T>(comm: Communicator, produce: (peers: PeerInfo[]) => T | Promise<T>, root: number, timeoutMs: number): Promise<BootstrapResult<T>> {
  const peers = new Map<number, PeerInfo>([[root, { rank: root, host: hostname(), pid: process.pid }]]);
  const deadline = Date.now() + timeoutMs;
  const tellAll = async (message: FromRoot<T>, ranks: Iterable<number>) => {
    await Promise.all([...ranks].filter((r) => r !== root).map((r) => comm.sendAsync(message, r, BOOTSTRAP_TAGS.fromRoot)));
  };

  while (peers.size < comm.size) {
    let msg;
    try {
      msg = await comm.recvAsync<PeerInfo>(ANY_SOURCE, BOOTSTRAP_TAGS.checkIn, { timeoutMs: Math.max(0, deadline - Date.now()) });
    } catch (err) {
      if (!(err instanceof TimeoutError)) throw err;
      const missing = [...Array(comm.size).keys()].filter((r) => !peers.has(r));
      const message =
        `MPI bootstrap: ${rankList(missing)} of ${comm.size} never checked in with rank ${root} within ${timeoutMs / 1000} s. ` +
        `Those processes may have crashed before starting, be stuck (e.g. on a slow shared file system), or run a different ` +
        `program; check their output, and raise the bootstrap timeout if ranks are just slow to start`;
      await tellAll({ kind: 'failed', message, code: 'ERR_TESSERA_TIMEOUT', missing }, peers.keys());
      throw new CheckInTimeoutError(message, missing);
    }
    peers.set(msg.source, { rank: msg.source, host: String(msg.value?.host ?? '?'), pid: Number(msg.value?.pid ?? 0) });
  }
  // Lets the other ranks restart their clock: producing the value (starting the scheduler) may take a while.
  await tellAll({ kind: 'checked-in' }, peers.keys());

  const sorted = [...peers.values()].sort((a, b) => a.rank - b.rank);
  let value: T;
  try {
    value = await produce(sorted);
  } catch (err) {
    const e = err as { message?: string; code?: string };
    const message = `MPI bootstrap: rank ${root} failed before the cluster could start: ${e?.message ?? String(err)}`;
    await tellAll({ kind: 'failed', message, code: typeof e?.code === 'string' ? e.code : null, missing: null }, peers.keys());
    throw err;
  }
  await tellAll({ kind: 'value', value }, peers.keys());
  return { value, peers: sorted };
}

async function memberSide<T>(comm: Communicator, root: number, timeoutMs: number): Promise<T> {
  await comm.sendAsync({ rank: comm.rank, host: hostname(), pid: process.pid } satisfies PeerInfo, root, BOOTSTRAP_TAGS.checkIn, { timeoutMs });
  // The root may spend up to timeoutMs waiting for the slowest rank before it answers.
  let wait = 2 * timeoutMs;
  for (;;) {
    let msg;
    try {
      msg = await comm.recvAsync<FromRoot<T>>(root, BOOTSTRAP_TAGS.fromRoot, { timeoutMs: wait });
    } catch (err) {
      if (!(err instanceof TimeoutError)) throw err;
      throw new TimeoutError(
        `MPI bootstrap: rank ${comm.rank} checked in but rank ${root} (the scheduler's) did not answer within ${wait / 1000} s; ` +
          `look at rank ${root}'s output for why it is stuck or gone`,
      );
    }
    const m = msg.value;
    if (m.kind === 'checked-in') {
      wait = timeoutMs;
      continue;
    }
    if (m.kind === 'value') return m.value;
    if (m.missing) throw new CheckInTimeoutError(m.message, m.missing);
    throw new BootstrapFailedError(root, m.message, isTesseraErrorCode(m.code) ? m.code : 'ERR_TESSERA_MPI');
  }
}
