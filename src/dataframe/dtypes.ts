/**
 * Tessera's names for column data types: plain strings, so schemas and
 * expression trees stay JSON. They follow Polars' type names in lower case;
 * the time types carry their unit ('datetime[ms]'), as pandas and Polars
 * print them.
 */

import { DataFrameError } from '../errors.js';

export type TimeUnit = 'ms' | 'us' | 'ns';

export type DType =
  | 'bool'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'float32'
  | 'float64'
  | 'string'
  | 'date'
  | 'time'
  | 'null'
  /**
   * Text stored as a dictionary (codes into a list of distinct values), as
   * pandas' 'category': see src/dataframe/README.md for how partitions agree.
   */
  | 'category'
  /** Lists of strings (what str.split gives). */
  | 'list[string]'
  | `datetime[${TimeUnit}]`
  | `duration[${TimeUnit}]`;

/**
 * What users may write where a type is expected: the names above plus the
 * usual aliases ('datetime' is microseconds, as in Polars; 'str', 'utf8' and
 * pandas' 'object' are strings; 'float' and 'int' are 64-bit).
 */
export type DTypeLike = DType | 'datetime' | 'duration' | 'str' | 'utf8' | 'object' | 'boolean' | 'float' | 'int' | 'double';

/** Column name -> type, in column order. */
export type Schema = Record<string, DType>;

const ALIASES: Record<string, DType> = {
  datetime: 'datetime[us]',
  duration: 'duration[us]',
  str: 'string',
  categorical: 'category',
  utf8: 'string',
  object: 'string',
  boolean: 'bool',
  float: 'float64',
  double: 'float64',
  int: 'int64',
  'datetime64[ms]': 'datetime[ms]',
  'datetime64[us]': 'datetime[us]',
  'datetime64[ns]': 'datetime[ns]',
};

const KNOWN = new Set<string>([
  'bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'float32', 'float64',
  'string', 'date', 'time', 'null', 'category', 'list[string]',
  'datetime[ms]', 'datetime[us]', 'datetime[ns]', 'duration[ms]', 'duration[us]', 'duration[ns]',
]);

/** The canonical name for a type or alias; a clear error for anything else. */
export function normalizeDType(t: string): DType {
  const lower = t.trim().toLowerCase();
  const aliased = ALIASES[lower];
  if (aliased) return aliased;
  if (KNOWN.has(lower)) return lower as DType;
  throw new DataFrameError(
    `unknown data type '${t}'; use one of ${[...KNOWN].join(', ')} (or the aliases ${Object.keys(ALIASES).join(', ')})`,
  );
}

export function isIntegerType(t: DType): boolean {
  return /^u?int\d+$/.test(t);
}

export function isFloatType(t: DType): boolean {
  return t === 'float32' || t === 'float64';
}

export function isNumericType(t: DType): boolean {
  return isIntegerType(t) || isFloatType(t);
}

export function isTemporalType(t: DType): boolean {
  return t === 'date' || t === 'time' || t.startsWith('datetime') || t.startsWith('duration');
}
