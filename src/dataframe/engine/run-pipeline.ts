/**
 * Runs a partition pipeline (pipeline.ts): its source, its ops as one lazy
 * Polars query, and its sink.
 */

import { createRequire } from 'node:module';
import { EngineError, DataFrameError } from '../../errors.js';
import type { Schema } from '../dtypes.js';
import type { OpSpec, Pipeline, SinkSpec, SourceSpec, WriteResult } from '../pipeline.js';
import { ipcToNative, nativeToIpc } from './ipc.js';
import { polars, type NFrame, type NLazy } from './load.js';
import { applyOp } from './ops.js';
import { applyWindow } from './window.js';
import { writePartitioned } from './partitioned-write.js';
import { engineError } from './polars-error.js';
import { nativeSchema, toPolarsType, zeroFrame } from './schema.js';
import { hashBucket, rangeBucket, splitByColumn, splitBySlices } from './shuffle.js';
import { buildSource } from './source.js';
import type { RunHooks } from './hooks.js';
import type { Built } from './schema.js';

const require = createRequire(import.meta.url);

/**
 * Builds the lazy query for a pipeline. The schema after each op is found
 * by running the same op on a frame with no rows (microseconds), so
 * expressions can be typed against the columns they actually see.
 */
async function buildPipeline(p: Pipeline, inputs: readonly Uint8Array[], hooks: RunHooks): Promise<Built> {
  let { lf, schema } = await buildSource(p.source, inputs, hooks);
  for (const op of p.ops) {
    if (op.op === 'map') {
      const fn = await hooks.loadFunction(op.fn);
      let df: NFrame;
      try {
        df = await lf.collect();
      } catch (err) {
        throw engineError(err, 'running a partition query');
      }
      let result: unknown;
      try {
        result = await fn(polars().wrapFrame(df), ...op.args);
      } catch (err) {
        // Polars errors can quote whole columns: keep the message readable, the original as the cause.
        const msg = err instanceof Error ? err.message : String(err);
        throw new DataFrameError(`mapPartitions: the function failed: ${msg.length > 2000 ? `${msg.slice(0, 2000)}...` : msg}`, { cause: err });
      }
      const native = (result as { _df?: NFrame } | null)?._df;
      if (!native || typeof native.lazy !== 'function') {
        throw new DataFrameError(`mapPartitions: the function must return a Polars DataFrame, got ${describe(result)}`);
      }
      lf = native.lazy();
      schema = nativeSchema(native.head(0));
      continue;
    }
    if (op.op === 'window') {
      try {
        ({ lf, schema } = applyWindow(lf, schema, op, inputs));
      } catch (err) {
        throw engineError(err, 'in window');
      }
      continue;
    }
    let right: Built | undefined;
    if (op.op === 'join') right = await buildPipeline(op.right, inputs, hooks);
    try {
      lf = applyOp(lf, op, schema, right);
      const zeroRight = right ? { lf: zeroFrame(right.schema).lazy(), schema: right.schema } : undefined;
      schema = nativeSchema(applyOp(zeroFrame(schema).lazy(), op, schema, zeroRight).collectSync('auto'));
    } catch (err) {
      throw engineError(err, `in ${op.op}`);
    }
  }
  return { lf, schema };
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  return (x as object).constructor?.name ?? 'an object';
}

/** The output schema of a pipeline, without reading any data (map ops excepted). */
export function pipelineSchema(inputSchema: Schema, ops: readonly OpSpec[], rightSchemas: (op: OpSpec) => Schema = () => ({})): Schema {
  let schema = inputSchema;
  for (const op of ops) {
    if (op.op === 'map') throw new EngineError('internal: pipelineSchema cannot see through mapPartitions');
    if (op.op === 'window') {
      schema = applyWindow(zeroFrame(schema).lazy(), schema, op).schema;
      continue;
    }
    try {
      const right = op.op === 'join' ? rightSchemas(op) : undefined;
      const zeroRight = right ? { lf: zeroFrame(right).lazy(), schema: right } : undefined;
      schema = nativeSchema(applyOp(zeroFrame(schema).lazy(), op, schema, zeroRight).collectSync('auto'));
    } catch (err) {
      throw engineError(err, `in ${op.op}`);
    }
  }
  return schema;
}

