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
  setsockopt: (fd: number, level: number, name: number, value: Int32Array, length: number) => number;
  malloc_trim: (pad: number) => number;
}

let libc: Libc | null | undefined;

function load(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (process.platform !== 'linux') return libc;
  try {
    const lib = koffi().load('libc.so.6');
    libc = {
      setsockopt: lib.func('int setsockopt(int fd, int level, int name, const int32_t *value, uint32_t length)') as Libc['setsockopt'],
      malloc_trim: lib.func('int malloc_trim(size_t pad)') as Libc['malloc_trim'],
    };
  } catch {
    // not glibc (musl has no malloc_trim) or koffi unavailable
  }
  return libc;
}

const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;

/** Sets TCP_NODELAY on a file descriptor; false when it is not a TCP socket or libc is unavailable. */
export function setNoDelay(fd: number): boolean {
  const c = load();
  return c !== null && c.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, new Int32Array([1]), 4) === 0;
}

/** Returns freed heap memory to the operating system (glibc); false when unavailable. */
export function trimMalloc(): boolean {
  const c = load();
  if (!c) return false;
  c.malloc_trim(0);
  return true;
}
