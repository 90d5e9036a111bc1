/**
 * What a pipeline run needs from the process it runs in (a worker's task,
 * src/dataframe/tasks.ts): the engine reads files and loads users' functions
 * only through these, so it depends on neither the worker nor graph's loader.
 */
import type { AnyFunction } from '../../graph/function-spec.js';
import type { FunctionSpec } from '../../protocol/messages.js';

export interface RunHooks {
  /** Loads a task function (mapPartitions) by its spec. */
  loadFunction(spec: FunctionSpec): Promise<AnyFunction>;
  /** Reads bytes [start, end) of a file. */
  readRange(path: string, start: number, end: number): Promise<Buffer>;
  /** Called just before a partition's output file is created, to check its folder is still there (Polars panics on a missing one). */
  beforeWrite?(path: string): void;
}
