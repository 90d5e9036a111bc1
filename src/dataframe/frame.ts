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
import { isNumericType, normalizeDType, type DType, type DTypeLike, type Schema } from './dtypes.js';
import { concatIpc, emptyFrame, frameSchema, ipcHeight, labelledFloatFrame, type PolarsDataFrame } from './engine/index.js';
import { currentExecutor, type Executor, type RunOptions } from './executor.js';
import { col, containsAgg, containsWindow, Expr, len, lit, toExpr, when, type ExprLike, type ExprNode, type LiteralValue, outputName } from './expr.js';
import { validateAggs, validateReduction } from './groupby.js';
import { concatFiles } from './io/concat-files.js';
import { abandonWriteTarget, commitFileTarget, commitWriteTarget, prepareFileTarget, prepareWriteTarget, refuseWritingIntoInputs } from './io/write-target.js';
import { Lowerer, planToken, type TaskInput } from './lower.js';
import type { OpSpec, ParquetCompression, SinkSpec, WriteResult } from './pipeline.js';
import { parseBytes } from './io/sizes.js';
import { checkOptions, optionNames } from './options.js';
import { estimatePartitionBytes, sizeLayout } from './partition-size.js';
import { JOIN_HOWS, type JoinHow } from './join-columns.js';
import { broadcastSide, formatPlan, groupBySchema, joinSchema, npartitionsOf, opSchema, optimize, windowSchema, type PlanNode, type ShuffleMethod } from './plan.js';
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
  /** How both sides are hash-partitioned when neither is broadcast (default 'p2p' on a cluster; see ShuffleMethod). */
  shuffle?: ShuffleMethod;
}

export interface SortOptions {
  descending?: boolean | readonly boolean[];
  /** Nulls last in either direction (default true, as pandas). */
  nullsLast?: boolean;
  /** How rows move into their range partitions (default 'p2p' on a cluster; see ShuffleMethod). */
  shuffle?: ShuffleMethod;
}

/** groupBy(...).agg(..., options) */
export interface AggOptions {
  /**
   * Output partitions (default 1). With many groups one partition would
   * hold them all: splitOut > 1 shuffles the per-partition partials by key
   * into that many partitions (as Dask's split_out).
   */
  splitOut?: number;
  /** How the partials move when splitOut > 1 (default 'p2p' on a cluster; see ShuffleMethod). */
  shuffle?: ShuffleMethod;
}

export interface DropDuplicatesOptions {
  /**
   * Which row of each set of duplicates stays (pandas' keep): 'first'
   * (default) or 'last' in frame order, or false: none of them.
   */
  keep?: 'first' | 'last' | false;
  /** Output partitions (default: as many as the input has). */
  splitOut?: number;
  /** How rows move to the partition of their key (default 'p2p' on a cluster; see ShuffleMethod). */
  shuffle?: ShuffleMethod;
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

export interface DropNullsOptions {
  /** Only look at these columns (default: all). */
  subset?: string | readonly string[];
  /** 'any' (default): drop a row with any missing value; 'all': only a row with all missing. */
  how?: 'any' | 'all';
  /** Keep rows with at least this many present values (instead of how). */
  thresh?: number;
}

export interface ValueCountsOptions {
  /** Most frequent first (default true); false: no particular order. */
  sort?: boolean;
  /** Least frequent first (default false). */
  ascending?: boolean;
  /** Leave out missing values (default true); false counts them as a value of their own. */
  dropna?: boolean;
  /** Proportions (a `proportion` column summing to 1) instead of counts. */
  normalize?: boolean;
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
const JOIN_OPTIONS = optionNames<JoinOptions>({ on: true, leftOn: true, rightOn: true, how: true, suffix: true, broadcast: true, nullsEqual: true, shuffle: true });
const SORT_OPTIONS = optionNames<SortOptions>({ descending: true, nullsLast: true, shuffle: true });
const AGG_OPTIONS = optionNames<AggOptions>({ splitOut: true, shuffle: true });
const DROP_DUPLICATES_OPTIONS = optionNames<DropDuplicatesOptions>({ keep: true, splitOut: true, shuffle: true });
const UNIQUE_OPTIONS = optionNames<Omit<DropDuplicatesOptions, 'keep'>>({ splitOut: true, shuffle: true });

function checkShuffle(method: string, shuffle: unknown): ShuffleMethod | undefined {
  if (shuffle === undefined || shuffle === 'tasks' || shuffle === 'p2p') return shuffle;
  throw new DataFrameError(`${method}: shuffle must be 'p2p' or 'tasks', got ${JSON.stringify(shuffle)}`);
}

function checkSplitOut(method: string, splitOut: unknown): number | undefined {
  if (splitOut === undefined) return undefined;
  if (typeof splitOut !== 'number' || !Number.isInteger(splitOut) || splitOut < 1) {
    throw new DataFrameError(`${method}: splitOut must be a whole number of output partitions (1 or more), got ${JSON.stringify(splitOut)}`);
  }
  return splitOut;
}
const REPARTITION_OPTIONS = optionNames<RepartitionOptions>({ npartitions: true, partitionSize: true });
const CAST_OPTIONS = optionNames<CastOptions>({ strict: true });
const FILL_NULL_OPTIONS = optionNames<FillNullOptions>({ columns: true });
const MAP_PARTITIONS_OPTIONS = optionNames<MapPartitionsOptions>({ args: true, meta: true });
const QUERY_OPTIONS = optionNames<Omit<QueryOptions, 'columns'>>({ locals: true });
const GROUP_BY_OPTIONS = optionNames<GroupByOptions>({ dropna: true });
const DROP_NULLS_OPTIONS = optionNames<DropNullsOptions>({ subset: true, how: true, thresh: true });
const VALUE_COUNTS_OPTIONS = optionNames<ValueCountsOptions>({ sort: true, ascending: true, dropna: true, normalize: true });

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
    const shuffle = checkShuffle('join', options.shuffle);
    const node: Extract<PlanNode, { kind: 'join' }> = {
      kind: 'join', left: this.plan, right: other.plan, leftOn, rightOn, how, suffix, nullsEqual, broadcast: options.broadcast ?? 'auto', schema, ...(shuffle ? { shuffle } : {}),
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
    const shuffle = checkShuffle('sort', options.shuffle);
    return new DataFrame({ kind: 'sort', input: this.plan, by: keys, descending, nullsLast: options.nullsLast ?? true, schema: this.plan.schema, ...(shuffle ? { shuffle } : {}) });
  }

