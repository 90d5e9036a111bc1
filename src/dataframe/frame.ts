/**
 * The lazy, partitioned DataFrame. Every operation returns a new DataFrame
 * over a bigger plan; nothing runs until an action (collect, head, count,
 * toParquet, toCsv, persist). Operations that work partition by partition
 * fuse into one task per partition.
 */

import { join, relative } from 'node:path';
import { DataFrameError } from '../errors.js';
import { serializeFunction } from '../graph/functions.js';
import type { TaskFunction } from '../graph/function-spec.js';
import type { FunctionSpec } from '../protocol/messages.js';
import { normalizeDType, type DTypeLike, type Schema } from './dtypes.js';
import { concatIpc, emptyFrame, frameSchema, ipcHeight, type PolarsDataFrame } from './engine/index.js';
import { currentExecutor, type Executor, type RunOptions } from './executor.js';
import { col, containsAgg, containsWindow, Expr, lit, toExpr, type ExprLike, type ExprNode, type LiteralValue, outputName } from './expr.js';
import { validateAggs, validateReduction } from './groupby.js';
import { concatFiles } from './io/concat-files.js';
import { abandonWriteTarget, commitFileTarget, commitWriteTarget, prepareFileTarget, prepareWriteTarget, refuseWritingIntoInputs } from './io/write-target.js';
import { Lowerer, planToken, type TaskInput } from './lower.js';
import type { OpSpec, ParquetCompression, SinkSpec, WriteResult } from './pipeline.js';
import { parseBytes } from './io/sizes.js';
import { checkOptions, optionNames } from './options.js';
import { estimatePartitionBytes, sizeLayout } from './partition-size.js';
import { JOIN_HOWS, type JoinHow } from './join-columns.js';
import { broadcastSide, formatPlan, groupBySchema, joinSchema, npartitionsOf, opSchema, optimize, windowSchema, type PlanNode } from './plan.js';
import { validateWindowExprs, windowKeys } from './window.js';
import { parseQuery, type QueryOptions } from './query.js';

export interface ActionOptions extends RunOptions {
  /** Where to run (default: the current Client if connected, else in this process). */
  executor?: Executor;
}

export interface ToParquetOptions extends ActionOptions {
  /** Parquet compression codec (default 'snappy'). */
  compression?: ParquetCompression;
  /**
   * Hive-style partitioning, as pandas' partition_cols and Dask's
   * partition_on: the rows of each partition N are split by the values of
   * these columns into dir/year=2015/month=1/part.N.parquet, without those
   * columns in the files (readParquet(dir) restores them from the folder
   * names). A null value goes to a __HIVE_DEFAULT_PARTITION__ folder.
   */
  partitionOn?: readonly string[];
}

export interface ToCsvOptions extends ActionOptions {
  /**
   * Write one CSV file at the path instead of a folder of part files: the
   * header once, then every partition's rows in order (as Dask's
   * single_file=True). Written atomically: the parts go to a hidden
   * temporary folder next to the file, are joined there, and the result is
   * renamed into place, replacing a previous file only when complete. A
   * folder at the path is refused.
   */
  singleFile?: boolean;
}

export interface JoinOptions {
  /** Key column(s), present on both sides (or leftOn and rightOn). */
  on?: string | readonly string[];
  /** Key column(s) of the left frame, when the right frame names them differently (with rightOn; as pandas' left_on). */
  leftOn?: string | readonly string[];
  /** Key column(s) of the right frame, pair by pair with leftOn (as pandas' right_on). */
  rightOn?: string | readonly string[];
  /** Which rows are kept (default 'inner'), as pandas' merge: 'left', 'right' or 'outer' also keep the rows of that side (both) without a partner. */
  how?: JoinHow;
  /** Appended to right-side columns whose names collide with left-side ones (default '_right'). */
  suffix?: string;
  /** true: ship the smaller side whole to every partition of the other; false: hash-partition both; default: automatic. */
  broadcast?: boolean;
  /** Null keys match null keys (default true, as pandas' merge); false: SQL's rule. */
  nullsEqual?: boolean;
}

export interface SortOptions {
  descending?: boolean | readonly boolean[];
  /** Nulls last in either direction (default true, as pandas). */
  nullsLast?: boolean;
}

/** One of the two: a partition count, or a size per partition. */
export interface RepartitionOptions {
  npartitions?: number;
  /**
   * About this many bytes in memory per partition (a number or '100MB',
   * '64MiB'): larger partitions are cut into equal row slices, smaller
   * neighbours joined, row order kept. Sizes are estimated when
   * repartition() is called; see partition-size.ts for how (exact for
   * persisted data; filters above a file source are assumed to keep every row).
   */
  partitionSize?: number | string;
}

