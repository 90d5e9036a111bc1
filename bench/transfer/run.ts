/**
 * The data plane: how fast a value made on one worker reaches a task on
 * another, on loopback, next to a plain Node socket pair between two
 * processes (the wire) and, where Debian's python3-distributed is installed,
 * Dask doing the same. Issue targets: >= 1 GB/s for one 256 MiB value,
 * >= 600 MB/s for 100 x 1 MiB, >= 80% of the socket pair.
 *
 *   node dist/bench/transfer/run.js [--repeat 5] [--no-dask]
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Client, LocalCluster, remoteModule, wait } from '../../src/index.js';
import type * as Fns from './fns.js';

const fns = remoteModule<typeof Fns>(new URL('./fns.js', import.meta.url));
const args = process.argv.slice(2);
const repeatIdx = args.indexOf('--repeat');
const repeat = repeatIdx >= 0 ? Math.max(1, Number(args[repeatIdx + 1])) : 5;
const MiB = 1024 * 1024;
const CASES = [
  { name: '1 x 256 MiB', bytes: 256 * MiB, count: 1 },
  { name: '100 x 1 MiB', bytes: MiB, count: 100 },
];

/** Best of `repeat` (the least disturbed run on a shared machine): seconds for the consumer task to get every input. */
async function tessera(client: Client, a: string, b: string, bytes: number, count: number): Promise<number> {
  let best = Infinity;
  for (let r = 0; r < repeat; r++) {
    const parts = Array.from({ length: count }, (_, i) => client.submit({ fn: fns.make, args: [bytes, i + 1000 * r], workers: [a], pure: false }));
    await wait(parts);
    // Warm the function on b, so the timed task only moves data.
    await client.submit({ fn: fns.sizeOf, args: [], workers: [b], pure: false }).result();
    const t0 = performance.now();
    const total = await client.submit({ fn: fns.sizeOf, args: parts, workers: [b], pure: false }).result();
    const t = (performance.now() - t0) / 1000;
    if (total !== bytes * count) throw new Error(`wrong size ${total}`);
    best = Math.min(best, t);
    client.release(parts);
  }
  return best;
}

function socketPair(bytes: number, count: number): number {
  let best = Infinity;
  for (let r = 0; r < repeat; r++) {
    const out = spawnSync(process.execPath, [fileURLToPath(new URL('./socket-pair.js', import.meta.url)), String(bytes), String(count)], { encoding: 'utf8', timeout: 120_000 });
    best = Math.min(best, Number(out.stdout.trim()));
  }
  return best;
}

function dask(bytes: number, count: number): number | null {
  if (args.includes('--no-dask')) return null;
  const r = spawnSync('/usr/bin/python3', [fileURLToPath(new URL('../../../bench/transfer/dask_transfer.py', import.meta.url)), String(bytes), String(count), String(repeat)], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) {
    console.log(`(Dask not measured: ${/No module named/.test(r.stderr) ? "install Debian's python3-distributed" : r.stderr.trim().split('\n').pop()})`);
    return null;
  }
  return Number(r.stdout.trim());
}

const mbps = (bytes: number, s: number) => (bytes / s / 1e6).toFixed(0);

const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboard: false, nanny: false, memoryLimit: '3GB' });
const client = await Client.connect(cluster);
const [a, b] = cluster.workers.map((w) => w.address) as [string, string];
console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model}), load ${loadavg().map((l) => l.toFixed(1)).join(' ')}; best of ${repeat}`);
console.log('case          | Tessera          | socket pair      | ratio | Dask             ');
for (const c of CASES) {
  const total = c.bytes * c.count;
  const t = await tessera(client, a, b, c.bytes, c.count);
  const s = socketPair(c.bytes, c.count);
  const d = dask(c.bytes, c.count);
  console.log(
    `${c.name.padEnd(13)} | ${`${mbps(total, t)} MB/s`.padEnd(16)} | ${`${mbps(total, s)} MB/s`.padEnd(16)} | ${(s / t * 100).toFixed(0).padStart(4)}% | ${d ? `${mbps(total, d)} MB/s` : '-'}`,
  );
}
await client.shutdown();
await cluster.close();
