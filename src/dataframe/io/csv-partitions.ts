/**
 * Splits CSV files into partitions: a whole file when it is at most
 * `blocksize` bytes, otherwise byte ranges of about `blocksize` aligned to
 * line starts, so one 24 GB file still spreads over every worker (Dask's
 * read_csv model). The header is read once per file here and never by the
 * partition tasks, which receive the column names and types explicitly.
 *
 * Boundaries: a range [start, end) owns exactly the lines that start inside
 * it. A nominal cut at byte b moves forward to just after the first newline
 * at or after b - 1, so a cut already at a line start stays, no line is
 * read twice and none is lost; a final line without a newline belongs to
 * the last range.
 *
 * Quoted fields containing newlines: a newline inside quotes is not a line
 * boundary, and it cannot be recognised from a window around the cut. As
 * in Dask, files are assumed not to contain them unless the caller says so
 * (`newlinesInQuotes: true`); then each large file is scanned once from its
 * start, counting quote characters, and a cut only lands on a newline
 * preceded by an even number of them (RFC 4180 escapes a quote by doubling
 * it, which keeps the parity). Files no larger than blocksize are never cut
 * and need no scan.
 */

import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { DataFrameError } from '../../errors.js';

export const DEFAULT_BLOCKSIZE = 64 * 1024 * 1024;

export interface CsvPartition {
  readonly path: string;
  /** First byte of the range (after the header for a file's first range). */
  readonly start: number;
  /** One past the last byte. */
  readonly end: number;
}

export interface CsvFileInfo {
  readonly path: string;
  readonly size: number;
  /** The header line without its line ending ('' when header is false). */
  readonly header: string;
  /** Where the data starts (just after the header line). */
  readonly dataStart: number;
}

export interface CsvPartitionOptions {
  /** Bytes per partition; null or 0 for one partition per file. */
  readonly blocksize?: number | null;
  readonly header?: boolean;
  readonly newlinesInQuotes?: boolean;
  readonly quoteChar?: string;
}

const NL = 10;
const WINDOW = 64 * 1024;

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/** Position just after the first newline at or after `from`, or `size` when there is none. */
function nextLineStart(fd: number, from: number, size: number): number {
  let pos = from;
  while (pos < size) {
    const chunk = readAt(fd, pos, Math.min(WINDOW, size - pos));
    if (chunk.length === 0) break;
    const i = chunk.indexOf(NL);
    if (i >= 0) return pos + i + 1;
    pos += chunk.length;
  }
  return size;
}

/** Reads a file's header line and size; a clear error for a missing or unreadable file. */
export function readCsvFileInfo(path: string, header: boolean): CsvFileInfo {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataFrameError(code === 'ENOENT' ? `file not found: ${path}` : `cannot open ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const size = statSync(path).size;
    if (!header) return { path, size, header: '', dataStart: 0 };
    const dataStart = nextLineStart(fd, 0, size);
    let line = readAt(fd, 0, dataStart).toString('utf8');
    if (line.charCodeAt(0) === 0xfeff) line = line.slice(1); // a UTF-8 byte order mark
    line = line.replace(/\r?\n$/, '');
    return { path, size, header: line, dataStart };
  } finally {
    closeSync(fd);
  }
}

/**
 * Cut points for one file's data region when quoted fields may contain
 * newlines: scans the file once, tracking quote parity.
 */
function quoteAwareCuts(fd: number, info: CsvFileInfo, blocksize: number, quote: number): number[] {
  const cuts: number[] = [];
  let nextNominal = info.dataStart + blocksize;
  let inQuotes = false;
  let pos = info.dataStart;
  const CHUNK = 4 * 1024 * 1024;
  while (pos < info.size && nextNominal < info.size) {
    const chunk = readAt(fd, pos, Math.min(CHUNK, info.size - pos));
    if (chunk.length === 0) break;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (c === quote) inQuotes = !inQuotes;
      else if (c === NL && !inQuotes && pos + i >= nextNominal - 1) {
        const cut = pos + i + 1;
        if (cut < info.size) cuts.push(cut);
        while (nextNominal <= cut) nextNominal += blocksize;
      }
    }
    pos += chunk.length;
  }
  return cuts;
}

/** The partitions of one file. */
export function partitionCsvFile(info: CsvFileInfo, options: CsvPartitionOptions = {}): CsvPartition[] {
  // null (or 0) means one partition per file; only a missing option means the default.
  const blocksize = options.blocksize === undefined ? DEFAULT_BLOCKSIZE : options.blocksize;
  const dataBytes = info.size - info.dataStart;
  if (!blocksize || dataBytes <= blocksize) return [{ path: info.path, start: info.dataStart, end: info.size }];
  if (!Number.isFinite(blocksize) || blocksize < 1) throw new DataFrameError(`blocksize must be a positive number of bytes, got ${blocksize}`);
  const fd = openSync(info.path, 'r');
  try {
    let cuts: number[];
    if (options.newlinesInQuotes) {
      cuts = quoteAwareCuts(fd, info, blocksize, (options.quoteChar ?? '"').charCodeAt(0));
    } else {
      cuts = [];
      let last = info.dataStart;
      for (let nominal = info.dataStart + blocksize; nominal < info.size; nominal += blocksize) {
        if (nominal <= last) continue;
        const cut = nextLineStart(fd, nominal - 1, info.size);
        if (cut >= info.size) break;
        if (cut > last) cuts.push(cut);
        last = cut;
      }
    }
    const parts: CsvPartition[] = [];
    let start = info.dataStart;
    for (const cut of cuts) {
      parts.push({ path: info.path, start, end: cut });
      start = cut;
    }
    parts.push({ path: info.path, start, end: info.size });
    return parts;
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads every file's header, checks they agree with the first file's, and
 * partitions them. A file whose header differs is a schema conflict: the
 * error names both files and shows both headers.
 */
export function planCsvPartitions(paths: readonly string[], options: CsvPartitionOptions = {}): { files: CsvFileInfo[]; partitions: CsvPartition[] } {
  const header = options.header ?? true;
  const files = paths.map((p) => readCsvFileInfo(p, header));
  const first = files[0];
  if (first && header) {
    for (const f of files.slice(1)) {
      if (f.header !== first.header) {
        throw new DataFrameError(
          `the columns of ${f.path} differ from those of ${first.path}:\n  ${first.path}: ${first.header}\n  ${f.path}: ${f.header}\n` +
            `read the files separately (and rename or cast to a common schema) or pass only files with the same columns`,
        );
      }
    }
  }
  const partitions = files.flatMap((f) => partitionCsvFile(f, options));
  return { files, partitions };
}

/**
 * The first bytes of a file's data, cut after the last complete line (and,
 * with newlinesInQuotes, outside quotes): a sample for type inference.
 */
export function readSample(info: CsvFileInfo, maxBytes: number, options: { newlinesInQuotes?: boolean; quoteChar?: string } = {}): Buffer {
  const fd = openSync(info.path, 'r');
  try {
    const length = Math.min(maxBytes, info.size);
    const buf = readAt(fd, 0, length);
    if (length === info.size) return buf;
    let cut = buf.lastIndexOf(NL) + 1;
    if (options.newlinesInQuotes) {
      const quote = (options.quoteChar ?? '"').charCodeAt(0);
      let inQuotes = false;
      cut = 0;
      for (let i = 0; i < buf.length; i++) {
        if (buf[i] === quote) inQuotes = !inQuotes;
        else if (buf[i] === NL && !inQuotes) cut = i + 1;
      }
    }
    return buf.subarray(0, cut > 0 ? cut : buf.length);
  } finally {
    closeSync(fd);
  }
}
