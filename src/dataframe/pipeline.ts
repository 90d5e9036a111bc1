/**
 * What one partition task runs, as plain JSON: where its rows come from
 * (a CSV byte range, a Parquet file, the Arrow IPC results of other tasks),
 * the partition-local operations in order, and where the result goes. The
 * plan layer builds these; the engine turns one into a single lazy query.
 * Nothing here is engine-specific.
 */

import type { FunctionSpec } from '../protocol/messages.js';
import type { DType, Schema } from './dtypes.js';
import type { ExprNode, LiteralValue } from './expr.js';
import type { JoinHow } from './join-columns.js';

/** How a CSV file is written (shared by every partition of a readCsv). */
export interface CsvFormat {
  readonly sep: string;
  readonly quoteChar: string;
  /** Strings read as null; [] for none (an empty field is always null). */
  readonly nullValues: readonly string[];
  /** Turn values that cannot be parsed as their column's type into nulls instead of failing. */
  readonly ignoreErrors: boolean;
  /** CSV column names in file order (the header's, or the user's for header-less files). */
  readonly names: readonly string[];
}

export type SourceSpec =
  | {
      readonly kind: 'csv';
      readonly path: string;
      /** Byte range [start, end) holding whole lines, never the header. */
      readonly start: number;
      readonly end: number;
      /** Type of every CSV column, in file order. */
      readonly schema: Schema;
      /** Columns to parse (projection); null for all. */
      readonly columns: readonly string[] | null;
      readonly format: CsvFormat;
      /** Only the first rows are wanted (head): read the range a slice at a time until there are enough. */
      readonly nRows?: number;
    }
  | {
      readonly kind: 'parquet';
      readonly path: string;
      /** The columns in the file (hive partition columns are not). */
      readonly schema: Schema;
      /** File columns to read (projection); null for all, [] for none (only partition values). */
      readonly columns: readonly string[] | null;
      /** Hive partition columns, constant in this file: appended after the file's columns. */
      readonly partitionValues?: readonly { readonly name: string; readonly dtype: DType; readonly value: LiteralValue }[];
    }
  | {
      /** The vertical concatenation of task inputs (Arrow IPC), by index into the task's inputs. */
      readonly kind: 'inputs';
      readonly inputs: readonly number[];
      readonly schema: Schema;
    };

export type SortSpec = { readonly by: readonly string[]; readonly descending: readonly boolean[]; readonly nullsLast: boolean };

export type OpSpec =
  | { readonly op: 'filter'; readonly predicate: ExprNode }
  | { readonly op: 'withColumns'; readonly exprs: readonly ExprNode[] }
  | { readonly op: 'select'; readonly exprs: readonly ExprNode[] }
  | { readonly op: 'drop'; readonly columns: readonly string[] }
  | { readonly op: 'rename'; readonly mapping: Readonly<Record<string, string>> }
  | { readonly op: 'cast'; readonly mapping: Readonly<Record<string, DType>>; readonly strict: boolean }
  | { readonly op: 'fillNull'; readonly value: LiteralValue; readonly columns: readonly string[] | null }
  | { readonly op: 'slice'; readonly offset: number; readonly length: number }
  | { readonly op: 'groupBy'; readonly keys: readonly string[]; readonly aggs: readonly ExprNode[] }
  | {
      readonly op: 'join';
      readonly right: Pipeline;
      /** Key columns of each side, pair by pair (see join-columns.ts for the result's columns). */
      readonly leftOn: readonly string[];
      readonly rightOn: readonly string[];
      readonly how: JoinHow;
      readonly suffix: string;
      /**
       * The frame flowing through the pipeline is the join's right side and
       * `right` computes its left side (the left side broadcast into each
       * right partition); the result is the same join, left columns first.
       */
      readonly swapped?: boolean;
      /** Null keys match null keys, as in pandas' merge; false for SQL's rule (null matches nothing). */
      readonly nullsEqual: boolean;
    }
  | ({ readonly op: 'sort' } & SortSpec)
  | {
      /**
       * withColumns of expressions with window functions (window.ts), over a
       * source that is this partition with rows of its neighbours around it:
       * the rows of input `before` first (none when null), then input `main`'s,
       * then input `after`'s. Only main's rows are kept (main null: all rows,
       * when only the schema is wanted). `carry` is the input holding
       * one row of totals carried from the partitions before, one column per
       * cumulative function (the columns its expressions name).
       */
      readonly op: 'window';
      readonly exprs: readonly ExprNode[];
      /** Group keys of per-group window functions ([]: none): the carry has one row per group, joined on them. */
      readonly keys: readonly string[];
      readonly before: number | null;
      readonly main: number | null;
      readonly after: number | null;
      readonly carry: number | null;
    }
  | { readonly op: 'map'; readonly fn: FunctionSpec; readonly args: readonly unknown[] }
  /** The last (or first) n rows of each group of equal keys, in row order: a per-group window halo. */
  | { readonly op: 'rowsPerGroup'; readonly keys: readonly string[]; readonly n: number; readonly last: boolean };

export interface Pipeline {
  readonly source: SourceSpec;
  readonly ops: readonly OpSpec[];
}

export type ParquetCompression = 'uncompressed' | 'snappy' | 'gzip' | 'lz4' | 'zstd' | 'brotli';

export type SinkSpec =
  /** The partition as Arrow IPC bytes (to move or keep in memory). */
  | { readonly kind: 'ipc' }
  | { readonly kind: 'parquet'; readonly path: string; readonly compression: ParquetCompression }
  /**
   * Hive-partitioned Parquet: rows grouped by the values of `partitionOn`,
   * each group written (without those columns) to dir/k1=v1/k2=v2/file.
   */
  | { readonly kind: 'parquetPartitioned'; readonly dir: string; readonly file: string; readonly partitionOn: readonly string[]; readonly compression: ParquetCompression }
  /** header: false leaves the header line out (the parts of a single CSV file after the first). */
  | { readonly kind: 'csv'; readonly path: string; readonly header?: boolean }
  | { readonly kind: 'count' }
  /**
   * Rows split by hash of `on` into n pieces (a bundle), for hash joins
   * (equal key values go to the same piece whatever the columns' names).
   * `sparse`: a piece without rows is zero bytes instead of an IPC frame
   * holding only the schema (a P2P shuffle over thousands of outputs would
   * otherwise move a schema per (input, output) pair; the unpack knows the schema).
   */
  | { readonly kind: 'hashSplit'; readonly on: readonly string[]; readonly n: number; readonly sparse?: boolean }
  /**
   * Rows split by the range of the first sort key into n pieces (a bundle),
   * using the n-1 boundaries in the task input `boundaries`.
   */
  | ({ readonly kind: 'rangeSplit'; readonly n: number; readonly boundaries: number; readonly sparse?: boolean } & SortSpec)
  /** Rows split into n contiguous slices of (nearly) equal length (a bundle). */
  | { readonly kind: 'sliceSplit'; readonly n: number }
  /** Up to k evenly spaced values of the first sort key, sorted, as IPC (for sort boundaries). */
  | { readonly kind: 'sample'; readonly by: string; readonly k: number };

/** What a parquet or csv sink reports. */
export interface WriteResult {
  readonly path: string;
  readonly rows: number;
  readonly bytes: number;
}
