/**
 * The full-size benchmark's independent check: how many rows of the CSV
 * files pass prep_nyctaxi's cleaning rules, counted by scanning the bytes
 * here in plain JavaScript, with the rules written out below rather than
 * taken from the query string the pipeline runs. Nothing of Tessera or
 * Polars is used, so a row lost or kept wrongly by the pipeline (parsing,
 * null handling, query semantics, partition boundaries) shows as a
 * mismatch.
 *
 * Files are counted on worker threads, one file at a time per thread.
 */

import { openSync, readSync, closeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

/** The fields the rules read, by their header names. */
const FIELDS = ['fare_amount', 'passenger_count', 'pickup_longitude', 'pickup_latitude', 'dropoff_longitude', 'dropoff_latitude'] as const;

/**
 * The cleaning rules of prep_nyctaxi.py: an empty field is a missing value,
 * and a comparison with a missing value is false (pandas' NaN), so the row
 * is dropped.
 */
function passes(fare: number, passengers: number, pLon: number, pLat: number, dLon: number, dLat: number): boolean {
  return (
    fare > 0 && fare < 500 &&
    passengers > 0 && passengers < 6 &&
    pLon > -75 && pLon < -73 &&
    dLon > -75 && dLon < -73 &&
    pLat > 40 && pLat < 42 &&
    dLat > 40 && dLat < 42
  );
}

const C_COMMA = 44;
const C_NL = 10;
const C_CR = 13;
const C_MINUS = 45;
const C_PLUS = 43;
const C_DOT = 46;
const C_0 = 48;
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * A decimal field as a double, NaN when empty. Digits accumulate into an
 * integer below 2^53 and one division by a power of ten gives the correctly
 * rounded value, the same double a correct parser gives; anything else
 * (exponents, long mantissas) goes through Number().
 */
function parseNumber(buf: Buffer, start: number, end: number): number {
  if (end > start && buf[end - 1] === C_CR) end--;
  if (start === end) return NaN;
  let i = start;
  let negative = false;
  if (buf[i] === C_MINUS || buf[i] === C_PLUS) {
    negative = buf[i] === C_MINUS;
    i++;
  }
  let mantissa = 0;
  let digits = 0;
  let scale = 0;
  let seenDot = false;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c === C_DOT && !seenDot) {
      seenDot = true;
      continue;
    }
    const d = c - C_0;
    if (d < 0 || d > 9 || digits >= 15) return Number(buf.toString('latin1', start, end));
    mantissa = mantissa * 10 + d;
    if (mantissa !== 0) digits++;
    if (seenDot) scale++;
  }
  const v = scale === 0 ? mantissa : mantissa / POW10[scale]!;
  return negative ? -v : v;
}

/** Counts the rows of one CSV file (with a header line) that pass the rules. */
export function countFile(path: string): { rows: number; passing: number } {
  const fd = openSync(path, 'r');
  const chunk = 16 * 1024 * 1024;
  let buf = Buffer.allocUnsafe(chunk);
  let carry = 0; // bytes of an unfinished line at the start of buf
  let header: string[] | null = null;
  let wanted: number[] = [];
  let rows = 0;
  let passing = 0;
  const starts = new Int32Array(64);
  const ends = new Int32Array(64);
  const values = new Float64Array(FIELDS.length);
  try {
    for (;;) {
      if (carry === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, carry);
        buf = bigger;
      }
      const n = readSync(fd, buf, carry, buf.length - carry, null);
      const limit = carry + n;
      const eof = n === 0;
      let lineStart = 0;
      let pos = 0;
      while (pos < limit || (eof && lineStart < limit)) {
        let nl = buf.indexOf(C_NL, pos);
        if (nl < 0 || nl >= limit) {
          if (!eof) break;
          nl = limit; // the last line without a newline
        }
        if (header === null) {
          header = buf.toString('utf8', lineStart, nl).replace(/\r$/, '').split(',');
          wanted = FIELDS.map((f) => {
            const i = header!.indexOf(f);
            if (i < 0) throw new Error(`${path}: no column '${f}' in the header (${header!.join(',')})`);
            return i;
          });
        } else if (nl > lineStart) {
          let field = 0;
          let s = lineStart;
          for (let p = lineStart; p < nl && field < 63; p++) {
            if (buf[p] === C_COMMA) {
              starts[field] = s;
              ends[field] = p;
              field++;
              s = p + 1;
            }
          }
          starts[field] = s;
          ends[field] = nl;
          for (let k = 0; k < wanted.length; k++) {
            const f = wanted[k]!;
            values[k] = f <= field ? parseNumber(buf, starts[f]!, ends[f]!) : NaN;
          }
          rows++;
          if (passes(values[0]!, values[1]!, values[2]!, values[3]!, values[4]!, values[5]!)) passing++;
        }
        lineStart = nl + 1;
        pos = lineStart;
      }
      if (eof) break;
      carry = limit - lineStart;
      buf.copy(buf, 0, lineStart, limit);
    }
  } finally {
    closeSync(fd);
  }
  return { rows, passing };
}

/** Counts every file on up to `threads` worker threads. */
export async function countPassingRows(files: readonly string[], threads = availableParallelism()): Promise<{ rows: number; passing: number }> {
  let next = 0;
  let rows = 0;
  let passing = 0;
  const one = async (): Promise<void> => {
    const worker = new Worker(new URL(import.meta.url));
    try {
      while (next < files.length) {
        const path = files[next++]!;
        const r = await new Promise<{ rows: number; passing: number }>((resolve, reject) => {
          worker.once('message', (m: { rows: number; passing: number } | { error: string }) => ('error' in m ? reject(new Error(m.error)) : resolve(m)));
          worker.once('error', reject);
          worker.postMessage(path);
        });
        rows += r.rows;
        passing += r.passing;
      }
    } finally {
      // Ended by closing its port, not terminate(): see finishThread in src/tools/demo-data/generate.ts.
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage(null);
      await exited;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(threads, files.length)) }, one));
  return { rows, passing };
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  port.on('message', (path: string | null) => {
    if (path === null) {
      port.close();
      return;
    }
    try {
      port.postMessage(countFile(path));
    } catch (err) {
      port.postMessage({ error: err instanceof Error ? err.message : String(err) });
    }
  });
}
