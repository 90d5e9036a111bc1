/**
 * The Polars engine: turns a partition pipeline (pipeline.ts) into one lazy
 * Polars query and runs it.
 *
 * It talks to nodejs-polars' native binding (`bin/native-polars.js`) for
 * expressions and lazy frames rather than to the JS wrapper: the wrapper
 * builds an object with hundreds of closures for every expression node
 * (measured at 2-7 ms per node on this machine, against microseconds
 * natively), which would cost more than reading a partition. The binding's
 * shape is pinned with the package version (0.24.1, see package.json); the
 * wrapper is still used for frames handed to user code and for I/O helpers.
 *
 * Polars is loaded lazily, on the first call, because its thread pool is
 * sized from POLARS_MAX_THREADS when the library loads: a worker sets that
 * from its nthreads before anything here runs.
 */

import { createRequire } from 'node:module';
import { EngineError, DataFrameError } from '../../errors.js';
import type { DType, Schema } from '../dtypes.js';
import { isFloatType, isIntegerType, isNumericType } from '../dtypes.js';
import type { ExprNode, LiteralValue } from '../expr.js';
import { formatExpr } from '../expr.js';
import type { CsvFormat, OpSpec, Pipeline, SinkSpec, SourceSpec, WriteResult } from '../pipeline.js';
import { bundle } from '../bundle.js';
import type { AnyFunction, FunctionSpec } from '../../graph/function-spec.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type NExpr = any;
type NLazy = any;
type NFrame = any;
/** A nodejs-polars DataFrame (the wrapper), as handed to user code. */
export type PolarsDataFrame = import('nodejs-polars').pl.DataFrame;

interface Loaded {
  pl: any;
  N: any;
  wrapFrame: (native: NFrame) => PolarsDataFrame;
}

let loaded: Loaded | undefined;
const require = createRequire(import.meta.url);

/** The Polars modules, loaded on first use. */
export function polars(): Loaded {
  if (loaded) return loaded;
  try {
    const pl = require('nodejs-polars');
    const N = require('nodejs-polars/bin/native-polars.js');
    const { _DataFrame } = require('nodejs-polars/bin/dataframe.js') as { _DataFrame: (n: NFrame) => PolarsDataFrame };
    if (!N || typeof N.col !== 'function') throw new Error('the native binding loaded but has no col()');
    loaded = { pl, N, wrapFrame: _DataFrame };
    return loaded;
  } catch (err) {
    const libc = process.platform === 'linux' ? (isMusl() ? '-musl' : '-gnu') : process.platform === 'win32' ? '-msvc' : '';
    const binary = `nodejs-polars-${process.platform}-${process.arch}${libc}`;
    throw new EngineError(
      `the dataframe engine could not be loaded: nodejs-polars needs its native binary for this platform (${binary}), ` +
        `and loading it failed (${(err as Error).message.split('\n')[0]}). Run 'npm ci' in the project (package.json pins ` +
        `nodejs-polars 0.24.1 and the Linux x64 binary), or install the binary with 'npm install ${binary}@0.24.1'. ` +
        `Note that npm silently skips optional platform packages whose 'engines' field excludes the running Node version`,
      { cause: err },
    );
  }
}

function isMusl(): boolean {
  try {
    const report = (process.report?.getReport() ?? {}) as { header?: { glibcVersionRuntime?: string } };
    return !report.header?.glibcVersionRuntime;
  } catch {
    return false;
  }
}

/**
 * Whether Polars is already loaded in this process (its thread count is then
 * fixed), by us or by anyone else's require: the CommonJS cache is shared.
 */
