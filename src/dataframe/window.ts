/**
 * Window functions across partitions (shift, diff, cumSum/cumMax/cumMin,
 * rolling(...).sum/mean/min/max), in the frame's row order, with Dask's
 * map_overlap idea: each partition is computed with a halo, the last rows
 * of the partitions before it (the first rows of those after it, for a
 * negative shift), so no partition moves whole. A halo is taken from a
 * chain, halo[i] = the last h rows of (halo[i-1] + partition[i-1]), so a
 * partition shorter than the halo passes on rows of the ones before it.
 * A cumulative function instead adds the total carried from the
 * partitions before: per-partition totals, summed (or max'ed, min'ed) along
 * a chain. lower.ts builds these chains; engine/window.ts computes one
 * partition.
 */

import { DataFrameError } from '../errors.js';
import { formatExpr, mapExprChildren, exprChildren, type ExprNode, type WindowFn } from './expr.js';

/** How each cumulative function's total over a partition is found ('len': its rows), and combined along the chain. */
type CarryAgg = 'sum' | 'max' | 'min' | 'len';
const CUMULATIVE: Partial<Record<WindowFn, CarryAgg>> = { cumSum: 'sum', cumMax: 'max', cumMin: 'min', cumCount: 'len' };

/** The group keys of an expression's window functions: [] for whole-frame ones. All of its window functions must share them. */
export function windowKeys(expr: ExprNode): readonly string[] {
  let keys: readonly string[] | null = null;
  const visit = (node: ExprNode): void => {
    if (node.op === 'window') {
      const k = node.over ?? [];
      if (keys !== null && keys.join('\u0000') !== k.join('\u0000')) {
        throw new DataFrameError(
          `${formatExpr(expr)} mixes window functions over different groups (${keys.length ? keys.join(', ') : 'the whole frame'} and ${k.length ? k.join(', ') : 'the whole frame'}); ` +
            `compute each into its own column first`,
        );
      }
      keys = k;
    }
    for (const c of exprChildren(node)) visit(c);
  };
  visit(expr);
  return keys ?? [];
}

export interface WindowPlan {
  /** The group keys of every window function of the step ([]: the whole frame). */
  readonly keys: readonly string[];
  /** Rows needed from before each partition, and from after it. */
  readonly before: number;
  readonly after: number;
  /** The cumulative functions: the total of `arg` over the earlier partitions goes into column `name`. */
  readonly carries: readonly { readonly name: string; readonly agg: CarryAgg; readonly arg: ExprNode }[];
  /** The expressions, each cumulative function naming its carry column. */
  readonly exprs: readonly ExprNode[];
}

/** Refuses what cannot be computed across partitions: a window function of a window function. */
export function validateWindowExprs(exprs: readonly ExprNode[]): void {
  const visit = (node: ExprNode, inside: ExprNode | null): void => {
    if (node.op === 'window' && inside) {
      throw new DataFrameError(
        `${formatExpr(inside)}: a window function of another (${formatExpr(node)}) is not supported; compute the inner one first ` +
          `with withColumns(), then apply the outer one to its column`,
      );
    }
    for (const c of exprChildren(node)) visit(c, node.op === 'window' ? node : inside);
  };
  for (const e of exprs) visit(e, null);
}

/**
 * What a window step needs around each partition (see the module comment).
 * Per group, the halo is the last rows of each group, and the carried
 * totals are one row per group.
 */
export function planWindow(exprs: readonly ExprNode[]): WindowPlan {
  let before = 0;
  let after = 0;
  const carries: { name: string; agg: CarryAgg; arg: ExprNode }[] = [];
  const rewrite = (node: ExprNode): ExprNode => {
    if (node.op !== 'window') return mapExprChildren(node, rewrite);
    const agg = CUMULATIVE[node.fn];
    if (agg) {
      const name = `__tessera_carry${carries.length}`;
      carries.push({ name, agg, arg: node.arg });
      return { ...node, carry: name };
    }
    if (node.fn === 'shift' || node.fn === 'diff') {
      if (node.n > 0) before = Math.max(before, node.n);
      else after = Math.max(after, -node.n);
    } else before = Math.max(before, node.n - 1);
    return node;
  };
  const out = exprs.map(rewrite);
  const keys = exprs.length ? windowKeys(exprs[0]!) : [];
  for (const e of exprs) {
    if (windowKeys(e).join('\u0000') !== keys.join('\u0000')) throw new DataFrameError('internal: one window step over different groups');
  }
  return { keys, before, after, carries, exprs: out };
}
