/** One op of a partition pipeline (filter, select, join, sort, ...) applied to a lazy frame. */

import { EngineError, DataFrameError } from '../../errors.js';
import type { DType, Schema } from '../dtypes.js';
import { isFloatType, isIntegerType, isNumericType } from '../dtypes.js';
import type { LiteralValue } from '../expr.js';
import type { OpSpec } from '../pipeline.js';
import { castTo, ExprCompiler, fitsInteger, typedLiteral } from './expressions.js';
import { joinColumns } from '../join-columns.js';
import { polars, type NExpr, type NLazy } from './load.js';
import { zeroFrame, type Built } from './schema.js';

const GROUP_ROW = '__tessera_group_row';

/** Applies one op to a lazy frame whose schema is `schema`. */
export function applyOp(lf: NLazy, op: OpSpec, schema: Schema, right?: Built): NLazy {
  const { N } = polars();
  const ex = new ExprCompiler(zeroFrame(schema), schema);
  switch (op.op) {
    case 'filter':
      return lf.filter(ex.compile(op.predicate));
    case 'withColumns':
      return lf.withColumns(op.exprs.map((e) => ex.compile(e)));
    case 'select':
      return lf.select(op.exprs.map((e) => ex.compile(e)));
    case 'drop':
      for (const c of op.columns) if (!(c in schema)) throw new DataFrameError(`drop: column '${c}' not found; the columns are ${Object.keys(schema).join(', ')}`);
      return lf.dropColumns([...op.columns]);
    case 'rename': {
      const from = Object.keys(op.mapping).filter((c) => c in schema);
      return from.length ? lf.rename(from, from.map((c) => op.mapping[c]!)) : lf;
    }
    case 'cast': {
      const exprs = Object.entries(op.mapping).map(([c, t]) => {
        if (!(c in schema)) throw new DataFrameError(`cast: column '${c}' not found; the columns are ${Object.keys(schema).join(', ')}`);
        return castTo(N.col(c), schema[c]!, t, op.strict);
      });
      return exprs.length ? lf.withColumns(exprs) : lf;
    }
    case 'fillNull': {
      const exprs = fillNullExprs(op.value, op.columns, schema);
      return exprs.length ? lf.withColumns(exprs) : lf;
    }
    case 'slice':
      return lf.slice(op.offset, op.length);
    case 'groupBy':
      // No keys: a whole-frame aggregation, one row.
      if (op.keys.length === 0) return lf.select(op.aggs.map((a) => ex.compile(a)));
      return lf.groupby(op.keys.map((k) => N.col(k)), false).agg(op.aggs.map((a) => ex.compile(a)));
    case 'join': {
      if (!right) throw new EngineError('internal: join without its right side');
      const self: Built = { lf, schema };
      return op.swapped ? joinFrames(right, self, op) : joinFrames(self, right, op);
    }
    case 'sort':
      return sortLazy(lf, op.by, op.descending, op.nullsLast, schema);
    case 'map':
      throw new EngineError('internal: map is applied by runPipeline');
    case 'window':
      throw new EngineError('internal: window is applied by runPipeline (engine/window.ts)');
    case 'rowsPerGroup': {
      // Position in the group counted from its end (or start), 1-based; rows with a null key never need a halo.
      const keys = op.keys.map((k) => N.col(k));
      const notNull = op.keys.map((k) => N.col(k).isNotNull()).reduce((a, b) => a.and(b));
      const position = N.col(GROUP_ROW).cumCount(op.last).over(keys);
      return lf.filter(notNull).withRowIndex(GROUP_ROW, 0).filter(position.ltEq(N.lit(op.n))).dropColumns([GROUP_ROW]);
    }
  }
}

/**
 * pandas' merge of two frames (see join-columns.ts for the result's
 * columns). Every right column is renamed first and the keys are joined
 * through surrogate columns, so no name of either side can collide inside
 * Polars' join; the result is then selected by name.
 *
 * pandas' merge matches a missing key with a missing key; Polars' join
 * never matches null (and the binding cannot ask it to). With nullsEqual
 * both sides join on surrogate keys that are never null: each key with
 * its nulls filled, plus whether it was null. Without, the surrogates are
 * the keys themselves, and a null matches nothing (SQL's rule).
 */
