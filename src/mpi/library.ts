/**
 * Loading the system's libmpi through koffi and describing its ABI.
 *
 * Two ABIs exist in the wild and mpi.h is not available at run time, so the
 * handful of constants we need are written down here for each:
 *
 * - OpenMPI (libmpi.so.40, OpenMPI 3 to 5): handles are pointers to global
 *   objects; MPI_COMM_WORLD is `&ompi_mpi_comm_world`, MPI_BYTE is
 *   `&ompi_mpi_byte`. MPI_Status is {source, tag, error, _cancelled,
 *   size_t _ucount}; MPI_STATUS_IGNORE is NULL; MPI_ANY_SOURCE is -1.
 * - MPICH ABI (MPICH libmpich.so.12, Intel MPI and Cray MPICH libmpi.so.12,
 *   MVAPICH): handles are ints with the values from MPICH's mpi.h. MPI_Status
 *   is {count_lo, count_hi_and_cancelled, source, tag, error};
 *   MPI_STATUS_IGNORE is (MPI_Status *)1; MPI_ANY_SOURCE is -2.
 *
 * The family is told from the symbols the library exports, never from its
 * file name: `libmpi.so` may be either.
 */
import { readFileSync } from 'node:fs';
import { MpiError } from '../errors.js';
import type { Env } from './env.js';
import { koffi } from '../native/koffi.js';

export type MpiFamily = 'openmpi' | 'mpich';

/** An MPI handle (communicator, datatype, request): a pointer for OpenMPI, an int for MPICH. */
export type Handle = bigint | number;

export interface LibraryInfo {
  /** The file that was loaded, resolved through symlinks where the OS says (e.g. /usr/lib/x86_64-linux-gnu/libmpi.so.40.30.4). */
  path: string;
  /** The name or path that was asked for (e.g. 'libmpi.so.40' or $TESSERA_MPI_LIB). */
  requested: string;
  family: MpiFamily;
  /** MPI_Get_library_version's first line, e.g. 'Open MPI v4.1.4, ...' or 'MPICH Version: 4.0.2'. */
  version: string | null;
}

export interface AbiConstants {
  COMM_WORLD: Handle;
  COMM_NULL: Handle;
  BYTE: Handle;
  ANY_SOURCE: number;
  ANY_TAG: number;
  UNDEFINED: number;
  /** Passed where an MPI_Status * may be ignored. */
  STATUS_IGNORE: bigint;
  /** sizeof(MPI_Status) and the offsets of its public fields. */
  statusSize: number;
  statusSource: number;
  statusTag: number;
  /** sizeof(MPI_Request) */
  requestSize: number;
  /** sizeof(MPI_Comm) */
  commSize: number;
}

const MPI_THREAD_FUNNELED = 1;
const MPI_SUCCESS = 0;

/** The environment variable that names the library to load, bypassing the search. */
export const LIBRARY_ENV = 'TESSERA_MPI_LIB';

const OPENMPI_NAMES = ['libmpi.so.40'];
const MPICH_NAMES = ['libmpich.so.12', 'libmpi.so.12', 'libmpi_cray.so.12'];
const GENERIC_NAMES = ['libmpi.so', 'libmpich.so'];
const DARWIN_OPENMPI = ['libmpi.40.dylib'];
const DARWIN_MPICH = ['libmpich.12.dylib', 'libmpi.12.dylib'];
const DARWIN_GENERIC = ['libmpi.dylib', 'libmpich.dylib'];

/**
 * The library names to try, in order. Without a hint from the launcher:
 * OpenMPI's soname, the unversioned dev symlink, then the MPICH-ABI sonames.
 * When the launcher says which family started us (OpenMPI's OMPI_* variables
 * or MPICH/Intel hydra's PMI_* ones), that family's names go first, so a
 * machine with both installed picks the library that matches `mpirun` (the
 * silent "every rank is rank 0 of 1" failure of dask-mpi #49).
 */
