/**
 * A dynamic cluster from a login node (SlurmCluster): the scheduler runs in
 * this process, each worker is its own batch job. adapt() asks for jobs while
 * there is a backlog and gives them back when the cluster idles; workers
 * retire before their walltime and new jobs take over.
 *
 *   npm run build && node dist/examples/slurm/dynamic-cluster.js
 *   node dist/bundle/cli.js slurm job-script --queue normal ...   # the script each job runs
 */
import { SlurmCluster } from '../../src/deploy/slurm/index.js'; // 'tessera-compute/slurm' in your own project
import { Client } from '../../src/index.js'; // 'tessera-compute'

const cluster = await SlurmCluster.start({
  queue: process.env.TESSERA_QUEUE ?? 'normal',
  ...(process.env.TESSERA_ACCOUNT ? { account: process.env.TESSERA_ACCOUNT } : {}),
  cores: 4,
  memory: '16GB',
  walltime: '01:00:00',
  logDirectory: `${process.env.HOME}/tessera-logs`,
  jobScriptPrologue: ['module load nodejs/20 || true'],
  localDirectory: '$TMPDIR',
  // Where compute nodes find node and the tessera CLI, when they differ from this host's:
  // nodeExecutable: '/opt/node-20/bin/node', tesseraCommand: '/home/me/tessera/dist/bundle/cli.js',
});
cluster.on('job-ended', (e) => {
  if (e.failed) console.error(`job trouble: ${e.message}`);
});
console.log(cluster.jobScript());

const adaptive = cluster.adapt({ minimum: 1, maximum: 20 });
const client = await Client.connect(cluster);
console.log(`dashboard: ${cluster.dashboardLink}`);

const slow = async (x: number) => {
  await new Promise((r) => setTimeout(r, 2000));
  return x * 2;
};
const results = await client.gather(client.map(slow, Array.from({ length: 200 }, (_, i) => i)));
console.log(`doubled ${results.length} numbers; failed jobs: ${cluster.failures.length}`);

adaptive.stop();
await client.close();
await cluster.close();   // scancel for every job still queued or running
