/** One op of a partition pipeline (filter, select, join, sort, ...) applied to a lazy frame. */

import { EngineError, DataFrameError } from '../../errors.js';
import type { DType, Schema } from '../dtypes.js';
import { isFloatType, isIntegerType, isNumericType } from '../dtypes.js';
import type { LiteralValue } from '../expr.js';
import type { OpSpec } from '../pipeline.js';
import { castTo, ExprCompiler, fitsInteger, typedLiteral } from './expressions.js';
import { polars, type NExpr, type NLazy } from './load.js';
import { zeroFrame, type Built } from './schema.js';

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
      for (const k of op.on) {
        if (!(k in schema)) throw new DataFrameError(`join: key '${k}' is not a column of the left frame`);
        if (!(k in right.schema)) throw new DataFrameError(`join: key '${k}' is not a column of the right frame`);
        if (schema[k] !== right.schema[k]) {
          throw new DataFrameError(`join: key '${k}' is ${schema[k]} on the left but ${right.schema[k]} on the right; cast one side first`);
        }
      }
      if (!op.nullsEqual) {
        const keys = () => op.on.map((k) => N.col(k));
        return lf.join(right.lf, keys(), keys(), true, false, op.how, op.suffix, true, 'm:m', [], []);
      }
      // pandas' merge matches a missing key with a missing key; Polars'
      // join never matches null (and the binding cannot ask it to). So both
      // sides join on surrogate keys that are never null: each key with its
      // nulls filled, plus whether it was null. The right side's own key
      // columns go (the left's are the output's, as in a coalescing join),
      // and so do the surrogates afterwards.
      const surrogates: NExpr[] = [];
      const names: string[] = [];
      op.on.forEach((k, i) => {
        names.push(`__tessera_jk${i}`, `__tessera_jn${i}`);
        surrogates.push(nonNullKey(N.col(k), schema[k]!).alias(`__tessera_jk${i}`), N.col(k).isNull().alias(`__tessera_jn${i}`));
      });
      const keys = () => names.map((k) => N.col(k));
      const r = right.lf.withColumns(surrogates).dropColumns([...op.on]);
      return lf.withColumns(surrogates).join(r, keys(), keys(), true, false, op.how, op.suffix, true, 'm:m', [], []).dropColumns(names);
    }
    case 'sort':
      return sortLazy(lf, op.by, op.descending, op.nullsLast, schema);
    case 'map':
      throw new EngineError('internal: map is applied by runPipeline');
  }
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
