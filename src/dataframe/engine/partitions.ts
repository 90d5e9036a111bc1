/** Evaluating a predicate on a small table held by the client: which hive partitions (files) a filter can match. */

import { DataFrameError } from '../../errors.js';
import type { Schema } from '../dtypes.js';
import type { ExprNode, LiteralValue } from '../expr.js';
import { polars } from './load.js';
import { applyOp } from './ops.js';
import { engineError } from './polars-error.js';
import { toPolarsType } from './schema.js';

const ROW = '__tessera_row';

/** The indices of the rows of `rows` (values in the order of `schema`) for which `predicate` is true. */
export function matchingRows(schema: Schema, rows: readonly (readonly LiteralValue[])[], predicate: ExprNode): number[] {
  const { pl } = polars();
  const names = Object.keys(schema);
  if (names.includes(ROW)) throw new DataFrameError(`a partition column may not be named ${ROW}`);
  const columns = names.map((c, j) => pl.Series(c, rows.map((r) => r[j] ?? null), toPolarsType(schema[c]!)));
  columns.push(pl.Series(ROW, rows.map((_, i) => i), pl.Int64));
  try {
    const native = pl.DataFrame(columns)._df;
    const kept = applyOp(native.lazy(), { op: 'filter', predicate }, schema).select([polars().N.col(ROW)]).collectSync('auto');
    return (kept.getColumns()[0].toArray() as (number | bigint)[]).map(Number);
  } catch (err) {
    throw engineError(err, 'matching the partition folders against the filter');
  }
}
