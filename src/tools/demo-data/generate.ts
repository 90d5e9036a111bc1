/**
 * Generates the demo data set: NYC-taxi-like CSV files (rows.ts), one month
 * per file, written in parallel on worker threads (thread.ts).
 */

import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { compiledModuleUrl } from '../../layout.js';
import { demoFileName, TaxiRowWriter } from './rows.js';
import { DataFrameError, InvalidArgumentError } from '../../errors.js';

/** Average bytes per generated row, measured; used to turn a size into a row count. */
export const APPROX_BYTES_PER_ROW = 128;

export interface DemoDataOptions {
  /** Total rows, spread evenly over the files. */
  rows: number;
  /** Number of files; file i holds month (i % 12) + 1 of 2015 (later years past 12 files). */
  files?: number;
  /** Output directory, created if missing. */
  out: string;
  seed?: number;
  /** Called after every written chunk with the bytes written so far (all files). */
  onProgress?: (bytesWritten: number, rowsWritten: number) => void;
}

export interface DemoDataResult {
  files: string[];
  rows: number;
  bytes: number;
  seconds: number;
}

/** Rows per file when `rows` are spread over `files` (the first files take the remainder). */
function rowsPerFile(rows: number, files: number): number[] {
  const base = Math.floor(rows / files);
  const extra = rows - base * files;
  return Array.from({ length: files }, (_, i) => base + (i < extra ? 1 : 0));
}

const CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * Writes one file. Two chunk buffers alternate so one fills while the other
 * is being written by the thread pool. `onChunk` gets the bytes and rows of
 * each chunk as it is handed to the file system.
 */
export async function generateDemoFile(
  path: string,
  seed: number,
  fileIndex: number,
  rows: number,
  onChunk?: (bytes: number, rows: number) => void,
): Promise<{ bytes: number; rows: number }> {
  const buffers = [Buffer.allocUnsafe(CHUNK_BYTES), Buffer.allocUnsafe(CHUNK_BYTES)];
  const writer = new TaxiRowWriter(seed, fileIndex);
  const fh = await open(path, 'w');
  let bytes = 0;
  let done = 0;
  try {
    let pending: Promise<unknown> = Promise.resolve();
    let which = 0;
    let first = true;
    while (first || done < rows) {
      const buf = buffers[which]!;
      let pos = 0;
      if (first) {
        pos = TaxiRowWriter.header().copy(buf, 0);
        first = false;
      }
      const r = writer.writeRows(buf, pos, rows - done);
      done += r.rows;
      await pending;
      bytes += r.pos;
      pending = fh.write(buf, 0, r.pos);
      which ^= 1;
      onChunk?.(r.pos, r.rows);
    }
    await pending;
  } finally {
    await fh.close();
  }
  return { bytes, rows: done };
}

interface WorkerJob {
  path: string;
  seed: number;
  fileIndex: number;
  rows: number;
}

/**
 * Files are independent streams, so they are generated on up to `threads`
 * worker threads (default: one per core, at most one per file); the output
 * is byte-identical whatever the thread count.
 */
export async function generateDemoData(options: DemoDataOptions & { threads?: number }): Promise<DemoDataResult> {
  const files = options.files ?? 1;
  const seed = options.seed ?? 42;
  if (!Number.isInteger(options.rows) || options.rows < 0) throw new InvalidArgumentError(`rows must be a non-negative integer, got ${options.rows}`);
  if (!Number.isInteger(files) || files < 1) throw new InvalidArgumentError(`files must be a positive integer, got ${files}`);
  const started = performance.now();
  mkdirSync(options.out, { recursive: true });
  const counts = rowsPerFile(options.rows, files);
  const jobs: WorkerJob[] = counts.map((rows, i) => ({ path: join(options.out, demoFileName(i)), seed, fileIndex: i, rows }));
  const threads = Math.max(1, Math.min(options.threads ?? availableParallelism(), files));
  let bytes = 0;
  let rowsDone = 0;
  const onChunk = (b: number, r: number): void => {
    bytes += b;
    rowsDone += r;
    options.onProgress?.(bytes, rowsDone);
  };
  if (threads === 1) {
    for (const job of jobs) await generateDemoFile(job.path, job.seed, job.fileIndex, job.rows, onChunk);
  } else {
    let next = 0;
    const runWorker = async (): Promise<void> => {
      const worker = new Worker(compiledModuleUrl('tools/demo-data/thread.js'));
      try {
        while (next < jobs.length) {
          const job = jobs[next++]!;
          await new Promise<void>((resolve, reject) => {
            const onMessage = (m: { chunk?: [number, number]; done?: true; error?: string }): void => {
              if (m.chunk) onChunk(m.chunk[0], m.chunk[1]);
              else if (m.done) {
                cleanup();
                resolve();
              } else if (m.error !== undefined) {
                cleanup();
                reject(new DataFrameError(`generating ${job.path} failed: ${m.error}`));
              }
            };
            const onError = (err: Error): void => {
              cleanup();
              reject(err);
            };
            const cleanup = (): void => {
              worker.off('message', onMessage);
              worker.off('error', onError);
            };
            worker.on('message', onMessage);
            worker.on('error', onError);
            worker.postMessage(job);
          });
        }
      } finally {
        await finishThread(worker);
      }
    };
    await Promise.all(Array.from({ length: threads }, runWorker));
  }
  return { files: jobs.map((j) => j.path), rows: rowsDone, bytes, seconds: (performance.now() - started) / 1000 };
}

/**
 * Ends a generator thread by asking it to close its port and waiting for it
 * to exit. worker.terminate() while V8 compiles the thread's code on a helper
 * thread can abort the whole process in Node 20 (node_platform.cc
 * "ForIsolate ... Assertion failed"); terminate stays as the fallback for a
 * thread that does not answer.
 */
async function finishThread(worker: Worker): Promise<void> {
  if (worker.threadId === -1) return;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.postMessage(null);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 10_000)));
  if ((await Promise.race([exited, late])) === 'late') await worker.terminate();
  clearTimeout(timer);
}
