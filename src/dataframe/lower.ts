/**
 * Lowers an (optimized) plan into a task graph. A partition-wise chain
 * (read -> filter -> derive -> ...) stays one pipeline per partition and
 * becomes one task only where its result must be materialized: at the sink
 * (write Parquet, collect, count) or where rows must move (group-by
 * partials, shuffle splits, sort samples). Moving results are Arrow IPC
 * bytes; a split result is a bundle of pieces, one picked per downstream
 * partition by a small task placed next to the data.
 *
 * Keys are '<op>-<token>-<index>' with the token derived from the plan, so
 * the dashboard groups tasks by op and the same plan gives the same keys.
 */

import { tokenize } from '../graph/keys.js';
import { shuffleKey } from '../graph/shuffle-keys.js';
import { DataFrameError } from '../errors.js';
import type { Schema } from './dtypes.js';
import { col, type ExprNode } from './expr.js';
import { ROWS_COLUMN, splitAggregations } from './groupby.js';
import type { OpSpec, Pipeline, SinkSpec, SourceSpec } from './pipeline.js';
import type { SizeLayout } from './partition-size.js';
import { broadcastSide, groupBySchema, type PlanNode, type ShuffleMethod } from './plan.js';
import { planWindow } from './window.js';

/** A dependency: another task of the graph. */
export class TaskRef {
  readonly kind = 'task' as const;
  constructor(readonly key: string) {}
}

/** A partition computed earlier (a Future), or data held by the client. */
export interface PersistedInput {
  readonly kind: 'persisted';
  readonly key: string;
  readonly persisted: unknown;
}

/** An input of a task: a task of this graph, or a persisted partition. */
export type TaskInput = TaskRef | PersistedInput;

/** Export names of src/dataframe/tasks.ts. */
export type TaskFn = 'runPartition' | 'pickPiece' | 'sortBoundaries' | 'identity' | 'byteLength' | 'shuffleBarrier' | 'shuffleUnpack';

export interface GraphTask {
  readonly key: string;
  readonly fn: TaskFn;
  /** Plain JSON-able data followed by the inputs. */
  readonly params: unknown;
  readonly inputs: readonly TaskInput[];
}

export class TaskGraph {
  readonly tasks = new Map<string, GraphTask>();
  add(task: GraphTask): TaskRef {
    if (!this.tasks.has(task.key)) this.tasks.set(task.key, task);
    return new TaskRef(task.key);
  }
}

/** One partition not yet materialized: a pipeline over some inputs. */
interface Part {
  readonly pipeline: Pipeline;
  readonly inputs: readonly TaskInput[];
  /** The op that produced it (the key prefix of the task that runs it). */
  readonly name: string;
}

const OP_NAMES: Record<OpSpec['op'], string> = {
  filter: 'filter',
  withColumns: 'with-columns',
  select: 'select',
  drop: 'drop',
  rename: 'rename',
  cast: 'cast',
  fillNull: 'fill-null',
  slice: 'head',
  groupBy: 'groupby',
  join: 'join',
  sort: 'sort',
  map: 'map-partitions',
  window: 'window',
  rowsPerGroup: 'window-halo',
};

function appendOp(part: Part, op: OpSpec): Part {
  return { ...part, pipeline: { ...part.pipeline, ops: [...part.pipeline.ops, op] }, name: OP_NAMES[op.op] };
}

