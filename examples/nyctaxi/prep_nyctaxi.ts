#!/usr/bin/env node
/**
 * prep_nyctaxi.py (Azure ML's "Dask on MPI" sample), ported to Tessera.
 *
 * Reads the NYC taxi CSVs with parsed dates, drops bad rows with the
 * original query, renames, keeps and down-casts the must-have columns,
 * derives time, rounded-coordinate, haversine-distance and weekend
 * features, and writes Parquet, printing what the original printed.
 *
 * On a laptop (a LocalCluster):
 *   node dist/examples/nyctaxi/prep_nyctaxi.js --nyc_taxi_dataset demo-data --output_folder demo-output
 * Under MPI (rank 0 scheduler, rank 1 this script, the other ranks workers):
 *   mpirun -np 4 node dist/examples/nyctaxi/prep_nyctaxi.js --mpi --nyc_taxi_dataset /data/nyctaxi --output_folder /shared/out
 * Across nodes whose fast network is ib0 (docs/mpi.md, "Across nodes"):
 *   mpirun --host n1:2,n2:2,n3:2,n4:2 -np 8 node dist/examples/nyctaxi/prep_nyctaxi.js --mpi --interface ib0 ...
 */

import fs from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, LocalCluster } from '../../src/index.js';
import { renderProgress, type ProgressCounts } from '../../src/dashboard/progress.js';
import { addFeatures, clean, MUST_HAVES, QUERY, readTaxiCsv, REMAP } from './prep.js';

const HELP = `Usage: prep_nyctaxi [--nyc_taxi_dataset DIR] [--output_folder DIR] [--mpi] [options]

  --nyc_taxi_dataset DIR   folder of NYC taxi CSV files (*.csv)          (default ./demo-data)
  --output_folder DIR      where the Parquet files go (part.N.parquet)   (default ./demo-output)
  --mpi                    run under mpirun/srun: initialize() makes rank 0 the
                           scheduler, rank 1 this script, the others workers
  --interface IF           with --mpi: the network every rank advertises, e.g. ib0
                           (default: each node's first external IPv4)
  --n_workers N            LocalCluster worker processes               (default 2)
  --threads_per_worker N   executor threads per worker                  (default 1)
  --memory_limit M         memory per worker, e.g. 4GB                  (default auto)
  --blocksize B            CSV bytes per partition                      (default 64MiB)
  --dashboard_address A    dashboard address                           (default :8787)
  -h, --help`;

interface Args {
  dataset: string;
  output: string;
  mpi: boolean;
  nWorkers: number;
  threads: number;
  memoryLimit: string;
  blocksize: string;
  dashboardAddress: string;
  interface: string | undefined;
}

function parse(argv: string[]): Args | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      nyc_taxi_dataset: { type: 'string' },
      output_folder: { type: 'string' },
      mpi: { type: 'boolean' },
      n_workers: { type: 'string' },
      threads_per_worker: { type: 'string' },
      memory_limit: { type: 'string' },
      blocksize: { type: 'string' },
      dashboard_address: { type: 'string' },
      interface: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return null;
  }
  return {
    dataset: values.nyc_taxi_dataset ?? 'demo-data',
    output: values.output_folder ?? 'demo-output',
    mpi: values.mpi ?? false,
    nWorkers: Number(values.n_workers ?? 2),
    threads: Number(values.threads_per_worker ?? 1),
    memoryLimit: values.memory_limit ?? 'auto',
    blocksize: values.blocksize ?? '64MiB',
    dashboardAddress: values.dashboard_address ?? ':8787',
    interface: values.interface,
  };
}

/** What `find {dataset}` printed: every path under the folder. */
function find(dir: string): string[] {
  const out = [dir];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...find(p));
    else out.push(p);
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (!args) return 0;
  const dataset = args.dataset;
  const outputPath = resolve(args.output);

  let cluster: LocalCluster | undefined;
  let client: Client;
  if (args.mpi) {
    // dask-mpi's model: initialize() returns only on the client rank.
    const mpiModule = (await import('../../src/deploy/mpi/index.js')) as { initialize?: (o: Record<string, unknown>) => Promise<unknown> };
    if (typeof mpiModule.initialize !== 'function') {
      console.error('prep_nyctaxi: this build of tessera-compute/mpi has no initialize(); run without --mpi for a LocalCluster');
      return 1;
    }
    await mpiModule.initialize({
      nthreads: args.threads, memoryLimit: args.memoryLimit, dashboardAddress: args.dashboardAddress,
      ...(args.interface ? { interface: args.interface } : {}),
    });
    client = await Client.connect();
  } else {
    cluster = await LocalCluster.start({
      nWorkers: args.nWorkers,
      threadsPerWorker: args.threads,
      memoryLimit: args.memoryLimit,
      dashboardAddress: args.dashboardAddress,
    });
    client = await Client.connect(cluster);
  }

  try {
    console.log(`dataset location: ${dataset}`);
    console.log(find(dataset).join('\n'));
    console.log(`output location: ${outputPath}`);
    console.log(String(client));

    // Read in the data (every rank sees the same files: a shared mount, as in the original).
    const df = readTaxiCsv(`${dataset}/*.csv`, { blocksize: args.blocksize });
    // Polars sizes tables to the terminal; under mpirun or in a batch log there
    // is none, and it would squeeze every column to a few characters.
    process.env.POLARS_TABLE_WIDTH ??= String(process.stdout.columns ?? 180);
    console.log((await df.head()).toString());

    const taxiDf = addFeatures(clean(df, REMAP, MUST_HAVES, QUERY));

    console.log(String(client));
    console.log(`dashboard: ${client.dashboardLink ?? '(no dashboard)'}`);
    console.log('save parquet to ', outputPath);

    const startTime = performance.now();
    const counts: ProgressCounts = { name: 'to-parquet', total: taxiDf.npartitions, done: 0, erred: 0 };
    const bar = renderProgress(() => [counts]);
    let written;
    try {
      written = await taxiDf.toParquet(outputPath, {
        onProgress: (done, total) => {
          counts.done = done;
          counts.total = total;
        },
      });
    } finally {
      await bar.stop();
    }

    // For debug, show output folders on all nodes (the original's list_output).
    console.log(await client.run((p: string) => fs.readdirSync(p), outputPath));

    const elapsedTime = (performance.now() - startTime) / 1000;
    const rows = written.reduce((s, w) => s + w.rows, 0);
    const bytes = written.reduce((s, w) => s + w.bytes, 0);
    console.log(`time_saving_seconds: ${elapsedTime.toFixed(2)} (${rows.toLocaleString('en-US')} rows, ${(bytes / 1e6).toFixed(1)} MB of Parquet)`);
    console.log('done');
    console.log(String(client));
    // What `ls -alg output_path` showed.
    for (const f of fs.readdirSync(outputPath).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))) {
      const st = fs.statSync(join(outputPath, f));
      console.log(`${String(st.size).padStart(12)}  ${f}`);
    }
  } finally {
    if (cluster) {
      await client.shutdown();
      await cluster.close();
    } else {
      await client.close();
    }
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    if (typeof e?.code === 'string' && e.code.startsWith('ERR_TESSERA')) console.error(`prep_nyctaxi: ${e.message}`);
    else console.error(err);
    process.exitCode = 1;
  },
);
