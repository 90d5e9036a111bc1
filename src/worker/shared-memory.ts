/**
 * Where a worker keeps large values: in SharedArrayBuffers, which its
 * executor threads read without a copy (postMessage copies anything else,
 * per job), and on huge pages where the kernel allows, so that filling fresh
 * memory costs one page fault per 2 MiB instead of per 4 KiB.
 */
import { adviseHugePages, populatePages } from '../native/libc.js';

/**
 * Frames at least this large are kept in shared memory; below it a copy per
 * job is cheaper than a SharedArrayBuffer of its own.
 */
export const SHARE_FROM_BYTES = 1 << 20;

/**
 * Buffers at least this large go on huge pages. glibc serves allocations
 * this large with a mapping of their own (its mmap threshold never rises
 * above 32 MiB on 64-bit), returned to the system whole when freed; smaller
 * ones may come from the heap, where advice would outlive the buffer.
 */
const HUGE_PAGES_FROM = 32 * 1024 * 1024;

/**
 * A zero-filled shared buffer of `length` bytes: advised onto huge pages
 * when large, its pages faulted in at once when smaller (a value of a few
 * MiB is about to be filled whole).
 */
export function allocateShared(length: number): Buffer {
  const buf = Buffer.from(new SharedArrayBuffer(length));
  if (length >= HUGE_PAGES_FROM) adviseHugePages(buf);
  else populatePages(buf);
  return buf;
}

/** The buffer a worker receives a value's frame into (see FrameDecoder): shared when large. */
export function allocateValueFrame(length: number): Buffer {
  return length >= SHARE_FROM_BYTES ? allocateShared(length) : Buffer.allocUnsafe(length);
}