function inputsSource(indices: readonly number[], schema: Schema): SourceSpec {
  return { kind: 'inputs', inputs: [...indices], schema };
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

/** A stable token for a plan node (persisted handles stand in by their keys). */
export function planToken(node: PlanNode, ...salt: string[]): string {
  const json = JSON.stringify(node, (k, v) => (k === 'handle' ? undefined : v));
  return tokenize(json, ...salt).slice(0, 16);
}

export interface LowerOptions {
  /** Samples per partition for sort boundaries. */
  readonly sortSamples?: number;
  /**
   * The shuffle of nodes that do not choose one (default 'tasks'). 'p2p'
   * needs workers (the tasks of graph/shuffle-keys.ts are run by the
   * worker's shuffle service), so an executor in this process always gets
   * 'tasks', whatever a node asks for.
   */
  readonly shuffle?: ShuffleMethod;
}

export class Lowerer {
  readonly graph = new TaskGraph();
  constructor(private readonly options: LowerOptions = {}) {}

  /** Adds a task running `part` into `sink`; returns a reference to its result. */
  materialize(part: Part, sink: SinkSpec, op: string, token: string, index: number): TaskRef | TaskInput {
    const src = part.pipeline.source;
    // A bare input is its own result: no task needed to pass it on.
    if (sink.kind === 'ipc' && part.pipeline.ops.length === 0 && src.kind === 'inputs' && src.inputs.length === 1) {
      return part.inputs[src.inputs[0]!]!;
    }
    return this.graph.add({ key: `${op}-${token}-${index}`, fn: 'runPartition', params: { pipeline: part.pipeline, sink }, inputs: part.inputs });
  }

  /** The shuffle a node gets: its own choice on a cluster, else the lowering's default; always 'tasks' in process. */
  private shuffleMethod(asked: ShuffleMethod | undefined): ShuffleMethod {
    if (this.options.shuffle !== 'p2p') return 'tasks';
    return asked ?? 'p2p';
  }

  /**
   * Moves the rows of `parts` into `n` output partitions: `split` gives the
   * pipeline and the split sink (hashSplit, rangeSplit) of each input.
   * Returns, per output partition, the inputs whose IPC pieces together are
   * its rows (in input order).
   *
   * 'p2p': N transfer tasks, one barrier, n unpack tasks, named by
   * graph/shuffle-keys.ts; the workers' shuffle services move the shards
   * (src/worker/shuffle/). 'tasks': N split tasks and one pick task per
   * (input, output) pair.
   */
  private shuffle(parts: readonly Part[], split: (p: Part) => [Part, SinkSpec], n: number, token: string, schema: Schema, method: ShuffleMethod, op = 'shuffle-split'): TaskInput[][] {
    if (method === 'p2p') {
      const id = tokenize(token, 'p2p').slice(0, 16);
      const transfers = parts.map((p, i) => {
        const [q, sink] = split(p);
        const sparse = sink.kind === 'hashSplit' || sink.kind === 'rangeSplit' ? { ...sink, sparse: true } : sink;
        return this.graph.add({ key: shuffleKey('transfer', id, i), fn: 'runPartition', params: { pipeline: q.pipeline, sink: sparse }, inputs: q.inputs });
      });
      const barrier = this.graph.add({ key: shuffleKey('barrier', id), fn: 'shuffleBarrier', params: null, inputs: transfers });
      return range(0, n).map((j) => [this.graph.add({ key: shuffleKey('unpack', id, j), fn: 'shuffleUnpack', params: { schema }, inputs: [barrier] })]);
    }
    const bundles = parts.map((p, i) => {
      const [q, sink] = split(p);
      return this.materialize(q, sink, op, token, i);
    });
    // pieces[j][i]: piece j of input partition i.
    return range(0, n).map((j) => bundles.map((b, i) => this.pick(b, j, tokenize(token, String(i)).slice(0, 16))));
  }

  private pick(bundleRef: TaskInput, piece: number, token: string): TaskInput {
    return this.graph.add({ key: `shuffle-pick-${token}-${piece}`, fn: 'pickPiece', params: piece, inputs: [bundleRef] });
  }

  /** The partitions of a node. */
  lower(node: PlanNode): Part[] {
    switch (node.kind) {
      case 'csv': {
        const all = Object.keys(node.fileSchema);
        const cols = Object.keys(node.schema);
        const columns = cols.length === all.length ? null : cols;
        return node.partitions.map((p) => ({
          pipeline: { source: { kind: 'csv', path: p.path, start: p.start, end: p.end, schema: node.fileSchema, columns, format: node.format }, ops: [] },
          inputs: [],
          name: 'read-csv',
        }));
      }
      case 'parquet': {
        const hive = node.hive;
        const fileSchema: Schema = {};
        for (const [c, t] of Object.entries(node.fileSchema)) if (!hive || !(c in hive.schema)) fileSchema[c] = t;
        const all = Object.keys(fileSchema);
        const cols = Object.keys(node.schema).filter((c) => c in fileSchema);
        const columns = cols.length === all.length ? null : cols;
        const wanted = hive ? Object.keys(hive.schema).map((c, j) => [c, j] as const).filter(([c]) => c in node.schema) : [];
        return node.files.map((path, i) => ({
          pipeline: {
            source: {
              kind: 'parquet',
              path,
              schema: fileSchema,
              columns,
              // The hive partition columns this read needs, as constants of the file.
              ...(wanted.length ? { partitionValues: wanted.map(([name, j]) => ({ name, dtype: hive!.schema[name]!, value: hive!.values[i]![j]! })) } : {}),
            },
            ops: [],
          },
          inputs: [],
          name: 'read-parquet',
        }));
      }
      case 'persisted':
        return node.parts.map((p) => ({
          pipeline: { source: inputsSource([0], node.schema), ops: [] },
          inputs: [{ kind: 'persisted', persisted: p.handle, key: p.key }],
          name: 'persisted',
        }));
      case 'op':
        return this.lower(node.input).map((p) => appendOp(p, node.op));
      case 'groupBy':
        return this.lowerGroupBy(node);
      case 'join':
        return this.lowerJoin(node);
      case 'sort':
        return this.lowerSort(node);
      case 'repartition':
        return this.lowerRepartition(node);
      case 'window':
        return this.lowerWindow(node);
      case 'concat':
        // Nothing moves: the partitions of each input, in order.
        return node.inputs.flatMap((p) => this.lower(p));
    }
  }

  /**
   * groupBy(...).agg(..., { splitOut }): partials per input partition (or
   * the rows themselves, for aggregations that do not split), shuffled by
   * key into splitOut partitions, each combined into its groups' final rows.
   */
  private lowerGroupBySplit(node: Extract<PlanNode, { kind: 'groupBy' }>, parts: Part[], n: number): Part[] {
    const { keys, aggs } = node;
    const token = planToken(node);
    const method = this.shuffleMethod(node.shuffle);
    const split = splitAggregations(node.input.schema, keys, aggs);
    const hashSplit: SinkSpec = { kind: 'hashSplit', on: keys, n };
    if (!split) {
      const pieces = this.shuffle(parts, (p) => [p, hashSplit], n, token, node.input.schema, method);
      return pieces.map((inputs) => ({
        pipeline: { source: inputsSource(range(0, inputs.length), node.input.schema), ops: [{ op: 'groupBy', keys, aggs }] },
        inputs,
        name: 'groupby-agg',
      }));
    }
    const partialSchema = groupBySchema(node.input.schema, keys, split.partial);
    const pieces = this.shuffle(parts, (p) => [appendOp(p, { op: 'groupBy', keys, aggs: split.partial }), hashSplit], n, token, partialSchema, method, 'groupby-partial');
    return pieces.map((inputs) => ({
      pipeline: {
        source: inputsSource(range(0, inputs.length), partialSchema),
        ops: [{ op: 'groupBy', keys, aggs: split.combine }, { op: 'select', exprs: split.final }],
      },
      inputs,
      name: 'groupby-agg',
    }));
  }

  private lowerGroupBy(node: Extract<PlanNode, { kind: 'groupBy' }>): Part[] {
    const parts = this.lower(node.input);
    const { keys, aggs } = node;
    const splitOut = node.splitOut ?? 1;
    if (splitOut > 1 && keys.length > 0) return this.lowerGroupBySplit(node, parts, splitOut);
    if (parts.length === 1) return [{ ...appendOp(parts[0]!, { op: 'groupBy', keys, aggs }), name: 'groupby-agg' }];
    return [this.lowerGroupByTree(node, parts)];
  }

  /** A tree reduction of per-partition partials into one output partition. */
  private lowerGroupByTree(node: Extract<PlanNode, { kind: 'groupBy' }>, parts: Part[]): Part {
    const { keys, aggs } = node;
    const token = planToken(node);
    const split = splitAggregations(node.input.schema, keys, aggs);
    if (!split) {
      // Not splittable: all rows of every partition meet in one task.
      const refs = parts.map((p, i) => this.materialize(p, { kind: 'ipc' }, 'groupby-input', token, i));
      return {
        pipeline: { source: inputsSource(range(0, refs.length), node.input.schema), ops: [{ op: 'groupBy', keys, aggs }] },
        inputs: refs,
        name: 'groupby-agg',
      };
    }
    const partialSchema = groupBySchema(node.input.schema, keys, split.partial);
    // A whole-frame reduction gets one partial row per partition, even from
    // a partition without rows: those are dropped before combining (their
    // first/last would be null).
    const combineOps: OpSpec[] = [
      ...(keys.length === 0 ? [{ op: 'filter', predicate: col(ROWS_COLUMN).gt(0).node } as const] : []),
      { op: 'groupBy', keys, aggs: split.combine },
    ];
    let refs = parts.map((p, i) => this.materialize(appendOp(p, { op: 'groupBy', keys, aggs: split.partial }), { kind: 'ipc' }, 'groupby-partial', token, i));
    let level = 1;
    const fanIn = Math.max(2, node.splitEvery);
    while (refs.length > fanIn) {
      const levelToken = tokenize(token, `combine-${level}`).slice(0, 16);
      const next: TaskInput[] = [];
      for (let j = 0; j * fanIn < refs.length; j++) {
        const chunk = refs.slice(j * fanIn, (j + 1) * fanIn);
        const part: Part = {
          pipeline: { source: inputsSource(range(0, chunk.length), partialSchema), ops: combineOps },
          inputs: chunk,
          name: 'groupby-combine',
        };
        next.push(this.materialize(part, { kind: 'ipc' }, 'groupby-combine', levelToken, j));
      }
      refs = next;
      level++;
    }
    return {
      pipeline: {
        source: inputsSource(range(0, refs.length), partialSchema),
        ops: [...combineOps, { op: 'select', exprs: split.final }],
      },
      inputs: refs,
      name: 'groupby-agg',
    };
  }

  private lowerJoin(node: Extract<PlanNode, { kind: 'join' }>): Part[] {
    const left = this.lower(node.left);
    const right = this.lower(node.right);
    const token = planToken(node);
    const side = broadcastSide(node);
    const joinOp = (rightPipeline: Pipeline, swapped = false): OpSpec => ({
      op: 'join',
      right: rightPipeline,
      leftOn: node.leftOn,
      rightOn: node.rightOn,
      how: node.how,
      suffix: node.suffix,
      nullsEqual: node.nullsEqual,
      ...(swapped ? { swapped } : {}),
    });
    if (side !== null) {
      const small = side === 'right' ? right : left;
      const smallSchema = side === 'right' ? node.right.schema : node.left.schema;
      const refs = small.map((p, i) => this.materialize(p, { kind: 'ipc' }, 'join-broadcast', token, i));
      const big = side === 'right' ? left : right;
      return big.map((p) => {
        const offset = p.inputs.length;
        const smallPipeline: Pipeline = { source: inputsSource(range(offset, refs.length), smallSchema), ops: [] };
        // Broadcasting the left side, the partition flowing through is the right side: the op knows (swapped).
        return { ...appendOp({ ...p, inputs: [...p.inputs, ...refs] }, joinOp(smallPipeline, side === 'left')), name: 'join' };
      });
    }
    const n = Math.max(left.length, right.length);
    const method = this.shuffleMethod(node.shuffle);
    const splitSide = (parts: Part[], which: 'left' | 'right', schema: Schema): TaskInput[][] => {
      // Each side is split on its own key columns (leftOn/rightOn): equal values meet whatever the names.
      const on = which === 'left' ? node.leftOn : node.rightOn;
      return this.shuffle(parts, (p) => [p, { kind: 'hashSplit', on, n }], n, tokenize(token, which).slice(0, 16), schema, method);
    };
    const leftPieces = splitSide(left, 'left', node.left.schema);
    const rightPieces = splitSide(right, 'right', node.right.schema);
    return range(0, n).map((j) => {
      const l = leftPieces[j]!;
      const r = rightPieces[j]!;
      const rightPipeline: Pipeline = { source: inputsSource(range(l.length, r.length), node.right.schema), ops: [] };
      return {
        pipeline: { source: inputsSource(range(0, l.length), node.left.schema), ops: [joinOp(rightPipeline)] },
        inputs: [...l, ...r],
        name: 'join',
      };
    });
  }

  /**
   * A window step (window.ts): each partition materialized once; chains of
   * small tasks pass halos forward (and backward, for negative shifts) and
   * carried totals forward; then each partition is computed with its halos
   * around it and its carry beside it.
   */
  private lowerWindow(node: Extract<PlanNode, { kind: 'window' }>): Part[] {
    const parts = this.lower(node.input);
    const w = planWindow(node.exprs);
    const schema = node.input.schema;
    const token = planToken(node);
    if (parts.length === 1) {
      return [appendOp(parts[0]!, { op: 'window', exprs: node.exprs, keys: w.keys, before: null, main: null, after: null, carry: null })];
    }
    const n = parts.length;
    const mats = parts.map((p, i) => this.materialize(p, { kind: 'ipc' }, 'window-input', token, i));
    const grouped = w.keys.length > 0;
    // The last (first) rows of the frame, or of each group.
    const rows = (inputs: TaskInput[], last: boolean, count: number, key: string, i: number): TaskInput =>
      this.materialize(
        {
          pipeline: {
            source: inputsSource(range(0, inputs.length), schema),
            ops: [grouped ? { op: 'rowsPerGroup', keys: w.keys, n: count, last } : { op: 'slice', offset: last ? -count : 0, length: count }],
          },
          inputs,
          name: key,
        },
        { kind: 'ipc' },
        key,
        token,
        i,
      );
    // before[i]: the last w.before rows of everything before partition i; after[i]: the first w.after rows after it.
    const before: (TaskInput | null)[] = [null];
    for (let i = 1; i < n && w.before > 0; i++) {
      const prev = before[i - 1];
      before.push(rows(prev ? [prev, mats[i - 1]!] : [mats[i - 1]!], true, w.before, 'window-halo', i));
    }
    const after: (TaskInput | null)[] = new Array<TaskInput | null>(n).fill(null);
    for (let i = n - 2; i >= 0 && w.after > 0; i--) {
      const next = after[i + 1];
      after[i] = rows(next ? [mats[i + 1]!, next] : [mats[i + 1]!], false, w.after, 'window-halo-after', i);
    }
    // carry[i]: the totals of the partitions before i, one column per cumulative function.
    const carry: (TaskInput | null)[] = [null];
    if (w.carries.length) {
      // Each partition's total (sum, max or min of the function's argument), then the running total of those.
      const partial: ExprNode[] = w.carries.map((c) => ({ op: 'alias', arg: c.agg === 'len' ? { op: 'len' } : { op: 'agg', fn: c.agg, arg: c.arg }, name: c.name }));
      const combine: ExprNode[] = w.carries.map((c) => ({ op: 'alias', arg: { op: 'agg', fn: c.agg === 'len' ? 'sum' : c.agg, arg: col(c.name).node }, name: c.name }));
      // Per group: one row per group (Polars' groupby keeps a null key as a group; those rows' results are null anyway).
      const totals = mats.slice(0, n - 1).map((m, i) =>
        this.materialize({ pipeline: { source: inputsSource([0], schema), ops: [{ op: 'groupBy', keys: w.keys, aggs: partial }] }, inputs: [m], name: 'window-total' }, { kind: 'ipc' }, 'window-total', token, i),
      );
      const carrySchema = groupBySchema(schema, w.keys, partial);
      for (let i = 1; i < n; i++) {
        const prev = carry[i - 1];
        if (!prev) {
          carry.push(totals[0]!);
          continue;
        }
        const part: Part = { pipeline: { source: inputsSource([0, 1], carrySchema), ops: [{ op: 'groupBy', keys: w.keys, aggs: combine }] }, inputs: [prev, totals[i - 1]!], name: 'window-carry' };
        carry.push(this.materialize(part, { kind: 'ipc' }, 'window-carry', token, i));
      }
    }
    return range(0, n).map((i) => {
      const inputs: TaskInput[] = [];
      const b = before[i] ?? null;
      if (b) inputs.push(b);
      inputs.push(mats[i]!);
      const a = after[i] ?? null;
      if (a) inputs.push(a);
      const source = inputsSource(range(0, inputs.length), schema);
      const c = carry[i] ?? null;
      if (c) inputs.push(c);
      const main = b ? 1 : 0;
      const op: OpSpec = { op: 'window', exprs: w.exprs, keys: w.keys, before: b ? 0 : null, main, after: a ? main + 1 : null, carry: c ? inputs.length - 1 : null };
      return { pipeline: { source, ops: [op] }, inputs, name: 'window' };
    });
  }

  private lowerSort(node: Extract<PlanNode, { kind: 'sort' }>): Part[] {
    const parts = this.lower(node.input);
    const sortOp: OpSpec = { op: 'sort', by: node.by, descending: node.descending, nullsLast: node.nullsLast };
    if (parts.length <= 1) return parts.map((p) => appendOp(p, sortOp));
    const n = parts.length;
    const token = planToken(node);
    const by = node.by[0]!;
    // Boundaries from samples of the first key; equal keys always go to one
    // output partition, which then sorts by every key.
    const k = this.options.sortSamples ?? Math.max(20, 10 * n);
    const samples = parts.map((p, i) => this.materialize(appendOp(p, { op: 'select', exprs: [col(by).node] }), { kind: 'sample', by, k }, 'sort-sample', token, i));
    const boundaries = this.graph.add({
      key: `sort-boundaries-${token}-0`,
      fn: 'sortBoundaries',
      params: { by, n, schema: { [by]: node.input.schema[by]! } },
      inputs: samples,
    });
    const pieces = this.shuffle(
      parts,
      (p) => [
        { ...p, inputs: [...p.inputs, boundaries] },
        { kind: 'rangeSplit', n, boundaries: p.inputs.length, by: node.by, descending: node.descending, nullsLast: node.nullsLast },
      ],
      n,
      token,
      node.input.schema,
      this.shuffleMethod(node.shuffle),
      'sort-split',
    );
    return pieces.map((inputs) => ({ pipeline: { source: inputsSource(range(0, inputs.length), node.input.schema), ops: [sortOp] }, inputs, name: 'sort' }));
  }

  private lowerRepartition(node: Extract<PlanNode, { kind: 'repartition' }>): Part[] {
    const parts = this.lower(node.input);
    if (node.layout) return this.lowerSizeLayout(node, parts, node.layout);
    const from = parts.length;
    const to = node.n;
    if (to === from) return parts;
    const token = planToken(node);
    const schema = node.input.schema;
    if (to < from) {
      const refs = parts.map((p, i) => this.materialize(p, { kind: 'ipc' }, 'repartition-input', token, i));
      return range(0, to).map((j) => {
        const a = Math.floor((j * from) / to);
        const b = Math.floor(((j + 1) * from) / to);
        const chunk = refs.slice(a, b);
        return { pipeline: { source: inputsSource(range(0, chunk.length), schema), ops: [] }, inputs: chunk, name: 'repartition' };
      });
    }
    const out: Part[] = [];
    parts.forEach((p, i) => {
      const m = Math.floor(((i + 1) * to) / from) - Math.floor((i * to) / from);
      if (m === 1) {
        out.push({ ...p, name: 'repartition' });
        return;
      }
      const bundleRef = this.materialize(p, { kind: 'sliceSplit', n: m }, 'repartition-split', token, i);
      for (let j = 0; j < m; j++) {
        const piece = this.pick(bundleRef, j, tokenize(token, String(i)).slice(0, 16));
        out.push({ pipeline: { source: inputsSource([0], schema), ops: [] }, inputs: [piece], name: 'repartition' });
      }
    });
    return out;
  }

  /** repartition({ partitionSize }): input partition i cut into layout.splits[i] slices, consecutive slices joined by layout.groups. */
  private lowerSizeLayout(node: Extract<PlanNode, { kind: 'repartition' }>, parts: Part[], layout: SizeLayout): Part[] {
    if (layout.splits.length !== parts.length) throw new DataFrameError(`internal: a size layout for ${layout.splits.length} partitions over ${parts.length}`);
    const token = planToken(node);
    const schema = node.input.schema;
    // Each slice: a whole partition not yet run (fused into its output when that takes it alone) or a piece of a split.
    const slices: (Part | TaskInput)[] = [];
    parts.forEach((p, i) => {
      const m = layout.splits[i]!;
      if (m === 1) {
        slices.push(p);
        return;
      }
      const bundleRef = this.materialize(p, { kind: 'sliceSplit', n: m }, 'repartition-split', token, i);
      for (let j = 0; j < m; j++) slices.push(this.pick(bundleRef, j, tokenize(token, String(i)).slice(0, 16)));
    });
    const isPart = (x: Part | TaskInput): x is Part => 'pipeline' in x;
    const out: Part[] = [];
    let next = 0;
    for (const count of layout.groups) {
      const group = slices.slice(next, next + count);
      next += count;
      const only = group[0];
      if (group.length === 1 && only && isPart(only)) {
        out.push({ ...only, name: 'repartition' });
        continue;
      }
      const inputs = group.map((g, k) => (isPart(g) ? this.materialize(g, { kind: 'ipc' }, 'repartition-input', token, next - count + k) : g));
      out.push({ pipeline: { source: inputsSource(range(0, inputs.length), schema), ops: [] }, inputs, name: 'repartition' });
    }
    return out;
  }
}
