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
  }
}

/** Which side of a join is broadcast, if any. */
export function broadcastSide(node: Extract<PlanNode, { kind: 'join' }>): 'left' | 'right' | null {
  const l = npartitionsOf(node.left);
  const r = npartitionsOf(node.right);
  if (node.broadcast === false) return l === 1 && r === 1 ? 'right' : null;
  if (node.broadcast === true) return node.how === 'inner' && l < r ? 'left' : 'right';
  // Dask's rule: a side with a single partition is joined to every partition of the other.
  if (r === 1) return 'right';
  if (l === 1 && node.how === 'inner') return 'left';
  return null;
}
