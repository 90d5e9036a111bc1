/**
 * The ETL benchmark: the NYC taxi prep on >= 1 GB of generated CSV (8
 * files), side by side in one run:
 *
 *   engine, 1 thread     the prep by the engine alone in one process (no cluster)
 *   engine, 2 threads    the same with 2 Polars threads: the ceiling here
 *   tessera 2x1          a LocalCluster of 2 workers x 1 thread (the product)
 *   dask 2x1             Python Dask's LocalCluster running the original
 *                        pandas script (read+clean+features persisted, then
 *                        CSV written: Debian has no pyarrow), when installed
 *
 * Each runs in its own process so peak RSS figures are its own. Usage:
 *   node dist/bench/etl/run.js [--data DIR] [--rows N] [--repeat N] [--skip-dask] [--json FILE]
 */

import { spawnSync } from 'node:child_process';
import fs, { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, LocalCluster } from '../../src/index.js';
import { ensureDemoData, DEFAULT_DEMO_DATA, type DemoData } from '../../examples/nyctaxi/data.js';
import { prepNycTaxi, readTaxiCsv } from '../../examples/nyctaxi/prep.js';

export interface EtlResult {
  name: string;
  seconds: number;
  rowsOut: number;
  /** Peak RSS (bytes) of each process that did the work. */
  peakRss: number[];
  /** Seconds to write the result as CSV (Dask only). */
  csvSeconds?: number;
  note?: string;
}

const HERE = fileURLToPath(new URL('.', import.meta.url));

function childRun(name: string, threads: number, concurrency: number, data: DemoData, out: string): EtlResult {
  const r = spawnSync(process.execPath, [join(HERE, 'engine-child.js'), data.dir, out, String(concurrency)], {
    env: { ...process.env, POLARS_MAX_THREADS: String(threads) },
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return { name, ...(JSON.parse(line) as Omit<EtlResult, 'name'>) };
}

async function clusterRun(data: DemoData, out: string): Promise<EtlResult> {
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboard: false });
  const client = await Client.connect(cluster);
  try {
    const df = prepNycTaxi(readTaxiCsv(`${data.dir}/*.csv`));
    const t0 = performance.now();
    const written = await df.toParquet(out);
    const seconds = (performance.now() - t0) / 1000;
    // Peak RSS of each worker process, as the kernel counts it (Polars' native memory included).
    const peaks = await client.run(() => {
      const m = /VmHWM:\s+(\d+)\s*kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
      return m ? Number(m[1]) * 1024 : 0;
    });
    return { name: 'tessera LocalCluster 2x1', seconds, rowsOut: written.reduce((s, w) => s + w.rows, 0), peakRss: Object.values(peaks) };
  } finally {
    await client.shutdown();
    await cluster.close();
  }
}

function daskRun(data: DemoData, out: string): EtlResult | { name: string; skipped: string } {
  const python = '/usr/bin/python3';
  const probe = spawnSync(python, ['-c', 'import dask, distributed, pandas'], { encoding: 'utf8' });
  if (probe.status !== 0) return { name: 'dask LocalCluster 2x1', skipped: `needs ${python} with python3-dask and python3-distributed (apt-get install python3-dask python3-distributed)` };
  const script = resolve(HERE, '../../../bench/etl/dask_prep.py');
  const r = spawnSync(python, [script, data.dir, out], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) return { name: 'dask LocalCluster 2x1', skipped: `failed: ${r.stderr.split('\n').slice(-5).join(' ')}` };
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { seconds: number; csvSeconds: number; rowsOut: number; peakRss: number[]; schedulerRss: number };
  return {
    name: 'dask LocalCluster 2x1',
    seconds: j.seconds,
    csvSeconds: j.csvSeconds,
    rowsOut: j.rowsOut,
    peakRss: j.peakRss,
    note: `read+clean+features persisted; scheduler+client process peak ${(j.schedulerRss / 1e6).toFixed(0)} MB`,
  };
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}

