/**
 * The process-wide MPI state: which library is loaded, whether we
 * initialised MPI, the world communicator, and what happens at exit.
 */
import { writeSync } from 'node:fs';
import { inspect } from 'node:util';
import { MpiError } from '../errors.js';
import { Communicator } from './communicator.js';
import { launcherWorldSize, type Env, type LauncherSize } from './env.js';
import { LIBRARY_ENV, MpiLibrary, type LibraryInfo } from './library.js';
import { disableNagleOnMpiSockets } from './nodelay.js';

let library: MpiLibrary | undefined;
let worldComm: Communicator | undefined;
/** True when this binding called MPI_Init_thread (and so owns MPI_Finalize). */
let ownsInit = false;
let exitHookInstalled = false;
/** The error that is ending the process, if any (see onExit). */
let fatalError: { error: unknown } | undefined;
/** Set when another rank of the job died: MPI_Finalize would wait for it forever. */
let peerLost = false;

/**
 * What the binding does when the process exits while MPI is initialised:
 * - 'finalize-or-abort' (default): MPI_Finalize after a zero exit code;
 *   after a non-zero one MPI_Abort, so mpirun/srun end every other rank and
 *   exit non-zero instead of waiting for this one forever.
 * - 'finalize': always MPI_Finalize.
 * - 'none': nothing (the caller finalizes; OpenMPI's mpirun reports a rank
 *   that exits without MPI_Finalize as an abnormal termination).
 */
export type ExitPolicy = 'finalize-or-abort' | 'finalize' | 'none';
let exitPolicy: ExitPolicy = 'finalize-or-abort';
const ABORT_GRACE_MS = 250;

export function setExitPolicy(policy: ExitPolicy): void {
  exitPolicy = policy;
}

/**
 * @internal Another rank of the job is gone (killed, crashed, its node lost)
 * and the launcher did not end the job (srun without --kill-on-bad-exit,
 * mpirun --enable-recovery). MPI_Finalize synchronises with every rank, dead
 * ones included, and would never return; after this call a zero exit skips
 * it, and a non-zero exit still aborts the job.
 */
export function markPeerLost(): void {
  peerLost = true;
}

/** @internal The error ending the process has already been printed; the exit hook must not print it again. */
export function fatalErrorReported(): void {
  fatalError = undefined;
}

/** @internal The loaded library, loading it on first use (without initialising MPI). */
export function loadLibrary(env: Env = process.env): MpiLibrary {
  if (!library) {
    // Before the library loads: UCX reads its settings then (see nodeSafeSettings).
    if (env === process.env) addStartSettings(nodeSafeSettings(process.env));
    try {
      library = MpiLibrary.load(env);
    } catch (err) {
      endStartSettings();
      throw err;
    }
  }
  return library;
}

/**
 * The library the binding uses: its path, ABI family and version. Loads it
 * if needed but does not initialise MPI. Throws an MpiError (code
 * ERR_TESSERA_MPI) naming every library tried when none loads.
 */
export function libraryInfo(): LibraryInfo {
  return { ...loadLibrary().info };
}

/** Variables this module put into the environment for MPI's start; world() takes them out once MPI has started. */
let startSettingsAdded: string[] = [];

function addStartSettings(settings: Record<string, string>, env: NodeJS.ProcessEnv = process.env): void {
  for (const [name, value] of Object.entries(settings)) {
    if (env[name] !== undefined) continue;
    env[name] = value;
    startSettingsAdded.push(name);
  }
}

/** @internal Takes the variables added for MPI's start out of the environment again, so that tasks and child processes see it as the user left it. */
export function endStartSettings(env: NodeJS.ProcessEnv = process.env): void {
  for (const name of startSettingsAdded) delete env[name];
  startSettingsAdded = [];
}

/**
 * What any Node process needs to start MPI safely, set by the binding
 * unless the user set it: UCX_MEM_EVENTS=no. UCX (MPICH's transport in
 * Debian, and others') patches the code of libc's mmap, munmap and brk as
 * MPI starts, to keep its cache of registered memory right, while Node's
 * own threads run those functions: about 1 start in 30 of
 * `mpiexec.mpich -n 4` had a rank crash in V8 (a segfault in memory it had
 * just allocated; UCX issue #3831 is the same with MPICH's own threads).
 * That cache speeds up large transfers over InfiniBand, which this binding,
 * made for small messages, does not make. UCX reads it when its library
 * loads.
 */
