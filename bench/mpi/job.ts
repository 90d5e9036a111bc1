/**
 * The trivial initialize() job that bench/mpi/startup.ts times: start the
 * cluster, run one task, end the script (every rank then exits). argv[2]
 * 'static' imports the client at the top of the script, as most scripts
 * will; 'lazy' (the default) imports it after initialize(), so the
 * scheduler and worker ranks never load it.
 */
import { initialize } from 'tessera/mpi';

await initialize();
// As a script would write it: `await import('tessera')`.
const { Client } = await import('tessera');
const client = await Client.connect();
const answer = await client.submit((x: number) => x + 1, 41).result();
process.stdout.write(`answer ${answer}\n`);
await client.close();
