/**
 * One benchmark run of the prep pipeline by the engine alone, in this
 * process (no cluster): `node engine-child.js <dataDir> <outDir> <concurrency>`,
 * with POLARS_MAX_THREADS set by the parent. Prints one JSON line.
 */

import { readFileSync } from 'node:fs';
import { LocalExecutor } from '../../src/dataframe/index.js';
import { prepNycTaxi, readTaxiCsv } from '../../examples/nyctaxi/prep.js';

function peakRss(): number {
  const m = /VmHWM:\s+(\d+)\s*kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}

async function main(): Promise<void> {
  const [dataDir, outDir, concurrency] = process.argv.slice(2);
  const df = prepNycTaxi(readTaxiCsv(`${dataDir}/*.csv`));
  const t0 = performance.now();
  const written = await df.toParquet(outDir!, { executor: new LocalExecutor({ concurrency: Number(concurrency ?? 1) }) });
  const seconds = (performance.now() - t0) / 1000;
  const rows = written.reduce((s, w) => s + w.rows, 0);
  process.stdout.write(`${JSON.stringify({ seconds, rowsOut: rows, partitions: written.length, peakRss: [peakRss()] })}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
