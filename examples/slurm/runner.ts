/**
 * A whole Tessera cluster inside one Slurm job (SlurmRunner). Launched by
 * runner.sbatch on every task with `srun`: task 0 becomes the scheduler,
 * task 1 runs the code below, every other task is a worker. When the code
 * ends, `runner.close()` shuts the cluster down and every task exits 0.
 *
 *   npm run build && sbatch examples/slurm/runner.sbatch
 */
import { SlurmRunner } from '../../src/deploy/slurm/index.js'; // 'tessera-compute/slurm' in your own project
import { Client } from '../../src/index.js'; // 'tessera-compute'

const runner = await SlurmRunner.start({
  // On a file system every node shares; {jobId} keeps concurrent jobs apart.
  schedulerFile: `${process.env.HOME}/.tessera/scheduler-{jobId}.json`,
  schedulerOptions: { dashboardAddress: ':8787' },
  workerOptions: {
    nthreads: Number(process.env.SLURM_CPUS_PER_TASK ?? 1),
    // runner.sbatch computes each worker's share of the node's memory.
    memoryLimit: process.env.TESSERA_WORKER_MEMORY ?? 'auto',
    localDirectory: process.env.TMPDIR ?? '/tmp',
  },
});

const client = await Client.connect(runner);
console.log(`${client} dashboard: ${client.dashboardLink} (ssh -L 8787:<scheduler node>:8787 login-node)`);

const squares = client.map((x: number) => x * x, Array.from({ length: 1000 }, (_, i) => i));
const total = await client.submit((...xs: number[]) => xs.reduce((a, b) => a + b, 0), ...squares).result();
console.log(`sum of squares below 1000: ${total}`);

await client.close();
await runner.close();