export function libraryCandidates(env: Env = process.env, platform: NodeJS.Platform = process.platform): string[] {
  const darwin = platform === 'darwin';
  const ompi = darwin ? DARWIN_OPENMPI : OPENMPI_NAMES;
  const mpich = darwin ? DARWIN_MPICH : MPICH_NAMES;
  const generic = darwin ? DARWIN_GENERIC : GENERIC_NAMES;
  const launchedByOpenMpi = env.OMPI_COMM_WORLD_SIZE !== undefined || env.OMPI_COMM_WORLD_RANK !== undefined;
  const launchedByHydra = !launchedByOpenMpi && (env.PMI_SIZE !== undefined || env.PMI_RANK !== undefined);
  if (launchedByHydra) return [...mpich, ...generic, ...ompi];
  if (launchedByOpenMpi) return [...ompi, ...generic, ...mpich];
  return [ompi[0]!, generic[0]!, ...mpich, ...generic.slice(1)];
}

type Fn = (...args: unknown[]) => number;

/** The MPI entry points this binding uses, typed loosely: koffi checks arguments at call time. */
export interface MpiFunctions {
  Initialized: Fn;
  Finalized: Fn;
  Init_thread: Fn;
  Finalize: Fn;
  Abort: Fn;
  Comm_rank: Fn;
  Comm_size: Fn;
  Comm_split: Fn;
  Comm_free: Fn;
  Barrier: Fn;
  Bcast: Fn;
  Send: Fn;
  Recv: Fn;
  Probe: Fn;
  Get_count: Fn;
  Ibarrier: Fn;
  Ibcast: Fn;
  Isend: Fn;
  Iprobe: Fn;
  Test: Fn;
  Error_string: Fn;
  Get_library_version: Fn;
}

interface KoffiLibrary {
  func(definition: string): Fn;
  symbol(name: string): unknown;
}

function hasSymbol(lib: KoffiLibrary, name: string): boolean {
  try {
    lib.symbol(name);
    return true;
  } catch {
    return false;
  }
}

/** The file a loaded symbol lives in, from /proc/self/maps (Linux); null elsewhere. */
function fileContaining(address: bigint): string | null {
  let maps: string;
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return null;
  }
  for (const line of maps.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+\S+\s+\S+\s+\S+\s+\S+\s+(\/.*)$/.exec(line);
    if (!m) continue;
    const lo = BigInt(`0x${m[1]}`);
    const hi = BigInt(`0x${m[2]}`);
    if (address >= lo && address < hi) return m[3]!.trim();
  }
  return null;
}

export class MpiLibrary {
  readonly info: LibraryInfo;
  readonly abi: AbiConstants;
  readonly fn: MpiFunctions;
  /** Set once this process has called MPI_Finalize through the binding. */
  finalizedHere = false;
  /** Set while MPI_Abort runs, so the exit hook does not also finalize. */
  aborting = false;
  /** Native scratch memory for out-parameters of blocking calls; MPI is used from the main thread only. */
  private readonly scratch: bigint;

