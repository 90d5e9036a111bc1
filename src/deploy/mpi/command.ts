/**
 * What `tessera mpi` does once its arguments are parsed (src/cli/mpi.ts):
 * MPI first (before any socket), roles from assignRoles(), the scheduler on
 * its rank, bootstrap() to hand out {address, token, id}, workers elsewhere.
 *
 * Starting the scheduler and workers belongs to the core runtime, which is
 * wired in here separately; until then the command stops with an error
 * rather than pretending to run a cluster.
 */
import { MpiError } from '../../errors.js';
import type { MpiCommandOptions } from '../../cli/mpi.js';

export async function runMpiCommand(options: MpiCommandOptions): Promise<number> {
  void options;
  throw new MpiError('tessera mpi: starting the scheduler and workers is not wired to the core runtime yet');
}
