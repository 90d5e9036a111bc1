/** Where a partition's rows come from: a CSV byte range, a Parquet file, or task inputs (IPC). */

import { DataFrameError, EngineError } from '../../errors.js';
import type { Schema } from '../dtypes.js';
import type { SourceSpec } from '../pipeline.js';
import { readCsvBytes, readCsvHead } from './csv.js';
import { ipcToNative } from './ipc.js';
import { polars, type NFrame, type NLazy } from './load.js';
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
      if (source.columns) lf = lf.select(source.columns.map((c) => N.col(c)));
      return { lf, schema: source.columns ? pick(source.schema, source.columns) : source.schema };
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