export function nodeSafeSettings(env: NodeJS.ProcessEnv): Record<string, string> {
  return env.UCX_MEM_EVENTS === undefined ? { UCX_MEM_EVENTS: 'no' } : {};
}

/**
 * Environment settings that make MPI start faster for the way Tessera uses
 * it: a few small messages at start-up, everything else over TCP. Each one
 * is left out when the user set the variable (or a related one) already.
 * - OMPI_MCA_pml=ob1 under OpenMPI's launcher: OpenMPI's default first
 *   probes UCX, which takes about 250 ms of every rank's start (ob1: ~40 ms).
 * - HWLOC_COMPONENTS=-pci,-linuxio: hwloc, which both OpenMPI and MPICH use
 *   to learn the node's topology in every rank, otherwise also reads the
 *   configuration space of each PCI device to place network cards. In a
 *   virtual machine every such read traps to the hypervisor: about 20 ms of
 *   CPU per rank on a 2-core VM (MPI_Init: 45 ms -> 25 ms), paid by every
 *   rank at once. Only transports choosing among several network cards use
 *   that placement, and bootstrap messages gain nothing from it.
 * Every rank of a launch sees the same environment, so all of them make
 * the same choice, as MPI requires.
 */
export function quickStartSettings(env: NodeJS.ProcessEnv): Record<string, string> {
  const settings: Record<string, string> = {};
  if (env.OMPI_COMM_WORLD_SIZE !== undefined && env.OMPI_MCA_pml === undefined) settings.OMPI_MCA_pml = 'ob1';
  if (env.HWLOC_COMPONENTS === undefined && env.HWLOC_XMLFILE === undefined) settings.HWLOC_COMPONENTS = '-pci,-linuxio';
  return settings;
}

/**
 * @internal Called by Tessera's own entry points (initialize, execute,
 * `tessera-compute mpi`) before the MPI library loads: puts quickStartSettings()
 * into the environment, where MPI reads them, until world() has started MPI
 * (or endStartSettings() is called).
 */
export function preferQuickStart(env: NodeJS.ProcessEnv = process.env): void {
  if (worldComm || library?.finalizedHere) return;
  addStartSettings(quickStartSettings(env), env);
}

/** True while MPI is initialised and not finalized in this process. */
export function isInitialized(): boolean {
  if (!library) return false;
  if (library.finalizedHere) return false;
  return library.initialized() && !library.finalized();
}

function onExit(code: number): void {
  const lib = library;
  if (!lib || !ownsInit || lib.finalizedHere || lib.aborting || exitPolicy === 'none') return;
  if (code !== 0 && exitPolicy === 'finalize-or-abort' && worldComm && worldComm.size > 1) {
    // MPI_Finalize would wait in a fence for ranks that may be waiting for
    // this one; abort ends the whole job now with this exit code.
    // Node emits 'exit' before it prints an uncaught error, and MPI_Abort
    // never returns: print the error now or the user never sees it.
    if (fatalError) {
      try {
        writeSync(2, `${inspect(fatalError.error)}\n\nNode.js ${process.version}\n`);
      } catch {
        // stderr is gone; abort anyway
      }
    }
    // The launcher forwards our stdout/stderr from pipes and stops reading
    // them once it sees the abort; a short pause lets the last lines through.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ABORT_GRACE_MS);
    lib.aborting = true;
    lib.fn.Abort(lib.abi.COMM_WORLD, code);
    return;
  }
  if (peerLost) return;
  lib.finalizedHere = true;
  lib.fn.Finalize();
}

/**
 * Sockets that already exist when MPI starts: dask-mpi PR#100 found
 * broadcasts hanging above ~32 ranks when MPI was initialised after the
 * event loop had opened connections and started threads. initialize() calls
 * world() first for this reason; user code should too. Threads cannot be
 * counted from JavaScript, so only sockets are checked.
 */
