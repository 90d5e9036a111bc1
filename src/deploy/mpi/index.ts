/**
 * `tessera-compute/mpi`: Tessera clusters launched by MPI, with dask-mpi's
 * semantics, and the MPI binding itself as `mpi` (usable by user code too).
 *
 *   import { initialize } from 'tessera-compute/mpi';
 *   await initialize();   // rank 0: scheduler, rank 1: continues as the client, 2+: workers
 *
 * This entry loads only the MPI binding and the deploy layer; the scheduler,
 * worker and client modules load after MPI is initialised, on the ranks that
 * need them (start-up time is paid by every rank of a job).
 */
export * as mpi from '../../mpi/index.js';
export { world, Communicator } from '../../mpi/index.js';
export { MpiError, WorldTooSmallError } from '../../errors.js';
export { initialize, sendCloseSignal, type InitializeOptions } from './initialize.js';
export { execute, type ExecuteOptions } from './execute.js';
export type { ClusterOptions } from './options.js';
export { assignRoles, type RoleOptions, type RankRoles, type RoleAssignment } from './roles.js';
export {
  bootstrap,
  BOOTSTRAP_TAGS,
  CheckInTimeoutError,
  BootstrapFailedError,
  type BootstrapOptions,
  type BootstrapResult,
  type ClusterContact,
  type PeerInfo,
} from './bootstrap.js';