export function isLoaded(): boolean {
  if (loaded !== undefined) return true;
  try {
    return require.cache[require.resolve('nodejs-polars/bin/native-polars.js')] !== undefined;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- types

export function toPolarsType(t: DType): any {
  const { pl } = polars();
  switch (t) {
    case 'bool': return pl.Bool;
    case 'int8': return pl.Int8;
    case 'int16': return pl.Int16;
    case 'int32': return pl.Int32;
    case 'int64': return pl.Int64;
    case 'uint8': return pl.UInt8;
    case 'uint16': return pl.UInt16;
    case 'uint32': return pl.UInt32;
    case 'uint64': return pl.UInt64;
    case 'float32': return pl.Float32;
    case 'float64': return pl.Float64;
    case 'string': return pl.String;
    case 'date': return pl.Date;
    case 'time': return pl.Time;
    case 'null': return pl.Null;
    default: {
      const m = /^(datetime|duration)\[(ms|us|ns)\]$/.exec(t);
      if (m) return m[1] === 'datetime' ? pl.Datetime(m[2]) : pl.Duration(m[2]);
      throw new EngineError(`no Polars type for '${t}'`);
    }
  }
}

const FROM_POLARS: Record<string, DType> = {
  Bool: 'bool', Int8: 'int8', Int16: 'int16', Int32: 'int32', Int64: 'int64',
  UInt8: 'uint8', UInt16: 'uint16', UInt32: 'uint32', UInt64: 'uint64',
  Float32: 'float32', Float64: 'float64', String: 'string', Utf8: 'string',
  Date: 'date', Time: 'time', Null: 'null',
};

/** The Tessera type of a native series. */
function seriesType(s: any, column: string): DType {
  const d = s.dtype as string | { variant: string; inner: unknown[] };
  const variant = typeof d === 'string' ? d : d?.variant;
  const simple = FROM_POLARS[variant];
  if (simple) return simple;
  if (variant === 'Datetime' || variant === 'Duration') {
    // The binding serializes Duration without its unit (and Datetime with
    // it): the series' timeUnit() field has it for both, as 'ms', 'us' or
    // 'ns'. (Polars' printed form spells microseconds 'μs', so never parse that.)
    const unit: unknown = s.timeUnit();
    if (unit === 'ms' || unit === 'us' || unit === 'ns') return `${variant.toLowerCase()}[${unit}]` as DType;
  }
  throw new DataFrameError(
    `column '${column}' has the Polars type ${JSON.stringify(d)}, which Tessera dataframes do not support; ` +
      `cast it to a number, string, bool or datetime first`,
  );
}

/** The schema of a native frame. */
export function nativeSchema(df: NFrame): Schema {
  const schema: Schema = {};
  for (const s of df.getColumns() as any[]) schema[s.name as string] = seriesType(s, s.name as string);
  return schema;
}

/** The schema of a (wrapper) DataFrame. */
export function frameSchema(df: PolarsDataFrame): Schema {
  return nativeSchema((df as any)._df);
}

const zeroCache = new Map<string, NFrame>();

/** A frame with no rows and the given schema (cached: schemas repeat across partitions). */
export function zeroFrame(schema: Schema): NFrame {
  const key = JSON.stringify(schema);
  let z = zeroCache.get(key);
  if (!z) {
    const { pl } = polars();
    const plSchema: Record<string, unknown> = {};
    for (const [name, t] of Object.entries(schema)) plSchema[name] = toPolarsType(t);
    z = pl.DataFrame({}, { schema: plSchema })._df;
    if (zeroCache.size > 256) zeroCache.clear();
    zeroCache.set(key, z);
  }
  return z;
}

// ---------------------------------------------------------- expressions

/** Compiles expression trees against the schema of the frame they run on. */
class ExprCompiler {
  constructor(private readonly zero: NFrame, private readonly schema: Schema) {}

  /** The type an expression has on this frame, asked of Polars on zero rows. */
  dtypeOf(e: NExpr): DType {
    try {
      const out = this.zero.lazy().select([e.alias('__tessera_t')]).collectSync('auto');
      return seriesType(out.getColumns()[0], '__tessera_t');
    } catch (err) {
      throw engineError(err, 'type-checking an expression');
    }
  }

  compile(node: ExprNode): NExpr {
    const { N } = polars();
    switch (node.op) {
      case 'col':
        if (!(node.name in this.schema)) {
          throw new DataFrameError(`column '${node.name}' not found; the columns are ${Object.keys(this.schema).map((c) => `'${c}'`).join(', ')}`);
        }
        return N.col(node.name);
      case 'lit':
        return node.dtype ? typedLiteral(node.value, node.dtype) : defaultLiteral(node.value);
      case 'len':
        return N.len();
      case 'alias':
        return this.compile(node.arg).alias(node.name);
      case 'binary':
        return this.binary(node.fn, node.left, node.right);
      case 'unary':
        return this.unary(node.fn, node.arg);
      case 'round':
        return this.compile(node.arg).round(node.decimals, 'halftoeven');
      case 'cast': {
        const a = this.compile(node.arg);
        return castTo(a, this.dtypeOf(a), node.dtype, node.strict);
      }
      case 'dt': {
        const a = this.compile(node.arg);
        switch (node.fn) {
          case 'year': return a.year();
          case 'month': return a.month();
          case 'day': return a.day();
          case 'hour': return a.hour();
          case 'minute': return a.minute();
          case 'second': return a.second();
          case 'weekday': return a.weekday();
          case 'ordinalDay': return a.ordinalDay();
          case 'millisecond': return a.nanosecond().floordiv(typedLiteral(1_000_000, 'int32'));
        }
        break;
      }
      case 'fillNull': {
        const a = this.compile(node.arg);
        return a.fillNull(this.operand(node.value, a));
      }
      case 'isIn': {
        const a = this.compile(node.arg);
        const t = this.dtypeOf(a);
        const { pl } = polars();
        const values = pl.Series('', node.values as unknown[]).cast(toPolarsType(t), false);
        return a.isIn(N.lit(values._s), false);
      }
      case 'when':
        return this.when(node);
      case 'agg': {
        const a = this.compile(node.arg);
        switch (node.fn) {
          case 'sum': return a.sum();
          case 'mean': return a.mean();
          case 'min': return a.min();
          case 'max': return a.max();
          case 'count': return a.count();
          // Distinct non-null values, as pandas' nunique() (dropna=True); Polars counts null as a value.
          case 'nUnique': return a.dropNulls().nUnique();
          case 'first': return a.first();
          case 'last': return a.last();
          case 'std': return this.sampleVariance(a, true);
          case 'var': return this.sampleVariance(a, false);
          case 'median': return a.median();
        }
      }
    }
    throw new EngineError(`cannot compile expression ${formatExpr(node)}`);
  }

  /**
   * Sample variance (or its root) by two passes over values shifted by a
   * reference near their mean (min + mean(x - min)), corrected for what
   * rounding that reference loses: sum((x - m)^2) - sum(x - m)^2 / n.
   * Polars' own var loses about 1e-8 relative on values such as
   * 1e8 + N(0, 1); this agrees with the exact value to ~1e-12, and with the
   * split form groupby.ts combines across partitions. Float32 stays float32.
   */
  private sampleVariance(a: NExpr, root: boolean): NExpr {
    const { N } = polars();
    const t = this.dtypeOf(a);
    const f64 = toPolarsType('float64');
    const x = a.cast(f64, true);
    const ref = x.min().add(x.sub(x.min()).mean());
    const d = x.sub(ref);
    const n = x.count().cast(f64, true);
    const m2 = d.pow(2).sum().sub(d.sum().pow(2).truediv(n));
    let v = N.when(n.gt(typedLiteral(1, 'float64'))).then(m2.truediv(n.sub(typedLiteral(1, 'float64')))).otherwise(N.lit(null).cast(f64, true));
    if (root) v = v.pow(0.5);
    return t === 'float32' ? v.cast(toPolarsType('float32'), true) : v;
  }

  /**
   * An operand next to `other`: an untyped numeric literal takes other's
   * type (Python Polars' "dynamic" literals), so float32 * 2 stays float32.
   */
  private operand(node: ExprNode, other: NExpr): NExpr {
    if (node.op === 'lit' && node.dtype === undefined && typeof node.value === 'number') {
      return typedLiteral(node.value, literalTypeNextTo(node.value, this.dtypeOf(other)));
    }
    if (node.op === 'lit' && node.dtype === undefined && typeof node.value === 'string') {
      // A string next to a datetime is a datetime, as in pandas: pickup > '2015-01-05'.
      const t = this.dtypeOf(other);
      if (t.startsWith('datetime') || t === 'date') {
        const ms = parseNaiveDatetime(node.value);
        if (ms === undefined) throw new DataFrameError(`cannot read '${node.value}' as a datetime (use e.g. '2015-01-05' or '2015-01-05 10:30:00')`);
        return typedLiteral(ms, 'datetime[ms]').cast(toPolarsType(t), true);
      }
    }
    return this.compile(node);
  }

  private binary(fn: string, left: ExprNode, right: ExprNode): NExpr {
    if (fn === 'pow') {
      const base = this.compile(left);
      if (right.op === 'lit' && typeof right.value === 'number') return base.pow(right.value);
      throw new DataFrameError(`pow(): the exponent must be a number, got ${formatExpr(right)}`);
    }
    const leftIsDyn = left.op === 'lit' && left.dtype === undefined && typeof left.value === 'number';
    let l: NExpr;
    let r: NExpr;
    if (leftIsDyn) {
      r = this.compile(right);
      l = this.operand(left, r);
    } else {
      l = this.compile(left);
      r = this.operand(right, l);
    }
    switch (fn) {
      case 'add': return l.add(r);
      case 'sub': return l.sub(r);
      case 'mul': return l.mul(r);
      case 'div': return l.truediv(r);
      case 'floorDiv': return l.floordiv(r);
      case 'mod': return l.rem(r);
      case 'eq': return l.eq(r);
      case 'neq': return l.neq(r);
      case 'gt': return l.gt(r);
      case 'gtEq': return l.gtEq(r);
      case 'lt': return l.lt(r);
      case 'ltEq': return l.ltEq(r);
      case 'and': return l.and(r);
      case 'or': return l.or(r);
    }
    throw new EngineError(`unknown binary operator ${fn}`);
  }

  private unary(fn: string, argNode: ExprNode): NExpr {
    const a = this.compile(argNode);
    switch (fn) {
      case 'not': return a.not();
      case 'neg': {
        const t = this.dtypeOf(a);
        return typedLiteral(0, isNumericType(t) ? t : 'float64').sub(a);
      }
      case 'isNull': return a.isNull();
      case 'isNotNull': return a.isNotNull();
      case 'isNan': return a.isNan();
      case 'sin': return a.sin();
      case 'cos': return a.cos();
      case 'tan': return a.tan();
      case 'arcsin': return a.arcsin();
      case 'arccos': return a.arccos();
      case 'arctan': return a.arctan();
      // The binding has no sqrt; x ** 0.5 keeps float32 as float32, as sqrt does.
      case 'sqrt': return isIntegerType(this.dtypeOf(a)) ? a.cast(toPolarsType('float64'), true).pow(0.5) : a.pow(0.5);
      case 'exp': return a.exp();
      case 'log': return a.log(Math.E);
      case 'floor': return a.floor();
      case 'ceil': return a.ceil();
      case 'abs': return a.abs();
    }
    throw new EngineError(`unknown function ${fn}`);
  }

  private when(node: Extract<ExprNode, { op: 'when' }>): NExpr {
    const { N } = polars();
    // Untyped numeric literals among the branch values take the type of the
    // first typed value, or int32/float64 when all are literals.
    const values = [...node.branches.map((b) => b.then), ...(node.otherwise ? [node.otherwise] : [])];
    const typed = values.find((v) => !(v.op === 'lit' && v.dtype === undefined));
    let dynType: DType | undefined;
    if (typed) dynType = this.dtypeOf(this.compile(typed));
    else if (values.some((v) => v.op === 'lit' && typeof v.value === 'number')) {
      dynType = values.every((v) => v.op !== 'lit' || typeof v.value !== 'number' || Number.isInteger(v.value)) ? 'int32' : 'float64';
    }
    const value = (v: ExprNode): NExpr =>
      v.op === 'lit' && v.dtype === undefined && typeof v.value === 'number' && dynType
        ? typedLiteral(v.value, literalTypeNextTo(v.value, dynType))
        : this.compile(v);
    let chain: any = N.when(this.compile(node.branches[0]!.when)).then(value(node.branches[0]!.then));
    for (const b of node.branches.slice(1)) chain = chain.when(this.compile(b.when)).then(value(b.then));
    if (node.otherwise) return chain.otherwise(value(node.otherwise));
    const nullValue = dynType ? N.lit(null).cast(toPolarsType(dynType), true) : N.lit(null);
    return chain.otherwise(nullValue);
  }
}

/**
 * A cast. Floats become the text Python's repr() gives (what pandas'
 * astype(str) writes): the shortest digits that read back to the same
 * value, so 0.1 is "0.1" and 1.0 is "1.0". Polars already writes the
 * shortest digits and agrees with repr on where scientific notation starts
 * above (1e+16), but writes 1e-5..1e-4 positionally ("0.00001" for
 * "1e-05"), pads exponents to no width ("2.5e-7" for "2.5e-07") and spells
 * NaN "NaN": those three are rewritten. Nulls stay null (pandas writes
 * "nan" for a missing float: see the docs).
 */
function castTo(e: NExpr, from: DType, to: DType, strict: boolean): NExpr {
  const out = e.cast(toPolarsType(to), strict);
  if (to !== 'string' || !isFloatType(from)) return out;
  const { N } = polars();
  const re = (text: NExpr, pattern: string, replacement: string): NExpr => text.strReplace(N.lit(pattern), N.lit(replacement), false, 1);
  let text = out;
  text = re(text, '^(-?)0\\.0000([1-9])$', '${1}${2}e-05');
  text = re(text, '^(-?)0\\.0000([1-9])([0-9]+)$', '${1}${2}.${3}e-05');
  text = re(text, 'e([+-])([0-9])$', 'e${1}0${2}');
  return re(text, '^NaN$', 'nan');
}

/** Epoch milliseconds of a naive (zone-less) datetime string, read as UTC like Polars' naive datetimes. */
function parseNaiveDatetime(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?)?$/.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '0'] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec), Number(frac.padEnd(3, '0')));
  return Number.isNaN(ms) ? undefined : ms;
}

