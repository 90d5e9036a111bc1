/**
 * Where the scheduler is and which token it wants, from whatever the user
 * gave: a cluster object, an address (with or without a token), a scheduler
 * file, or nothing (the environment). Every process that connects to a
 * scheduler resolves it here, so all of them read the same inputs in the
 * same order and agree about a missing token:
 *
 * - The target: a ClusterLike (LocalCluster, SlurmCluster, ...), an address
 *   'tcp://host:port', `{ address, token? }`, `{ schedulerFile, jobId? }`,
 *   or nothing, which reads TESSERA_SCHEDULER_ADDRESS, else
 *   TESSERA_SCHEDULER_FILE.
 * - The token, first found wins: the one passed explicitly (the `token`
 *   option, or the target's own: a ClusterLike's, `{ address, token }`'s),
 *   then the scheduler file's (it is the token of the scheduler that wrote
 *   the file, so it beats a token set for the whole shell), then
 *   TESSERA_TOKEN.
 * - No token anywhere is an error (ERR_TESSERA_AUTH) before any connection
 *   is made: every scheduler has a token, so connecting without one could
 *   only be refused by the handshake, later and with a vaguer message. An
 *   empty string given explicitly is a token like any other (a scheduler
 *   started with TESSERA_TOKEN='' has it).
 */
import type { Comm } from './comm.js';
import { parseAddress } from './address.js';
import { connect, type ConnectOptions } from './connect.js';
import {
  readSchedulerFile, schedulerProcessAlive, staleSchedulerFileError, waitForSchedulerFile, type SchedulerFileContents,
} from './scheduler-file.js';
import { TesseraError } from '../errors.js';

/** Anything that knows where its scheduler is: LocalCluster, SlurmRunner, ... */
export interface ClusterLike {
  readonly schedulerAddress: string;
  readonly token: string;
}

/** What a user may give to say which scheduler to connect to (undefined: the environment). */
export type ConnectTarget =
  | ClusterLike
  | string
  | { address: string; token?: string }
  | { schedulerFile: string; jobId?: string }
  | undefined;

export interface ResolveOptions {
  /** A token given explicitly; beats every other source. */
  token?: string;
  /**
   * Wait up to this long for a scheduler file to appear (or to be replaced
   * when it is another job's), as a worker started before its scheduler
   * must; by default the file is read once and must be there.
   */
  waitForFileMs?: number;
  /** Where TESSERA_SCHEDULER_ADDRESS, TESSERA_SCHEDULER_FILE and TESSERA_TOKEN are read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface ResolvedScheduler {
  address: string;
  token: string;
  /** The scheduler file the address came from, and what it says (its scheduler's id, pid, host, dashboard port, job). */
  file?: { path: string; info: SchedulerFileContents };
}

export function isClusterLike(x: unknown): x is ClusterLike {
  return typeof x === 'object' && x !== null && typeof (x as ClusterLike).schedulerAddress === 'string' && typeof (x as ClusterLike).token === 'string';
}

/** The scheduler's address and token, from a target (see the top of this file for the order and the missing-token rule). */
export async function resolveScheduler(target: ConnectTarget, opts: ResolveOptions = {}): Promise<ResolvedScheduler> {
  const env = opts.env ?? process.env;
  let address: string;
  let token: string | undefined = opts.token;
  let filePath: string | undefined;
  let jobId: string | undefined;
  if (isClusterLike(target)) {
    address = target.schedulerAddress;
    token ??= target.token;
  } else if (typeof target === 'string') {
    address = target;
  } else if (target && 'schedulerFile' in target) {
    filePath = target.schedulerFile;
    jobId = target.jobId;
  } else if (target && 'address' in target) {
    address = target.address;
    token ??= target.token;
  } else if (env.TESSERA_SCHEDULER_ADDRESS) {
    address = env.TESSERA_SCHEDULER_ADDRESS;
  } else if (env.TESSERA_SCHEDULER_FILE) {
    filePath = env.TESSERA_SCHEDULER_FILE;
  } else {
    throw new TesseraError('ERR_TESSERA_NO_CLIENT',
      'Client.connect() was given no cluster and neither TESSERA_SCHEDULER_ADDRESS nor TESSERA_SCHEDULER_FILE is set; ' +
      'pass a LocalCluster, an address like tcp://host:8786, or { schedulerFile }');
  }
  let file: ResolvedScheduler['file'];
  if (filePath !== undefined) {
    const fileOpts = jobId ? { jobId } : {};
    const info = opts.waitForFileMs !== undefined
      ? await waitForSchedulerFile(filePath, { ...fileOpts, timeoutMs: opts.waitForFileMs })
      : await readSchedulerFile(filePath, fileOpts);
    file = { path: filePath, info };
    address = info.address;
    token ??= info.token;
  }
  parseAddress(address!);
  token ??= env.TESSERA_TOKEN;
  if (token === undefined) {
    throw new TesseraError('ERR_TESSERA_AUTH',
      `no auth token for the scheduler at ${address!}: pass the cluster's token, connect through its scheduler file ` +
      `(which carries it), or set TESSERA_TOKEN to it`);
  }
  return { address: address!, token, ...(file ? { file } : {}) };
}

/**
 * Connects to a resolved scheduler. One from a scheduler file is checked
 * for staleness first: the file outlives a scheduler that was killed, and
 * connecting to its address would only time out.
 */
export async function connectToScheduler(
  scheduler: ResolvedScheduler,
  opts: Omit<ConnectOptions, 'token' | 'refusedTimeoutMs'>,
): Promise<Comm> {
  const { address, token, file } = scheduler;
  // A file whose scheduler ran here and is no longer alive: say so now, not after a connect timeout.
  if (file && schedulerProcessAlive(file.info) === false) throw staleSchedulerFileError(file.path, file.info, 'its process no longer exists');
  try {
    const { comm } = await connect(address, {
      ...opts, token,
      // The file is written once the scheduler listens: a refusal means it has gone.
      ...(file ? { refusedTimeoutMs: 1_000 } : {}),
    });
    return comm;
  } catch (err) {
    if (file && (err as TesseraError).code === 'ERR_TESSERA_CONNECT') throw staleSchedulerFileError(file.path, file.info, `nothing accepts connections at ${address}`);
    throw err;
  }
}
