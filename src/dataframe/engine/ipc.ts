/** Arrow IPC: how partitions move between workers and spill to disk. */

import { createRequire } from 'node:module';
import type { Schema } from '../dtypes.js';
import { polars, type NFrame, type PolarsDataFrame } from './load.js';
import { engineError } from './polars-error.js';
import { zeroFrame } from './schema.js';

const require = createRequire(import.meta.url);

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
  // Arrow IPC files allow one dictionary per field: a frame concatenated
  // from partitions whose categoricals were encoded apart (a shuffle's
  // shards) has one per chunk, so such a frame is written as one chunk.
  if ((df.nChunks() as number) > 1 && hasCategorical(df)) df = df.rechunk();
  df.writeIpc(sink, 'uncompressed');
  sink.end();
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

function hasCategorical(df: NFrame): boolean {
  return (df.getColumns() as { dtype: unknown }[]).some((c) => String(c.dtype).startsWith('Categorical'));
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
  return nativeToIpc((df as unknown as { _df: NFrame })._df);
}

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