  private constructor(lib: KoffiLibrary, requested: string, family: MpiFamily) {
    const k = koffi();
    const H = family === 'openmpi' ? 'void *' : 'int';
    const f = (decl: string): Fn => lib.func(decl.replaceAll('HANDLE', H));
    this.fn = {
      Initialized: f('int MPI_Initialized(_Out_ int *flag)'),
      Finalized: f('int MPI_Finalized(_Out_ int *flag)'),
      Init_thread: f('int MPI_Init_thread(void *argc, void *argv, int required, _Out_ int *provided)'),
      Finalize: f('int MPI_Finalize()'),
      Abort: f('int MPI_Abort(HANDLE comm, int errorcode)'),
      Comm_rank: f('int MPI_Comm_rank(HANDLE comm, _Out_ int *rank)'),
      Comm_size: f('int MPI_Comm_size(HANDLE comm, _Out_ int *size)'),
      Comm_split: f('int MPI_Comm_split(HANDLE comm, int color, int key, void *newcomm)'),
      Comm_free: f('int MPI_Comm_free(void *comm)'),
      Barrier: f('int MPI_Barrier(HANDLE comm)'),
      Bcast: f('int MPI_Bcast(void *buffer, int count, HANDLE datatype, int root, HANDLE comm)'),
      Send: f('int MPI_Send(void *buf, int count, HANDLE datatype, int dest, int tag, HANDLE comm)'),
      Recv: f('int MPI_Recv(void *buf, int count, HANDLE datatype, int source, int tag, HANDLE comm, void *status)'),
      Probe: f('int MPI_Probe(int source, int tag, HANDLE comm, void *status)'),
      Get_count: f('int MPI_Get_count(void *status, HANDLE datatype, _Out_ int *count)'),
      Ibarrier: f('int MPI_Ibarrier(HANDLE comm, void *request)'),
      Ibcast: f('int MPI_Ibcast(void *buffer, int count, HANDLE datatype, int root, HANDLE comm, void *request)'),
      Isend: f('int MPI_Isend(void *buf, int count, HANDLE datatype, int dest, int tag, HANDLE comm, void *request)'),
      Iprobe: f('int MPI_Iprobe(int source, int tag, HANDLE comm, _Out_ int *flag, void *status)'),
      Test: f('int MPI_Test(void *request, _Out_ int *flag, void *status)'),
      Error_string: f('int MPI_Error_string(int errorcode, void *string, _Out_ int *resultlen)'),
      Get_library_version: f('int MPI_Get_library_version(void *version, _Out_ int *resultlen)'),
    };
    if (family === 'openmpi') {
      const sym = (name: string) => lib.symbol(name) as bigint;
      this.abi = {
        COMM_WORLD: sym('ompi_mpi_comm_world'),
        COMM_NULL: sym('ompi_mpi_comm_null'),
        BYTE: sym('ompi_mpi_byte'),
        ANY_SOURCE: -1,
        ANY_TAG: -1,
        UNDEFINED: -32766,
        STATUS_IGNORE: 0n,
        statusSize: 24,
        statusSource: 0,
        statusTag: 4,
        requestSize: 8,
        commSize: 8,
      };
    } else {
      this.abi = {
        COMM_WORLD: 0x44000000,
        COMM_NULL: 0x04000000,
        BYTE: 0x4c00010d,
        ANY_SOURCE: -2,
        ANY_TAG: -1,
        UNDEFINED: -32766,
        STATUS_IGNORE: 1n,
        statusSize: 20,
        statusSource: 8,
        statusTag: 12,
        requestSize: 4,
        commSize: 4,
      };
    }
    this.scratch = k.alloc('uint8_t', 64) as bigint;
    let path = requested;
    try {
      path = fileContaining(lib.symbol('MPI_Init') as bigint) ?? requested;
    } catch {
      // keep the requested name
    }
    this.info = { path, requested, family, version: this.libraryVersion() };
  }