function joinFrames(left: Built, right: Built, op: Extract<OpSpec, { op: 'join' }>): NLazy {
  const { N } = polars();
  if (op.leftOn.length !== op.rightOn.length || op.leftOn.length === 0) {
    throw new DataFrameError(`join: leftOn and rightOn must name the same number of key columns (at least one), got ${op.leftOn.length} and ${op.rightOn.length}`);
  }
  op.leftOn.forEach((l, i) => {
    const r = op.rightOn[i]!;
    if (!(l in left.schema)) throw new DataFrameError(`join: key '${l}' is not a column of the left frame; its columns are ${Object.keys(left.schema).join(', ')}`);
    if (!(r in right.schema)) throw new DataFrameError(`join: key '${r}' is not a column of the right frame; its columns are ${Object.keys(right.schema).join(', ')}`);
    if (left.schema[l] !== right.schema[r]) {
      const names = l === r ? `key '${l}' is` : `keys '${l}' (left) and '${r}' (right) are`;
      throw new DataFrameError(`join: ${names} ${left.schema[l]} on the left but ${right.schema[r]} on the right; cast one side first`);
    }
  });
  const rightCols = Object.keys(right.schema);
  const columns = joinColumns(Object.keys(left.schema), rightCols, op.leftOn, op.rightOn, op.suffix);
  const renamed = new Map(rightCols.map((c, j) => [c, `__tessera_r${j}`]));
  const surrogates = (on: readonly string[], schema: Schema, prefix: string): { exprs: NExpr[]; names: string[] } => {
    const exprs: NExpr[] = [];
    const names: string[] = [];
    on.forEach((k, i) => {
      if (op.nullsEqual) {
        names.push(`${prefix}k${i}`, `${prefix}n${i}`);
        exprs.push(nonNullKey(N.col(k), schema[k]!).alias(`${prefix}k${i}`), N.col(k).isNull().alias(`${prefix}n${i}`));
      } else {
        names.push(`${prefix}k${i}`);
        exprs.push(N.col(k).alias(`${prefix}k${i}`));
      }
    });
    return { exprs, names };
  };
  const l = surrogates(op.leftOn, left.schema, '__tessera_l');
  const r = surrogates(op.rightOn, right.schema, '__tessera_rk');
  // Only the right columns the result shows: a shared key of an inner or left join is the left row's.
  const coalesced = op.how === 'right' || op.how === 'outer';
  const shown = new Set(columns.filter((c) => c.right !== undefined && (c.left === undefined || coalesced)).map((c) => c.right!));
  const rightLf = right.lf.select([...rightCols.filter((c) => shown.has(c)).map((c) => N.col(c).alias(renamed.get(c)!)), ...r.exprs]);
  const how = op.how === 'outer' ? 'full' : op.how;
  const joined = left.lf
    .withColumns(l.exprs)
    .join(rightLf, l.names.map((c) => N.col(c)), r.names.map((c) => N.col(c)), true, false, how, '__tessera_dup', false, 'm:m', [], []);
  return joined.select(
    columns.map((c) => {
      if (c.left !== undefined && c.right !== undefined) {
        // A shared key: the left row's, else (right and outer joins) the right row's.
        const value = op.how === 'inner' || op.how === 'left' ? N.col(c.left) : N.when(N.col(c.left).isNotNull()).then(N.col(c.left)).otherwise(N.col(renamed.get(c.right)!));
        return value.alias(c.name);
      }
      return c.left !== undefined ? N.col(c.left) : N.col(renamed.get(c.right!)!).alias(c.name);
    }),
  );
}

/** A join key with its nulls replaced by a fixed value of its type (see the join op). */
function nonNullKey(e: NExpr, t: DType): NExpr {
  const { N, pl } = polars();
  if (t === 'string') return e.fillNull(N.lit(''));
  if (t === 'category') return e.cast(pl.String, true).fillNull(N.lit(''));
  if (t === 'bool') return e.fillNull(N.lit(false));
  if (isNumericType(t)) return e.fillNull(typedLiteral(0, t));
  // Temporal types and the null type compare as their integer representation.
  return e.cast(pl.Int64, false).fillNull(N.lit(0).cast(pl.Int64, true));
}

function sortLazy(lf: NLazy, by: readonly string[], descending: readonly boolean[], nullsLast: boolean, schema: Schema): NLazy {
  const { N, pl } = polars();
  // Categories sort by their text (pandas' order for categories it found), not by their codes.
  const key = (c: string): NExpr => (schema[c] === 'category' ? N.col(c).cast(pl.String, true) : N.col(c));
  const desc = by.map((_, i) => descending[i] ?? descending[0] ?? false);
  if (desc.every((d) => d === desc[0])) return lf.sortByExprs(by.map(key), desc[0] ?? false, nullsLast, true);
  // The binding takes one direction for all keys: mixed directions become
  // stable sorts from the least significant key to the most significant.
  let out = lf;
  for (let i = by.length - 1; i >= 0; i--) out = out.sortByExprs([key(by[i]!)], desc[i]!, nullsLast, true);
  return out;
}

function fillNullExprs(value: LiteralValue, columns: readonly string[] | null, schema: Schema): NExpr[] {
  const { N } = polars();
  if (value === null) return [];
  const targets = columns ?? Object.keys(schema);
  const out: NExpr[] = [];
  for (const c of targets) {
    const t = schema[c];
    if (t === undefined) throw new DataFrameError(`fillNull: column '${c}' not found; the columns are ${Object.keys(schema).join(', ')}`);
    // Like Polars' fill_null(value) on a frame: only columns the value fits.
    let fill: NExpr | undefined;
    if (typeof value === 'number') {
      if (isFloatType(t) || (isIntegerType(t) && Number.isInteger(value) && fitsInteger(value, t))) fill = typedLiteral(value, t);
    } else if (typeof value === 'string') {
      if (t === 'string') fill = N.lit(value);
    } else if (typeof value === 'boolean') {
      if (t === 'bool') fill = N.lit(value);
    }
    if (fill) out.push(N.col(c).fillNull(fill));
    else if (columns) throw new DataFrameError(`fillNull: cannot fill column '${c}' (${t}) with ${JSON.stringify(value)}`);
  }
  return out;
}
