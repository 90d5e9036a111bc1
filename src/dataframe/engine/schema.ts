/** Tessera types and schemas in Polars terms: type mapping, schemas of native frames, zero-row frames. */

import { EngineError, DataFrameError } from '../../errors.js';
import type { DType, Schema } from '../dtypes.js';
import { polars, type NFrame, type NLazy, type PolarsDataFrame } from './load.js';

/** A lazy frame and its schema. */
export interface Built {
  lf: NLazy;
  schema: Schema;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
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
    case 'list[string]': return pl.List(pl.String);
    case 'category': return pl.Categorical;
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
  Date: 'date', Time: 'time', Null: 'null', Categorical: 'category',
};

/** The Tessera type of a native series. */
export function seriesType(s: any, column: string): DType {
  const d = s.dtype as string | { variant: string; inner: unknown[] };
  const variant = typeof d === 'string' ? d : d?.variant;
  const simple = FROM_POLARS[variant];
  if (simple) return simple;
  if (variant === 'List' && typeof d === 'object' && JSON.stringify(d.inner) === '["String"]') return 'list[string]';
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

/** A zero-row wrapper frame with the schema (for schema-only user calls). */
export function emptyFrame(schema: Schema): PolarsDataFrame {
  return polars().wrapFrame(zeroFrame(schema));
}

/** A small table built on the client: a text label column, then float64 columns (describe()). */
export function labelledFloatFrame(label: string, labels: readonly string[], columns: Readonly<Record<string, readonly (number | null)[]>>): PolarsDataFrame {
  const { pl } = polars();
  const data: Record<string, unknown> = { [label]: pl.Series(label, [...labels], pl.String) };
  for (const [name, values] of Object.entries(columns)) data[name] = pl.Series(name, [...values], pl.Float64);
  return pl.DataFrame(data) as PolarsDataFrame;
}
