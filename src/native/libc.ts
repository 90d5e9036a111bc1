/**
 * The two libc calls Tessera makes (Linux with glibc; elsewhere they are
 * unavailable and their callers carry on without them):
 * - setsockopt(TCP_NODELAY) on sockets that MPI opened (src/mpi/nodelay.ts);
 * - malloc_trim(0), which hands memory that was freed back to the operating
 *   system. glibc keeps freed blocks for reuse, so after a worker spills
 *   hundreds of MB its RSS can stay above the pause threshold with almost
 *   nothing alive; Dask's documentation recommends the same call for the
 *   same reason ("memory not released back to the OS").
 */
import { koffi } from './koffi.js';

interface Libc {
  setsockopt: ((fd: number, level: number, name: number, value: Int32Array, length: number) => number) | null;
  malloc_trim: ((pad: number) => number) | null;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  libc = { setsockopt: null, malloc_trim: null };
  if (process.platform !== 'linux') return libc;
  let lib: ReturnType<ReturnType<typeof koffi>['load']>;
  try {
    lib = koffi().load('libc.so.6');
  } catch {
    return libc; // not glibc, or koffi unavailable
  }
  // One at a time: a C library without malloc_trim still gives TCP_NODELAY.
  const declare = <T>(decl: string): T | null => {
    try {
      return lib.func(decl) as T;
    } catch {
      return null;
    }
  };
  libc.setsockopt = declare('int setsockopt(int fd, int level, int name, const int32_t *value, uint32_t length)');
  libc.malloc_trim = declare('int malloc_trim(size_t pad)');
  return libc;
}

const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;

/** Sets TCP_NODELAY on a file descriptor; false when it is not a TCP socket or libc is unavailable. */
export function setNoDelay(fd: number): boolean {
  const setsockopt = load().setsockopt;
  return setsockopt !== null && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, new Int32Array([1]), 4) === 0;
}

/** Returns freed heap memory to the operating system (glibc); false when unavailable. */
export function trimMalloc(): boolean {
  const trim = load().malloc_trim;
  if (!trim) return false;
  trim(0);
  return true;
}