/** The type an untyped numeric literal takes next to an operand of type `other`. */
function literalTypeNextTo(value: number, other: DType): DType {
  if (isFloatType(other)) return other;
  if (isIntegerType(other)) {
    if (!Number.isInteger(value)) return 'float64';
    return fitsInteger(value, other) ? other : 'int64';
  }
  return Number.isInteger(value) ? 'int32' : 'float64';
}

function fitsInteger(v: number, t: DType): boolean {
  const bits = Number(/\d+/.exec(t)![0]);
  if (t.startsWith('u')) return v >= 0 && v < 2 ** bits;
  return v >= -(2 ** (bits - 1)) && v < 2 ** (bits - 1);
}

function defaultLiteral(value: LiteralValue): NExpr {
  const { N } = polars();
  if (typeof value === 'number') return typedLiteral(value, Number.isInteger(value) && Math.abs(value) < 2 ** 31 ? 'int32' : 'float64');
  return N.lit(value);
}

function typedLiteral(value: LiteralValue, t: DType): NExpr {
  const { N } = polars();
  if (value === null) return N.lit(null).cast(toPolarsType(t), true);
  if (t.startsWith('datetime') && typeof value === 'number') {
    // Literal datetimes travel as epoch milliseconds.
    return N.lit(new Date(value)).cast(toPolarsType(t), true);
  }
  if (isNumericType(t) && typeof value === 'string') return N.lit(Number(value)).cast(toPolarsType(t), true);
  return N.lit(value).cast(toPolarsType(t), true);
}

