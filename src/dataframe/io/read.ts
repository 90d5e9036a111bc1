/**
 * Creating DataFrames: readCsv, readParquet, fromPolars. Like Dask's
 * readers these run right away on the client, but only to learn the layout:
 * they list the files, read each CSV header, cut the partitions and infer
 * the column types once from a sample of the first file (every partition is
 * then read with that one explicit schema; Polars' own inference looks at
 * 100 rows and gets real data wrong). No data is read beyond that.
 */

import { createHash } from 'node:crypto';
import { DataFrameError } from '../../errors.js';
import { normalizeDType, type DTypeLike, type Schema } from '../dtypes.js';
import { frameSchema, frameToIpc, inferCsvSchema, parquetSchema, type PolarsDataFrame } from '../engine/index.js';
import { DataFrame } from '../frame.js';
import type { CsvFormat } from '../pipeline.js';
import { DEFAULT_BLOCKSIZE, planCsvPartitions, readSample } from './csv-partitions.js';
import { checkOptions, optionNames } from '../options.js';
import { expandPaths } from './paths.js';

export interface ReadCsvOptions {
  /**
   * Bytes per partition (a number or '64MB', '256MiB'); files larger than
   * this are split at line boundaries. Default 64 MiB, as Dask; null for
   * one partition per file.
   */
  blocksize?: number | string | null;
  /** Columns to read as datetimes (microseconds, like Polars; cast for another unit). */
  parseDates?: readonly string[];
  /** Column types, overriding inference (e.g. { VendorID: 'string', fare_amount: 'float32' }). */
  dtypes?: Readonly<Record<string, DTypeLike>>;
  /** Strings read as null (an empty field always is). */
  nullValues?: string | readonly string[];
  /** Whether the files start with a header line (default true). */
  header?: boolean;
  /** Column names: required with header: false unless 'column_1', 'column_2', ... will do. */
  names?: readonly string[];
  /** Field separator (default ','). */
  sep?: string;
  quoteChar?: string;
  /** Read unparsable values as nulls instead of failing (default false: the error names file and bytes). */
  ignoreErrors?: boolean;
  /**
   * Whether quoted fields may contain newlines. Cutting a large file then
   * needs one scan of it to find cuts outside quotes (default false, as Dask).
   */
  newlinesInQuotes?: boolean;
  /** Bytes of the first file used to infer column types (default 1 MiB). */
  sampleBytes?: number;
  /**
   * Only these columns are read (the others are never parsed), in the
   * order of the file, as pandas' usecols; the names are the header's (or
   * `names`'). A name the file does not have is an error listing its columns.
   */
  usecols?: readonly string[];
}

const UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

export function parseBytes(x: number | string): number {
  if (typeof x === 'number') return x;
  const m = /^\s*([\d.]+)\s*([a-z]*)\s*$/i.exec(x);
  const unit = UNITS[(m?.[2] || 'b').toLowerCase()];
  if (!m || unit === undefined) throw new DataFrameError(`cannot read the size '${x}' (use bytes or e.g. '64MB', '256MiB')`);
  return Math.round(Number(m[1]) * unit);
}

const READ_CSV_OPTIONS = optionNames<ReadCsvOptions>({
  blocksize: true, parseDates: true, dtypes: true, nullValues: true, header: true, names: true, sep: true, quoteChar: true,
  ignoreErrors: true, newlinesInQuotes: true, sampleBytes: true, usecols: true,
});

