/** Where a partition's rows come from: a CSV byte range, a Parquet file, or task inputs (IPC). */

import { DataFrameError, EngineError } from '../../errors.js';
import type { Schema } from '../dtypes.js';
import type { SourceSpec } from '../pipeline.js';
import { readCsvBytes, readCsvHead } from './csv.js';
import { ipcToNative } from './ipc.js';
import { polars, type NFrame, type NLazy } from './load.js';
import { typedLiteral } from './expressions.js';
import { nativeSchema, zeroFrame, type Built } from './schema.js';
import type { RunHooks } from './hooks.js';

export async function buildSource(source: SourceSpec, inputs: readonly Uint8Array[], hooks: RunHooks): Promise<Built> {
  const { N, pl } = polars();
  switch (source.kind) {
    case 'csv': {
      const df = source.nRows !== undefined ? await readCsvHead(source, source.nRows, hooks) : readCsvBytes(await hooks.readRange(source.path, source.start, source.end), source);
      const schema = source.columns ? pick(source.schema, source.columns) : source.schema;
      return { lf: df.lazy(), schema };
    }
    case 'parquet': {
      let lf: NLazy;
      try {
        lf = pl.scanParquet(source.path, {}).inner();
      } catch (err) {
        throw new DataFrameError(`cannot read ${source.path}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
      }
      const parts = source.partitionValues ?? [];
      let schema = source.columns ? pick(source.schema, source.columns) : { ...source.schema };
      // Reading no file column would read no rows: keep the first one for the row count, dropped below.
      const placeholder = source.columns?.length === 0 ? Object.keys(source.schema)[0] : undefined;
      if (placeholder !== undefined) lf = lf.select([N.col(placeholder)]);
      else if (source.columns) lf = lf.select(source.columns.map((c) => N.col(c)));
      if (parts.length) {
        lf = lf.withColumns(parts.map((p) => typedLiteral(p.value, p.dtype).alias(p.name)));
        for (const p of parts) schema[p.name] = p.dtype;
      }
      if (placeholder !== undefined) {
        lf = lf.select(parts.map((p) => N.col(p.name)));
        schema = Object.fromEntries(parts.map((p) => [p.name, p.dtype]));
      }
      return { lf, schema };
    }
    case 'inputs': {
      const frames = source.inputs.map((i) => {
        const b = inputs[i];
        if (!b) throw new EngineError(`internal: task input ${i} is missing`);
        return ipcToNative(b);
      });
      if (frames.length === 0) return { lf: zeroFrame(source.schema).lazy(), schema: source.schema };
      if (frames.length === 1) return { lf: frames[0].lazy(), schema: source.schema };
      const lf = N.concatLf(frames.map((f: NFrame) => f.lazy()), 'vertical', false, true, true, true);
      return { lf, schema: source.schema };
    }
  }
}

/** The schema of a Parquet file, from its footer. */
export function parquetSchema(path: string): Schema {
  const { pl } = polars();
  try {
    return nativeSchema(pl.scanParquet(path, {}).inner().slice(0, 0).collectSync('auto'));
  } catch (err) {
    throw new DataFrameError(`cannot read the schema of ${path}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
}

function pick(schema: Schema, columns: readonly string[]): Schema {
  const out: Schema = {};
  for (const c of columns) {
    if (!(c in schema)) throw new DataFrameError(`column '${c}' not found; the columns are ${Object.keys(schema).join(', ')}`);
    out[c] = schema[c]!;
  }
  return out;
}

/**
 * In-memory bytes of each Parquet file's `columns` (for repartition by
 * size), estimated without reading them: each file's row count from its
 * footer times the bytes per row of the first file's first 1000 rows.
 */
export function estimateParquetBytes(files: readonly string[], columns: readonly string[]): number[] {
  const { N, pl } = polars();
  const scan = (path: string): NLazy => {
    try {
      return pl.scanParquet(path, {}).inner().select(columns.map((c) => N.col(c)));
    } catch (err) {
      throw new DataFrameError(`cannot read ${path}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
    }
  };
  const rows = files.map((f) => Number(scan(f).select([N.len().alias('n')]).collectSync('auto').getColumns()[0].getIdx(0)));
  const sample = scan(files[0]!).slice(0, 1000).collectSync('auto');
  const perRow = (sample.height as number) > 0 ? (sample.estimatedSize() as number) / (sample.height as number) : 0;
  return rows.map((r) => r * perRow);
}