// ------------------------------------------------------------- errors

/** Wraps a Polars error with what was being done, keeping its first lines. */
function engineError(err: unknown, doing: string): Error {
  if (err instanceof DataFrameError || err instanceof EngineError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new EngineError(`Polars failed ${doing}: ${msg.split('\n').slice(0, 6).join('\n')}`, { cause: err });
}

// ------------------------------------------------------------- sources

/**
 * Options every call of the native CSV reader spells out (the binding has no
 * defaults of its own); each call adds what differs.
 */
function csvReaderOptions(format: { sep: string; quoteChar: string }): Record<string, unknown> {
  return {
    batchSize: 8192,
    chunkSize: 10000,
    skipRows: 0,
    sep: format.sep,
    quoteChar: format.quoteChar,
    rechunk: false,
    encoding: 'utf8',
    lowMemory: false,
    tryParseDates: false,
    skipRowsAfterHeader: 0,
    raiseIfEmpty: false,
    missingIsNull: true,
    eolChar: '\n',
  };
}

/** Reads a CSV byte range (whole lines, no header) with an explicit schema. */
export function readCsvBytes(bytes: Buffer, source: Extract<SourceSpec, { kind: 'csv' }>): NFrame {
  const { N } = polars();
  const schema: Record<string, unknown> = {};
  for (const name of source.format.names) schema[name] = toPolarsType(source.schema[name]!);
  const options: Record<string, unknown> = {
    ...csvReaderOptions(source.format),
    inferSchemaLength: 0,
    hasHeader: false,
    ignoreErrors: source.format.ignoreErrors,
    truncateRaggedLines: false,
    schema,
  };
  if (source.columns) options.columns = [...source.columns];
  if (source.format.nullValues.length) options.nullValues = [...source.format.nullValues];
  if (bytes.length === 0) {
    const z = zeroFrame(source.schema);
    return source.columns ? z.lazy().select(source.columns.map((c) => N.col(c))).collectSync('auto') : z;
  }
  try {
    return N.readCsv(bytes, options);
  } catch (err) {
    // Polars counts offsets within the bytes it was given: make them offsets in the file.
    const msg = (err instanceof Error ? err.message : String(err))
      .split('\n')
      .slice(0, 4)
      .join(' ')
      .replace(/The current offset in the file is (\d+) bytes\.?/, (_, n: string) => `(near byte ${source.start + Number(n)} of the file)`);
    throw new DataFrameError(
      `cannot read ${source.path} (bytes ${source.start}-${source.end}): ${msg.trim()}. ` +
        `If a column holds values of another type than its first rows suggest, pass its type in readCsv's dtypes ` +
        `(e.g. dtypes: { col: 'float64' }); to read unparsable values as nulls pass ignoreErrors: true`,
      { cause: err },
    );
  }
}

/** Infers CSV column types from the head of a file (which must start with the header line when hasHeader). */
export function inferCsvSchema(head: Buffer, format: Omit<CsvFormat, 'names'> & { hasHeader: boolean }, path: string): Schema {
  const { N } = polars();
  let df: NFrame;
  try {
    df = N.readCsv(head, {
      ...csvReaderOptions(format),
      // "all rows of the head" (the binding takes no null here).
      inferSchemaLength: 1_000_000_000,
      hasHeader: format.hasHeader,
      ignoreErrors: true,
      truncateRaggedLines: true,
      ...(format.nullValues.length ? { nullValues: [...format.nullValues] } : {}),
    });
  } catch (err) {
    throw new DataFrameError(`cannot infer the column types of ${path}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  return nativeSchema(df);
}

// ------------------------------------------------------------- IPC

/** A frame as Arrow IPC (file format) bytes: how partitions move and spill. */
export function nativeToIpc(df: NFrame): Buffer {
  const { Writable } = require('node:stream') as typeof import('node:stream');
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb(null);
    },
  });
  df.writeIpc(sink, 'uncompressed');
  sink.end();
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

export function ipcToNative(bytes: Uint8Array): NFrame {
  const { N } = polars();
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    return N.readIpc(buf, {});
  } catch (err) {
    throw engineError(err, 'reading a partition (Arrow IPC)');
  }
}

export function frameToIpc(df: PolarsDataFrame): Buffer {
  return nativeToIpc((df as any)._df);
}

export function ipcToFrame(bytes: Uint8Array): PolarsDataFrame {
  return polars().wrapFrame(ipcToNative(bytes));
}

// ------------------------------------------------------------- pipelines

export interface RunHooks {
  /** Loads a task function (mapPartitions) by its spec. */
  loadFunction(spec: FunctionSpec): Promise<AnyFunction>;
  /** Reads bytes [start, end) of a file. */
  readRange(path: string, start: number, end: number): Promise<Buffer>;
  /** Called just before a partition's output file is created, to check its folder is still there (Polars panics on a missing one). */
  beforeWrite?(path: string): void;
}

interface Built {
  lf: NLazy;
  schema: Schema;
}

async function buildSource(source: SourceSpec, inputs: readonly Uint8Array[], hooks: RunHooks): Promise<Built> {
  const { N, pl } = polars();
  switch (source.kind) {
    case 'csv': {
      const df = source.nRows !== undefined ? await readCsvHead(source, source.nRows, hooks) : readCsvBytes(await hooks.readRange(source.path, source.start, source.end), source);
      const schema = source.columns ? pick(source.schema, source.columns) : source.schema;
      return { lf: df.lazy(), schema };
    }
    case 'parquet': {
      let lf: NLazy;
      try {
        lf = pl.scanParquet(source.path, {}).inner();
      } catch (err) {
        throw new DataFrameError(`cannot read ${source.path}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
      }
      if (source.columns) lf = lf.select(source.columns.map((c) => N.col(c)));
      return { lf, schema: source.columns ? pick(source.schema, source.columns) : source.schema };
    }
    case 'inputs': {
      const frames = source.inputs.map((i) => {
        const b = inputs[i];
        if (!b) throw new EngineError(`internal: task input ${i} is missing`);
        return ipcToNative(b);
      });
      if (frames.length === 0) return { lf: zeroFrame(source.schema).lazy(), schema: source.schema };
      if (frames.length === 1) return { lf: frames[0].lazy(), schema: source.schema };
      const lf = N.concatLf(frames.map((f: NFrame) => f.lazy()), 'vertical', false, true, true, true);
      return { lf, schema: source.schema };
    }
  }
}

