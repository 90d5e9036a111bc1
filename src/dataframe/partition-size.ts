/**
 * repartition({ partitionSize }): how many bytes each partition of a plan
 * holds in memory, estimated when repartition() is called (the plan has not
 * run, and a lazy frame's partition count must be known), and the layout
 * that cuts and merges them into partitions of about the size asked.
 *
 * The estimates, per source:
 * - data in memory (fromPolars, persist()): the Arrow IPC bytes of each
 *   partition, which is its in-memory size; exact.
 * - Parquet: each file's row count (from its footer) times the in-memory
 *   bytes per row of the first file's first 1000 rows.
 * - CSV: the bytes of each partition's range of the file (text is about as
 *   large as the parsed columns for numbers; longer for short strings),
 *   scaled to the columns read.
 * Operations above a source keep a partition's rows (a filter is assumed to
 * keep them all, so filtered partitions come out smaller than asked:
 * persist() first for exact sizes) and scale its bytes by the estimated
 * width of the columns they produce against those they read. Shuffles
 * (sort, hash join) spread their input evenly over their outputs.
 */

import { DataFrameError } from '../errors.js';
import type { DType, Schema } from './dtypes.js';
import { estimateParquetBytes } from './engine/index.js';
import type { PlanNode } from './plan.js';
import { broadcastSide, npartitionsOf } from './plan-partitions.js';

/** Rough in-memory bytes of one value of a type (strings: an offset and a few characters). */
function typeWidth(t: DType): number {
  if (t === 'bool') return 1;
  if (t === 'string') return 16;
  if (t === 'date') return 4;
  if (t === 'null') return 0;
  if (t === 'time' || t.startsWith('datetime') || t.startsWith('duration')) return 8;
  const bits = /\d+/.exec(t);
  return bits ? Number(bits[0]) / 8 : 8;
}

function rowWidth(schema: Schema): number {
  return Object.values(schema).reduce((w, t) => w + typeWidth(t), 0);
}

function spread(total: number, n: number): number[] {
  return Array.from({ length: n }, () => total / n);
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** Estimated in-memory bytes of each partition of `node` (see the module comment). */
export function estimatePartitionBytes(node: PlanNode): number[] {
  switch (node.kind) {
    case 'csv': {
      const ratio = rowWidth(node.schema) / Math.max(1, rowWidth(node.fileSchema));
      return node.partitions.map((p) => (p.end - p.start) * ratio);
    }
    case 'parquet': {
      const fileColumns = Object.keys(node.schema).filter((c) => !node.hive || !(c in node.hive.schema));
      const bytes = fileColumns.length ? estimateParquetBytes(node.files, fileColumns) : node.files.map(() => 0);
      // Partition columns are constants of a file but take memory once read.
      if (!node.hive) return bytes;
      const hiveWidth = rowWidth(Object.fromEntries(Object.entries(node.hive.schema).filter(([c]) => c in node.schema)));
      const fileWidth = Math.max(1, rowWidth(Object.fromEntries(fileColumns.map((c) => [c, node.schema[c]!]))));
      return bytes.map((b) => b * (1 + hiveWidth / fileWidth));
    }
    case 'persisted':
      return node.parts.map((p) => {
        if (p.bytes === undefined) throw new DataFrameError(`internal: the size of persisted partition ${p.key} is unknown`);
        return p.bytes;
      });
    case 'op':
    case 'window': {
      const ratio = rowWidth(node.schema) / Math.max(1, rowWidth(node.input.schema));
      return estimatePartitionBytes(node.input).map((b) => b * ratio);
    }
    case 'groupBy':
      // One partition; at most as large as its input.
      return [sum(estimatePartitionBytes(node.input)) * (rowWidth(node.schema) / Math.max(1, rowWidth(node.input.schema)))];
    case 'sort':
    case 'repartition':
      return node.kind === 'repartition' && node.layout
        ? node.layout.bytes.slice()
        : spread(sum(estimatePartitionBytes(node.input)), npartitionsOf(node));
    case 'concat':
      return node.inputs.flatMap((p) => estimatePartitionBytes(p));
    case 'join': {
      const left = estimatePartitionBytes(node.left);
      const right = estimatePartitionBytes(node.right);
      const side = broadcastSide(node);
      if (side === 'right') return left.map((b) => b + sum(right));
      if (side === 'left') return right.map((b) => b + sum(left));
      return spread(sum(left) + sum(right), npartitionsOf(node));
    }
  }
}

/** How repartition({ partitionSize }) cuts and merges its input's partitions. */
export interface SizeLayout {
  /** The size asked for, in bytes. */
  readonly target: number;
  /** splits[i]: into how many equal row slices input partition i is cut (1: kept whole). */
  readonly splits: readonly number[];
  /** groups[j]: how many consecutive slices output partition j joins. */
  readonly groups: readonly number[];
  /** Estimated bytes of each output partition. */
  readonly bytes: readonly number[];
}

/**
 * Cuts each partition larger than `target` into equal slices no larger
 * than it, then joins consecutive slices while their sum stays within it:
 * every output is at most about `target` (an estimate), and row order is kept.
 */
export function sizeLayout(bytes: readonly number[], target: number): SizeLayout {
  const splits = bytes.map((b) => Math.max(1, Math.ceil(b / target)));
  const pieces = bytes.flatMap((b, i) => Array.from({ length: splits[i]! }, () => b / splits[i]!));
  const groups: number[] = [];
  const out: number[] = [];
  let count = 0;
  let size = 0;
  for (const p of pieces) {
    if (count > 0 && size + p > target) {
      groups.push(count);
      out.push(size);
      count = 0;
      size = 0;
    }
    count++;
    size += p;
  }
  if (count > 0 || groups.length === 0) {
    groups.push(count);
    out.push(size);
  }
  return { target, splits, groups, bytes: out };
}
