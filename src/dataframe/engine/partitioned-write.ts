/** Writing one partition as hive-partitioned Parquet files: one file per distinct combination of the partition columns' values. */

import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataFrameError } from '../../errors.js';
import type { Schema } from '../dtypes.js';
import { hiveFolderName } from '../io/hive.js';
import type { SinkSpec, WriteResult } from '../pipeline.js';
import { castTo } from './expressions.js';
import { polars, type NFrame } from './load.js';
import type { RunHooks } from './hooks.js';

type PartitionedSink = Extract<SinkSpec, { kind: 'parquetPartitioned' }>;

/** Creates `dir/level1/level2...` one level at a time, so a removed `dir` (an abandoned write) is never created again. */
function makeFolders(dir: string, levels: readonly string[]): string {
  let cur = dir;
  for (const level of levels) {
    cur = join(cur, level);
    try {
      mkdirSync(cur);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new DataFrameError(`cannot create the partition folder ${cur} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); was the write abandoned?`, { cause: err });
      }
    }
  }
  return cur;
}

export async function writePartitioned(df: NFrame, schema: Schema, sink: PartitionedSink, hooks: RunHooks): Promise<WriteResult[]> {
  const { N } = polars();
  if ((df.height as number) === 0) return [];
  const keys = sink.partitionOn;
  const rest = Object.keys(schema).filter((c) => !keys.includes(c));
  // Groups in the order their first row appears, so part files come out in a stable order.
  const groups: NFrame[] = df.partitionBy([...keys], true, true);
  const results: WriteResult[] = [];
  for (const g of groups) {
    const first = g.head(1).lazy().select(keys.map((k) => castTo(N.col(k), schema[k]!, 'string', true).alias(k))).collectSync('auto');
    const values = (first.getColumns() as { getIdx(i: number): unknown }[]).map((c) => c.getIdx(0) as string | null);
    const levels = keys.map((k, j) => hiveFolderName(k, values[j]!));
    hooks.beforeWrite?.(join(sink.dir, sink.file));
    const folder = makeFolders(sink.dir, levels);
    const path = join(folder, sink.file);
    const data = g.lazy().select(rest.map((c) => N.col(c))).collectSync('auto');
    try {
      data.writeParquet(path, sink.compression);
    } catch (err) {
      throw new DataFrameError(`cannot write ${path}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
    }
    results.push({ path, rows: data.height as number, bytes: statSync(path).size });
  }
  return results;
}
