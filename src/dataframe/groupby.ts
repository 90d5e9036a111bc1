/**
 * Distributed group-by: each aggregation is split into a partial step (per
 * partition), a combine step (partials of several partitions merged, in a
 * tree) and a final step (e.g. mean = sum / count), the way Dask's
 * groupby-aggregate works. Aggregations that cannot be split this way
 * (nUnique, median) fall back to combining whole partitions in one task.
 */

import { DataFrameError } from '../errors.js';
import type { DType, Schema } from './dtypes.js';
import { col, len, lit, outputName, when, type AggOp, type ExprNode, Expr } from './expr.js';
import { groupBySchema } from './plan.js';

export interface SplitAggregation {
  /** Per partition: groupBy(keys).agg(partial). */
  readonly partial: readonly ExprNode[];
  /** Over concatenated partials: groupBy(keys).agg(combine); same columns as partial. */
  readonly combine: readonly ExprNode[];
  /** After the last combine: select(keys + final), giving the user's columns and types. */
  readonly final: readonly ExprNode[];
}

interface AggTerm {
  name: string;
  fn: AggOp | 'len';
  arg: ExprNode | null;
}

/** Reads a top-level aggregation (`col('x').sum().alias('s')`, `len()`); null when it is not one. */
function aggTerm(node: ExprNode): AggTerm | null {
  let name: string | undefined;
  let n = node;
  if (n.op === 'alias') {
    name = n.name;
    n = n.arg;
  }
  if (n.op === 'len') return { name: name ?? 'len', fn: 'len', arg: null };
  if (n.op === 'agg') return { name: name ?? outputName(n.arg), fn: n.fn, arg: n.arg };
  return null;
}

/** Checks that every aggregation is one of ours; a clear error otherwise. */
export function validateAggs(aggs: readonly ExprNode[]): void {
  if (aggs.length === 0) throw new DataFrameError('agg() needs at least one aggregation, e.g. col("x").sum()');
  const names = new Set<string>();
  for (const a of aggs) {
    const t = aggTerm(a);
    if (!t) {
      throw new DataFrameError(
        `agg(): each expression must be one aggregation such as col("x").sum(), col("x").mean().alias("m") or len(); got ${new Expr(a).toString()}`,
      );
    }
    if (names.has(t.name)) throw new DataFrameError(`agg(): two aggregations are both named '${t.name}'; give one an alias()`);
    names.add(t.name);
  }
}

const SPLITTABLE = new Set<string>(['sum', 'count', 'len', 'min', 'max', 'first', 'last', 'mean', 'std', 'var']);

/** The split form of the aggregations, or null when one of them cannot be split. */
export function splitAggregations(input: Schema, keys: readonly string[], aggs: readonly ExprNode[]): SplitAggregation | null {
  const terms = aggs.map((a) => aggTerm(a)!);
  if (terms.some((t) => !SPLITTABLE.has(t.fn))) return null;
  // The types a single-process group-by gives, so the split form ends identical.
  const expected: Schema = groupBySchema(input, keys, aggs);
  const partial: ExprNode[] = [];
  const combine: ExprNode[] = [];
  const final: ExprNode[] = [];
  terms.forEach((t, i) => {
    const p = (suffix: string): string => `__tessera_a${i}_${suffix}`;
    const arg = t.arg ? new Expr(t.arg) : null;
    const f64 = (e: Expr): Expr => e.cast('float64');
    const add = (suffix: string, partialExpr: Expr, combineFn: 'sum' | 'min' | 'max' | 'first' | 'last'): void => {
      partial.push(partialExpr.alias(p(suffix)).node);
      combine.push(col(p(suffix))[combineFn]().alias(p(suffix)).node);
    };
    const type: DType = expected[t.name]!;
    let out: Expr;
    switch (t.fn) {
      case 'len':
        add('n', len(), 'sum');
        out = col(p('n'));
        break;
      case 'sum':
      case 'count':
        add(t.fn, arg![t.fn](), 'sum');
        out = col(p(t.fn));
        break;
      case 'min':
      case 'max':
      case 'first':
      case 'last':
        add(t.fn, arg![t.fn](), t.fn);
        out = col(p(t.fn));
        break;
      case 'mean':
        add('s', f64(arg!).sum(), 'sum');
        add('c', arg!.count(), 'sum');
        // A group with no values has a null mean, as in Polars (not 0/0).
        out = when(col(p('c')).gt(0)).then(col(p('s')).div(col(p('c')).cast('float64'))).otherwise(lit(null, 'float64'));
        break;
      case 'std':
      case 'var': {
        add('s', f64(arg!).sum(), 'sum');
        add('q', f64(arg!).mul(f64(arg!)).sum(), 'sum');
        add('c', arg!.count(), 'sum');
        const c = col(p('c')).cast('float64');
        const variance = col(p('q')).sub(col(p('s')).mul(col(p('s'))).div(c)).div(c.sub(lit(1, 'float64')));
        // Fewer than two values: null, as Polars' sample variance.
        out = when(col(p('c')).gt(1)).then(t.fn === 'var' ? variance : variance.sqrt()).otherwise(lit(null, 'float64'));
        break;
      }
      default:
        throw new DataFrameError(`internal: cannot split ${t.fn}`);
    }
    final.push(out.cast(type).alias(t.name).node);
  });
  return { partial, combine, final: [...keys.map((k) => col(k).node), ...final] };
}
