/**
 * How many partitions a plan node has, and which side of a join is
 * broadcast. Separate from plan.ts so that partition-size.ts, which plan.ts
 * uses, can use them without an import cycle.
 */
import type { PlanNode } from './plan.js';

export function npartitionsOf(node: PlanNode): number {
  switch (node.kind) {
    case 'csv':
      return node.partitions.length;
    case 'parquet':
      return node.files.length;
    case 'persisted':
      return node.parts.length;
    case 'op':
    case 'sort':
    case 'window':
      return npartitionsOf(node.input);
    case 'groupBy':
      return node.splitOut ?? 1;
    case 'join': {
      const l = npartitionsOf(node.left);
      const r = npartitionsOf(node.right);
      const side = broadcastSide(node);
      if (side === 'right') return l;
      if (side === 'left') return r;
      return Math.max(l, r);
    }
    case 'repartition':
      return node.n;
    case 'concat':
      return node.inputs.reduce((n, p) => n + npartitionsOf(p), 0);
  }
}

/**
 * Which side of a join is broadcast, if any. Broadcasting a side joins it
 * whole to each partition of the other, which is only right when every row
 * of the broadcast side that finds no partner is kept nowhere or once: an
 * inner join may broadcast either side, a left join only its right side, a
 * right join only its left side, and an outer join neither, unless the
 * other side is a single partition (then there is only one join).
 */
export function broadcastSide(node: Extract<PlanNode, { kind: 'join' }>): 'left' | 'right' | null {
  const l = npartitionsOf(node.left);
  const r = npartitionsOf(node.right);
  const rightOk = node.how === 'inner' || node.how === 'left' || l === 1;
  const leftOk = node.how === 'inner' || node.how === 'right' || r === 1;
  if (node.broadcast === false) return l === 1 && r === 1 ? 'right' : null;
  if (node.broadcast === true) {
    if (leftOk && (l < r || !rightOk)) return 'left';
    return rightOk ? 'right' : null;
  }
  // Dask's rule: a side with a single partition is joined to every partition of the other.
  if (r === 1 && rightOk) return 'right';
  if (l === 1 && leftOk) return 'left';
  return null;
}
