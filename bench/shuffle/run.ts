/**
 * The shuffle benchmark (issue 13 part 4): a join and a many-group group-by
 * over thousands of input partitions, run by Tessera's P2P shuffle on a
 * LocalCluster (2 workers x 1 thread, a fresh cluster per workload), next to
 * Python Dask's task-based shuffle on the same CSV files (and Dask 2022.12's
 * own P2P shuffle, printed if it runs). For each: the tasks the scheduler is
 * given, wall seconds, CPU seconds per worker (steadier than wall time on a
 * shared machine), output rows, peak RSS per worker (VmHWM) and bytes the
 * shuffle spilled to disk. Tessera's task-based shuffle is run too where
 * its O(inputs x outputs) graph stays small (--tasks-limit); otherwise only
 * its task count is printed.
 *
 *   node dist/bench/shuffle/run.js [--partitions 2000] [--rows 100] [--groups 20000] [--split-out 200]
 *     [--buffer BYTES] [--tasks-limit 200000] [--skip-dask] [--json FILE]
 *
 * The defaults finish in a few minutes on 2 cores: the data is small on
 * purpose (what grows with the partition count is the graph, which is what
 * a shuffle's scheduling cost is about); raise --rows for memory figures.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, LocalCluster } from '../../src/index.js';
import { col, len, readCsv, type DataFrame } from '../../src/dataframe/index.js';
import { Lowerer } from '../../src/dataframe/lower.js';
import { optimize } from '../../src/dataframe/plan.js';
import { cpuSeconds, rssOf } from '../proc-stats.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));

interface Result {
  name: string;
  tasks: number;
  seconds?: number;
  rows?: number;
  peakRss?: number[];
  /** CPU seconds (user + system) of each worker process: steadier than wall time on a shared machine. */
  cpu?: number[];
  /** CPU seconds of the scheduler process (what a graph of N x M tasks costs most). */
  schedulerCpu?: number;
  spilled?: number | null;
  error?: string;
  note?: string;
}

/**
 * Deterministic data: left (id, k, g, v) and right (k, w), one CSV file per
 * partition. Returns the rows each workload must give, to check every run.
 */
function writeData(dir: string, partitions: number, rows: number, groups: number): { join: number; groupBy: number } {
  // xorshift32: integer arithmetic only, so the sequence is exact.
  let x = 2463534242;
  const u = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  const seen = new Set<number>();
  const keys = Math.max(1, Math.floor((partitions * rows) / 2));
  mkdirSync(join(dir, 'left'));
  mkdirSync(join(dir, 'right'));
  for (let p = 0; p < partitions; p++) {
    const l = ['id,k,g,v'];
    for (let r = 0; r < rows; r++) {
      const g = Math.floor(u() * groups);
      seen.add(g);
      l.push(`${p * rows + r},${Math.floor(u() * keys)},${g},${Math.floor(u() * 1000)}`);
    }
    writeFileSync(join(dir, 'left', `part-${String(p).padStart(5, '0')}.csv`), l.join('\n') + '\n');
    const r = ['k,w'];
    // Every key once on the right, spread over its files.
    for (let k = p; k < keys; k += partitions) r.push(`${k},${k % 97}`);
    writeFileSync(join(dir, 'right', `part-${String(p).padStart(5, '0')}.csv`), r.join('\n') + '\n');
  }
  // Every left key is on the right once: the join has a row per left row.
  return { join: partitions * rows, groupBy: seen.size };
}

function taskCount(df: DataFrame, shuffle: 'p2p' | 'tasks'): number {
  const lowerer = new Lowerer({ shuffle });
  const plan = optimize(df.plan, []);
  const token = 'bench';
  lowerer.lower(plan).forEach((p, i) => lowerer.materialize(p, { kind: 'count' }, 'count', token, i));
  return lowerer.graph.tasks.size;
}

type Make = (shuffle: 'p2p' | 'tasks') => DataFrame;

async function runTessera(name: string, make: Make, shuffle: 'p2p' | 'tasks', buffer: string | undefined): Promise<Result> {
  if (buffer) process.env.TESSERA_SHUFFLE_BUFFER = buffer;
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboard: false, nanny: false });
  delete process.env.TESSERA_SHUFFLE_BUFFER;
  const client = await Client.connect(cluster);
  try {
    const df = make(shuffle);
    const schedulerPid = await client.runOnScheduler(() => process.pid);
    const schedulerCpu0 = cpuSeconds(schedulerPid);
    const t0 = performance.now();
    const rows = await df.count();
    const seconds = (performance.now() - t0) / 1000;
    const info = await client.schedulerInfo();
    const pids = Object.values(info.workers).map((w) => w.pid);
    // The shuffle counters arrive with heartbeats (every 0.5 s): wait for one taken after the run.
    await new Promise((r) => setTimeout(r, 1200));
    const after = await client.schedulerInfo();
    const spilled = Object.values(after.workers).reduce((n, w) => n + (w.metrics.shuffle?.spilledBytes ?? 0), 0);
    return { name: `tessera ${name} shuffle=${shuffle}`, tasks: taskCount(df, shuffle), seconds, rows, peakRss: pids.map((pid) => rssOf(pid).peak), cpu: pids.map(cpuSeconds), schedulerCpu: cpuSeconds(schedulerPid) - schedulerCpu0, spilled };
  } finally {
    await client.shutdown();
    await cluster.close();
  }
}

