/**
 * The logical plan behind a lazy DataFrame: a tree of nodes, each knowing
 * its output schema (found when the node is made, by running the operation
 * on a frame without rows, so mistakes such as an unknown column surface at
 * the call that makes them, as with Dask's meta).
 *
 * Before a plan runs, optimize() rewrites it: filters move below sorts,
 * repartitions, joins (on the side whose columns they read) and group-bys
 * (when they only read keys), and only the columns the result needs are
 * kept, down to the reader's projection.
 */

import { DataFrameError } from '../errors.js';
import type { Schema } from './dtypes.js';
import { pipelineSchema } from './engine/index.js';
import { col, columnsOf, formatExpr, outputName, type ExprNode } from './expr.js';
import type { CsvPartition } from './io/csv-partitions.js';
import type { HiveLayout } from './io/hive.js';
import { matchingRows } from './engine/index.js';
import { estimatePartitionBytes, sizeLayout, type SizeLayout } from './partition-size.js';
import { broadcastSide, npartitionsOf } from './plan-partitions.js';
import type { CsvFormat, OpSpec, SortSpec } from './pipeline.js';
import { joinColumns, type JoinHow } from './join-columns.js';
import { planWindow } from './window.js';

/** A partition already computed and kept somewhere: a Future, or (locally) the bytes themselves. */
export interface PersistedPart {
  readonly key: string;
  readonly handle: unknown;
  /** Its size in bytes (Arrow IPC), where known: what repartition({ partitionSize }) measures. */
  readonly bytes?: number;
}

/**
 * How rows move between partitions (Dask's `shuffle=`): 'p2p', workers
 * exchange shards directly around one barrier task (O(inputs + outputs)
 * tasks); 'tasks', one split task per input and one pick task per (input,
 * output) pair. Unset: p2p on a cluster, tasks in process.
 */
export type ShuffleMethod = 'tasks' | 'p2p';

export type PlanNode =
  | {
      readonly kind: 'csv';
      readonly schema: Schema;
      readonly partitions: readonly CsvPartition[];
      /** Every column of the files, in file order, with its type. */
      readonly fileSchema: Schema;
      readonly format: CsvFormat;
    }
  | {
      readonly kind: 'parquet';
      readonly schema: Schema;
      readonly files: readonly string[];
      /** Every column, in order: the files' columns, then the hive partition columns (if any). */
      readonly fileSchema: Schema;
      /** The partition columns of a hive-partitioned folder, and each file's values of them. */
      readonly hive?: HiveLayout;
    }
  | { readonly kind: 'persisted'; readonly schema: Schema; readonly parts: readonly PersistedPart[] }
  | { readonly kind: 'op'; readonly schema: Schema; readonly input: PlanNode; readonly op: OpSpec }
  | {
      /** With no keys: a whole-frame aggregation (select with aggregations), one row. */
      readonly kind: 'groupBy';
      readonly schema: Schema;
      readonly input: PlanNode;
      readonly keys: readonly string[];
      readonly aggs: readonly ExprNode[];
      readonly splitEvery: number;
      /** Output partitions (default 1: a tree reduction to one); more shuffle the partials by key. */
      readonly splitOut?: number;
      readonly shuffle?: ShuffleMethod;
    }
  | {
      readonly kind: 'join';
      readonly schema: Schema;
      readonly left: PlanNode;
      readonly right: PlanNode;
      /** Key columns of each side, pair by pair (equal lists for on=...). */
      readonly leftOn: readonly string[];
      readonly rightOn: readonly string[];
      readonly how: JoinHow;
      readonly suffix: string;
      /** Null keys match null keys (pandas' merge); false: SQL's rule. */
      readonly nullsEqual: boolean;
      /** Ship the smaller side whole to every partition of the other instead of shuffling both (where the how allows: broadcastSide). */
      readonly broadcast: 'auto' | boolean;
      readonly shuffle?: ShuffleMethod;
    }
  | ({ readonly kind: 'sort'; readonly schema: Schema; readonly input: PlanNode; readonly shuffle?: ShuffleMethod } & SortSpec)
  | {
      /**
       * withColumns of expressions with window functions: each partition is
       * computed with rows of its neighbours (window.ts), so rows are never
       * filtered below it.
       */
      readonly kind: 'window';
      readonly schema: Schema;
      readonly input: PlanNode;
      readonly exprs: readonly ExprNode[];
    }
  | {
      /** The inputs' partitions one after another (concat): each input already has exactly this schema. */
      readonly kind: 'concat';
      readonly schema: Schema;
      readonly inputs: readonly PlanNode[];
    }
  | {
      readonly kind: 'repartition';
      readonly schema: Schema;
      readonly input: PlanNode;
      readonly n: number;
      /** repartition({ partitionSize }): how the input's partitions are cut and joined (n is its group count). */
      readonly layout?: SizeLayout;
    };

