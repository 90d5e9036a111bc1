/**
 * Shuffles: which output partition each row goes to (by hash or by range),
 * splitting a frame into those pieces, and the range boundaries of a sort.
 */

import { DataFrameError } from '../../errors.js';
import type { Schema } from '../dtypes.js';
import { isNumericType } from '../dtypes.js';
import { bundle } from '../bundle.js';
import { ipcToNative, nativeToIpc } from './ipc.js';
import { polars, type NExpr, type NFrame } from './load.js';
import { toPolarsType, zeroFrame } from './schema.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
/** The output bucket (0..n-1) of each row for a hash split on the columns `on`. */
export function hashBucket(on: readonly string[], n: number): NExpr {
  const { N, pl } = polars();
  // Fields named by position: the two sides of a join may name their keys differently.
  const key = on.length === 1 ? N.col(on[0]) : N.asStruct(on.map((c, i) => N.col(c).alias(`k${i}`)));
  // The explicit cast works around the binding mis-typing hash() % n.
  return key.hash(0n, 1n, 2n, 3n).cast(pl.UInt64, true).rem(N.lit(n).cast(pl.UInt64, true)).cast(pl.Int64, true);
}

/**
 * Splits a frame on its `__tessera_part` column (values 0..n-1) into a
 * bundle of n IPC pieces; with `sparse`, a piece without rows is zero bytes.
 */
export function splitByColumn(df: NFrame, n: number, sparse = false): Buffer {
  const groups = df.partitionBy(['__tessera_part'], true, true) as NFrame[];
  const pieces: (Buffer | undefined)[] = new Array(n);
  let schemaFrame: NFrame | undefined;
  for (const g of groups) {
    const idx = Number(g.getColumns().find((s: any) => s.name === '__tessera_part').getIdx(0));
    const data = g.lazy().dropColumns(['__tessera_part']).collectSync('auto');
    schemaFrame ??= data.head(0);
    pieces[idx] = nativeToIpc(data);
  }
  const empty = sparse ? Buffer.alloc(0) : nativeToIpc(schemaFrame ?? df.lazy().dropColumns(['__tessera_part']).collectSync('auto').head(0));
  return bundle(Array.from(pieces, (p) => p ?? empty));
}

/** Splits a frame into n consecutive slices of (nearly) equal height: a bundle of n IPC pieces. */
export function splitBySlices(df: NFrame, n: number): Buffer {
  const height = df.height as number;
  const pieces: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const from = Math.floor((i * height) / n);
    const to = Math.floor(((i + 1) * height) / n);
    pieces.push(nativeToIpc(df.slice(from, to - from)));
  }
  return bundle(pieces);
}

/**
 * The output bucket (0..n-1) of each row for a range split on `by`: the
 * number of boundaries below the value, so equal values always land in the
 * same bucket. Temporal keys compare as their integer representation.
 */
export function rangeBucket(by: string, schema: Schema, boundaries: NFrame, n: number, descending: boolean, nullsLast: boolean): NExpr {
  const { N, pl } = polars();
  const t = schema[by];
  if (t === undefined) throw new DataFrameError(`sort: column '${by}' not found`);
  // Categories compare as their text: each partition numbers its categories its own way.
  const physical = (e: NExpr): NExpr =>
    t === 'category' ? e.cast(pl.String, true) : t.startsWith('datetime') || t.startsWith('duration') || t === 'date' || t === 'time' ? e.cast(pl.Int64, true) : e;
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
