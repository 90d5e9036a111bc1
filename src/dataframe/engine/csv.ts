/** Reading CSV: byte ranges of a file with a known schema, and schema inference from a file's head. */

import { DataFrameError } from '../../errors.js';
import type { Schema } from '../dtypes.js';
import type { CsvFormat, SourceSpec } from '../pipeline.js';
import { polars, type NFrame } from './load.js';
import { nativeSchema, toPolarsType, zeroFrame } from './schema.js';
import type { RunHooks } from './hooks.js';

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
  const datetimes = Object.keys(source.schema).filter((c) => source.schema[c]!.startsWith('datetime') && (!source.columns || source.columns.includes(c)));
  try {
    // Polars' CSV reader fixes one datetime format per column from its first
    // value, so "00:00:00" then "00:00:01.5" fails (and with ignoreErrors
    // would silently become null). The fast native parse is tried first,
    // and the text path (every pandas ISO spelling) when it cannot parse.
    if (datetimes.length && !source.format.ignoreErrors) {
      try {
        return N.readCsv(bytes, options);
      } catch (err) {
        if (!/could not parse .* as dtype .?datetime/.test(String((err as Error).message))) throw err;
      }
    }
    if (datetimes.length === 0) return N.readCsv(bytes, options);
    const asText = { ...(options.schema as Record<string, unknown>) };
    for (const c of datetimes) asText[c] = toPolarsType('string');
    return parseDatetimeColumns(N.readCsv(bytes, { ...options, schema: asText }), datetimes, source);
  } catch (err) {
    if (err instanceof DataFrameError) throw err;
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

/**
 * The ISO spellings pandas' read_csv(parse_dates=...) accepts, as chrono
 * formats: '%.f' takes an optional fraction of any length (none, .5,
 * .123456789), so every row may differ in precision.
 */
const DATETIME_FORMATS = ['%Y-%m-%d %H:%M:%S%.f', '%Y-%m-%dT%H:%M:%S%.f', '%Y-%m-%d %H:%M', '%Y-%m-%dT%H:%M', '%Y-%m-%d'];

/**
 * Text columns as datetimes, value by value in the first format that reads
 * it. A value no format reads is an error naming it, or null with ignoreErrors.
 */
function parseDatetimeColumns(df: NFrame, columns: readonly string[], source: Extract<SourceSpec, { kind: 'csv' }>): NFrame {
  const { N } = polars();
  const parsed = columns.map((c) => {
    const unit = /\[(ms|us|ns)\]$/.exec(source.schema[c]!)![1]!;
    const attempts = DATETIME_FORMATS.map((f) => N.col(c).strStrip().strToDatetime(f, unit, undefined, false, true, false, { _expr: N.lit('raise') }));
    return attempts.reduce((a, b) => a.fillNull(b)).alias(c);
  });
  if (!source.format.ignoreErrors) {
    const bad = columns.map((c, i) => N.col(c).filter(N.col(c).isNotNull().and(parsed[i]!.isNull())).first().alias(c));
    const row = df.lazy().select(bad).collectSync('auto').getColumns() as { toArray(): unknown[] }[];
    row.forEach((s, i) => {
      const v = s.toArray()[0];
      if (v !== null && v !== undefined) {
        throw new DataFrameError(
          `cannot read ${source.path} (bytes ${source.start}-${source.end}): '${String(v)}' in column '${columns[i]}' is not a datetime ` +
            `(read as YYYY-MM-DD[ HH:MM[:SS[.fraction]]], with a space or a T); pass ignoreErrors: true to read such values as nulls`,
        );
      }
    });
  }
  return df.lazy().withColumns(parsed).collectSync('auto');
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

/** The first `n` rows of a CSV range, reading 256 KiB, then 4x more each time while short of rows. */
export async function readCsvHead(source: Extract<SourceSpec, { kind: 'csv' }>, n: number, hooks: RunHooks): Promise<NFrame> {
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