export interface CastOptions {
  /** Fail on values that cannot be cast (default true); false turns them into nulls. */
  strict?: boolean;
}

export interface FillNullOptions {
  /** Only these columns (default: every column the value fits). */
  columns?: readonly string[];
}

export interface MapPartitionsOptions {
  /** Extra arguments passed to the function after the frame. */
  args?: readonly unknown[];
  /** The output columns and types, when they cannot be found by calling the function on an empty frame. */
  meta?: Readonly<Record<string, DTypeLike>>;
}

const ACTION_OPTIONS = optionNames<ActionOptions>({ executor: true, onProgress: true });
const TO_PARQUET_OPTIONS = optionNames<ToParquetOptions>({ executor: true, onProgress: true, compression: true, partitionOn: true });
const TO_CSV_OPTIONS = optionNames<ToCsvOptions>({ executor: true, onProgress: true, singleFile: true });
const JOIN_OPTIONS = optionNames<JoinOptions>({ on: true, leftOn: true, rightOn: true, how: true, suffix: true, broadcast: true, nullsEqual: true });
const SORT_OPTIONS = optionNames<SortOptions>({ descending: true, nullsLast: true });
const REPARTITION_OPTIONS = optionNames<RepartitionOptions>({ npartitions: true, partitionSize: true });
const CAST_OPTIONS = optionNames<CastOptions>({ strict: true });
const FILL_NULL_OPTIONS = optionNames<FillNullOptions>({ columns: true });
const MAP_PARTITIONS_OPTIONS = optionNames<MapPartitionsOptions>({ args: true, meta: true });
const QUERY_OPTIONS = optionNames<Omit<QueryOptions, 'columns'>>({ locals: true });
const GROUP_BY_OPTIONS = optionNames<GroupByOptions>({ dropna: true });

type ColumnArg = string | Expr | readonly (string | Expr)[];

function flatColumns(args: readonly ColumnArg[]): (string | Expr)[] {
  return args.flatMap((a) => (Array.isArray(a) ? (a as (string | Expr)[]) : [a as string | Expr]));
}

const ROW_PRESERVING = new Set<OpSpec['op']>(['withColumns', 'select', 'drop', 'rename', 'cast', 'fillNull']);

export class DataFrame {
  constructor(readonly plan: PlanNode) {}

  get npartitions(): number {
    return npartitionsOf(this.plan);
  }

  /** Column name -> type. */
  get schema(): Schema {
    return { ...this.plan.schema };
  }

  get columns(): string[] {
    return Object.keys(this.plan.schema);
  }

  /** Same as schema, by its pandas/Dask name. */
  get dtypes(): Schema {
    return this.schema;
  }

