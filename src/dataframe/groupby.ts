/**
 * Distributed group-by: each aggregation is split into a partial step (per
 * partition), a combine step (partials of several partitions merged, in a
 * tree) and a final step (e.g. mean = sum / count), the way Dask's
 * groupby-aggregate and its whole-frame reductions (apply-concat-apply)
 * work. The same split serves whole-frame aggregations (`select` with
 * aggregations, no keys). Aggregations that cannot be split this way
 * (nUnique, median) fall back to combining whole partitions in one task.
 */

import { DataFrameError } from '../errors.js';
import type { DType, Schema } from './dtypes.js';
import { col, containsAgg, exprChildren, len, lit, mapExprChildren, outputName, when, type AggOp, type ExprNode, Expr } from './expr.js';
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

/** The column each partition of a whole-frame reduction reports its row count in (see splitAggregations). */
export const ROWS_COLUMN = '__tessera_rows';

/**
 * Checks the expressions of a whole-frame reduction (`select` with
 * aggregations): each must reduce the frame to one value, so that it can be
 * computed from per-partition partials. Anything that would quietly give a
 * per-partition answer is refused.
 */
export function validateReduction(exprs: readonly ExprNode[]): void {
  const names = new Set<string>();
  for (const e of exprs) {
    const name = outputName(e);
    if (names.has(name)) throw new DataFrameError(`select(): two expressions are both named '${name}'; give one an alias()`);
    names.add(name);
    const rowWise = rowWiseColumns(e);
    if (rowWise.length) {
      throw new DataFrameError(
        `select(): ${new Expr(e).toString()} uses column(s) ${rowWise.map((c) => `'${c}'`).join(', ')} outside an aggregation, ` +
          `next to aggregations: a select with aggregations reduces the whole frame to one row, so every column must be inside ` +
          `one (e.g. col("x").sum()); for per-row values next to group aggregates use groupBy(...).agg(...) and join`,
      );
    }
    forEachAgg(e, (agg) => {
      if (agg.op === 'agg' && containsAgg(agg.arg)) {
        throw new DataFrameError(
          `select(): ${new Expr(agg).toString()} aggregates an aggregation, which cannot be combined across partitions; aggregate columns only`,
        );
      }
    });
  }
}

/** Columns an expression reads outside any aggregation. */
function rowWiseColumns(node: ExprNode): string[] {
  const found = new Set<string>();
  const walk = (n: ExprNode): void => {
    if (n.op === 'agg' || n.op === 'len') return;
    if (n.op === 'col') {
      found.add(n.name);
      return;
    }
    exprChildren(n).forEach(walk);
  };
  walk(node);
  return [...found];
}

/** Calls fn on every outermost aggregation (agg or len) of an expression. */
function forEachAgg(node: ExprNode, fn: (agg: Extract<ExprNode, { op: 'agg' | 'len' }>) => void): void {
  if (node.op === 'agg' || node.op === 'len') fn(node);
  else exprChildren(node).forEach((c) => forEachAgg(c, fn));
}

/** The expression with each outermost aggregation replaced by replace(agg). */
function replaceAggs(node: ExprNode, replace: (agg: Extract<ExprNode, { op: 'agg' | 'len' }>) => ExprNode): ExprNode {
  if (node.op === 'agg' || node.op === 'len') return replace(node);
  return mapExprChildren(node, (n) => replaceAggs(n, replace));
}

/**
 * The split form of the aggregations, or null when one of them cannot be
 * split. With keys, each aggregation is a single term (validateAggs); with
 * no keys (a whole-frame reduction, see validateReduction) an expression
 * may combine several aggregations (`col("a").sum().div(len())`): each is
 * split, and the expression is rebuilt over their final values.
 *
 * Without keys every partition yields one row, even an empty partition,
 * whose first/last would be null: partials then carry their row count
 * (ROWS_COLUMN) and partitions without rows are dropped before combining.
 */