function warnIfLate(): void {
  const getInfo = (process as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo;
  const active = getInfo ? getInfo.call(process) : [];
  const sockets = active.filter((r) => /^(TCPServerWrap|TCPSocketWrap|TCPWrap|UDPWrap)$/.test(r));
  if (sockets.length > 0) {
    process.emitWarning(
      `MPI is being initialised after this process opened ${sockets.length} socket(s). Call mpi.world() (or initialize()) ` +
        `before creating servers, clients or worker threads: with MPI initialised late, broadcasts have been seen to hang on large jobs`,
      { code: 'TESSERA_MPI_LATE_INIT' },
    );
  }
}

function mismatchError(lib: MpiLibrary, launcher: LauncherSize): MpiError {
  const { path, family, version } = lib.info;
  const advice: Record<LauncherSize['launcher'], string> = {
    openmpi: `the job was started by OpenMPI's mpirun (${launcher.source}), so use OpenMPI's library, e.g. ${LIBRARY_ENV}=/usr/lib/x86_64-linux-gnu/libmpi.so.40 (its directory is $(dirname $(which mpirun))/../lib)`,
    pmi: `the job was started by an MPICH-family launcher (${launcher.source}: mpiexec.hydra, Intel MPI, or srun --mpi=pmi2), so use that MPI's library, e.g. ${LIBRARY_ENV}=/usr/lib/x86_64-linux-gnu/libmpich.so.12 or $I_MPI_ROOT/lib/libmpi.so.12`,
    pmix: `the job was started by srun with PMIx (${launcher.source}), so use the libmpi of the MPI your cluster builds against Slurm's PMIx (see 'srun --mpi=list' and your site's docs, often 'module load openmpi')`,
    slurm: `the job was started by srun (${launcher.source}); use the libmpi of the MPI your cluster builds for Slurm, and pass the matching --mpi=pmix/pmi2 to srun`,
  };
  return new MpiError(
    `MPI reports a world of 1 process, but the launcher started ${launcher.size} (${launcher.source}=${launcher.size}): ` +
      `the MPI library ${path} (${family}${version ? `, ${version}` : ''}) does not belong to the launcher, so every ` +
      `process would run alone as rank 0 of 1. Point ${LIBRARY_ENV} at the library that matches the launcher: ${advice[launcher.launcher]}`,
  );
}

/**
 * The world communicator, initialising MPI on first use (MPI_Init_thread,
 * MPI_THREAD_FUNNELED). Must be called before the process opens any socket or
 * starts any thread (see dask-mpi PR#100); tessera's initialize() calls it first.
 *
 * Throws an MpiError (code ERR_TESSERA_MPI) when no library loads, when MPI
 * was already finalized, or when the library does not match the launcher
 * (MPI says 1 process while OMPI_COMM_WORLD_SIZE/PMI_SIZE/srun say N > 1).
 */
export function world(): Communicator {
  if (worldComm) {
    if (library?.finalizedHere) throw new MpiError('world() after finalize(): MPI cannot be initialised twice in one process');
    return worldComm;
  }
  let lib: MpiLibrary;
  let initialisedHere = false;
  try {
    lib = loadLibrary();
    if (lib.finalized()) {
      throw new MpiError('world() after MPI was finalized: MPI cannot be initialised twice in one process');
    }
    if (!lib.initialized()) {
      warnIfLate();
      lib.init();
      initialisedHere = true;
    }
  } finally {
    endStartSettings();
  }
  if (initialisedHere) {
    ownsInit = true;
    disableNagleOnMpiSockets();
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('uncaughtExceptionMonitor', (error) => {
        fatalError = { error };
      });
      process.on('exit', onExit);
    }
  }
  const comm = new Communicator(lib, lib.abi.COMM_WORLD, true);
  if (comm.size === 1) {
    const launcher = launcherWorldSize(process.env);
    if (launcher && launcher.size > 1) {
      const err = mismatchError(lib, launcher);
      // Leave MPI cleanly so the process can exit with the error, not an MPI abort banner.
      if (ownsInit) finalize();
      throw err;
    }
  }
  worldComm = comm;
  return comm;
}

/**
 * Ends MPI in this process (MPI_Finalize, collective over the world). Called
 * automatically at exit when the binding initialised MPI; call it yourself to
 * end MPI earlier. A no-op when MPI is not initialised or already finalized.
 */
export function finalize(): void {
  const lib = library;
  if (!lib || lib.finalizedHere) return;
  if (!lib.initialized() || lib.finalized()) return;
  lib.finalizedHere = true;
  lib.check(lib.fn.Finalize(), 'MPI_Finalize');
}
