/**
 * `tessera/mpi`: Tessera clusters launched by MPI, with dask-mpi's
 * semantics, and the MPI binding itself as `mpi` (usable by user code too).
 */
export * as mpi from '../../mpi/index.js';
export { world, Communicator } from '../../mpi/index.js';
export { MpiError, WorldTooSmallError } from '../../errors.js';
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