// npartitionsOf and broadcastSide live in plan-partitions.ts: partition-size.ts needs them, and plan.ts needs
// partition-size.ts (a repartition is laid out again when its input loses partitions).
export { broadcastSide, npartitionsOf } from './plan-partitions.js';

// --------------------------------------------------------------- schemas

export function opSchema(input: Schema, op: OpSpec): Schema {
  return pipelineSchema(input, [op]);
}

export function joinSchema(
  left: Schema,
  right: Schema,
  leftOn: readonly string[],
  rightOn: readonly string[],
  how: JoinHow,
  suffix: string,
  nullsEqual: boolean,
): Schema {
  const op: OpSpec = { op: 'join', right: { source: { kind: 'inputs', inputs: [], schema: right }, ops: [] }, leftOn, rightOn, how, suffix, nullsEqual };
  return pipelineSchema(left, [op], () => right);
}

export function windowSchema(input: Schema, exprs: readonly ExprNode[]): Schema {
  return pipelineSchema(input, [{ op: 'window', exprs, keys: planWindow(exprs).keys, before: null, main: null, after: null, carry: null }]);
}

export function groupBySchema(input: Schema, keys: readonly string[], aggs: readonly ExprNode[]): Schema {
  return pipelineSchema(input, [{ op: 'groupBy', keys, aggs }]);
}

// ------------------------------------------------------------- rebuilding

/** The same node over new inputs, with its schema recomputed. */
function withInput(node: Extract<PlanNode, { kind: 'op' | 'sort' | 'repartition' | 'groupBy' | 'window' }>, input: PlanNode): PlanNode {
  switch (node.kind) {
    case 'window':
      return { ...node, input, schema: windowSchema(input.schema, node.exprs) };
    case 'op':
      // A user function's output schema was given (or found) when the node was made.
      return { ...node, input, schema: node.op.op === 'map' ? node.schema : opSchema(input.schema, node.op) };
    case 'groupBy':
      return { ...node, input, schema: groupBySchema(input.schema, node.keys, node.aggs) };
    case 'repartition':
      // Skipped files leave the input with fewer partitions: lay them out again for the same size.
      if (node.layout && npartitionsOf(input) !== node.layout.splits.length) {
        const layout = sizeLayout(estimatePartitionBytes(input), node.layout.target);
        return { ...node, input, schema: input.schema, layout, n: layout.groups.length };
      }
      return { ...node, input, schema: input.schema };
    default:
      return { ...node, input, schema: input.schema };
  }
}

function withOp(input: PlanNode, op: OpSpec): PlanNode {
  return { kind: 'op', input, op, schema: opSchema(input.schema, op) };
}

// --------------------------------------------------------- filter pushdown

function pushFilters(node: PlanNode): PlanNode {
  switch (node.kind) {
    case 'csv':
    case 'parquet':
    case 'persisted':
      return node;
    case 'op': {
      const input = pushFilters(node.input);
      if (node.op.op === 'filter') {
        const pushed = pushFilterInto(input, node.op.predicate);
        if (pushed) return pushed;
      }
      return input === node.input ? node : withInput(node, input);
    }
    case 'groupBy':
    case 'sort':
    case 'repartition':
    case 'window': {
      const input = pushFilters(node.input);
      return input === node.input ? node : withInput(node, input);
    }
    case 'join': {
      const left = pushFilters(node.left);
      const right = pushFilters(node.right);
      return left === node.left && right === node.right ? node : { ...node, left, right };
    }
    case 'concat': {
      const inputs = node.inputs.map(pushFilters);
      return inputs.every((p, i) => p === node.inputs[i]) ? node : { ...node, inputs };
    }
  }
}