  toString(): string {
    return `DataFrame(npartitions=${this.npartitions}, columns=[${Object.entries(this.plan.schema).map(([c, t]) => `${c}: ${t}`).join(', ')}])`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  private derive(op: OpSpec): DataFrame {
    return new DataFrame({ kind: 'op', input: this.plan, op, schema: opSchema(this.plan.schema, op) });
  }

  private requireColumns(cols: readonly string[], what: string): void {
    const missing = cols.filter((c) => !(c in this.plan.schema));
    if (missing.length) {
      throw new DataFrameError(`${what}: column(s) ${missing.map((c) => `'${c}'`).join(', ')} not found; the columns are ${this.columns.join(', ')}`);
    }
  }

  // ------------------------------------------------------------ rows

  /** Keeps the rows where `predicate` is true (an expression, or a query string as in query()). */
  filter(predicate: Expr | string, options?: Omit<QueryOptions, 'columns'>): DataFrame {
    checkOptions('filter', options, QUERY_OPTIONS);
    const expr = typeof predicate === 'string' ? parseQuery(predicate, { ...options, columns: this.columns }) : predicate;
    if (!(expr instanceof Expr)) throw new DataFrameError('filter() takes an expression such as col("x").gt(0), or a query string');
    if (containsWindow(expr.node)) {
      throw new DataFrameError(`filter(): ${expr.toString()} reads neighbouring rows; compute it first with withColumns(...alias('w')), then filter on col('w')`);
    }
    if (containsAgg(expr.node)) {
      // Evaluated per partition, an aggregate would be each partition's own.
      throw new DataFrameError(
        `filter(): ${expr.toString()} uses an aggregation, which would be computed per partition; compute it first ` +
          `(await df.select(col("x").mean()).collect()) and filter with the value`,
      );
    }
    return this.derive({ op: 'filter', predicate: expr.node });
  }

  /** Filters with a pandas query string: "fare_amount > 0 and passenger_count < 6". */
  query(query: string, options: Omit<QueryOptions, 'columns'> = {}): DataFrame {
    checkOptions('query', options, QUERY_OPTIONS);
    return this.filter(query, options);
  }

  // --------------------------------------------------------- columns

  /**
   * Keeps (or computes) these columns, in this order. With aggregations
   * (`select(col('f').sum(), col('g').mean())`) the whole frame reduces to
   * one row: partials per partition, combined in a tree, as groupBy does.
   */
  select(...columns: ColumnArg[]): DataFrame {
    const exprs = flatColumns(columns).map((c) => toExpr(c).node);
    if (exprs.length === 0) throw new DataFrameError('select() needs at least one column');
    if (exprs.some(containsWindow)) return this.withWindows(exprs, 'select');
    if (exprs.some(containsAgg)) {
      validateReduction(exprs);
      const schema = groupBySchema(this.plan.schema, [], exprs);
      return new DataFrame({ kind: 'groupBy', input: this.plan, keys: [], aggs: exprs, splitEvery: 8, schema });
    }
    return this.derive({ op: 'select', exprs });
  }

  drop(...columns: (string | readonly string[])[]): DataFrame {
    const cols = columns.flat() as string[];
    this.requireColumns(cols, 'drop');
    return this.derive({ op: 'drop', columns: cols });
  }

  /** Renames columns; names not present are ignored, as in pandas. */
  rename(mapping: Readonly<Record<string, string>>): DataFrame {
    const present: Record<string, string> = {};
    for (const [from, to] of Object.entries(mapping)) if (from in this.plan.schema && from !== to) present[from] = to;
    if (Object.keys(present).length === 0) return this;
    return this.derive({ op: 'rename', mapping: present });
  }

  /**
   * Adds or replaces columns: expressions (named by alias or their column),
   * arrays of them, or an object of name -> expression or literal.
   */
  withColumns(...items: (Expr | readonly Expr[] | Readonly<Record<string, ExprLike>>)[]): DataFrame {
    const exprs: ExprNode[] = [];
    for (const item of items) {
      if (item instanceof Expr) exprs.push(item.node);
      else if (Array.isArray(item)) for (const e of item as Expr[]) exprs.push(toExpr(e).node);
      else for (const [name, v] of Object.entries(item as Record<string, ExprLike>)) exprs.push((v instanceof Expr ? v : lit(v as LiteralValue)).alias(name).node);
    }
    if (exprs.length === 0) return this;
    for (const e of exprs) {
      if (containsAgg(e)) throw new DataFrameError(`withColumns(): ${new Expr(e).toString()} aggregates; use groupBy(...).agg(...)`);
    }
    if (exprs.some(containsWindow)) return this.withWindows(exprs, 'withColumns');
    return this.derive({ op: 'withColumns', exprs });
  }

  withColumn(expr: Expr): DataFrame {
    return this.withColumns(expr);
  }

  /** Casts columns: { col: 'float32', ... }, or every column to one type. */
  cast(mapping: Readonly<Record<string, DTypeLike>> | DTypeLike, options: CastOptions = {}): DataFrame {
    checkOptions('cast', options, CAST_OPTIONS);
    const m: Record<string, ReturnType<typeof normalizeDType>> = {};
    if (typeof mapping === 'string') for (const c of this.columns) m[c] = normalizeDType(mapping);
    else {
      this.requireColumns(Object.keys(mapping), 'cast');
      for (const [c, t] of Object.entries(mapping)) m[c] = normalizeDType(t);
    }
    return this.derive({ op: 'cast', mapping: m, strict: options.strict ?? true });
  }

  /**
   * Replaces nulls with `value` in the columns it fits (numbers in numeric
   * columns, strings in string columns...), or in the columns named.
   */
  fillNull(value: LiteralValue, options: FillNullOptions = {}): DataFrame {
    checkOptions('fillNull', options, FILL_NULL_OPTIONS);
    if (options.columns) this.requireColumns(options.columns, 'fillNull');
    return this.derive({ op: 'fillNull', value, columns: options.columns ? [...options.columns] : null });
  }

  /**
   * Runs `fn(frame, ...args)` on each partition (a Polars DataFrame in, a
   * Polars DataFrame out). Inline functions are shipped as source and may
   * not capture local variables (import inside them, or use a module
   * function); `meta` gives the output schema when it cannot be found by
   * calling fn on an empty frame here.
   */
  mapPartitions(
    fn: TaskFunction<(df: PolarsDataFrame, ...args: never[]) => PolarsDataFrame | Promise<PolarsDataFrame>>,
    options: MapPartitionsOptions = {},
  ): DataFrame {
    checkOptions('mapPartitions', options, MAP_PARTITIONS_OPTIONS);
    const spec: FunctionSpec = serializeFunction(fn as TaskFunction);
    const args = [...(options.args ?? [])];
    let schema: Schema;
    if (options.meta) {
      schema = {};
      for (const [c, t] of Object.entries(options.meta)) schema[c] = normalizeDType(t);
    } else {
      if (typeof fn !== 'function') throw new DataFrameError('mapPartitions with a module function needs meta (the output columns and types)');
      let out: unknown;
      try {
        out = (fn as (...a: unknown[]) => unknown)(emptyFrame(this.plan.schema), ...args);
      } catch (err) {
        throw new DataFrameError(`mapPartitions could not find the output schema by calling the function on an empty frame (${(err as Error).message}); pass meta`, { cause: err });
      }
      if (out instanceof Promise) {
        out.catch(() => undefined);
        throw new DataFrameError('mapPartitions with an async function needs meta (the output columns and types)');
      }
      // A Polars DataFrame is a Proxy whose `in` tests column names: probe the property instead.
      if (!out || typeof out !== 'object' || !(out as { _df?: unknown })._df) throw new DataFrameError('mapPartitions: the function must return a Polars DataFrame');
      schema = frameSchema(out as PolarsDataFrame);
    }
    return new DataFrame({ kind: 'op', input: this.plan, op: { op: 'map', fn: spec, args }, schema });
  }

  // ---- frame-level operations (concat, windows)

  /**
   * withColumns/select of expressions of which some read neighbouring rows
   * (shift, diff, cumSum, rolling...): those are computed by a window step
   * (window.ts) under temporary names, from the same input columns as the
   * others, then named and placed as withColumns/select would.
   */
  private withWindows(exprs: readonly ExprNode[], how: 'withColumns' | 'select'): DataFrame {
    validateWindowExprs(exprs);
    const agg = exprs.find(containsAgg);
    if (agg) throw new DataFrameError(`${how}(): ${new Expr(agg).toString()} aggregates the whole frame; compute window functions and aggregations in separate steps`);
    // One window step per set of group keys (their halos and carries differ), one after another.
    const steps = new Map<string, ExprNode[]>();
    const temps: string[] = [];
    const final = exprs.map((e) => {
      if (!containsWindow(e)) return e;
      const keys = windowKeys(e);
      this.requireColumns(keys, 'over');
      const tmp = `__tessera_w${temps.length}`;
      temps.push(tmp);
      const sig = JSON.stringify(keys);
      steps.set(sig, [...(steps.get(sig) ?? []), new Expr(e).alias(tmp).node]);
      return col(tmp).alias(outputName(e)).node;
    });
    let plan = this.plan;
    for (const windowed of steps.values()) plan = { kind: 'window', input: plan, exprs: windowed, schema: windowSchema(plan.schema, windowed) };
    const stepped = new DataFrame(plan);
    if (how === 'select') return stepped.derive({ op: 'select', exprs: final });
    return stepped.derive({ op: 'withColumns', exprs: final }).derive({ op: 'drop', columns: temps });
  }

  // ------------------------------------------------ whole-frame operations

  /**
   * Groups by key columns: `groupBy('a', 'b')`, `groupBy(['a', 'b'])`, with
   * options last: `groupBy('a', { dropna: false })`. Rows with a null in any
   * key are dropped, as pandas' groupby (dropna=True); `dropna: false` keeps
   * them as a group of their own. Groups come in no particular order
   * (pandas sorts by key: sort the result where order matters).
   */
  groupBy(...keys: (string | readonly string[] | GroupByOptions)[]): GroupBy {
    const last = keys[keys.length - 1];
    const options: GroupByOptions = last !== undefined && typeof last === 'object' && !Array.isArray(last) ? (keys.pop() as GroupByOptions) : {};
    checkOptions('groupBy', options, GROUP_BY_OPTIONS);
    const k = (keys as (string | readonly string[])[]).flat() as string[];
    if (k.length === 0) throw new DataFrameError('groupBy() needs at least one key column');
    this.requireColumns(k, 'groupBy');
    return new GroupBy(this, k, { dropna: options.dropna ?? true });
  }

  /**
   * Joins on equal key columns, as pandas' merge: `{ on: 'k' }`, or
   * `{ leftOn: 'a', rightOn: 'b' }` when the sides name the keys
   * differently (both key columns are kept then). `how`: 'inner' (default),
   * 'left', 'right' or 'outer'. Columns: the left frame's, then the right
   * frame's; a key named alike on both sides is one column; a right column
   * whose name a left column has takes `suffix` (default '_right').
   *
   * A side with a single partition is sent whole to every partition of the
   * other (broadcast) where the how allows it (inner: either side; left: the
   * right side; right: the left side; outer: neither, unless the other side
   * has one partition too); otherwise both sides are hash-partitioned on
   * the keys.
   *
   * A null key matches a null key, as in pandas' merge (NaN matches NaN);
   * `nullsEqual: false` gives SQL's rule, where null matches nothing (and
   * Polars' default). Rows come in no particular order: pandas' merge keeps
   * the left frame's order (the right's for 'right', sorted keys for
   * 'outer'), so sort afterwards where order matters.
   */
  join(other: DataFrame, options: JoinOptions): DataFrame {
    checkOptions('join', options, JOIN_OPTIONS);
    if (!options) throw new DataFrameError(`join needs options with the key column(s): df.join(other, { on: 'key' })`);
    const list = (v: string | readonly string[]): string[] => (typeof v === 'string' ? [v] : [...v]);
    let leftOn: string[];
    let rightOn: string[];
    if (options.on !== undefined) {
      if (options.leftOn !== undefined || options.rightOn !== undefined) throw new DataFrameError('join: give either on, or leftOn with rightOn, not both');
      leftOn = list(options.on);
      rightOn = leftOn;
    } else {
      if (options.leftOn === undefined || options.rightOn === undefined) {
        throw new DataFrameError(`join needs the key column(s): { on: 'key' }, or { leftOn: 'a', rightOn: 'b' } when the sides name them differently`);
      }
      leftOn = list(options.leftOn);
      rightOn = list(options.rightOn);
      if (leftOn.length !== rightOn.length) throw new DataFrameError(`join: leftOn names ${leftOn.length} column(s) but rightOn ${rightOn.length}; they pair up one by one`);
    }
    if (leftOn.length === 0) throw new DataFrameError('join needs at least one key column');
    const how = options.how ?? 'inner';
    if (!JOIN_HOWS.includes(how)) throw new DataFrameError(`join: how must be one of ${JOIN_HOWS.map((h) => `'${h}'`).join(', ')}, got '${String(how)}'`);
    this.requireColumns(leftOn, 'join (left side)');
    other.requireColumns(rightOn, 'join (right side)');
    const suffix = options.suffix ?? '_right';
    const nullsEqual = options.nullsEqual ?? true;
    const schema = joinSchema(this.plan.schema, other.plan.schema, leftOn, rightOn, how, suffix, nullsEqual);
    const node: Extract<PlanNode, { kind: 'join' }> = {
      kind: 'join', left: this.plan, right: other.plan, leftOn, rightOn, how, suffix, nullsEqual, broadcast: options.broadcast ?? 'auto', schema,
    };
    if (options.broadcast === true && broadcastSide(node) === null) {
      throw new DataFrameError(
        `join: broadcast: true cannot be used for this ${how} join of ${this.npartitions} and ${other.npartitions} partitions: ` +
          `every partition would keep its own copy of the unmatched rows of the broadcast side; leave broadcast out (the join shuffles both sides)`,
      );
    }
    return new DataFrame(node);
  }

  /**
   * A global sort: rows are range-partitioned on the first key (from
   * samples), then each partition is sorted. Stable: equal keys keep their
   * order. Nulls go last in either direction, as pandas' sort_values
   * (na_position='last'); `nullsLast: false` puts them first (Polars' default).
   */
  sort(by: string | readonly string[], options: SortOptions = {}): DataFrame {
    checkOptions('sort', options, SORT_OPTIONS);
    const keys = typeof by === 'string' ? [by] : [...by];
    if (keys.length === 0) throw new DataFrameError('sort() needs at least one column');
    this.requireColumns(keys, 'sort');
    const d = options.descending ?? false;
    const descending = typeof d === 'boolean' ? keys.map(() => d) : [...d];
    if (descending.length !== keys.length) throw new DataFrameError(`sort: ${keys.length} key(s) but ${descending.length} descending flag(s)`);
    return new DataFrame({ kind: 'sort', input: this.plan, by: keys, descending, nullsLast: options.nullsLast ?? true, schema: this.plan.schema });
  }

  /**
   * Changes the number of partitions: merging neighbours, or splitting each
   * into equal slices; or, with { partitionSize }, into partitions of about
   * that many bytes in memory.
   */
  repartition(npartitions: number | RepartitionOptions): DataFrame {
    if (typeof npartitions !== 'number') {
      checkOptions('repartition', npartitions, REPARTITION_OPTIONS);
      const given = REPARTITION_OPTIONS.filter((k) => (npartitions as Record<string, unknown>)[k] !== undefined);
      if (given.length !== 1) throw new DataFrameError(`repartition: give either npartitions or partitionSize${given.length ? ', not both' : ''}`);
      if (npartitions.partitionSize !== undefined) return this.repartitionBySize(npartitions.partitionSize);
    }
    const n = typeof npartitions === 'number' ? npartitions : npartitions.npartitions!;
    if (!Number.isInteger(n) || n < 1) throw new DataFrameError(`repartition: npartitions must be a positive integer, got ${n}`);
    if (n === this.npartitions) return this;
    return new DataFrame({ kind: 'repartition', input: this.plan, n, schema: this.plan.schema });
  }

  private repartitionBySize(size: number | string): DataFrame {
    const target = parseBytes(size);
    if (!Number.isFinite(target) || target < 1) throw new DataFrameError(`repartition: partitionSize must be a positive number of bytes or a size such as '100MB', got ${JSON.stringify(size)}`);
    const layout = sizeLayout(estimatePartitionBytes(this.plan), target);
    return new DataFrame({ kind: 'repartition', input: this.plan, n: layout.groups.length, layout, schema: this.plan.schema });
  }

  // ------------------------------------------------------------ actions

  /** Every row, as one Polars DataFrame on the client. */
  async collect(options: ActionOptions = {}): Promise<PolarsDataFrame> {
    checkOptions('collect', options, ACTION_OPTIONS);
    const plan = optimize(this.plan);
    const { lowerer, outputs } = this.lowerOutputs(plan);
    const parts = (await (options.executor ?? currentExecutor()).compute(lowerer.graph, outputs, options)) as Uint8Array[];
    return concatIpc(parts, plan.schema);
  }

  /** Computes the partitions and keeps them in memory (on the workers when distributed). */
  async persist(options: ActionOptions = {}): Promise<DataFrame> {
    checkOptions('persist', options, ACTION_OPTIONS);
    const plan = optimize(this.plan);
    const { lowerer, outputs } = this.lowerOutputs(plan);
    const executor = options.executor ?? currentExecutor();
    const parts = await executor.persist(lowerer.graph, outputs, options);
    // Their sizes, for repartition({ partitionSize }): a small task next to each partition.
    const sizes = new Lowerer();
    const token = planToken(plan, 'nbytes');
    const refs = parts.map((p, i) => sizes.graph.add({ key: `nbytes-${token}-${i}`, fn: 'byteLength', params: null, inputs: [{ kind: 'persisted', key: p.key, persisted: p.handle }] }));
    const bytes = (await executor.compute(sizes.graph, refs)) as number[];
    return new DataFrame({ kind: 'persisted', schema: plan.schema, parts: parts.map((p, i) => ({ ...p, bytes: Number(bytes[i]) })) });
  }

  /**
   * The first n rows: partitions are computed one at a time until there are
   * enough, and a CSV partition whose rows all survive is read only as far
   * as needed.
   */
  async head(n = 5, options: ActionOptions = {}): Promise<PolarsDataFrame> {
    checkOptions('head', options, ACTION_OPTIONS);
    if (!Number.isInteger(n) || n < 0) throw new DataFrameError(`head: n must be a non-negative integer, got ${n}`);
    const plan = optimize(this.plan);
    const executor = options.executor ?? currentExecutor();
    const lowerer = new Lowerer();
    const parts = lowerer.lower(plan);
    const token = planToken(plan, 'head', String(n));
    const got: Uint8Array[] = [];
    let rows = 0;
    for (let i = 0; i < parts.length && rows < n; i++) {
      let part = parts[i]!;
      const src = part.pipeline.source;
      if (src.kind === 'csv' && part.pipeline.ops.every((o) => ROW_PRESERVING.has(o.op) && !(o.op === 'select' && o.exprs.some(containsAgg)))) {
        part = { ...part, pipeline: { ...part.pipeline, source: { ...src, nRows: n - rows } } };
      }
      part = { ...part, pipeline: { ...part.pipeline, ops: [...part.pipeline.ops, { op: 'slice', offset: 0, length: n - rows }] } };
      const ref = lowerer.materialize(part, { kind: 'ipc' }, 'head', token, i);
      const [bytes] = (await executor.compute(lowerer.graph, [ref])) as Uint8Array[];
      rows += ipcHeight(bytes!);
      got.push(bytes!);
    }
    return concatIpc(got, plan.schema);
  }

  /** The number of rows (reading only the columns the filters need). */
  async count(options: ActionOptions = {}): Promise<number> {
    checkOptions('count', options, ACTION_OPTIONS);
    const plan = optimize(this.plan, []);
    const lowerer = new Lowerer();
    const token = planToken(plan, 'count');
    const outputs = lowerer.lower(plan).map((p, i) => lowerer.materialize(p, { kind: 'count' }, 'count', token, i));
    const counts = (await (options.executor ?? currentExecutor()).compute(lowerer.graph, outputs, options)) as number[];
    return counts.reduce((a, b) => a + Number(b), 0);
  }

  /**
   * Writes one Parquet file per partition, dir/part.N.parquet (written by
   * the workers: dir must be on storage they share, as on a cluster's shared
   * file system). The parts are written into a temporary folder next to dir
   * and renamed into place once all are written, replacing the previous
   * output; a failed write leaves dir as it was. dir must be new, empty, or
   * hold only part files, and must not hold the plan's own input.
   */
  async toParquet(dir: string, options: ToParquetOptions = {}): Promise<WriteResult[]> {
    checkOptions('toParquet', options, TO_PARQUET_OPTIONS);
    return this.write(dir, 'parquet', options);
  }

  /**
   * Writes one CSV file per partition, dir/part.N.csv, with a header each;
   * replaces dir as toParquet does. With singleFile: true, one file at
   * `dir` (then a file path) holding every partition in order, the header once.
   */
  async toCsv(dir: string, options: ToCsvOptions = {}): Promise<WriteResult[]> {
    checkOptions('toCsv', options, TO_CSV_OPTIONS);
    if (options.singleFile) return [await this.writeSingleCsv(dir, options)];
    return this.write(dir, 'csv', options);
  }

  private async writeSingleCsv(path: string, options: ActionOptions): Promise<WriteResult> {
    refuseWritingIntoInputs(this.plan, path, 'toCsv', 'file');
    const target = prepareFileTarget(path, 'toCsv');
    try {
      const plan = optimize(this.plan);
      const lowerer = new Lowerer();
      const token = planToken(plan, 'csv-single', target.tmp);
      const parts: string[] = [];
      // Only the first part has the header line, so the parts join by appending bytes.
      const outputs = lowerer.lower(plan).map((p, i) => {
        parts.push(join(target.tmp, `part.${i}.csv`));
        return lowerer.materialize(p, { kind: 'csv', path: parts[i]!, header: i === 0 }, 'to-csv', token, i);
      });
      const written = (await (options.executor ?? currentExecutor()).compute(lowerer.graph, outputs, options)) as WriteResult[];
      const joined = join(target.tmp, 'joined.csv');
      const bytes = await concatFiles(parts, joined);
      commitFileTarget(target, joined);
      return { path: target.path, rows: written.reduce((n, w) => n + w.rows, 0), bytes };
    } catch (err) {
      abandonWriteTarget(target);
      throw err;
    }
  }

  private async write(dir: string, kind: 'parquet' | 'csv', options: ToParquetOptions): Promise<WriteResult[]> {
    const action = kind === 'parquet' ? 'toParquet' : 'toCsv';
    if (options.partitionOn !== undefined) {
      const on = options.partitionOn;
      if (!Array.isArray(on) || on.length === 0 || on.some((c) => typeof c !== 'string')) {
        throw new DataFrameError(`toParquet: partitionOn must be a non-empty list of column names, got ${JSON.stringify(on)}`);
      }
      this.requireColumns(on, 'toParquet partitionOn');
      if (new Set(on).size !== on.length) throw new DataFrameError(`toParquet: partitionOn names a column twice: ${on.join(', ')}`);
      if (on.length === this.columns.length) {
        throw new DataFrameError(`toParquet: partitionOn takes every column (${on.join(', ')}), which would leave the files without columns; keep at least one column out of it`);
      }
    }
    refuseWritingIntoInputs(this.plan, dir, action);
    const target = prepareWriteTarget(dir, action);
    try {
      const plan = optimize(this.plan);
      const compression = options.compression ?? 'snappy';
      const lowerer = new Lowerer();
      // The temporary folder is in the token: every write is a new side effect,
      // so its keys must never match a result the scheduler still holds from an earlier write.
      const partitionOn = options.partitionOn ? [...options.partitionOn] : null;
      const token = planToken(plan, kind, target.tmp, compression, JSON.stringify(partitionOn));
      const outputs = lowerer.lower(plan).map((p, i) => {
        const file = `part.${i}.${kind}`;
        const sink: SinkSpec = partitionOn
          ? { kind: 'parquetPartitioned', dir: target.tmp, file, partitionOn, compression }
          : kind === 'parquet'
            ? { kind: 'parquet', path: join(target.tmp, file), compression }
            : { kind: 'csv', path: join(target.tmp, file) };
        return lowerer.materialize(p, sink, `to-${kind}`, token, i);
      });
      const written = ((await (options.executor ?? currentExecutor()).compute(lowerer.graph, outputs, options)) as (WriteResult | WriteResult[])[]).flat();
      // Paths inside the temporary folder, which becomes the output folder.
      const names = written.map((w) => relative(target.tmp, w.path));
      commitWriteTarget(target, names);
      return written.map((w, i) => ({ ...w, path: join(target.dir, names[i]!) }));
    } catch (err) {
      abandonWriteTarget(target);
      throw err;
    }
  }

  /** The optimized plan and the tasks collect() would run, grouped by op. */
  explain(): string {
    const plan = optimize(this.plan);
    const { lowerer } = this.lowerOutputs(plan);
    const groups = new Map<string, number>();
    for (const key of lowerer.graph.tasks.keys()) {
      const op = key.replace(/-[0-9a-f]{16}-\d+$/, '');
      groups.set(op, (groups.get(op) ?? 0) + 1);
    }
    const tasks = [...groups].map(([op, n]) => `  ${op}: ${n}`).join('\n');
    return `${formatPlan(plan)}tasks (${lowerer.graph.tasks.size}):\n${tasks}`;
  }

  private lowerOutputs(plan: PlanNode): { lowerer: Lowerer; outputs: TaskInput[] } {
    const lowerer = new Lowerer();
    const token = planToken(plan);
    const outputs = lowerer.lower(plan).map((p, i) => lowerer.materialize(p, { kind: 'ipc' }, p.name, token, i));
    return { lowerer, outputs };
  }
}

export interface GroupByOptions {
  /** Drop rows whose key is null (default true, as pandas); false keeps them as their own group. */
  readonly dropna?: boolean;
}

/** groupBy(keys) waiting for its aggregations. */
export class GroupBy {
  constructor(
    private readonly df: DataFrame,
    private readonly keys: readonly string[],
    private readonly options: { splitEvery?: number; dropna?: boolean } = {},
  ) {}