function runDask(data: string, splitOut: number, shuffle: 'tasks' | 'p2p'): Result[] {
  const python = '/usr/bin/python3';
  const probe = spawnSync(python, ['-c', 'import dask, distributed, pandas'], { encoding: 'utf8' });
  if (probe.status !== 0) return [{ name: `dask shuffle=${shuffle}`, tasks: 0, error: `needs ${python} with python3-dask and python3-distributed` }];
  const script = resolve(HERE, '../../../bench/shuffle/dask_shuffle.py');
  const r = spawnSync(python, [script, data, String(splitOut), shuffle], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 1_200_000 });
  const lines = (r.stdout ?? '').split('\n').filter((l) => l.startsWith('{'));
  const why = r.signal ? `stopped by ${r.signal} after the 20-minute limit` : `exit ${r.status}`;
  if (lines.length === 0) return [{ name: `dask shuffle=${shuffle}`, tasks: 0, error: `${why}: ${(r.stderr ?? '').split('\n').slice(-3).join(' ')}` }];
  return lines.map((l) => JSON.parse(l) as Result);
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

function print(r: Result): void {
  if (r.error) {
    console.log(`  ${r.name.padEnd(42)} did not run: ${r.error}`);
    return;
  }
  if (r.note) {
    console.log(`  ${r.name.padEnd(42)} tasks ${String(r.tasks).padStart(9)}   ${r.note}`);
    return;
  }
  const rss = (r.peakRss ?? []).map(mib).join(', ');
  const spilled = r.spilled === null || r.spilled === undefined ? 'n/a' : mib(r.spilled);
  const cpu = (r.cpu ?? []).map((c) => c.toFixed(1)).join(' + ');
  console.log(`  ${r.name.padEnd(42)} tasks ${String(r.tasks).padStart(9)}   ${r.seconds!.toFixed(1).padStart(6)} s wall   worker CPU ${cpu} s${r.schedulerCpu !== undefined ? `   scheduler CPU ${r.schedulerCpu.toFixed(1)} s` : ''}   rows ${r.rows}   peak RSS per worker ${rss}   spilled ${spilled}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      partitions: { type: 'string' }, rows: { type: 'string' }, groups: { type: 'string' }, 'split-out': { type: 'string' },
      buffer: { type: 'string' }, 'tasks-limit': { type: 'string' }, 'skip-dask': { type: 'boolean' }, json: { type: 'string' },
    },
  });
  const partitions = Number(values.partitions ?? 2000);
  const rows = Number(values.rows ?? 100);
  const groups = Number(values.groups ?? 20_000);
  const splitOut = Number(values['split-out'] ?? 200);
  const tasksLimit = Number(values['tasks-limit'] ?? 200_000);
  const work = mkdtempSync(join(tmpdir(), 'tessera-bench-shuffle-'));
  const results: Result[] = [];
  try {
    const expected = writeData(work, partitions, rows, groups);
    const left = (): DataFrame => readCsv(join(work, 'left', '*.csv'), { blocksize: null });
    const right = (): DataFrame => readCsv(join(work, 'right', '*.csv'), { blocksize: null });
    const workloads: [string, Make, number][] = [
      ['join', (shuffle) => left().join(right(), { on: 'k', broadcast: false, shuffle }), expected.join],
      ['group-by', (shuffle) => left().groupBy('g').agg(col('v').sum().alias('v'), len(), { splitOut, shuffle }), expected.groupBy],
    ];
    const check = (r: Result, want: number): void => {
      if (!r.error && !r.note && r.rows !== want) throw new Error(`${r.name} gave ${r.rows} rows, not ${want}`);
    };
    console.log(`${partitions} input partitions of ${rows} rows (left and right), ${groups} groups into ${splitOut} outputs; 2 workers x 1 thread`);
    for (const [name, make, want] of workloads) {
      const r = await runTessera(name, make, 'p2p', values.buffer);
      results.push(r);
      print(r);
      check(r, want);
      const tasks = taskCount(make('tasks'), 'tasks');
      if (tasks <= tasksLimit) {
        const t = await runTessera(name, make, 'tasks', undefined);
        results.push(t);
        print(t);
        check(t, want);
      } else {
        const t: Result = { name: `tessera ${name} shuffle=tasks`, tasks, note: `not run (over --tasks-limit ${tasksLimit})` };
        results.push(t);
        print(t);
      }
    }
    if (!values['skip-dask']) {
      for (const shuffle of ['tasks', 'p2p'] as const) {
        for (const r of runDask(work, splitOut, shuffle)) {
          results.push(r);
          print(r);
          check(r, r.name.includes('join') ? expected.join : expected.groupBy);
        }
      }
    }
    if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 2));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