export async function runEtlBench(options: { data?: string; rows?: number; skipDask?: boolean; json?: string; repeat?: number } = {}): Promise<EtlResult[]> {
  const spec = { ...DEFAULT_DEMO_DATA, ...(options.rows ? { rows: options.rows } : {}) };
  const data = await ensureDemoData(resolve(options.data ?? 'demo-data'), spec);
  console.log(`ETL benchmark: NYC taxi prep on ${mb(data.bytes)} of CSV in ${data.files.length} files (${data.rows.toLocaleString('en-US')} rows)${data.generated ? `, generated in ${data.seconds.toFixed(1)} s` : ''}`);
  const work = mkdtempSync(join(tmpdir(), 'tessera-etl-'));
  const results: EtlResult[] = [];
  const report = (r: EtlResult): void => {
    const mbs = data.bytes / 1e6 / r.seconds;
    const rss = r.peakRss.map((b) => mb(b)).join(' / ');
    console.log(
      `  ${r.name.padEnd(26)} ${r.seconds.toFixed(1).padStart(6)} s  ${mbs.toFixed(0).padStart(4)} MB/s  ` +
        `${Math.round(data.rows / r.seconds).toLocaleString('en-US').padStart(10)} rows/s  peak RSS ${rss}` +
        (r.csvSeconds !== undefined ? `  (+ CSV write ${r.csvSeconds.toFixed(1)} s, ${(data.bytes / 1e6 / r.csvSeconds).toFixed(0)} MB/s)` : '') +
        (r.note ? `  [${r.note}]` : ''),
    );
  };
  try {
    // On a shared machine one run can be slowed by others: --repeat keeps each configuration's best.
    const best = async (run: () => EtlResult | Promise<EtlResult>): Promise<EtlResult> => {
      let out: EtlResult | undefined;
      for (let i = 0; i < Math.max(1, options.repeat ?? 1); i++) {
        const r = await run();
        if (!out || r.seconds < out.seconds) out = r;
      }
      return out!;
    };
    for (const [name, threads, concurrency] of [['engine, 1 thread', 1, 1], ['engine, 2 threads', 2, 2]] as const) {
      const r = await best(() => childRun(name, threads, concurrency, data, join(work, name.replace(/\W+/g, '-'))));
      results.push(r);
      report(r);
    }
    const t = await best(() => clusterRun(data, join(work, 'tessera')));
    results.push(t);
    report(t);
    if (!options.skipDask) {
      const d = daskRun(data, join(work, 'dask'));
      if ('skipped' in d) console.log(`  ${d.name}: skipped (${d.skipped})`);
      else {
        results.push(d);
        report(d);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const ceiling = results.find((r) => r.name === 'engine, 2 threads')!;
  const tessera = results.find((r) => r.name.startsWith('tessera'))!;
  const dask = results.find((r) => r.name.startsWith('dask'));
  console.log(`  tessera 2x1 reaches ${((100 * ceiling.seconds) / tessera.seconds).toFixed(0)}% of the engine's own 2-thread throughput (target >= 80%)`);
  if (dask) console.log(`  tessera 2x1 is ${(dask.seconds / tessera.seconds).toFixed(1)}x Dask 2x1 on read+clean+features (Dask did not write Parquet)`);
  console.log(`  max worker peak RSS ${mb(Math.max(...tessera.peakRss))} (target < 1000 MB)`);
  const same = results.every((r) => r.rowsOut === tessera.rowsOut);
  console.log(`  rows out: ${tessera.rowsOut.toLocaleString('en-US')}${same ? ' (all runs agree)' : ` (differ: ${results.map((r) => `${r.name}=${r.rowsOut}`).join(', ')})`}`);
  if (options.json) writeFileSync(options.json, JSON.stringify({ inputBytes: data.bytes, rows: data.rows, results }, null, 2));
  return results;
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  // Not strict: `npm run bench -- <flags>` hands every benchmark the same flags.
  const { values } = parseArgs({
    options: { data: { type: 'string' }, rows: { type: 'string' }, 'skip-dask': { type: 'boolean' }, json: { type: 'string' }, repeat: { type: 'string' } },
    strict: false,
  });
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  runEtlBench({
    ...(str(values.data) ? { data: str(values.data)! } : {}),
    ...(str(values.rows) ? { rows: Number(values.rows) } : {}),
    skipDask: values['skip-dask'] === true,
    ...(str(values.json) ? { json: str(values.json)! } : {}),
    ...(str(values.repeat) ? { repeat: Number(values.repeat) } : {}),
  }).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
