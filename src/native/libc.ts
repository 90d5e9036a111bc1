/**
 * The libc calls Tessera makes (Linux with glibc; elsewhere they are
 * unavailable and their callers carry on without them):
 * - setsockopt(TCP_NODELAY) on sockets that MPI opened (src/mpi/nodelay.ts);
 * - malloc_trim(0), which hands memory that was freed back to the operating
 *   system. glibc keeps freed blocks for reuse, so after a worker spills
 *   hundreds of MB its RSS can stay above the pause threshold with almost
 *   nothing alive; Dask's documentation recommends the same call for the
 *   same reason ("memory not released back to the OS");
 * - madvise(MADV_HUGEPAGE) on the buffer a large value is received into:
 *   fresh memory costs a page fault per 4 KiB page on first touch, which on
 *   a virtual machine is most of the CPU a receiver spends (65,536 faults
 *   for 256 MiB); with transparent huge pages in `madvise` mode (the default
 *   of most distributions) the kernel then faults 2 MiB at a time;
 * - madvise(MADV_POPULATE_WRITE) on buffers of a few MiB (Linux 5.14+):
 *   their 4 KiB pages are faulted in one call, not one trap each.
 */
import { koffi } from './koffi.js';

interface Libc {
  setsockopt: ((fd: number, level: number, name: number, value: Int32Array, length: number) => number) | null;
  malloc_trim: ((pad: number) => number) | null;
  madvise: ((addr: bigint, length: number, advice: number) => number) | null;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  libc = { setsockopt: null, malloc_trim: null, madvise: null };
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
  libc.madvise = declare('int madvise(uintptr_t addr, size_t length, int advice)');
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

const MADV_HUGEPAGE = 14;
const HUGE_PAGE = 2n * 1024n * 1024n;

/**
 * Asks the kernel to back the whole 2 MiB pages inside `buf` with huge pages
 * (not yet touched memory only: call it right after allocating). False when
 * unavailable (not Linux/glibc, koffi missing, a buffer smaller than two huge
 * pages, or the kernel refused); the buffer works the same either way.
 */
export function adviseHugePages(buf: Uint8Array): boolean {
  if (buf.byteLength < 2 * Number(HUGE_PAGE)) return false;
  const madvise = load().madvise;
  if (!madvise) return false;
  const start = koffi().address(buf);
  const from = ((start + HUGE_PAGE - 1n) / HUGE_PAGE) * HUGE_PAGE;
  const to = ((start + BigInt(buf.byteLength)) / HUGE_PAGE) * HUGE_PAGE;
  return to > from && madvise(from, Number(to - from), MADV_HUGEPAGE) === 0;
}

const MADV_POPULATE_WRITE = 23;
const PAGE = 4096n;

/**
 * Faults in the whole 4 KiB pages inside `buf` at once, as writing to each
 * would, but in one system call instead of a trap per page (256 per MiB;
 * on a virtual machine each trap is dear). For fresh memory about to be
 * filled: a received value's buffer. False when unavailable (not Linux 5.14+
 * with glibc, koffi missing) or refused; the buffer works the same either way.
 */
export function populatePages(buf: Uint8Array): boolean {
  const madvise = load().madvise;
  if (!madvise || buf.byteLength < 2 * Number(PAGE)) return false;
  const start = koffi().address(buf);
  const from = ((start + PAGE - 1n) / PAGE) * PAGE;
  const to = ((start + BigInt(buf.byteLength)) / PAGE) * PAGE;
  return to > from && madvise(from, Number(to - from), MADV_POPULATE_WRITE) === 0;
}