export function readCsv(globOrPaths: string | readonly string[], options: ReadCsvOptions = {}): DataFrame {
  checkOptions('readCsv', options, READ_CSV_OPTIONS);
  const paths = expandPaths(globOrPaths, ['.csv', '.csv.txt', '.tsv', '.txt']);
  const header = options.header ?? true;
  const sep = options.sep ?? ',';
  const quoteChar = options.quoteChar ?? '"';
  if (sep.length !== 1) throw new DataFrameError(`sep must be one character, got '${sep}'`);
  const blocksize = options.blocksize === null ? null : parseBytes(options.blocksize ?? DEFAULT_BLOCKSIZE);
  const { files, partitions } = planCsvPartitions(paths, { blocksize, header, newlinesInQuotes: options.newlinesInQuotes ?? false, quoteChar });
  const first = files[0]!;
  const nullValues = options.nullValues === undefined ? [] : typeof options.nullValues === 'string' ? [options.nullValues] : [...options.nullValues];

  const sample = readSample(first, options.sampleBytes ?? 1024 * 1024, { newlinesInQuotes: options.newlinesInQuotes ?? false, quoteChar });
  let schema = inferCsvSchema(sample, { sep, quoteChar, nullValues, ignoreErrors: true, hasHeader: header }, first.path);
  let names = Object.keys(schema);
  if (options.names) {
    if (options.names.length !== names.length) {
      throw new DataFrameError(`names gives ${options.names.length} column names but ${first.path} has ${names.length} columns`);
    }
    const renamed: Schema = {};
    options.names.forEach((n, i) => (renamed[n] = schema[names[i]!]!));
    schema = renamed;
    names = [...options.names];
  } else if (!header) {
    const generic: Schema = {};
    names.forEach((n, i) => (generic[`column_${i + 1}`] = schema[n]!));
    schema = generic;
    names = Object.keys(generic);
  }
  if (new Set(names).size !== names.length) throw new DataFrameError(`${first.path} has duplicate column names: ${names.join(', ')}`);
  const unknown = (cols: Iterable<string>, what: string): void => {
    const missing = [...cols].filter((c) => !(c in schema));
    if (missing.length) throw new DataFrameError(`${what} names column(s) ${missing.map((c) => `'${c}'`).join(', ')} not in ${first.path}; its columns are ${names.join(', ')}`);
  };
  unknown(options.parseDates ?? [], 'parseDates');
  unknown(Object.keys(options.dtypes ?? {}), 'dtypes');
  for (const c of options.parseDates ?? []) schema[c] = 'datetime[us]';
  for (const [c, t] of Object.entries(options.dtypes ?? {})) schema[c] = normalizeDType(t);

  const format: CsvFormat = { sep, quoteChar, nullValues, ignoreErrors: options.ignoreErrors ?? false, names };
  // usecols narrows what the frame has; the file schema stays whole (the
  // reader needs every column's type to find the fields), and the csv
  // node's columns become the Polars reader's projection, so the other
  // columns are never parsed.
  let columns = schema;
  if (options.usecols !== undefined) {
    if (!Array.isArray(options.usecols) || options.usecols.length === 0 || options.usecols.some((c) => typeof c !== 'string')) {
      throw new DataFrameError(`readCsv: usecols must be a non-empty list of column names, got ${JSON.stringify(options.usecols)}; the columns of ${first.path} are ${names.join(', ')}`);
    }
    unknown(options.usecols, 'usecols');
    const wanted = new Set(options.usecols);
    columns = {};
    for (const c of names) if (wanted.has(c)) columns[c] = schema[c]!;
  }
  return new DataFrame({ kind: 'csv', schema: columns, fileSchema: schema, partitions, format });
}

export interface ReadParquetOptions {
  /** Only these columns (later column pruning does this automatically too). */
  columns?: readonly string[];
}

/** One partition per file; a directory means its *.parquet files in natural order (part.2 before part.10). */
const READ_PARQUET_OPTIONS = optionNames<ReadParquetOptions>({ columns: true });

export function readParquet(globOrDir: string | readonly string[], options: ReadParquetOptions = {}): DataFrame {
  checkOptions('readParquet', options, READ_PARQUET_OPTIONS);
  const files = expandPaths(globOrDir, ['.parquet', '.pq']);
  const schema = parquetSchema(files[0]!);
  const signature = JSON.stringify(schema);
  for (const f of files.slice(1)) {
    const s = parquetSchema(f);
    if (JSON.stringify(s) !== signature) {
      throw new DataFrameError(
        `the schema of ${f} differs from that of ${files[0]}:\n  ${files[0]}: ${describe(schema)}\n  ${f}: ${describe(s)}`,
      );
    }
  }
  const df = new DataFrame({ kind: 'parquet', schema, fileSchema: schema, files });
  return options.columns ? df.select(...options.columns) : df;
}

function describe(schema: Schema): string {
  return Object.entries(schema)
    .map(([c, t]) => `${c}: ${t}`)
    .join(', ');
}

/** A DataFrame from a Polars DataFrame held by the client, cut into `npartitions` row ranges. */
export interface FromPolarsOptions {
  /** Row ranges to cut the frame into (default 1). */
  npartitions?: number;
}

const FROM_POLARS_OPTIONS = optionNames<FromPolarsOptions>({ npartitions: true });

export function fromPolars(df: PolarsDataFrame, options: FromPolarsOptions = {}): DataFrame {
  checkOptions('fromPolars', options, FROM_POLARS_OPTIONS);
  const n = options.npartitions ?? 1;
  if (!Number.isInteger(n) || n < 1) throw new DataFrameError(`npartitions must be a positive integer, got ${n}`);
  const height = df.height;
  const schema = frameSchema(df);
  const parts = Array.from({ length: n }, (_, i) => {
    const from = Math.floor((i * height) / n);
    const to = Math.floor(((i + 1) * height) / n);
    const bytes = frameToIpc(df.slice(from, to - from));
    const token = createHash('sha1').update(bytes).digest('hex').slice(0, 16);
    return { key: `from-polars-${token}-${i}`, handle: bytes };
  });
  return new DataFrame({ kind: 'persisted', schema, parts });
}