/** The first `n` rows of a CSV range, reading 256 KiB, then 4x more each time while short of rows. */
async function readCsvHead(source: Extract<SourceSpec, { kind: 'csv' }>, n: number, hooks: RunHooks): Promise<NFrame> {
  let length = 256 * 1024;
  for (;;) {
    const end = Math.min(source.end, source.start + length);
    let bytes = await hooks.readRange(source.path, source.start, end);
    if (end < source.end) {
      const lastNewline = bytes.lastIndexOf(10);
      if (lastNewline < 0) {
        length *= 4;
        continue;
      }
      bytes = bytes.subarray(0, lastNewline + 1);
    }
    const df = readCsvBytes(bytes, source);
    if ((df.height as number) >= n || end >= source.end) return df.head(n);
    length *= 4;
  }
}

/** The schema of a Parquet file, from its footer. */
export function parquetSchema(path: string): Schema {
  const { pl } = polars();
  try {
    return nativeSchema(pl.scanParquet(path, {}).inner().slice(0, 0).collectSync('auto'));
  } catch (err) {
    throw new DataFrameError(`cannot read the schema of ${path}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
}

function pick(schema: Schema, columns: readonly string[]): Schema {
  const out: Schema = {};
  for (const c of columns) {
    if (!(c in schema)) throw new DataFrameError(`column '${c}' not found; the columns are ${Object.keys(schema).join(', ')}`);
    out[c] = schema[c]!;
  }
  return out;
}

/** Applies one op to a lazy frame whose schema is `schema`. */
function applyOp(lf: NLazy, op: OpSpec, schema: Schema, right?: Built): NLazy {
  const { N } = polars();
  const ex = new ExprCompiler(zeroFrame(schema), schema);
  switch (op.op) {
    case 'filter':
      return lf.filter(ex.compile(op.predicate));
    case 'withColumns':
      return lf.withColumns(op.exprs.map((e) => ex.compile(e)));
    case 'select':
      return lf.select(op.exprs.map((e) => ex.compile(e)));
    case 'drop':
      for (const c of op.columns) if (!(c in schema)) throw new DataFrameError(`drop: column '${c}' not found; the columns are ${Object.keys(schema).join(', ')}`);
      return lf.dropColumns([...op.columns]);
    case 'rename': {
      const from = Object.keys(op.mapping).filter((c) => c in schema);
      return from.length ? lf.rename(from, from.map((c) => op.mapping[c]!)) : lf;
    }
    case 'cast': {
      const exprs = Object.entries(op.mapping).map(([c, t]) => {
        if (!(c in schema)) throw new DataFrameError(`cast: column '${c}' not found; the columns are ${Object.keys(schema).join(', ')}`);
        return castTo(N.col(c), schema[c]!, t, op.strict);
      });
      return exprs.length ? lf.withColumns(exprs) : lf;
    }
    case 'fillNull': {
      const exprs = fillNullExprs(op.value, op.columns, schema);
      return exprs.length ? lf.withColumns(exprs) : lf;
    }
    case 'slice':
      return lf.slice(op.offset, op.length);
    case 'groupBy':
      // No keys: a whole-frame aggregation, one row.
      if (op.keys.length === 0) return lf.select(op.aggs.map((a) => ex.compile(a)));
      return lf.groupby(op.keys.map((k) => N.col(k)), false).agg(op.aggs.map((a) => ex.compile(a)));
    case 'join': {
      if (!right) throw new EngineError('internal: join without its right side');
      for (const k of op.on) {
        if (!(k in schema)) throw new DataFrameError(`join: key '${k}' is not a column of the left frame`);
        if (!(k in right.schema)) throw new DataFrameError(`join: key '${k}' is not a column of the right frame`);
        if (schema[k] !== right.schema[k]) {
          throw new DataFrameError(`join: key '${k}' is ${schema[k]} on the left but ${right.schema[k]} on the right; cast one side first`);
        }
      }
      if (!op.nullsEqual) {
        const keys = () => op.on.map((k) => N.col(k));
        return lf.join(right.lf, keys(), keys(), true, false, op.how, op.suffix, true, 'm:m', [], []);
      }
      // pandas' merge matches a missing key with a missing key; Polars'
      // join never matches null (and the binding cannot ask it to). So both
      // sides join on surrogate keys that are never null: each key with its
      // nulls filled, plus whether it was null. The right side's own key
      // columns go (the left's are the output's, as in a coalescing join),
      // and so do the surrogates afterwards.
      const surrogates: NExpr[] = [];
      const names: string[] = [];
      op.on.forEach((k, i) => {
        names.push(`__tessera_jk${i}`, `__tessera_jn${i}`);
        surrogates.push(nonNullKey(N.col(k), schema[k]!).alias(`__tessera_jk${i}`), N.col(k).isNull().alias(`__tessera_jn${i}`));
      });
      const keys = () => names.map((k) => N.col(k));
      const r = right.lf.withColumns(surrogates).dropColumns([...op.on]);
      return lf.withColumns(surrogates).join(r, keys(), keys(), true, false, op.how, op.suffix, true, 'm:m', [], []).dropColumns(names);
    }
    case 'sort':
      return sortLazy(lf, op.by, op.descending, op.nullsLast);
    case 'map':
      throw new EngineError('internal: map is applied by runPipeline');
  }
}

/** A join key with its nulls replaced by a fixed value of its type (see the join op). */
function nonNullKey(e: NExpr, t: DType): NExpr {
  const { N, pl } = polars();
  if (t === 'string') return e.fillNull(N.lit(''));
  if (t === 'bool') return e.fillNull(N.lit(false));
  if (isNumericType(t)) return e.fillNull(typedLiteral(0, t));
  // Temporal types and the null type compare as their integer representation.
  return e.cast(pl.Int64, false).fillNull(N.lit(0).cast(pl.Int64, true));
}

function sortLazy(lf: NLazy, by: readonly string[], descending: readonly boolean[], nullsLast: boolean): NLazy {
  const { N } = polars();
  const desc = by.map((_, i) => descending[i] ?? descending[0] ?? false);
  if (desc.every((d) => d === desc[0])) return lf.sortByExprs(by.map((c) => N.col(c)), desc[0] ?? false, nullsLast, true);
  // The binding takes one direction for all keys: mixed directions become
  // stable sorts from the least significant key to the most significant.
  let out = lf;
  for (let i = by.length - 1; i >= 0; i--) out = out.sortByExprs([N.col(by[i]!)], desc[i]!, nullsLast, true);
  return out;
}

function fillNullExprs(value: LiteralValue, columns: readonly string[] | null, schema: Schema): NExpr[] {
  const { N } = polars();
  if (value === null) return [];
  const targets = columns ?? Object.keys(schema);
  const out: NExpr[] = [];
  for (const c of targets) {
    const t = schema[c];
    if (t === undefined) throw new DataFrameError(`fillNull: column '${c}' not found; the columns are ${Object.keys(schema).join(', ')}`);
    // Like Polars' fill_null(value) on a frame: only columns the value fits.
    let fill: NExpr | undefined;
    if (typeof value === 'number') {
      if (isFloatType(t) || (isIntegerType(t) && Number.isInteger(value) && fitsInteger(value, t))) fill = typedLiteral(value, t);
    } else if (typeof value === 'string') {
      if (t === 'string') fill = N.lit(value);
    } else if (typeof value === 'boolean') {
      if (t === 'bool') fill = N.lit(value);
    }
    if (fill) out.push(N.col(c).fillNull(fill));
    else if (columns) throw new DataFrameError(`fillNull: cannot fill column '${c}' (${t}) with ${JSON.stringify(value)}`);
  }
  return out;
}

/**
 * Builds the lazy query for a pipeline. The schema after each op is found
 * by running the same op on a frame with no rows (microseconds), so
 * expressions can be typed against the columns they actually see.
 */
async function buildPipeline(p: Pipeline, inputs: readonly Uint8Array[], hooks: RunHooks): Promise<Built> {
  let { lf, schema } = await buildSource(p.source, inputs, hooks);
  for (const op of p.ops) {
    if (op.op === 'map') {
      const fn = await hooks.loadFunction(op.fn);
      let df: NFrame;
      try {
        df = await lf.collect();
      } catch (err) {
        throw engineError(err, 'running a partition query');
      }
      let result: unknown;
      try {
        result = await fn(polars().wrapFrame(df), ...op.args);
      } catch (err) {
        // Polars errors can quote whole columns: keep the message readable, the original as the cause.
        const msg = err instanceof Error ? err.message : String(err);
        throw new DataFrameError(`mapPartitions: the function failed: ${msg.length > 2000 ? `${msg.slice(0, 2000)}...` : msg}`, { cause: err });
      }
      const native = (result as { _df?: NFrame } | null)?._df;
      if (!native || typeof native.lazy !== 'function') {
        throw new DataFrameError(`mapPartitions: the function must return a Polars DataFrame, got ${describe(result)}`);
      }
      lf = native.lazy();
      schema = nativeSchema(native.head(0));
      continue;
    }
    let right: Built | undefined;
    if (op.op === 'join') right = await buildPipeline(op.right, inputs, hooks);
    try {
      lf = applyOp(lf, op, schema, right);
      const zeroRight = right ? { lf: zeroFrame(right.schema).lazy(), schema: right.schema } : undefined;
      schema = nativeSchema(applyOp(zeroFrame(schema).lazy(), op, schema, zeroRight).collectSync('auto'));
    } catch (err) {
      throw engineError(err, `in ${op.op}`);
    }
  }
  return { lf, schema };
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  return (x as object).constructor?.name ?? 'an object';
}

/** The output schema of a pipeline, without reading any data (map ops excepted). */
export function pipelineSchema(inputSchema: Schema, ops: readonly OpSpec[], rightSchemas: (op: OpSpec) => Schema = () => ({})): Schema {
  let schema = inputSchema;
  for (const op of ops) {
    if (op.op === 'map') throw new EngineError('internal: pipelineSchema cannot see through mapPartitions');
    try {
      const right = op.op === 'join' ? rightSchemas(op) : undefined;
      const zeroRight = right ? { lf: zeroFrame(right).lazy(), schema: right } : undefined;
      schema = nativeSchema(applyOp(zeroFrame(schema).lazy(), op, schema, zeroRight).collectSync('auto'));
    } catch (err) {
      throw engineError(err, `in ${op.op}`);
    }
  }
  return schema;
}

/** Runs a pipeline and returns its result as a native frame. */
export async function runToNative(p: Pipeline, inputs: readonly Uint8Array[], hooks: RunHooks): Promise<NFrame> {
  const built = await buildPipeline(p, inputs, hooks);
  try {
    return await built.lf.collect();
  } catch (err) {
    throw engineError(err, `running the partition query (${describeSource(p.source)})`);
  }
}

function describeSource(s: SourceSpec): string {
  if (s.kind === 'csv') return `${s.path} bytes ${s.start}-${s.end}`;
  if (s.kind === 'parquet') return s.path;
  return `${s.inputs.length} input partition(s)`;
}

/** Runs a pipeline into a sink. Returns IPC bytes, a bundle, a count or a write result. */
export async function runPipeline(
  p: Pipeline,
  sink: SinkSpec,
  inputs: readonly Uint8Array[],
  hooks: RunHooks,
): Promise<Buffer | number | WriteResult> {
  const { N } = polars();
  const built = await buildPipeline(p, inputs, hooks);
  const collect = async (lf: NLazy): Promise<NFrame> => {
    try {
      return await lf.collect();
    } catch (err) {
      throw engineError(err, `running the partition query (${describeSource(p.source)})`);
    }
  };
  switch (sink.kind) {
    case 'ipc':
      return nativeToIpc(await collect(built.lf));
    case 'count': {
      const df = await collect(built.lf.select([N.len().alias('n')]));
      return Number(df.getColumns()[0].getIdx(0));
    }
    case 'parquet': {
      const df = await collect(built.lf);
      hooks.beforeWrite?.(sink.path);
      try {
        df.writeParquet(sink.path, sink.compression);
      } catch (err) {
        throw new DataFrameError(`cannot write ${sink.path}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
      }
      const { statSync } = require('node:fs') as typeof import('node:fs');
      return { path: sink.path, rows: df.height as number, bytes: statSync(sink.path).size };
    }
    case 'csv': {
      const df = await collect(built.lf);
      hooks.beforeWrite?.(sink.path);
      try {
        df.writeCsv(sink.path, { includeBom: false, includeHeader: true, separator: ',', quoteChar: '"', lineTerminator: '\n', batchSize: 1024, maintainOrder: true });
      } catch (err) {
        throw new DataFrameError(`cannot write ${sink.path}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
      }
      const { statSync } = require('node:fs') as typeof import('node:fs');
      return { path: sink.path, rows: df.height as number, bytes: statSync(sink.path).size };
    }
    case 'hashSplit': {
      const { pl } = polars();
      const key = sink.on.length === 1 ? N.col(sink.on[0]) : N.asStruct(sink.on.map((c) => N.col(c)));
      // The explicit cast works around the binding mis-typing hash() % n.
      const part = key.hash(0n, 1n, 2n, 3n).cast(pl.UInt64, true).rem(N.lit(sink.n).cast(pl.UInt64, true)).cast(pl.Int64, true);
      const df = await collect(built.lf.withColumns([part.alias('__tessera_part')]));
      return splitByColumn(df, sink.n);
    }
    case 'rangeSplit': {
      const boundaries = inputs[sink.boundaries];
      if (!boundaries) throw new EngineError('internal: rangeSplit without boundaries');
      const part = rangeBucket(sink.by[0]!, built.schema, ipcToNative(boundaries), sink.n, sink.descending[0] ?? false, sink.nullsLast);
      const df = await collect(built.lf.withColumns([part.alias('__tessera_part')]));
      return splitByColumn(df, sink.n);
    }
    case 'sliceSplit': {
      const df = await collect(built.lf);
      const height = df.height as number;
      const pieces: Buffer[] = [];
      for (let i = 0; i < sink.n; i++) {
        const from = Math.floor((i * height) / sink.n);
        const to = Math.floor(((i + 1) * height) / sink.n);
        pieces.push(nativeToIpc(df.slice(from, to - from)));
      }
      return bundle(pieces);
    }
    case 'sample': {
      const df = await collect(built.lf.select([N.col(sink.by)]).dropNulls([sink.by]).sortByExprs([N.col(sink.by)], false, true, false));
      const height = df.height as number;
      if (height <= sink.k) return nativeToIpc(df);
      const step = Math.max(1, Math.floor(height / sink.k));
      const sampled = await collect(df.lazy().select([N.col(sink.by).gatherEvery(step, Math.floor(step / 2))]));
      return nativeToIpc(sampled);
    }
  }
}

/** Splits a frame on its `__tessera_part` column (values 0..n-1) into a bundle of n IPC pieces. */
function splitByColumn(df: NFrame, n: number): Buffer {
  const groups = df.partitionBy(['__tessera_part'], true, true) as NFrame[];
  const pieces: (Buffer | undefined)[] = new Array(n);
  let schemaFrame: NFrame | undefined;
  for (const g of groups) {
    const idx = Number(g.getColumns().find((s: any) => s.name === '__tessera_part').getIdx(0));
    const data = g.lazy().dropColumns(['__tessera_part']).collectSync('auto');
    schemaFrame ??= data.head(0);
    pieces[idx] = nativeToIpc(data);
  }
  const empty = nativeToIpc(schemaFrame ?? df.lazy().dropColumns(['__tessera_part']).collectSync('auto').head(0));
  return bundle(Array.from(pieces, (p) => p ?? empty));
}

/**
 * The output bucket (0..n-1) of each row for a range split on `by`: the
 * number of boundaries below the value, so equal values always land in the
 * same bucket. Temporal keys compare as their integer representation.
 */
function rangeBucket(by: string, schema: Schema, boundaries: NFrame, n: number, descending: boolean, nullsLast: boolean): NExpr {
  const { N, pl } = polars();
  const t = schema[by];
  if (t === undefined) throw new DataFrameError(`sort: column '${by}' not found`);
  const physical = (e: NExpr): NExpr => (t.startsWith('datetime') || t.startsWith('duration') || t === 'date' || t === 'time' ? e.cast(pl.Int64, true) : e);
  const values = (boundaries.lazy().select([physical(N.col(by))]).collectSync('auto').getColumns()[0].toArray() as unknown[]);
  const key = physical(N.col(by));
  let bucket: NExpr = N.lit(0).cast(pl.Int64, true);
  for (const v of values) {
    const lit = typeof v === 'bigint' ? N.lit(Number(v)).cast(pl.Int64, true) : typeof v === 'number' ? N.lit(v).cast(toPolarsType(isNumericType(t) ? t : 'int64'), true) : N.lit(v);
    bucket = bucket.add(key.gt(lit).cast(pl.Int64, true));
  }
  if (descending) bucket = N.lit(n - 1).cast(pl.Int64, true).sub(bucket);
  // Nulls sort first unless nullsLast, whatever the direction.
  const nullBucket = N.lit(nullsLast ? n - 1 : 0).cast(pl.Int64, true);
  return N.when(key.isNull()).then(nullBucket).otherwise(bucket);
}

// ------------------------------------------------------------- frames

/** Concatenates IPC partitions into one wrapper DataFrame (for collect()). */
export function concatIpc(parts: readonly Uint8Array[], schema: Schema): PolarsDataFrame {
  const { N, wrapFrame } = polars();
  if (parts.length === 0) return wrapFrame(zeroFrame(schema));
  const frames = parts.map((p) => ipcToNative(p));
  if (frames.length === 1) return wrapFrame(frames[0]);
  return wrapFrame(N.concatLf(frames.map((f: NFrame) => f.lazy()), 'vertical', true, true, true, true).collectSync('auto'));
}

/** A zero-row wrapper frame with the schema (for schema-only user calls). */
export function emptyFrame(schema: Schema): PolarsDataFrame {
  return polars().wrapFrame(zeroFrame(schema));
}

/** The number of rows of an IPC partition. */
export function ipcHeight(bytes: Uint8Array): number {
  return ipcToNative(bytes).height as number;
}

/**
 * n - 1 range boundaries for a sort on `by`, from per-partition samples
 * (each sorted, nulls dropped): evenly spaced values of all samples pooled.
 */
export function sortBoundaries(samples: readonly Uint8Array[], by: string, n: number, schema: Schema): Buffer {
  const { N } = polars();
  const frames = samples.map((s) => ipcToNative(s)).filter((f) => (f.height as number) > 0);
  if (frames.length === 0 || n <= 1) return nativeToIpc(zeroFrame({ [by]: schema[by]! }));
  const pooled = N.concatLf(frames.map((f: NFrame) => f.lazy()), 'vertical', true, true, true, true)
    .sortByExprs([N.col(by)], false, true, false)
    .collectSync('auto');
  const height = pooled.height as number;
  const picks: number[] = [];
  for (let i = 1; i < n; i++) picks.push(Math.min(height - 1, Math.floor((i * height) / n)));
  const { pl } = polars();
  const idx = pl.Series('', picks, pl.Int64);
  return nativeToIpc(pooled.lazy().select([N.col(by).gather(N.litSeries(idx._s))]).collectSync('auto'));
}