  /**
   * Loads the first library that opens: $TESSERA_MPI_LIB alone when set (an
   * explicit choice must not be silently replaced by another library),
   * otherwise `candidates` (default: libraryCandidates(env)).
   */
  static load(env: Env = process.env, candidates?: readonly string[]): MpiLibrary {
    const override = env[LIBRARY_ENV]?.trim();
    const names = override ? [override] : [...(candidates ?? libraryCandidates(env))];
    const failures: string[] = [];
    for (const name of names) {
      let lib: KoffiLibrary;
      try {
        // RTLD_GLOBAL: OpenMPI's plugins (mca_*.so) are dlopen'ed by libmpi and
        // resolve libmpi's symbols globally; mpi4py loads libmpi the same way.
        lib = koffi().load(name, { global: true }) as unknown as KoffiLibrary;
      } catch (err) {
        failures.push(`${name}: ${(err as Error).message}`);
        continue;
      }
      if (hasSymbol(lib, 'ompi_mpi_comm_world')) return new MpiLibrary(lib, name, 'openmpi');
      if (hasSymbol(lib, 'MPI_Init_thread')) return new MpiLibrary(lib, name, 'mpich');
      failures.push(`${name}: loaded, but it exports no MPI_Init_thread, so it is not an MPI library`);
    }
    const how = override
      ? `${LIBRARY_ENV}=${override} could not be used. Point ${LIBRARY_ENV} at the libmpi of the MPI that provides your ` +
        `mpirun/mpiexec/srun (e.g. ${LIBRARY_ENV}=/usr/lib/x86_64-linux-gnu/libmpi.so.40 for OpenMPI, ` +
        `.../libmpich.so.12 for MPICH, $I_MPI_ROOT/lib/libmpi.so.12 for Intel MPI), or unset it to search the default names`
      : `No MPI library could be loaded; tried ${names.join(', ')}. Install OpenMPI or MPICH ` +
        `(Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev, or apt-get install mpich; on a cluster: module load openmpi), ` +
        `or set ${LIBRARY_ENV}=/path/to/libmpi.so to the library of the MPI that provides your mpirun/mpiexec/srun`;
    throw new MpiError(`${how}.\n  ${failures.join('\n  ')}`);
  }

  /** Throws an MpiError naming the call when an MPI function returns an error code. */
  check(rc: number, call: string): void {
    if (rc === MPI_SUCCESS) return;
    throw new MpiError(`${call} failed with MPI error ${rc}: ${this.errorString(rc)}`);
  }

  errorString(code: number): string {
    const buf = Buffer.alloc(1024);
    const len = [0];
    try {
      if (this.fn.Error_string(code, buf, len) !== MPI_SUCCESS) return 'unknown error';
      return buf.toString('utf8', 0, Math.max(0, Math.min(len[0]!, buf.length))).replace(/\0.*$/s, '');
    } catch {
      return 'unknown error';
    }
  }

  private libraryVersion(): string | null {
    // MPI-3 allows this call before MPI_Init. MPICH's buffer limit is 8192.
    const buf = Buffer.alloc(8192);
    const len = [0];
    try {
      if (this.fn.Get_library_version(buf, len) !== MPI_SUCCESS) return null;
      const text = buf.toString('utf8', 0, Math.max(0, Math.min(len[0]!, buf.length))).replace(/\0.*$/s, '');
      return text.split('\n')[0]!.replace(/\s+/g, ' ').trim() || null;
    } catch {
      return null;
    }
  }

  flag(fn: Fn, name: string): boolean {
    const out = [0];
    this.check(fn(out), name);
    return out[0] !== 0;
  }

  initialized(): boolean {
    return this.flag(this.fn.Initialized, 'MPI_Initialized');
  }

  finalized(): boolean {
    return this.flag(this.fn.Finalized, 'MPI_Finalized');
  }

  /** Returns the thread level MPI provides. */
  init(): number {
    const provided = [0];
    // Only the main thread calls MPI (FUNNELED); asking for MULTIPLE would make
    // some transports slower and buys nothing here.
    this.check(this.fn.Init_thread(null, null, MPI_THREAD_FUNNELED, provided), 'MPI_Init_thread');
    return provided[0]!;
  }

  /** Reads a handle (MPI_Comm) that MPI wrote at `ptr`. */
  readHandle(ptr: bigint): Handle {
    const k = koffi();
    return this.info.family === 'openmpi' ? (k.decode(ptr, 'void *') as bigint) : (k.decode(ptr, 'int') as number);
  }

  writeHandle(ptr: bigint, handle: Handle): void {
    const k = koffi();
    if (this.info.family === 'openmpi') k.encode(ptr, 'void *', handle);
    else k.encode(ptr, 'int', handle);
  }

  /** Scratch memory big enough for one handle, status or request, for a blocking call's out-parameter. */
  get scratchPointer(): bigint {
    return this.scratch;
  }

  sameHandle(a: Handle, b: Handle): boolean {
    return BigInt(a) === BigInt(b);
  }
}