  /**
   * Rows whose `subset` columns (default: every column) repeat an earlier
   * row's are dropped, across all partitions, as pandas' drop_duplicates:
   * `keep: 'first'` (default) keeps the first of each set in frame order,
   * 'last' the last, false none of them. Missing values count as equal.
   * Rows are shuffled by their subset values (P2P on a cluster) and come
   * out in no particular order; sort afterwards where order matters.
   */
  dropDuplicates(subset?: string | readonly string[] | null, options: DropDuplicatesOptions = {}): DataFrame {
    checkOptions('dropDuplicates', options, DROP_DUPLICATES_OPTIONS);
    const keys = subset === undefined || subset === null ? this.columns : typeof subset === 'string' ? [subset] : [...subset];
    if (keys.length === 0) throw new DataFrameError('dropDuplicates: subset names no column; leave it out to compare whole rows');
    this.requireColumns(keys, 'dropDuplicates');
    const keep = options.keep ?? 'first';
    if (keep !== 'first' && keep !== 'last' && keep !== false) throw new DataFrameError(`dropDuplicates: keep must be 'first', 'last' or false, got ${JSON.stringify(keep)}`);
    const splitOut = checkSplitOut('dropDuplicates', options.splitOut) ?? this.npartitions;
    const shuffle = checkShuffle('dropDuplicates', options.shuffle);
    // One group per distinct subset, with the first (or last) value of every other column in frame order: the
    // group-by keeps that order through its partials and the shuffle (shards are joined in input order).
    const others = this.columns.filter((c) => !keys.includes(c));
    const counted = '__tessera_duplicates';
    const pickRow = others.map((c) => (keep === 'last' ? col(c).last() : col(c).first()).alias(c));
    let out = this.groupBy(keys, { dropna: false }).agg(...pickRow, len().alias(counted), { splitOut, ...(shuffle ? { shuffle } : {}) });
    if (keep === false) out = out.filter(col(counted).eq(1));
    return out.select(...this.columns);
  }