/** A plan equal to filtering `node` by `predicate`, with the filter moved below node; or null. */
function pushFilterInto(node: PlanNode, predicate: ExprNode): PlanNode | null {
  const cols = columnsOf(predicate);
  switch (node.kind) {
    case 'parquet':
      return skipPartitionFiles(node, predicate);
    case 'op':
      // Filters commute: one below another still reaches the reader (and can skip its files).
      if (node.op.op === 'filter') {
        const pushed = pushFilterInto(node.input, predicate);
        return pushed ? withOp(pushed, node.op) : null;
      }
      return null;
    case 'concat':
      // A filter of the rows of several frames is the filter of each.
      return { ...node, inputs: node.inputs.map((p) => pushFilterInto(p, predicate) ?? withOp(p, { op: 'filter', predicate })) };
    case 'sort':
    case 'repartition':
      // Row filters commute with ordering and with regrouping rows into partitions.
      return withInput(node, pushFilterInto(node.input, predicate) ?? withOp(node.input, { op: 'filter', predicate }));
    case 'groupBy':
      // Without keys (a whole-frame aggregation) no filter above means the same below.
      if (node.keys.length > 0 && [...cols].every((c) => node.keys.includes(c))) {
        return withInput(node, pushFilterInto(node.input, predicate) ?? withOp(node.input, { op: 'filter', predicate }));
      }
      return null;
    case 'join': {
      // Which input column each output column is; a shared key of a right or outer join is either side's.
      const out = new Map(joinColumns(Object.keys(node.left.schema), Object.keys(node.right.schema), node.leftOn, node.rightOn, node.suffix).map((c) => [c.name, c]));
      const sources = [...cols].map((c) => out.get(c));
      // Below the side whose rows all reach the result (inner: either), when the columns read keep their names there.
      const fromLeft = sources.every((c) => c?.left === c?.name && (c?.right === undefined || node.how === 'inner' || node.how === 'left'));
      if (fromLeft && (node.how === 'inner' || node.how === 'left')) {
        const left = pushFilterInto(node.left, predicate) ?? withOp(node.left, { op: 'filter', predicate });
        return { ...node, left };
      }
      const fromRight = sources.every((c) => c?.right === c?.name && (c?.left === undefined || node.how === 'inner' || node.how === 'right'));
      if (fromRight && (node.how === 'inner' || node.how === 'right')) {
        const right = pushFilterInto(node.right, predicate) ?? withOp(node.right, { op: 'filter', predicate });
        return { ...node, right };
      }
      return null;
    }
    default:
      return null;
  }
}

/**
 * The part of a predicate that reads only the given columns and holds
 * whenever the predicate does (null: nothing such, i.e. true). A row the
 * predicate keeps satisfies every AND-ed part and one side of an OR, so
 * only a part that reads nothing else may be kept, and an OR only when
 * both of its sides give one.
 */
export function impliedCondition(node: ExprNode, columns: ReadonlySet<string>): ExprNode | null {
  if ([...columnsOf(node)].every((c) => columns.has(c))) return node;
  if (node.op === 'binary' && (node.fn === 'and' || node.fn === 'or')) {
    const l = impliedCondition(node.left, columns);
    const r = impliedCondition(node.right, columns);
    if (node.fn === 'and') return l && r ? { ...node, left: l, right: r } : (l ?? r);
    return l && r ? { ...node, left: l, right: r } : null;
  }
  return null;
}

/**
 * A hive-partitioned read filtered by `predicate`: the files whose
 * partition values cannot satisfy it are left out (whole folders are never
 * opened), and the filter stays on top for the rest. Null when no file
 * can be skipped. When none can match, one file is kept, so the result is
 * an empty frame of the right schema rather than no partitions at all.
 */
