/**
 * The per-partition engine boundary. Everything above this module (plan,
 * frame, tasks) speaks pipeline specs, Tessera schemas and Arrow IPC bytes;
 * only the implementation behind it (today Polars, in the other files of
 * engine/) knows a concrete dataframe library. Another engine (DuckDB, say)
 * would provide the same functions.
 */

import { DataFrameError } from '../../errors.js';

export { inferCsvSchema } from './csv.js';
export { concatIpc, frameToIpc, ipcHeight } from './ipc.js';
export { isLoaded, type PolarsDataFrame } from './load.js';
export { explainPipeline, pipelineSchema, runPipeline } from './run-pipeline.js';
export type { RunHooks } from './hooks.js';
export { emptyFrame, frameSchema, labelledFloatFrame } from './schema.js';
export { sortBoundaries } from './shuffle.js';
export { estimateParquetBytes, parquetSchema } from './source.js';
export { matchingRows } from './partitions.js';

import { isLoaded } from './load.js';

export const ENGINE_NAME = 'polars';

/**
 * Sizes the engine's (process-wide) thread pool. Must run before the engine
 * is first used in this process, which is why workers call it at start with
 * their nthreads; afterwards a different count is refused, since Polars
 * would silently ignore it.
 */
export function setEngineThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new DataFrameError(`engine threads must be a positive integer, got ${n}`);
  const current = process.env.POLARS_MAX_THREADS;
  if (isLoaded()) {
    if (current !== String(n)) {
      throw new DataFrameError(
        `the dataframe engine is already running with ${current ?? 'the default number of'} threads in this process; ` +
          `set its thread count (POLARS_MAX_THREADS=${n}) before the first dataframe operation`,
      );
    }
    return;
  }
  process.env.POLARS_MAX_THREADS = String(n);
}