/**
 * Polars' optimized plan for a pipeline (map ops excepted), as text: where
 * predicates and projections ended up, e.g. inside the Parquet scan.
 */
export async function explainPipeline(p: Pipeline, inputs: readonly Uint8Array[], hooks: RunHooks): Promise<string> {
  const built = await buildPipeline(p, inputs, hooks);
  return String(built.lf.describeOptimizedPlan());
}

function describeSource(s: SourceSpec): string {
  if (s.kind === 'csv') return `${s.path} bytes ${s.start}-${s.end}`;
  if (s.kind === 'parquet') return s.path;
  return `${s.inputs.length} input partition(s)`;
}

/** Runs a pipeline into a sink. Returns IPC bytes, a bundle, a count or a write result. */
export async function runPipeline(
  p: Pipeline,
  sink: SinkSpec,
  inputs: readonly Uint8Array[],
  hooks: RunHooks,
): Promise<Buffer | number | WriteResult | WriteResult[]> {
  const { N } = polars();
  const built = await buildPipeline(p, inputs, hooks);
  const collect = async (lf: NLazy): Promise<NFrame> => {
    try {
      return await lf.collect();
    } catch (err) {
      throw engineError(err, `running the partition query (${describeSource(p.source)})`);
    }
  };
  switch (sink.kind) {
    case 'ipc':
      return nativeToIpc(await collect(built.lf));
    case 'count': {
      const df = await collect(built.lf.select([N.len().alias('n')]));
      return Number(df.getColumns()[0].getIdx(0));
    }
    case 'parquet': {
      const df = await collect(built.lf);
      hooks.beforeWrite?.(sink.path);
      try {
        df.writeParquet(sink.path, sink.compression);
      } catch (err) {
        throw new DataFrameError(`cannot write ${sink.path}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
      }
      const { statSync } = require('node:fs') as typeof import('node:fs');
      return { path: sink.path, rows: df.height as number, bytes: statSync(sink.path).size };
    }
    case 'parquetPartitioned':
      return writePartitioned(await collect(built.lf), built.schema, sink, hooks);
    case 'csv': {
      const df = await collect(built.lf);
      hooks.beforeWrite?.(sink.path);
      try {
        df.writeCsv(sink.path, { includeBom: false, includeHeader: sink.header ?? true, separator: ',', quoteChar: '"', lineTerminator: '\n', batchSize: 1024, maintainOrder: true });
      } catch (err) {
        throw new DataFrameError(`cannot write ${sink.path}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
      }
      const { statSync } = require('node:fs') as typeof import('node:fs');
      return { path: sink.path, rows: df.height as number, bytes: statSync(sink.path).size };
    }
    case 'hashSplit': {
      const df = await collect(built.lf.withColumns([hashBucket(sink.on, sink.n).alias('__tessera_part')]));
      return splitByColumn(df, sink.n, sink.sparse);
    }
    case 'rangeSplit': {
      const boundaries = inputs[sink.boundaries];
      if (!boundaries) throw new EngineError('internal: rangeSplit without boundaries');
      const part = rangeBucket(sink.by[0]!, built.schema, ipcToNative(boundaries), sink.n, sink.descending[0] ?? false, sink.nullsLast);
      const df = await collect(built.lf.withColumns([part.alias('__tessera_part')]));
      return splitByColumn(df, sink.n, sink.sparse);
    }
    case 'sliceSplit':
      return splitBySlices(await collect(built.lf), sink.n);
    case 'sample': {
      // Categories are sampled as their text (the order sort() uses; their codes differ by partition).
      const key = built.schema[sink.by] === 'category' ? N.col(sink.by).cast(toPolarsType('string'), true) : N.col(sink.by);
      const df = await collect(built.lf.select([key]).dropNulls([sink.by]).sortByExprs([N.col(sink.by)], false, true, false));
      const height = df.height as number;
      if (height <= sink.k) return nativeToIpc(df);
      const step = Math.max(1, Math.floor(height / sink.k));
      const sampled = await collect(df.lazy().select([N.col(sink.by).gatherEvery(step, Math.floor(step / 2))]));
      return nativeToIpc(sampled);
    }
  }
}