function skipPartitionFiles(node: Extract<PlanNode, { kind: 'parquet' }>, predicate: ExprNode): PlanNode | null {
  if (!node.hive) return null;
  const condition = impliedCondition(predicate, new Set(Object.keys(node.hive.schema)));
  if (!condition) return null;
  let keep = matchingRows(node.hive.schema, node.hive.values, condition);
  if (keep.length === node.files.length) return null;
  if (keep.length === 0) keep = [0];
  const pruned = { ...node, files: keep.map((i) => node.files[i]!), hive: { ...node.hive, values: keep.map((i) => node.hive!.values[i]!) } };
  return withOp(pruned, { op: 'filter', predicate });
}

/** `node` filtered by `predicate`, with the filter moved as far down as it goes (and hive folders skipped). */
export function filterPlan(node: PlanNode, predicate: ExprNode): PlanNode {
  return pushFilterInto(node, predicate) ?? withOp(node, { op: 'filter', predicate });
}

// ------------------------------------------------------- column pruning

type Required = Set<string> | null; // null: every column

function union(a: Required, cols: Iterable<string>): Required {
  if (a === null) return null;
  const out = new Set(a);
  for (const c of cols) out.add(c);
  return out;
}

/**
 * Rewrites `node` so that it produces at least the columns in `required`
 * (all when null), reading as few columns as possible.
 */
function prune(node: PlanNode, required: Required): PlanNode {
  switch (node.kind) {
    case 'csv': {
      if (required === null) return node;
      // Within the node's own columns: readCsv's usecols may have narrowed them.
      let cols = Object.keys(node.fileSchema).filter((c) => required.has(c) && c in node.schema);
      // Counting rows needs some column: take the first.
      if (cols.length === 0) cols = [Object.keys(node.schema)[0]!];
      if (cols.length === Object.keys(node.schema).length && cols.every((c) => c in node.schema)) return node;
      const schema: Schema = {};
      for (const c of cols) schema[c] = node.fileSchema[c]!;
      return { ...node, schema };
    }
    case 'parquet': {
      if (required === null) return node;
      let cols = Object.keys(node.fileSchema).filter((c) => required.has(c) && c in node.schema);
      if (cols.length === 0) cols = [Object.keys(node.schema)[0]!];
      const schema: Schema = {};
      for (const c of cols) schema[c] = node.fileSchema[c]!;
      return { ...node, schema };
    }
    case 'persisted':
      return node;
    case 'op':
      return pruneOp(node, required);
    case 'groupBy': {
      const need = new Set<string>(node.keys);
      for (const a of node.aggs) columnsOf(a, need);
      return withInput(node, prune(node.input, need));
    }
    case 'sort':
      return withInput(node, prune(node.input, union(required, node.by)));
    case 'repartition':
      return withInput(node, prune(node.input, required));
    case 'window': {
      // Only the expressions whose columns are wanted; none: the step goes (it keeps every row as it is).
      const exprs = required === null ? node.exprs : node.exprs.filter((e) => required.has(outputName(e)));
      if (exprs.length === 0) return prune(node.input, required);
      let need: Required = null;
      if (required !== null) {
        need = new Set([...required].filter((c) => !exprs.some((e) => outputName(e) === c)));
        for (const e of exprs) columnsOf(e, need);
      }
      const input = prune(node.input, need);
      return { ...node, input, exprs, schema: windowSchema(input.schema, exprs) };
    }
    case 'concat': {
      // Pruning keeps at least the columns asked for (a join keeps its keys too): each input is then
      // narrowed to exactly the same columns, in the same order, so their partitions line up.
      let cols = Object.keys(node.schema).filter((c) => required === null || required.has(c));
      if (cols.length === 0) cols = [Object.keys(node.schema)[0]!];
      const want = cols.join('\u0000');
      const inputs = node.inputs.map((p) => {
        const pruned = prune(p, new Set(cols));
        return Object.keys(pruned.schema).join('\u0000') === want ? pruned : withOp(pruned, { op: 'select', exprs: cols.map((c) => col(c).node) });
      });
      return { ...node, inputs, schema: inputs[0]!.schema };
    }
    case 'join': {
      const rejoin = (left: PlanNode, right: PlanNode): PlanNode => ({
        ...node,
        left,
        right,
        schema: joinSchema(left.schema, right.schema, node.leftOn, node.rightOn, node.how, node.suffix, node.nullsEqual),
      });
      if (required === null) return rejoin(prune(node.left, null), prune(node.right, null));
      const leftCols = Object.keys(node.left.schema);
      const rightNeed = new Set<string>(node.rightOn);
      const leftNeed = new Set<string>(node.leftOn);
      for (const c of joinColumns(leftCols, Object.keys(node.right.schema), node.leftOn, node.rightOn, node.suffix)) {
        if (!required.has(c.name)) continue;
        if (c.left !== undefined) leftNeed.add(c.left);
        if (c.right !== undefined) rightNeed.add(c.right);
      }
      // A left column that collides with a kept right column must stay, or the right one loses its suffix.
      for (const c of rightNeed) if (leftCols.includes(c)) leftNeed.add(c);
      return rejoin(prune(node.left, leftNeed), prune(node.right, rightNeed));
    }
  }
}

