/**
 * Million-task graphs (issue 14 part 4): `map` over 1M items with gather,
 * and a tree reduction of 2^19 leaves (1,048,575 tasks), each on a fresh
 * LocalCluster of 2 workers x 1 thread and in a fresh client process, so
 * one's memory cannot flatter or burden the other. Printed per workload:
 * wall time (graph building to results back), the client's peak RSS, the
 * scheduler's CPU-seconds per 1,000 tasks and its RSS growth per task, next
 * to Python Dask's figures for the same workload (Debian's
 * python3-distributed) at a size it finishes in reasonable time (--dask-scale,
 * default 0.1: Dask runs at ~1-3k tasks/s here; the table says the size).
 * Large graphs go to the scheduler in chunks (docs/architecture.md,
 * "Streamed graph submission").
 *
 *   node dist/bench/graph/run.js [--scale 1] [--dask-scale 0.1] [--no-dask]
 *
 * Targets (issue 14): each under 60 s including gather, client under 1 GB,
 * scheduler under 0.03 CPU-s per 1,000 tasks and 1.5 kB of RSS per task.
 *
 * Measured 2026-12-05 on the project's 2-core AMD EPYC VM, alone on it
 * (load average 1-3), scale 1, Dask not run:
 *                 tasks    seconds  client peak  sched CPU-s/1k  sched B/task  client / workers CPU-s/1k
 *   before (a63aedc):
 *   tessera map   1,000,000  99.9   1452 MiB     0.059           2499          0.037 / -
 *   tessera tree  1,048,575  83.6   1025 MiB     0.059           2920          0.011 / -
 *   after (issue 14, part 3/4 work: wire codec, scheduler, worker, client, positional gather replies):
 *   tessera map   1,000,000  51.1   1010 MiB     0.025            901          0.016 / 0.031
 *   tessera tree  1,048,575  50.5    554 MiB     0.030           1599          0.007 / 0.033
 * Earlier, under load 15-20, Dask did a 20,000-task map in 153 s and a
 * 20,971-task tree in 90 s (1.3-1.7 scheduler CPU-s per 1,000 tasks).
 * Left: the map's client peak is just over 1 GB, reached during gather: the
 * client's live heap stays at 356-367 MB (forced collections between
 * phases), but decoding a million values leaves garbage that V8 collects
 * late (heap 740 MB at the peak); the tree's scheduler keeps ~1.6 kB per task.
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Client, LocalCluster, delayed, remoteModule, type Delayed } from '../../src/index.js';
import { clusterPids, cpuSeconds, resetPeakRss, rssOf } from '../proc-stats.js';
import type * as Fns from './fns.js';

interface Result {
  workload: string;
  tasks: number;
  seconds: number;
  client_peak_rss: number;
  scheduler_cpu: number;
  scheduler_rss_delta: number;
  /** CPU seconds of the client process during the run (Tessera only). */
  client_cpu?: number;
  /** CPU seconds of all worker processes together, executor threads included (Tessera only). */
  workers_cpu?: number;
  /** Streamed chunks (Tessera) or the Dask version. */
  note?: string;
}

const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const scale = flag('--scale', 1);
const daskScale = flag('--dask-scale', 0.1);
const ITEMS = 1_000_000;
const LEAVES = 524_288;