  /** Partials are combined `splitEvery` at a time (default 8), in a tree. */
  splitEvery(n: number): GroupBy {
    if (!Number.isInteger(n) || n < 2) throw new DataFrameError(`splitEvery must be an integer >= 2, got ${n}`);
    return new GroupBy(this.df, this.keys, { ...this.options, splitEvery: n });
  }

  /** Aggregations: col('x').sum(), col('x').mean().alias('m'), len(), ... One row per key. */
  agg(...aggs: (Expr | readonly Expr[])[]): DataFrame {
    const nodes = aggs.flat().map((a) => (a as Expr).node);
    validateAggs(nodes);
    // A filter on the keys: it moves down to the reader like any other.
    const notNull = this.keys.map((k) => col(k).isNotNull()).reduce((a, b) => a.and(b));
    const input = (this.options.dropna ?? true) ? this.df.filter(notNull).plan : this.df.plan;
    const schema = groupBySchema(input.schema, this.keys, nodes);
    return new DataFrame({ kind: 'groupBy', input, keys: this.keys, aggs: nodes, splitEvery: this.options.splitEvery ?? 8, schema });
  }

  private each(fn: 'sum' | 'mean' | 'min' | 'max', columns: string[]): DataFrame {
    const cols = columns.length ? columns : this.df.columns.filter((c) => !this.keys.includes(c));
    return this.agg(cols.map((c) => col(c)[fn]()));
  }

  sum(...columns: string[]): DataFrame { return this.each('sum', columns); }
  mean(...columns: string[]): DataFrame { return this.each('mean', columns); }
  min(...columns: string[]): DataFrame { return this.each('min', columns); }
  max(...columns: string[]): DataFrame { return this.each('max', columns); }
  /** Rows per group, in a column named 'len' (as Polars). */
  len(): DataFrame {
    return this.agg(new Expr({ op: 'len' }));
  }
}
