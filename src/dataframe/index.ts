/**
 * `tessera-compute/dataframe`: lazy, partitioned dataframes over a per-partition
 * engine (Polars), run on a Tessera cluster when a Client is connected and
 * in this process otherwise.
 *
 *   const df = readCsv('data/*.csv', { parseDates: ['tpep_pickup_datetime'] })
 *     .query('fare_amount > 0 and passenger_count < 6')
 *     .withColumns(col('tpep_pickup_datetime').dt.hour().alias('hour'));
 *   await df.toParquet('out/');
 */

export {
  DataFrame, GroupBy, type ActionOptions, type GroupByOptions, type ToParquetOptions, type ToCsvOptions, type JoinOptions, type SortOptions,
  type RepartitionOptions, type CastOptions, type FillNullOptions, type MapPartitionsOptions, type DropNullsOptions, type ValueCountsOptions,
  type AggOptions, type DropDuplicatesOptions,
} from './frame.js';
export { concat } from './concat.js';
export type { ShuffleMethod } from './plan.js';
export { readCsv, readParquet, fromPolars, type ReadCsvOptions, type ReadParquetOptions, type FromPolarsOptions } from './io/read.js';
export type { FilterOp, FilterTerm, ParquetFilters } from './io/parquet-filters.js';
export { col, lit, len, when, cumCount, Expr, Rolling, type RollingOptions, Then, When, DatetimeNamespace, StringNamespace, type StrPatternOptions } from './expr.js';
export type { ExprLike, ExprNode, LiteralValue, BinaryOp, UnaryOp, AggOp, DatetimeField, DatetimeCall, StrFn, WindowFn } from './expr.js';
export { parseQuery, QueryError, type QueryOptions } from './query.js';
export { normalizeDType, type DType, type DTypeLike, type Schema, type TimeUnit } from './dtypes.js';
export { LocalExecutor, DistributedExecutor, setDefaultExecutor, currentExecutor, type Executor, type RunOptions } from './executor.js';
export { setEngineThreads, ENGINE_NAME, type PolarsDataFrame } from './engine/index.js';
export type { ParquetCompression, WriteResult } from './pipeline.js';
export type { JoinHow } from './join-columns.js';
export { DEFAULT_BLOCKSIZE } from './io/csv-partitions.js';
// The demo data generator is a tool of its own (src/tools/demo-data); its
// entry points stay exported here, where users of 0.1 found them.
export { generateDemoData, type DemoDataOptions, type DemoDataResult, NYC_TAXI_2015_COLUMNS } from '../tools/demo-data/index.js';
export { DataFrameError, EngineError } from '../errors.js';
