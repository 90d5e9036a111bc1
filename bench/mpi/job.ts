/**
 * The trivial initialize() job that bench/mpi/startup.ts times: start the
 * cluster, run one task, end the script (every rank then exits). It imports
 * the package by name, as a user's script does, so it runs what the package
 * ships (dist/bundle); the client is imported after initialize(), so the
 * scheduler and worker ranks never load it (job-static.ts imports it first).
 */
import { initialize } from 'tessera-compute/mpi';

await initialize();
const { Client } = await import('tessera-compute');
const client = await Client.connect();
const answer = await client.submit((x: number) => x + 1, 41).result();
process.stdout.write(`answer ${answer}\n`);
await client.close();