function pruneOp(node: Extract<PlanNode, { kind: 'op' }>, required: Required): PlanNode {
  const op = node.op;
  const inputCols = Object.keys(node.input.schema);
  switch (op.op) {
    case 'filter': {
      const input = prune(node.input, union(required, columnsOf(op.predicate)));
      return withOp(input, op);
    }
    case 'withColumns': {
      let exprs = op.exprs;
      if (required !== null) exprs = exprs.filter((e) => required.has(outputName(e)));
      if (exprs.length === 0) return prune(node.input, required);
      let need: Required = null;
      if (required !== null) {
        need = new Set([...required].filter((c) => !exprs.some((e) => outputName(e) === c)));
        for (const e of exprs) columnsOf(e, need);
      }
      return withOp(prune(node.input, need), { op: 'withColumns', exprs });
    }
    case 'select': {
      let exprs = op.exprs;
      if (required !== null) {
        const kept = exprs.filter((e) => required.has(outputName(e)));
        // Keep one column when none is needed (counting rows): an empty select has no rows.
        exprs = kept.length ? kept : exprs.slice(0, 1);
      }
      const need = new Set<string>();
      for (const e of exprs) columnsOf(e, need);
      if (need.size === 0 && inputCols.length) need.add(inputCols[0]!);
      return withOp(prune(node.input, need), { op: 'select', exprs });
    }
    case 'drop': {
      const dropped = new Set(op.columns);
      const need = required ?? new Set(inputCols.filter((c) => !dropped.has(c)));
      // With an explicit column list below, the dropped columns are never read: the drop itself goes.
      const input = prune(node.input, new Set([...need].filter((c) => !dropped.has(c))));
      const still = op.columns.filter((c) => c in input.schema);
      return still.length ? withOp(input, { op: 'drop', columns: still }) : input;
    }
    case 'rename': {
      const back = new Map<string, string>();
      for (const [from, to] of Object.entries(op.mapping)) back.set(to, from);
      const need = required === null ? null : new Set([...required].map((c) => back.get(c) ?? c));
      const input = prune(node.input, need);
      const mapping: Record<string, string> = {};
      for (const [from, to] of Object.entries(op.mapping)) if (from in input.schema) mapping[from] = to;
      return Object.keys(mapping).length ? withOp(input, { op: 'rename', mapping }) : input;
    }
    case 'cast': {
      const input = prune(node.input, required);
      const mapping: Record<string, (typeof op.mapping)[string]> = {};
      for (const [c, t] of Object.entries(op.mapping)) if (c in input.schema) mapping[c] = t;
      return Object.keys(mapping).length ? withOp(input, { ...op, mapping }) : input;
    }
    case 'fillNull': {
      const input = prune(node.input, union(required, op.columns ?? []));
      const columns = op.columns ? op.columns.filter((c) => c in input.schema) : null;
      return withOp(input, { ...op, columns });
    }
    case 'slice':
      return withOp(prune(node.input, required), op);
    case 'map':
      // A user function may read any column.
      return withInput(node, prune(node.input, null));
    case 'sort':
      return withOp(prune(node.input, union(required, op.by)), op);
    case 'groupBy':
    case 'join':
    case 'window':
    case 'rowsPerGroup':
      throw new DataFrameError(`internal: ${op.op} as a partition op in a plan`);
  }
}

