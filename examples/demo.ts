#!/usr/bin/env node
/**
 * `npm run demo`: the NYC taxi preparation on a laptop-sized LocalCluster.
 *
 * Generates about 1 GB of NYC-taxi-like CSV into ./demo-data (once; later
 * runs reuse it), starts a LocalCluster (2 workers x 1 thread, dashboard on
 * :8787), runs the prep (read, clean, derive features, write Parquet) with a
 * progress bar, and says where the Parquet went and how long it took.
 *
 *   npm run demo                 # then open the dashboard link while it runs
 *   npm run demo -- --keep       # keep the cluster (and dashboard) up afterwards, until Ctrl-C
 */

import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, LocalCluster } from '../src/index.js';
import { renderProgress, type ProgressCounts } from '../src/dashboard/progress.js';
import { ensureDemoData, DEFAULT_DEMO_DATA } from './nyctaxi/data.js';
import { prepNycTaxi, readTaxiCsv } from './nyctaxi/prep.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', default: 'demo-data' },
      out: { type: 'string', default: 'demo-output' },
      workers: { type: 'string', default: '2' },
      threads: { type: 'string', default: '1' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('Usage: npm run demo -- [--data DIR] [--out DIR] [--workers N] [--threads N] [--keep]');
    return 0;
  }
  const dataDir = resolve(values.data!);
  const outDir = resolve(values.out!);

  const gb = ((DEFAULT_DEMO_DATA.rows * 121) / 1e9).toFixed(1);
  const genCounts: ProgressCounts = { name: 'demo-data', total: Math.round((DEFAULT_DEMO_DATA.rows * 121) / 1e6), done: 0, erred: 0 };
  let bar: ReturnType<typeof renderProgress> | undefined;
  const data = await ensureDemoData(dataDir, DEFAULT_DEMO_DATA, (bytes) => {
    bar ??= (console.log(`Generating ~${gb} GB of NYC-taxi-like CSV into ${dataDir} (once) ...`), renderProgress(() => [genCounts], { unit: 'MB' }));
    genCounts.done = Math.min(genCounts.total, Math.round(bytes / 1e6));
  });
  if (bar) {
    genCounts.done = genCounts.total;
    await bar.stop();
    console.log(`generated ${(data.bytes / 1e6).toFixed(0)} MB in ${data.seconds.toFixed(1)} s`);
  } else {
    console.log(`Using ${(data.bytes / 1e6).toFixed(0)} MB of CSV in ${dataDir} (${data.files.length} files)`);
  }

  const cluster = await LocalCluster.start({ nWorkers: Number(values.workers), threadsPerWorker: Number(values.threads), dashboardAddress: ':8787' });
  const client = await Client.connect(cluster);
  try {
    console.log(String(client));
    console.log(`Dashboard: ${client.dashboardLink ?? '(none)'}`);

    const df = prepNycTaxi(readTaxiCsv(data.files));
    console.log(`${df.npartitions} partitions of up to 64 MiB; writing Parquet to ${outDir}`);
    const counts: ProgressCounts = { name: 'to-parquet', total: df.npartitions, done: 0, erred: 0 };
    const progress = renderProgress(() => [counts]);
    const t0 = performance.now();
    let written;
    try {
      written = await df.toParquet(outDir, { onProgress: (done) => void (counts.done = done) });
    } finally {
      await progress.stop();
    }
    const seconds = (performance.now() - t0) / 1000;
    const rows = written.reduce((s, w) => s + w.rows, 0);
    const bytes = written.reduce((s, w) => s + w.bytes, 0);
    console.log(
      `\nDone in ${seconds.toFixed(1)} s: ${(data.bytes / 1e6).toFixed(0)} MB of CSV (${data.rows.toLocaleString('en-US')} rows) ` +
        `-> ${rows.toLocaleString('en-US')} clean rows, ${(data.bytes / 1e6 / seconds).toFixed(0)} MB/s`,
    );
    console.log(`Parquet: ${outDir}/part.0.parquet ... part.${written.length - 1}.parquet (${(bytes / 1e6).toFixed(0)} MB)`);
    console.log(`Dashboard: ${client.dashboardLink ?? '(none)'}`);
    if (values.keep) {
      console.log('Cluster kept running (--keep); press Ctrl-C to stop.');
      // A signal listener does not keep Node running, and an idle cluster no longer does either: hold it open.
      const keepAlive = setInterval(() => {}, 60_000);
      await new Promise<void>((r) => process.once('SIGINT', () => r()));
      clearInterval(keepAlive);
    }
  } finally {
    await client.shutdown();
    await cluster.close();
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