export function splitAggregations(input: Schema, keys: readonly string[], aggs: readonly ExprNode[]): SplitAggregation | null {
  const terms: Extract<ExprNode, { op: 'agg' | 'len' }>[] = [];
  for (const a of aggs) forEachAgg(a, (t) => terms.push(t));
  if (terms.some((t) => !SPLITTABLE.has(t.op === 'len' ? 'len' : t.fn))) return null;
  // The types a single-process aggregation gives, so the split form ends identical.
  const expected: Schema = groupBySchema(input, keys, aggs);
  const partial: ExprNode[] = [];
  const combine: ExprNode[] = [];
  const finals = new Map<ExprNode, ExprNode>();
  if (keys.length === 0) {
    partial.push(len().alias(ROWS_COLUMN).node);
    combine.push(col(ROWS_COLUMN).sum().alias(ROWS_COLUMN).node);
  }
  terms.forEach((t, i) => {
    const p = (suffix: string): string => `__tessera_a${i}_${suffix}`;
    const f64 = (e: Expr): Expr => e.cast('float64');
    const add = (suffix: string, partialExpr: Expr, combineExpr: Expr): void => {
      partial.push(partialExpr.alias(p(suffix)).node);
      combine.push(combineExpr.alias(p(suffix)).node);
    };
    const same = (suffix: string, partialExpr: Expr, combineFn: 'sum' | 'min' | 'max' | 'first' | 'last'): void =>
      add(suffix, partialExpr, col(p(suffix))[combineFn]());
    if (t.op === 'len') {
      same('n', len(), 'sum');
      finals.set(t, col(p('n')).node);
      return;
    }
    const arg = new Expr(t.arg);
    let out: Expr;
    switch (t.fn) {
      case 'sum':
      case 'count':
        same(t.fn, arg[t.fn](), 'sum');
        out = col(p(t.fn));
        break;
      case 'min':
      case 'max':
      case 'first':
      case 'last':
        same(t.fn, arg[t.fn](), t.fn);
        out = col(p(t.fn));
        break;
      case 'mean':
        same('s', f64(arg).sum(), 'sum');
        same('c', arg.count(), 'sum');
        // A group with no values has a null mean, as in Polars (not 0/0).
        out = when(col(p('c')).gt(0)).then(col(p('s')).div(col(p('c')).cast('float64'))).otherwise(lit(null, 'float64'));
        break;
      case 'std':
      case 'var': {
        // Chan, Golub and LeVeque's parallel variance: each partition reports
        // its count n, a reference m near its mean, and the sums of the
        // deviations from it, r = sum (x - m) and q = sum (x - m)^2 (two
        // passes over its rows); partials combine around a new reference m':
        //   n' = sum n_i,  r' = sum r_i + sum n_i (m_i - m'),
        //   q' = sum q_i + 2 sum (m_i - m') r_i + sum n_i (m_i - m')^2
        // (the pairwise update applied to k partials at once), and at the end
        // M2 = q - r^2 / n. Every term is a small deviation, never a
        // difference of large sums of squares, which lost all precision for
        // values such as 1e8 + N(0, 1). r carries what rounding a mean near
        // 1e8 to a double loses (up to 7e-9 each), which would otherwise enter
        // M2 directly. References are shifted means, min + mean(x - min), so
        // no sum of large values is ever taken.
        const x = f64(arg);
        const n = col(p('n'));
        const nf = f64(n);
        const m = col(p('m'));
        const r = col(p('r'));
        const partialRef = x.min().add(x.sub(x.min()).mean());
        const combinedRef = when(n.sum().gt(0)).then(m.min().add(nf.mul(m.sub(m.min())).sum().div(f64(n.sum())))).otherwise(lit(null, 'float64'));
        const shift = m.sub(combinedRef);
        add('n', arg.count(), n.sum());
        add('m', partialRef, combinedRef);
        add('r', x.sub(partialRef).sum(), r.sum().add(nf.mul(shift).sum()));
        add('q', x.sub(partialRef).pow(2).sum(), col(p('q')).sum().add(lit(2, 'float64').mul(shift.mul(r).sum())).add(nf.mul(shift.pow(2)).sum()));
        const m2 = col(p('q')).sub(r.mul(r).div(nf));
        const variance = m2.div(nf.sub(lit(1, 'float64')));
        // Fewer than two values: null, as Polars' sample variance.
        out = when(n.gt(1)).then(t.fn === 'var' ? variance : variance.sqrt()).otherwise(lit(null, 'float64'));
        break;
      }
      default:
        throw new DataFrameError(`internal: cannot split ${t.fn}`);
    }
    finals.set(t, out.node);
  });
  const final = aggs.map((a) => {
    const name = outputName(a);
    return new Expr(replaceAggs(a, (t) => finals.get(t)!)).cast(expected[name]!).alias(name).node;
  });
  return { partial, combine, final: [...keys.map((k) => col(k).node), ...final] };
}
