/**
 * Creating DataFrames: readCsv, readParquet, fromPolars. Like Dask's
 * readers these run right away on the client, but only to learn the layout:
 * they list the files, read each CSV header, cut the partitions and infer
 * the column types once from a sample of the first file (every partition is
 * then read with that one explicit schema; Polars' own inference looks at
 * 100 rows and gets real data wrong). No data is read beyond that.
 */

import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { DataFrameError } from '../../errors.js';
import { normalizeDType, type DTypeLike, type Schema } from '../dtypes.js';
import { frameSchema, frameToIpc, inferCsvSchema, parquetSchema, type PolarsDataFrame } from '../engine/index.js';
import { DataFrame } from '../frame.js';
import { parseBytes } from './sizes.js';
import type { CsvFormat } from '../pipeline.js';
import { DEFAULT_BLOCKSIZE, planCsvPartitions, readSample } from './csv-partitions.js';
import { checkOptions, optionNames } from '../options.js';
import { filterPlan, type PlanNode } from '../plan.js';
import { hiveLayout, listHiveTree, type HiveLayout } from './hive.js';
import { filtersToExpr, type ParquetFilters } from './parquet-filters.js';
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
    unknown(options.usecols, 'readCsv: usecols');
    const wanted = new Set(options.usecols);
    columns = {};
    for (const c of names) if (wanted.has(c)) columns[c] = schema[c]!;
  }
  return new DataFrame({ kind: 'csv', schema: columns, fileSchema: schema, partitions, format });
}

export interface ReadParquetOptions {
  /** Only these columns (later column pruning does this automatically too). */
  columns?: readonly string[];
  /**
   * Row filters as pandas' read_parquet and pyarrow spell them (DNF):
   * `[['year', '==', 2015], ['s', 'in', ['a', 'b']]]` keeps rows matching
   * every term; a list of such lists keeps rows matching any of them.
   * Operators: == = != < <= > >= in, 'not in'. The filter runs inside the
   * read (Polars' scan applies it to each row group as it decodes, and
   * skips row groups whose statistics rule it out); on a hive partition
   * column it skips whole folders without opening their files. The result
   * is the same as filtering after reading, with pyarrow's rule for nulls:
   * a null matches no term, so `!=` and 'not in' drop nulls too.
   */
  filters?: ParquetFilters;
}

const READ_PARQUET_OPTIONS = optionNames<ReadParquetOptions>({ columns: true, filters: true });
const PARQUET_EXTENSIONS = ['.parquet', '.pq'];

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The files to read and, for hive-partitioned folders (dir/key=value/.../part.N.parquet), their partition values. */
function parquetFiles(globOrDir: string | readonly string[]): { files: string[]; hive?: HiveLayout } {
  const items = typeof globOrDir === 'string' ? [globOrDir] : [...globOrDir];
  const trees = items.map((item) => (typeof item === 'string' && !/[*?[]/.test(item) && isDirectory(item) ? listHiveTree(item, PARQUET_EXTENSIONS) : null));
  if (trees.every((t) => t === null)) return { files: expandPaths(globOrDir, PARQUET_EXTENSIONS) };
  if (trees.some((t) => t === null)) {
    throw new DataFrameError(
      `readParquet: ${items.filter((_, i) => trees[i] !== null).join(', ')} ${trees.filter(Boolean).length === 1 ? 'is a' : 'are'} hive-partitioned folder(s) (key=value subfolders) ` +
        `but ${items.filter((_, i) => trees[i] === null).join(', ')} not; read them separately (their columns differ)`,
    );
  }
  const entries = trees.flatMap((t) => t!);
  const keys = entries[0]!.keys;
  const other = entries.find((e) => e.keys.join('/') !== keys.join('/'));
  if (other) throw new DataFrameError(`readParquet: the folders are partitioned by different keys (${keys.join('/')} and ${other.keys.join('/')}); read them separately`);
  return { files: entries.map((e) => e.path), hive: hiveLayout(keys, entries.map((e) => e.values)) };
}

/**
 * One partition per file; a directory means its *.parquet files in natural
 * order (part.2 before part.10), or, when it holds key=value folders (a
 * hive-partitioned tree, as toParquet's partitionOn, pandas and Dask write
 * it), every file in them, with the partition columns restored from the
 * folder names after the files' own columns (see io/hive.ts for types).
 */
export function readParquet(globOrDir: string | readonly string[], options: ReadParquetOptions = {}): DataFrame {
  checkOptions('readParquet', options, READ_PARQUET_OPTIONS);
  const { files, hive } = parquetFiles(globOrDir);
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
  let fileSchema = schema;
  if (hive) {
    const clash = Object.keys(hive.schema).filter((c) => c in schema);
    if (clash.length) {
      throw new DataFrameError(`readParquet: ${files[0]} has column(s) ${clash.join(', ')}, which are also partition folder keys; a column must be in the files or in the folder names, not both`);
    }
    fileSchema = { ...schema, ...hive.schema };
  }
  const node: PlanNode = { kind: 'parquet', schema: fileSchema, fileSchema, files, ...(hive ? { hive } : {}) };
  const where = typeof globOrDir === 'string' ? globOrDir : files[0]!;
  const predicate = options.filters === undefined ? null : filtersToExpr(options.filters, Object.keys(fileSchema), where);
  // Typed against the columns now (as any filter), so a value of the wrong type fails here, not in every task.
  if (predicate) {
    try {
      new DataFrame(node).filter(predicate);
    } catch (err) {
      const types = [...new Set(JSON.stringify(options.filters).match(/"[^"]+"/g) ?? [])].map((c) => JSON.parse(c) as string).filter((c) => c in fileSchema);
      throw new DataFrameError(
        `readParquet: the filters ${JSON.stringify(options.filters)} do not fit the column types (${types.map((c) => `${c}: ${fileSchema[c]}`).join(', ')}): ` +
          `${(err as Error).message}; compare each column with a value of its type`,
        { cause: err },
      );
    }
  }
  // Pushed down now, so that npartitions already leaves out the folders the filters skip.
  const read = new DataFrame(predicate ? filterPlan(node, predicate.node) : node);
  return options.columns ? read.select(...options.columns) : read;
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
    return { key: `from-polars-${token}-${i}`, handle: bytes, bytes: bytes.byteLength };
  });
  return new DataFrame({ kind: 'persisted', schema, parts });
}
