/**
 * The functions dataframe tasks run, on workers (as module functions, by
 * this module's URL and an export name) or in process. Arguments are plain
 * data: a pipeline spec, a sink spec, piece numbers; task inputs are Arrow
 * IPC bytes. Results are IPC bytes (raw binary frames between workers),
 * bundles of them, row counts or write reports.
 */

import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DataFrameError } from '../errors.js';
import { compiledModuleUrl } from '../layout.js';
import { loadFunction } from '../graph/function-loader.js';
import { asBuffer, unbundle, unbundleAll } from './bundle.js';
import type { Schema } from './dtypes.js';
import { runPipeline, sortBoundaries as engineSortBoundaries, type RunHooks } from './engine/index.js';
import { requireOutputFolder } from './io/write-target.js';
import type { Pipeline, SinkSpec, WriteResult } from './pipeline.js';

async function readRange(path: string, start: number, end: number): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataFrameError(code === 'ENOENT' ? `file not found: ${path} (was it moved or deleted after readCsv?)` : `cannot open ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const length = end - start;
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, length - done, start + done);
      if (bytesRead === 0) throw new DataFrameError(`${path} is shorter than when it was partitioned (expected bytes up to ${end}); was it modified after readCsv?`);
      done += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

// The write may be abandoned while the partition's query runs: check its folder again just before writing.
const hooks: RunHooks = { loadFunction, readRange, beforeWrite: (path) => requireOutputFolder(dirname(path)) };

/** Runs one partition's pipeline into its sink. */
export async function runPartition(
  params: { pipeline: Pipeline; sink: SinkSpec },
  ...inputs: Uint8Array[]
): Promise<Buffer | number | WriteResult | WriteResult[]> {
  const { sink } = params;
  // Before the query too: a write abandoned already need not compute its partition.
  if (sink.kind === 'parquet' || sink.kind === 'csv') requireOutputFolder(dirname(sink.path));
  if (sink.kind === 'parquetPartitioned') requireOutputFolder(sink.dir);
  return runPipeline(params.pipeline, sink, inputs.map(asBuffer), hooks);
}

/** Piece `piece` of a split result (a copy, so the whole bundle can be freed). */
export function pickPiece(piece: number, bundled: Uint8Array): Buffer {
  return Buffer.from(unbundle(bundled, piece));
}

/**
 * The barrier of a P2P shuffle: it runs once every transfer task has
 * finished, and a transfer finishes only when its worker's shuffle service
 * has delivered every shard (src/worker/shuffle/service.ts). Its value, the
 * number of transfers, tells each unpack how many shards to expect.
 */
export function shuffleBarrier(_params: null, ...transfers: unknown[]): number {
  return transfers.length;
}

/**
 * Output partition j of a P2P shuffle: the worker's shuffle service gives
 * this task, in place of the barrier's value, a bundle of every shard it
 * received for j, in input order; they are concatenated into one partition.
 */
export async function shuffleUnpack(params: { schema: Schema }, shards: Uint8Array | number): Promise<Buffer> {
  if (typeof shards === 'number') {
    throw new DataFrameError('a P2P shuffle unpack ran without its shards: P2P shuffles run only on a cluster (use shuffle: \'tasks\' in process)');
  }
  // Shards without rows are zero bytes (a sparse split): only the others are read.
  const pieces = unbundleAll(shards).filter((s) => s.byteLength > 0);
  return runPipeline({ source: { kind: 'inputs', inputs: pieces.map((_, i) => i), schema: params.schema }, ops: [] }, { kind: 'ipc' }, pieces, hooks) as Promise<Buffer>;
}

/** Range boundaries for a distributed sort, from per-partition samples. */
export function sortBoundaries(params: { by: string; n: number; schema: Schema }, ...samples: Uint8Array[]): Buffer {
  return engineSortBoundaries(samples.map(asBuffer), params.by, params.n, params.schema);
}

/** Passes data through: how data held by the client (fromPolars) enters a distributed graph. */
export function identity(value: Uint8Array): Uint8Array {
  return value;
}

/** The size of a result in bytes (persist() records it, for repartition({ partitionSize })). */
export function byteLength(_params: null, value: Uint8Array): number {
  return value.byteLength;
}

/** What workers import to find these functions: this module as tsc compiled it, also when the client runs from the bundle. */
export const TASKS_MODULE_URL = compiledModuleUrl('dataframe/tasks.js').href;
