/**
 * The smallest Tessera job on an MPI cluster. The same file runs on a laptop
 * with a LocalCluster (--local); under a launcher, initialize() turns the
 * job's ranks into the cluster: rank 0 the scheduler, rank 1 this script
 * (the client), every other rank a worker.
 *
 *   npm run build
 *   mpirun -np 4 node dist/examples/mpi/basic.js          # 2 workers
 *   srun -n 32 --mpi=pmix node dist/examples/mpi/basic.js # 30 workers
 *   node dist/examples/mpi/basic.js --local               # laptop
 *
 * In your own project the imports read 'tessera-compute/mpi' and 'tessera-compute'.
 */
import { initialize } from '../../src/deploy/mpi/index.js';

const local = process.argv.includes('--local');

// First, before anything opens a socket: only the client's rank returns from
// it; the scheduler and worker ranks run until the cluster shuts down, then exit.
if (!local) await initialize();

// Loaded after initialize(), so the scheduler and worker ranks never load the client.
const { Client, LocalCluster, delayed } = await import('../../src/index.js');

const cluster = local ? await LocalCluster.start({ nWorkers: 2 }) : undefined;
const client = await Client.connect(cluster); // under MPI: finds the cluster initialize() started
console.log(String(client));
if (client.dashboardLink) console.log(`dashboard: ${client.dashboardLink}`);

// Estimate pi from 64 independent Monte Carlo chunks. Inline functions are
// shipped as source: they take everything they need as arguments.
const sample = (seed: number): number => {
  const n = 200_000;
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  let inside = 0;
  for (let i = 0; i < n; i++) {
    const x = next();
    const y = next();
    if (x * x + y * y <= 1) inside++;
  }
  return inside;
};
const hits = client.map(sample, Array.from({ length: 64 }, (_, i) => i + 1));

// Futures can be arguments of further tasks: the sum runs on a worker, next to the data.
const inside = await client.submit((counts: number[]) => counts.reduce((a, b) => a + b, 0), hits).result();
console.log(`pi is about ${((4 * inside) / (64 * 200_000)).toFixed(4)} (${64 * 200_000} samples)`);

// The same reduction as a lazy graph: delayed() builds it, compute() runs it.
const square = delayed((x: number) => x * x);
const add = delayed((a: number, b: number) => a + b);
console.log(`3^2 + 4^2 = ${await add(square(3), square(4)).compute()}`);

// run() calls a function on every worker.
const pids = await client.run(() => process.pid);
console.log(`${Object.keys(pids).length} workers: ${Object.values(pids).join(', ')}`);

// Close the connection: the script then ends, and under MPI every rank exits.
await client.close();
await cluster?.close();
