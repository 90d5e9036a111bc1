/**
 * Tessera's MPI binding: the system's libmpi (OpenMPI or the MPICH ABI:
 * MPICH, Intel MPI, Cray MPICH) called through koffi, no compiler needed.
 *
 *   import { world } from 'tessera-compute/mpi';   // re-exported by the deploy layer as `mpi`
 *   const comm = world();                  // initialises MPI on first use
 *   comm.rank; comm.size; comm.barrier();
 *   const cfg = comm.bcast(comm.rank === 0 ? { address } : undefined, 0);
 *   const sub = comm.split(comm.rank % 2);
 *
 * Call world() before the process opens sockets or starts threads (dask-mpi
 * PR#100); tessera's initialize() does so first thing.
 *
 * Library search: $TESSERA_MPI_LIB when set, otherwise libmpi.so.40,
 * libmpi.so, libmpich.so.12, libmpi.so.12, ... (the launcher's family first
 * when its environment tells which).
 */
export { world, finalize, isInitialized, libraryInfo, setExitPolicy, type ExitPolicy } from './runtime.js';
export { Communicator, ANY_SOURCE, ANY_TAG, MAX_TAG, type AsyncOptions, type Message } from './communicator.js';
export { LIBRARY_ENV, libraryCandidates, type LibraryInfo, type MpiFamily } from './library.js';
export {
  rankFromEnvironment,
  launcherWorldSize,
  jobIdFromEnvironment,
  jobIdInfoFromEnvironment,
  type RankInfo,
  type LauncherSize,
  type JobIdInfo,
} from './env.js';
export { MpiError } from '../errors.js';