/** One workload in this process (the child side). */
async function runOne(workload: 'map' | 'tree', n: number): Promise<Result> {
  const fns = remoteModule<typeof Fns>(new URL('./fns.js', import.meta.url));
  await using cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboard: false });
  await using client = await Client.connect(cluster);
  await client.gather(client.map(fns.inc, Array.from({ length: 100 }, (_, i) => i), { pure: false })); // warm-up
  const pids = await clusterPids(client, fns.pid);
  resetPeakRss(pids.scheduler);
  resetPeakRss(process.pid);
  const rss0 = rssOf(pids.scheduler).rss;
  const cpu0 = cpuSeconds(pids.scheduler);
  const clientCpu0 = process.cpuUsage();
  const workersCpu0 = pids.workers.reduce((a, p) => a + cpuSeconds(p), 0);
  const t0 = performance.now();
  let tasks: number;
  if (workload === 'map') {
    const futures = client.map(fns.inc, Array.from({ length: n }, (_, i) => i), { pure: false });
    const values = await client.gather(futures);
    if (values[n - 1] !== n) throw new Error(`wrong result ${values[n - 1]}`);
    tasks = n;
    client.release(futures);
  } else {
    const inc = delayed(fns.inc);
    const add = delayed(fns.add);
    let level: Delayed<number>[] = Array.from({ length: n }, (_, i) => inc(i));
    while (level.length > 1) {
      const next: Delayed<number>[] = [];
      for (let i = 0; i + 1 < level.length; i += 2) next.push(add(level[i]!, level[i + 1]!));
      if (level.length % 2) next.push(level[level.length - 1]!);
      level = next;
    }
    const total = await client.computeValue(level[0]!);
    if (total !== (n * (n + 1)) / 2) throw new Error(`wrong result ${total}`);
    tasks = 2 * n - 1;
  }
  const seconds = (performance.now() - t0) / 1000;
  const stream = client.lastGraphStream;
  return {
    workload, tasks, seconds,
    client_peak_rss: rssOf(process.pid).peak,
    scheduler_cpu: cpuSeconds(pids.scheduler) - cpu0,
    scheduler_rss_delta: rssOf(pids.scheduler).peak - rss0,
    client_cpu: ((c) => (c.user + c.system) / 1e6)(process.cpuUsage(clientCpu0)),
    workers_cpu: pids.workers.reduce((a, p) => a + cpuSeconds(p), 0) - workersCpu0,
    note: stream ? `${stream.chunks} chunks, ${stream.startedBeforeFinal} tasks started before the last` : 'one message',
  };
}

function child(file: string, argv: string[], label: string): Result | string {
  const r = spawnSync(file === 'python' ? '/usr/bin/python3' : process.execPath, file === 'python' ? argv : [file, ...argv], { encoding: 'utf8', timeout: 1_800_000, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) return `${label} failed (${r.signal ?? `status ${r.status}`})`;
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Result;
}

async function main(): Promise<void> {
  const only = args.indexOf('--workload');
  if (only >= 0) {
    const workload = args[only + 1] as 'map' | 'tree';
    console.log(JSON.stringify(await runOne(workload, flag('--n', 0))));
    return;
  }
  console.log(`million-task graphs: LocalCluster 2 workers x 1 thread, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), scale ${scale}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const self = fileURLToPath(import.meta.url);
  const sizes = { map: Math.round(ITEMS * scale), tree: Math.round(LEAVES * scale) };
  const rows: (Result | string)[] = [];
  const haveDask = !args.includes('--no-dask') && spawnSync('/usr/bin/python3', ['-c', 'import distributed']).status === 0;
  const daskScript = fileURLToPath(new URL('../../../bench/graph/dask_graph.py', import.meta.url));
  for (const w of ['map', 'tree'] as const) {
    const ours = child(self, ['--workload', w, '--n', String(sizes[w])], `tessera ${w}`);
    rows.push(typeof ours === 'string' ? ours : { ...ours, workload: `tessera ${w}` });
    if (haveDask) {
      const d = child('python', [daskScript, '--workload', w, '--n', String(Math.max(2, Math.round(sizes[w] * daskScale)))], `dask ${w}`);
      rows.push(typeof d === 'string' ? d : { ...d, workload: `dask ${w}`, note: (d as Result & { version?: string }).version ?? '' });
    }
  }
  const mb = (b: number) => (b / 2 ** 20).toFixed(0);
  const table: string[][] = [['workload', 'tasks', 'seconds', 'tasks/s', 'client peak MiB', 'sched CPU-s/1k', 'sched B/task', 'client CPU-s/1k', 'workers CPU-s/1k', 'note']];
  for (const r of rows) {
    if (typeof r === 'string') {
      table.push([r, '', '', '', '', '', '', '', '', '']);
      continue;
    }
    table.push([
      r.workload, String(r.tasks), r.seconds.toFixed(1), (r.tasks / r.seconds).toFixed(0), mb(r.client_peak_rss),
      ((r.scheduler_cpu / r.tasks) * 1000).toFixed(3), (r.scheduler_rss_delta / r.tasks).toFixed(0),
      r.client_cpu !== undefined ? ((r.client_cpu / r.tasks) * 1000).toFixed(3) : '-',
      r.workers_cpu !== undefined ? ((r.workers_cpu / r.tasks) * 1000).toFixed(3) : '-', r.note ?? '',
    ]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  for (const r of table) console.log(r.map((c, i) => (i === 0 || i === 9 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  if (!haveDask) console.log('dask: skipped (--no-dask, or /usr/bin/python3 has no distributed)');
  console.log('targets (issue 14): under 60 s each, client under 1 GB, scheduler under 0.03 CPU-s per 1,000 tasks and 1,500 B per task');
  console.log(`load average after: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
