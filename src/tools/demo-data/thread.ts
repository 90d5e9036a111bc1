/**
 * Worker-thread entry for generateDemoData: generates the files it is sent,
 * one message per file, reporting each chunk so the parent can show progress.
 */

import { parentPort } from 'node:worker_threads';
import { generateDemoFile } from './generate.js';

interface Job {
  path: string;
  seed: number;
  fileIndex: number;
  rows: number;
}

const port = parentPort;
if (port) {
  port.on('message', (job: Job | null) => {
    // null: no more files; closing the port lets the thread end by itself (see finishThread).
    if (job === null) return port.close();
    generateDemoFile(job.path, job.seed, job.fileIndex, job.rows, (bytes, rows) => port.postMessage({ chunk: [bytes, rows] })).then(
      () => port.postMessage({ done: true }),
      (err: unknown) => port.postMessage({ error: err instanceof Error ? err.message : String(err) }),
    );
  });
}
