/**
 * A worker's memory policy: what a memory limit means ('4GB', a fraction of
 * system memory, 'auto'), the fractions of it that drive spilling, pausing
 * and the nanny's restart, and the V8 heap limits of the executor threads.
 * Formatting byte counts is not policy and lives in util/bytes.ts.
 */
import { totalmem } from 'node:os';
import { createRequire } from 'node:module';
import { InvalidArgumentError } from '../errors.js';

const UNITS: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40, k: 1e3, m: 1e6, g: 1e9, t: 1e12,
};

/**
 * Bytes from a number or a string such as '4GB', '512MiB', '0.5' (a fraction
 * of system memory) or 'auto' (system memory shared by `workersOnHost`).
 * 0 means no limit.
 */
export function parseMemoryLimit(limit: number | string | undefined, workersOnHost = 1): number {
  if (limit === undefined || limit === 'auto') return Math.floor(totalmem() / Math.max(1, workersOnHost));
  if (typeof limit === 'number') {
    if (limit > 0 && limit <= 1) return Math.floor(totalmem() * limit);
    return Math.floor(limit);
  }
  const m = /^\s*([\d.]+)\s*([a-zA-Z]*)\s*$/.exec(limit);
  if (!m) throw new InvalidArgumentError(`invalid memory limit '${limit}': use bytes or a size like '4GB', '512MiB', or 'auto'`);
  const value = Number(m[1]);
  const unit = m[2]!.toLowerCase();
  if (unit === '') return value > 0 && value <= 1 ? Math.floor(totalmem() * value) : Math.floor(value);
  const mult = UNITS[unit];
  if (mult === undefined) throw new InvalidArgumentError(`invalid memory unit '${m[2]}' in '${limit}': use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB`);
  return Math.floor(value * mult);
}

/** Fractions of the memory limit, as in Dask: spill managed data, pause new tasks, (nanny) restart. */
export const MEMORY_TARGET = 0.6;
export const MEMORY_SPILL = 0.7;
export const MEMORY_PAUSE = 0.8;
export const MEMORY_TERMINATE = 0.95;

/**
 * Runs V8's garbage collector. Spilled Buffers free their memory only when
 * collected, and a paused worker allocates nothing that would trigger a
 * collection, so the memory monitor collects explicitly after spilling.
 * The handle is made on first use: making it creates a V8 context (~5 ms),
 * and node:v8 and node:vm cost ~4 ms more to load, which every worker and
 * client would otherwise pay at start-up.
 */
let gc: (() => void) | undefined;
export function collectGarbage(): void {
  gc ??= (() => {
    const existing = (globalThis as { gc?: () => void }).gc;
    if (existing) return existing;
    try {
      const require = createRequire(import.meta.url);
      (require('node:v8') as typeof import('node:v8')).setFlagsFromString('--expose-gc');
      return (require('node:vm') as typeof import('node:vm')).runInNewContext('gc') as () => void;
    } catch {
      return () => {};
    }
  })();
  gc();
}

/**
 * MiB a worker process uses besides its executor threads' JavaScript heaps:
 * Node itself, the main thread (comms, the data store's index) and each
 * thread's runtime. Measured at ~60-80 MiB RSS for an idle worker.
 */
export const PROCESS_RESERVE_MB = 64;
/** Smallest old-generation heap an executor thread gets, however small the limit: below this even loading a task's module fails. */
export const MIN_OLD_GENERATION_MB = 32;
/** Bounds of an executor thread's young generation (V8's default is ~16-48 MiB on 64-bit). */
export const MIN_YOUNG_GENERATION_MB = 4;
export const MAX_YOUNG_GENERATION_MB = 32;

export interface ExecutorHeapLimits {
  maxOldGenerationSizeMb: number;
  maxYoungGenerationSizeMb: number;
}

/**
 * V8 heap limits (worker_threads `resourceLimits`) for each executor thread
 * of a worker with this memory limit (bytes; 0 = none, then V8's defaults).
 *
 * Without them a thread's heap may grow to V8's default (~4 GB) whatever the
 * worker's limit. The threads share what is left of the limit up to the
 * pause threshold once the process's own needs are set aside, so a task
 * that allocates without bound hits its thread's heap limit (the task errs
 * with a clear message, the thread is replaced) before the process reaches
 * the nanny's 95% (the whole worker is restarted and its other work lost).
 * Buffers and typed arrays live outside these heaps: the nanny is what
 * bounds those.
 */
export function executorResourceLimits(memoryLimit: number, nthreads: number): ExecutorHeapLimits | undefined {
  if (!(memoryLimit > 0) || !Number.isFinite(memoryLimit)) return undefined;
  const perThreadMb = Math.max(0, (memoryLimit / 2 ** 20) * MEMORY_PAUSE - PROCESS_RESERVE_MB) / Math.max(1, Math.floor(nthreads));
  const young = Math.min(MAX_YOUNG_GENERATION_MB, Math.max(MIN_YOUNG_GENERATION_MB, Math.floor(perThreadMb / 8)));
  const old = Math.max(MIN_OLD_GENERATION_MB, Math.floor(perThreadMb - young));
  return { maxOldGenerationSizeMb: old, maxYoungGenerationSizeMb: young };
}
