/**
 * Core scheduling throughput: the four workloads of the core runtime issue
 * on a LocalCluster of 2 workers x 1 thread, side by side with Python Dask's
 * LocalCluster (2 processes x 1 thread) when Debian's python3-distributed is
 * installed. Prints tasks/s and microseconds per task, and the ratio.
 *
 *   node dist/bench/core/tasks.js [--scale 0.1] [--repeat 3] [--no-dask]
 *
 * Each workload runs once at full size first ("first run" in the table:
 * much of V8's code is not optimized yet), then --repeat times (default 3);
 * the best of those is the headline figure. Dask's side gets the same
 * full-size warm-up round.
 *
 * Also prints CPU-seconds per 1,000 tasks of the scheduler, the workers
 * (together) and the client, read from /proc: steadier than wall time on a
 * shared machine, though still +-30% at high load. Profiles: for on-CPU
 * time, `perf record -a -g` with TESSERA_NODE_OPTIONS='--perf-basic-prof'
 * (V8's own sampler also counts time a process waits to be scheduled);
 * TESSERA_NODE_OPTIONS='--cpu-prof --cpu-prof-dir=DIR' and
 * scripts/cpuprofile-top.js for JavaScript call trees.
 *
 * 2026-12-05, 2-core AMD EPYC, load 2: warm figures went from 16-22k to
 * 29-38k tasks/s when workers were given 20 ms of queued work instead of
 * 5 ms (SchedulerState.taskSlots): with all processes on two cores, the
 * batched round trip to the scheduler had left workers idle between batches.
 * With the slots following each task group's own duration (the final form):
 * 26.2k / 27.7k / 28.3k / 25.9k, Dask 480 / 525 / 472 / 396.
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Client, LocalCluster, delayed, remoteModule } from '../../src/index.js';
import type * as Fns from './fns.js';
import { clusterPids, cpuSince, cpuSnapshot, type ClusterPids, type CpuSnapshot } from '../proc-stats.js';

const fns = remoteModule<typeof Fns>(new URL('./fns.js', import.meta.url));

interface Figure {
  tasks: number;
  seconds: number;
  /** CPU seconds of each process during the run (Tessera only). */
  cpu?: CpuSnapshot;
}

let pids: ClusterPids | null = null;

const args = process.argv.slice(2);
const scaleIdx = args.indexOf('--scale');
const scale = scaleIdx >= 0 ? Number(args[scaleIdx + 1]) : 1;
const n = (base: number) => Math.max(1, Math.round(base * scale));
const repeatIdx = args.indexOf('--repeat');
/** Best of N runs: the machine is shared and noisy, the best run is the least disturbed. */
const repeat = repeatIdx >= 0 ? Math.max(1, Number(args[repeatIdx + 1])) : 3;

async function best(run: () => Promise<Figure>): Promise<Figure> {
  let b: Figure | null = null;
  for (let i = 0; i < repeat; i++) {
    const before = pids ? cpuSnapshot(pids) : null;
    const f = await run();
    if (pids && before) f.cpu = cpuSince(before, pids);
    if (!b || f.seconds < b.seconds) b = f;
  }
  return b!;
}

async function runSubmit(client: Client, count: number): Promise<Figure> {
  const t0 = performance.now();
  const futures = [];
  for (let i = 0; i < count; i++) futures.push(client.submit({ fn: fns.trivial, args: [i], pure: false }));
  const results = await client.gather(futures);
  const seconds = (performance.now() - t0) / 1000;
  if (results[count - 1] !== count - 1) throw new Error('wrong result');
  client.release(futures);
  return { tasks: count, seconds };
}

async function runMap(client: Client, count: number): Promise<Figure> {
  const t0 = performance.now();
  const futures = client.map(fns.trivial, Array.from({ length: count }, (_, i) => i), { pure: false });
  const results = await client.gather(futures);
  const seconds = (performance.now() - t0) / 1000;
  if (results[count - 1] !== count - 1) throw new Error('wrong result');
  client.release(futures);
  return { tasks: count, seconds };
}

async function runDelayed(client: Client, count: number): Promise<Figure> {
  const inc = delayed(fns.inc);
  const dec = delayed(fns.dec);
  const add = delayed(fns.add);
  const t0 = performance.now();
  const zs = [];
  for (let i = 0; i < count; i++) {
    const x = inc(i);
    const y = dec(x);
    zs.push(add(x, y));
  }
  const futures = client.compute(zs);
  const results = await client.gather(futures);
  const seconds = (performance.now() - t0) / 1000;
  if (results[count - 1] !== 2 * (count - 1) + 1) throw new Error('wrong result');
  client.release(futures);
  return { tasks: 3 * count, seconds };
}