/** The plan to run for a result that needs `columns` (null: all of them). */
export function optimize(node: PlanNode, columns: readonly string[] | null = null): PlanNode {
  return prune(pushFilters(node), columns === null ? null : new Set(columns));
}

/** A short rendering of a plan, one node per line, for explain(). */
export function formatPlan(node: PlanNode, indent = ''): string {
  const line = (s: string): string => `${indent}${s}\n`;
  switch (node.kind) {
    case 'csv':
      return line(`read-csv ${node.partitions.length} partition(s) of ${new Set(node.partitions.map((p) => p.path)).size} file(s), columns [${Object.keys(node.schema).join(', ')}]`);
    case 'parquet':
      return line(`read-parquet ${node.files.length} file(s)${node.hive ? ` in hive folders [${Object.keys(node.hive.schema).join(', ')}]` : ''}, columns [${Object.keys(node.schema).join(', ')}]`);
    case 'persisted':
      return line(`persisted ${node.parts.length} partition(s)`);
    case 'op':
      return line(`${node.op.op} ${describeOp(node.op)}`) + formatPlan(node.input, indent + '  ');
    case 'groupBy':
      return (
        line(node.keys.length ? `groupBy [${node.keys.join(', ')}] agg ${node.aggs.length} expression(s)` : `aggregate [${node.aggs.map((a) => outputName(a)).join(', ')}] over all partitions`) +
        formatPlan(node.input, indent + '  ')
      );
    case 'join':
      return line(`join ${node.how} on [${joinKeysText(node)}]${broadcastSide(node) ? ` (broadcast ${broadcastSide(node)})` : ' (hash shuffle)'}`) +
        formatPlan(node.left, indent + '  ') + formatPlan(node.right, indent + '  ');
    case 'sort':
      return line(`sort by [${node.by.join(', ')}]`) + formatPlan(node.input, indent + '  ');
    case 'window':
      // The expressions themselves: their names are temporary (withWindows names them after the step).
      return line(`window [${node.exprs.map((e) => formatExpr(e.op === 'alias' ? e.arg : e)).join(', ')}] (${windowText(node.exprs)})`) + formatPlan(node.input, indent + '  ');
    case 'concat':
      return line(`concat ${node.inputs.length} frames (partitions kept)`) + node.inputs.map((p) => formatPlan(p, indent + '  ')).join('');
    case 'repartition':
      return line(`repartition into ${node.n}${node.layout ? ` of about ${Math.round(node.layout.target)} bytes` : ''}`) + formatPlan(node.input, indent + '  ');
  }
}

function windowText(exprs: readonly ExprNode[]): string {
  const w = planWindow(exprs);
  const parts = [];
  if (w.before) parts.push(`${w.before} row(s) from before each partition`);
  if (w.after) parts.push(`${w.after} row(s) from after`);
  if (w.carries.length) parts.push(`${w.carries.length} total(s) carried`);
  return parts.join(', ') || 'within partitions';
}

function joinKeysText(node: Extract<PlanNode, { kind: 'join' }>): string {
  return node.leftOn.map((l, i) => (l === node.rightOn[i] ? l : `${l} = ${node.rightOn[i]}`)).join(', ');
}

function describeOp(op: OpSpec): string {
  switch (op.op) {
    case 'rename':
      return JSON.stringify(op.mapping);
    case 'cast':
      return JSON.stringify(op.mapping);
    case 'drop':
      return `[${op.columns.join(', ')}]`;
    case 'withColumns':
    case 'select':
      return `[${op.exprs.map((e) => outputName(e)).join(', ')}]`;
    case 'fillNull':
      return JSON.stringify(op.value);
    case 'slice':
      return `${op.offset}+${op.length}`;
    case 'filter':
      return formatExpr(op.predicate);
    default:
      return '';
  }
}

