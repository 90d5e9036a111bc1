/**
 * readParquet's `filters`, spelled as pandas' read_parquet and pyarrow take
 * them (disjunctive normal form):
 *
 *   [['year', '==', 2015], ['s', 'in', ['a', 'b']]]          one AND of terms
 *   [[['year', '==', 2015]], [['year', '==', 2016], ...]]    an OR of ANDs
 *
 * They become one expression, applied by the read itself (see readParquet).
 * As in pyarrow, a null never matches a term: `!=` and `not in` drop the
 * rows whose value is null (pandas' query would keep them).
 */

import { DataFrameError } from '../../errors.js';
import { col, lit, type Expr, type LiteralValue } from '../expr.js';

export type FilterOp = '==' | '=' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in';
export type FilterTerm = readonly [column: string, op: FilterOp, value: LiteralValue | readonly LiteralValue[]];
/** One AND of terms, or an OR of such ANDs. */
export type ParquetFilters = readonly FilterTerm[] | readonly (readonly FilterTerm[])[];

const OPS: readonly FilterOp[] = ['==', '=', '!=', '<', '<=', '>', '>=', 'in', 'not in'];

function isTerm(x: unknown): boolean {
  return Array.isArray(x) && typeof x[0] === 'string';
}

function show(x: unknown): string {
  try {
    return JSON.stringify(x);
  } catch {
    return String(x);
  }
}

function term(t: unknown, columns: readonly string[], where: string): Expr {
  if (!Array.isArray(t) || t.length !== 3 || typeof t[0] !== 'string') {
    throw new DataFrameError(`readParquet: each filter is [column, op, value], got ${show(t)} in ${where}`);
  }
  const [name, op, value] = t as [string, string, unknown];
  if (!columns.includes(name)) throw new DataFrameError(`readParquet: the filter ${show(t)} names column '${name}', which ${where} does not have; its columns are ${columns.join(', ')}`);
  if (!OPS.includes(op as FilterOp)) throw new DataFrameError(`readParquet: unknown filter operator ${show(op)} in ${show(t)}; the operators are ${OPS.map((o) => `'${o}'`).join(', ')}`);
  const c = col(name);
  if (op === 'in' || op === 'not in') {
    if (!Array.isArray(value)) throw new DataFrameError(`readParquet: '${op}' takes a list of values, got ${show(value)} in ${show(t)}`);
    const e = c.isIn(value as LiteralValue[]);
    // A null is in no list and not outside any either (pyarrow): not(isIn) of null stays null, which filters out.
    return op === 'in' ? e : e.not();
  }
  if (Array.isArray(value) || (value !== null && typeof value === 'object')) {
    throw new DataFrameError(`readParquet: '${op}' compares with one value (a number, string or boolean), got ${show(value)} in ${show(t)}`);
  }
  const v = value as LiteralValue;
  switch (op as Exclude<FilterOp, 'in' | 'not in'>) {
    case '==':
    case '=':
      return c.eq(lit(v));
    case '!=':
      return c.neq(lit(v));
    case '<':
      return c.lt(lit(v));
    case '<=':
      return c.ltEq(lit(v));
    case '>':
      return c.gt(lit(v));
    case '>=':
      return c.gtEq(lit(v));
  }
}

/** The filters as one predicate, or null for none (an empty list). */
export function filtersToExpr(filters: unknown, columns: readonly string[], where: string): Expr | null {
  if (!Array.isArray(filters)) throw new DataFrameError(`readParquet: filters must be a list such as [['col', '>', 5]], got ${show(filters)}`);
  if (filters.length === 0) return null;
  // A list of terms is one conjunction; a list of lists of terms is a disjunction of them.
  const disjuncts: unknown[][] = isTerm(filters[0]) ? [filters] : (filters as unknown[][]);
  const ands = disjuncts.map((d) => {
    if (!Array.isArray(d) || d.length === 0 || !d.every(isTerm)) {
      throw new DataFrameError(`readParquet: filters mix terms and lists of terms, or hold an empty list (${show(d)}); use [[col, op, value], ...] or [[[col, op, value], ...], ...]`);
    }
    return d.map((t) => term(t, columns, where)).reduce((a, b) => a.and(b));
  });
  return ands.reduce((a, b) => a.or(b));
}
