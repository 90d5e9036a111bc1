/** bench/mpi/job.ts written the usual way: everything imported at the top, before MPI starts. */
import { Client } from 'tessera-compute';
import { initialize } from 'tessera-compute/mpi';

await initialize();
const client = await Client.connect();
const answer = await client.submit((x: number) => x + 1, 41).result();
process.stdout.write(`answer ${answer}\n`);
await client.close();