async function runTree(client: Client, count: number): Promise<Figure> {
  const inc = delayed(fns.inc);
  const add = delayed(fns.add);
  const t0 = performance.now();
  let level = Array.from({ length: count }, (_, i) => inc(i));
  let tasks = count;
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(add(level[i]!, level[i + 1]!));
    if (level.length % 2) next.push(level[level.length - 1]!);
    tasks += Math.floor(level.length / 2);
    level = next;
  }
  const f = client.compute(level[0]!);
  const total = await f.result();
  const seconds = (performance.now() - t0) / 1000;
  if (total !== (count * (count + 1)) / 2) throw new Error(`wrong result ${total}`);
  f.release();
  return { tasks, seconds };
}

function daskBaseline(): Record<string, Figure> | string {
  if (args.includes('--no-dask')) return 'skipped (--no-dask)';
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import distributed'], { encoding: 'utf8' });
  if (probe.status !== 0) return 'not installed (apt-get install -y python3-dask python3-distributed)';
  const script = fileURLToPath(new URL('../../../bench/core/dask_baseline.py', import.meta.url));
  const r = spawnSync('/usr/bin/python3', [script, '--scale', String(scale)], { encoding: 'utf8', timeout: 900_000 });
  if (r.status !== 0) return `failed: ${r.stderr.trim().split('\n').pop()}`;
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, Figure>;
}

async function main(): Promise<void> {
  console.log(`core scheduling benchmark: LocalCluster 2 workers x 1 thread, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), scale ${scale}, best of ${repeat}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboard: false });
  const client = await Client.connect(cluster);
  pids = await clusterPids(client, fns.pid);
  // Warm-up: every code path once on every worker (as the Dask side does).
  await runSubmit(client, 200);
  await runMap(client, 200);
  await runDelayed(client, 70);
  await runTree(client, 200);
  // Then one full-size run of each, reported as "first run": V8 runs new code
  // in its interpreter and baseline tiers until it has seen enough of it, so
  // the first few 10,000-task runs are up to 2x slower than the steady state
  // a long-lived scheduler and its workers reach. The headline figure is the
  // best of --repeat runs after it.
  const first: Record<string, Figure> = {
    submit: await runSubmit(client, n(10_000)),
    map: await runMap(client, n(10_000)),
    delayed: await runDelayed(client, n(5_000)),
    tree: await runTree(client, n(10_000)),
  };
  const ours: Record<string, Figure> = {
    submit: await best(() => runSubmit(client, n(10_000))),
    map: await best(() => runMap(client, n(10_000))),
    delayed: await best(() => runDelayed(client, n(5_000))),
    tree: await best(() => runTree(client, n(10_000))),
  };
  await client.shutdown();
  await cluster.close();
  const dask = daskBaseline();
  const labels: Record<string, string> = {
    submit: '10,000 submit + gather', map: 'map over 10,000 items', delayed: 'inc/dec/add graph (15,000 tasks)', tree: 'tree reduction, 10,000 leaves',
  };
  const rows: string[][] = [['workload', 'tasks', 'tessera tasks/s', 'first run', 'tessera us/task', 'dask tasks/s', 'dask us/task', 'ratio', 'CPU-s/1k: sched', 'workers', 'client']];
  for (const k of Object.keys(ours)) {
    const o = ours[k]!;
    const d = typeof dask === 'object' ? dask[k] : undefined;
    const rate = (f: Figure) => f.tasks / f.seconds;
    rows.push([
      labels[k]!, String(o.tasks), rate(o).toFixed(0), rate(first[k]!).toFixed(0), ((o.seconds / o.tasks) * 1e6).toFixed(0),
      d ? rate(d).toFixed(0) : '-', d ? ((d.seconds / d.tasks) * 1e6).toFixed(0) : '-', d ? `${(rate(o) / rate(d)).toFixed(1)}x` : '-',
      ...(['scheduler', 'workers', 'client'] as const).map((p) => (o.cpu ? ((o.cpu[p] / o.tasks) * 1000).toFixed(3) : '-')),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  if (typeof dask === 'string') console.log(`dask baseline: ${dask}`);
  console.log('target: at least 10x Dask\'s tasks/s on every workload; >= 25,000 tasks/s and the scheduler under 0.03 CPU-s per 1,000 tasks (issue 14)');
  console.log(`load average after: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