  /** The distinct rows: dropDuplicates() over every column. */
  unique(options: Omit<DropDuplicatesOptions, 'keep'> = {}): DataFrame {
    checkOptions('unique', options, UNIQUE_OPTIONS);
    return this.dropDuplicates(null, options);
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

  // ---- everyday operations (column level)

  /**
   * Drops rows with missing values, as pandas' `df.dropna()`: with
   * `how: 'any'` (the default) a row goes when any of the columns (all, or
   * `subset`) is missing, with `how: 'all'` when all are; `thresh` keeps rows
   * with at least that many present. A float NaN counts as missing, as in pandas.
   */
  dropNulls(options: DropNullsOptions = {}): DataFrame {
    checkOptions('dropNulls', options, DROP_NULLS_OPTIONS);
    const subset = options.subset === undefined ? this.columns : typeof options.subset === 'string' ? [options.subset] : [...options.subset];
    this.requireColumns(subset, 'dropNulls subset');
    if (subset.length === 0) return this;
    const how = options.how ?? 'any';
    if (how !== 'any' && how !== 'all') throw new DataFrameError(`dropNulls: how must be 'any' or 'all', got '${String(how)}'`);
    const present = subset.map((c) => {
      const t = this.plan.schema[c]!;
      return t === 'float32' || t === 'float64' ? col(c).isNotNull().and(col(c).isNan().not()) : col(c).isNotNull();
    });
    if (options.thresh !== undefined) {
      if (!Number.isInteger(options.thresh) || options.thresh < 0) throw new DataFrameError(`dropNulls: thresh must be a non-negative integer, got ${options.thresh}`);
      if (options.how !== undefined) throw new DataFrameError('dropNulls: give how or thresh, not both (as pandas)');
      const n = present.map((p) => p.cast('int32')).reduce((a, b) => a.add(b));
      return this.derive({ op: 'filter', predicate: n.gtEq(options.thresh).node });
    }
    const keep = present.reduce((a, b) => (how === 'any' ? a.and(b) : a.or(b)));
    return this.derive({ op: 'filter', predicate: keep.node });
  }

  /**
   * How often each value (or combination of values) occurs, as pandas'
   * `value_counts`: key column(s) then `count` (or `proportion` with
   * normalize), most frequent first. Differs: pandas leaves the order of
   * equal counts to its hash table; here they are ordered by the key
   * columns, ascending. With `sort: false` rows come in no particular order.
   */
  valueCounts(columns: string | readonly string[], options: ValueCountsOptions = {}): DataFrame {
    checkOptions('valueCounts', options, VALUE_COUNTS_OPTIONS);
    const keys = typeof columns === 'string' ? [columns] : [...columns];
    if (keys.length === 0) throw new DataFrameError('valueCounts() needs at least one column');
    this.requireColumns(keys, 'valueCounts');
    const name = options.normalize ? 'proportion' : 'count';
    if (keys.includes(name)) throw new DataFrameError(`valueCounts: a key column is named '${name}', the name of the result column; rename it first`);
    let out = this.groupBy(keys, { dropna: options.dropna ?? true }).agg(len().alias(name));
    if (options.normalize) {
      // One partition after the group-by is small: the total is its own sum.
      out = out.repartition(1).derive({ op: 'withColumns', exprs: [col(name).cast('float64').div(col(name).sum().cast('float64')).alias(name).node] });
    } else out = out.derive({ op: 'cast', mapping: { [name]: 'int64' }, strict: true });
    if (options.sort === false) return out;
    return out.sort([name, ...keys], { descending: [!(options.ascending ?? false), ...keys.map(() => false)] });
  }

  /**
   * The n rows with the largest values of `columns` (the first decides, the
   * next break ties), largest first, as pandas' `nlargest(n, columns)`
   * (keep='first': among equal rows the earlier ones). Without a full
   * sort: the top n of each partition, then the top n of those. Missing
   * values come last.
   */
  nLargest(n: number, columns: string | readonly string[]): DataFrame {
    return this.topN('nLargest', n, columns, true);
  }

  /** The n rows with the smallest values, smallest first, as pandas' `nsmallest(n, columns)`. */
  nSmallest(n: number, columns: string | readonly string[]): DataFrame {
    return this.topN('nSmallest', n, columns, false);
  }

  private topN(method: string, n: number, columns: string | readonly string[], descending: boolean): DataFrame {
    if (!Number.isInteger(n) || n < 0) throw new DataFrameError(`${method}: n must be a non-negative integer, got ${n}`);
    const by = typeof columns === 'string' ? [columns] : [...columns];
    if (by.length === 0) throw new DataFrameError(`${method}() needs at least one column`);
    this.requireColumns(by, method);
    // Polars orders NaN above every number; pandas treats it as missing: float keys sort on a copy with NaN as null.
    const floats = by.filter((c) => this.plan.schema[c] === 'float32' || this.plan.schema[c] === 'float64');
    const keyOf = (c: string): string => (floats.includes(c) ? `__tessera_key_${c}` : c);
    const keyed = floats.length ? this.derive({ op: 'withColumns', exprs: floats.map((c) => when(col(c).isNan()).then(lit(null)).otherwise(col(c)).alias(keyOf(c)).node) }) : this;
    // A stable sort keeps equal rows in partition order, and the partitions are concatenated in order: keep='first'.
    const top = (df: DataFrame): DataFrame =>
      df.derive({ op: 'sort', by: by.map(keyOf), descending: by.map(() => descending), nullsLast: true }).derive({ op: 'slice', offset: 0, length: n });
    const out = top(top(keyed).repartition(1));
    return floats.length ? out.derive({ op: 'drop', columns: floats.map(keyOf) }) : out;
  }

  /** Whole-frame sums of the numeric (and bool) columns: one row, as pandas' `df.sum(numeric_only=True)` (a Series there). */
  sum(): DataFrame { return this.reduceColumns('sum', (t) => isNumericType(t) || t === 'bool'); }
  /** Means of the numeric columns, one row (pandas' `df.mean(numeric_only=True)`). */
  mean(): DataFrame { return this.reduceColumns('mean', (t) => isNumericType(t) || t === 'bool'); }
  /** Minimum of every numeric, text, bool or time column, one row (pandas' `df.min()`). */
  min(): DataFrame { return this.reduceColumns('min', (t) => t !== 'list[string]' && t !== 'null'); }
  /** Maximum of every numeric, text, bool or time column, one row (pandas' `df.max()`). */
  max(): DataFrame { return this.reduceColumns('max', (t) => t !== 'list[string]' && t !== 'null'); }
  /** Non-missing values of every column, one row: pandas' `df.count()` (here count() is the number of rows, as Dask's len(df)). */
  countNonNull(): DataFrame { return this.reduceColumns('count', () => true); }
  /** Sample standard deviation (ddof 1) of the numeric columns, one row (pandas' `df.std(numeric_only=True)`). */
  std(): DataFrame { return this.reduceColumns('std', isNumericType); }
  /** Sample variance (ddof 1) of the numeric columns, one row (pandas' `df.var(numeric_only=True)`). */
  var(): DataFrame { return this.reduceColumns('var', isNumericType); }

  private reduceColumns(fn: 'sum' | 'mean' | 'min' | 'max' | 'count' | 'std' | 'var', fits: (t: DType) => boolean): DataFrame {
    const cols = this.columns.filter((c) => fits(this.plan.schema[c]!));
    if (cols.length === 0) throw new DataFrameError(`${fn}(): the frame has no column it applies to (columns: ${this.columns.join(', ')})`);
    const one = (c: string): Expr => (this.plan.schema[c] === 'bool' && (fn === 'sum' || fn === 'mean') ? col(c).cast('int64') : col(c));
    return this.select(cols.map((c) => one(c)[fn]().alias(c)));
  }

  /**
   * Summary statistics of the numeric columns, as pandas' `describe()`: a
   * `statistic` column (count, mean, std, min, 25%, 50%, 75%, max) and one
   * float64 column per numeric column. Quantiles are exact, by linear
   * interpolation as pandas: the numeric columns are brought together into
   * one task to compute them, so that task holds every value of those
   * columns in memory (8 bytes a value and row).
   */
  async describe(options: ActionOptions = {}): Promise<PolarsDataFrame> {
    checkOptions('describe', options, ACTION_OPTIONS);
    const cols = this.columns.filter((c) => isNumericType(this.plan.schema[c]!));
    if (cols.length === 0) throw new DataFrameError(`describe(): the frame has no numeric column (columns: ${this.columns.join(', ')})`);
    const stats: [string, (x: Expr) => ExprNode][] = [
      ['count', (x) => x.count().node],
      ['mean', (x) => x.mean().node],
      ['std', (x) => x.std().node],
      ['min', (x) => x.min().node],
      ['25%', (x) => ({ op: 'quantile', arg: x.node, q: 0.25 })],
      ['50%', (x) => ({ op: 'quantile', arg: x.node, q: 0.5 })],
      ['75%', (x) => ({ op: 'quantile', arg: x.node, q: 0.75 })],
      ['max', (x) => x.max().node],
    ];
    const exprs = cols.flatMap((c, i) => stats.map(([, f], j) => new Expr(f(col(c).cast('float64'))).alias(`${i}_${j}`).node));
    const one = this.select(cols).repartition(1).derive({ op: 'select', exprs });
    const row = (await one.collect(options)).toRecords()[0] as Record<string, number | null>;
    const columns: Record<string, (number | null)[]> = {};
    cols.forEach((c, i) => (columns[c] = stats.map((_, j) => row[`${i}_${j}`] ?? null)));
    return labelledFloatFrame('statistic', stats.map(([name]) => name), columns);
  }

  /** The last n rows: partitions are computed one at a time from the last backwards until there are enough (pandas' `tail`). */
  async tail(n = 5, options: ActionOptions = {}): Promise<PolarsDataFrame> {
    checkOptions('tail', options, ACTION_OPTIONS);
    if (!Number.isInteger(n) || n < 0) throw new DataFrameError(`tail: n must be a non-negative integer, got ${n}`);
    const plan = optimize(this.plan);
    const executor = options.executor ?? currentExecutor();
    const lowerer = new Lowerer();
    const parts = lowerer.lower(plan);
    const token = planToken(plan, 'tail', String(n));
    const got: Uint8Array[] = [];
    let rows = 0;
    for (let i = parts.length - 1; i >= 0 && rows < n; i--) {
      const part = parts[i]!;
      const last = { ...part, pipeline: { ...part.pipeline, ops: [...part.pipeline.ops, { op: 'slice' as const, offset: -(n - rows), length: n - rows }] } };
      const ref = lowerer.materialize(last, { kind: 'ipc' }, 'tail', token, i);
      const [bytes] = (await executor.compute(lowerer.graph, [ref])) as Uint8Array[];
      rows += ipcHeight(bytes!);
      got.unshift(bytes!);
    }
    return concatIpc(got, plan.schema);
  }

  // ------------------------------------------------------------ actions

  /** Every row, as one Polars DataFrame on the client. */
  async collect(options: ActionOptions = {}): Promise<PolarsDataFrame> {
    checkOptions('collect', options, ACTION_OPTIONS);
    const plan = optimize(this.plan);
    const { lowerer, outputs } = this.lowerOutputs(plan, options.executor);
    const parts = (await (options.executor ?? currentExecutor()).compute(lowerer.graph, outputs, options)) as Uint8Array[];
    return concatIpc(parts, plan.schema);
  }

  /** Computes the partitions and keeps them in memory (on the workers when distributed). */
  async persist(options: ActionOptions = {}): Promise<DataFrame> {
    checkOptions('persist', options, ACTION_OPTIONS);
    const plan = optimize(this.plan);
    const { lowerer, outputs } = this.lowerOutputs(plan, options.executor);
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
    const lowerer = lowererFor(executor);
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
    const lowerer = lowererFor(options.executor);
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
      const lowerer = lowererFor(options.executor);
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
      const lowerer = lowererFor(options.executor);
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

  private lowerOutputs(plan: PlanNode, executor?: Executor): { lowerer: Lowerer; outputs: TaskInput[] } {
    const lowerer = lowererFor(executor);
    const token = planToken(plan);
    const outputs = lowerer.lower(plan).map((p, i) => lowerer.materialize(p, { kind: 'ipc' }, p.name, token, i));
    return { lowerer, outputs };
  }
}

/**
 * A lowering for the executor that will run it: shuffles default to P2P on
 * a cluster (workers exchange shards directly) and to the task-based
 * shuffle in this process, where there are no peers to exchange with.
 */
function lowererFor(executor: Executor | undefined): Lowerer {
  return new Lowerer({ shuffle: (executor ?? currentExecutor()).kind === 'distributed' ? 'p2p' : 'tasks' });
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

  /**
   * Aggregations: col('x').sum(), col('x').mean().alias('m'), len(), ...
   * One row per key. Options last: `agg(col('x').sum(), { splitOut: 16 })`.
   */
  agg(...aggs: (Expr | readonly Expr[] | AggOptions)[]): DataFrame {
    const last = aggs[aggs.length - 1];
    // Options are a plain object; an expression carries its node (also one made by another copy of this module).
    const isOptions = last !== undefined && last !== null && typeof last === 'object' && !Array.isArray(last) && !(last instanceof Expr) && !('node' in last);
    const options: AggOptions = isOptions ? (aggs.pop() as AggOptions) : {};
    checkOptions('agg', options, AGG_OPTIONS);
    const splitOut = checkSplitOut('agg', options.splitOut);
    const shuffle = checkShuffle('agg', options.shuffle);
    const nodes = (aggs as (Expr | readonly Expr[])[]).flat().map((a) => (a as Expr).node);
    validateAggs(nodes);
    // A filter on the keys: it moves down to the reader like any other.
    const notNull = this.keys.map((k) => col(k).isNotNull()).reduce((a, b) => a.and(b));
    const input = (this.options.dropna ?? true) ? this.df.filter(notNull).plan : this.df.plan;
    const schema = groupBySchema(input.schema, this.keys, nodes);
    return new DataFrame({
      kind: 'groupBy', input, keys: this.keys, aggs: nodes, splitEvery: this.options.splitEvery ?? 8, schema,
      ...(splitOut !== undefined && splitOut > 1 ? { splitOut } : {}), ...(shuffle ? { shuffle } : {}),
    });
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
