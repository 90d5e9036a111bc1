/**
 * How this process takes part in the job: normally through MPI (the world,
 * or a communicator the caller gives). When no MPI library can be loaded at
 * all, but the launcher says which rank this is (OMPI_COMM_WORLD_RANK,
 * PMIX_RANK, PMI_RANK, SLURM_PROCID) and a scheduler file on a shared file
 * system is given, the ranks meet through that file instead, with a
 * warning: the scheduler's rank writes it, the others wait for a file of
 * this job whose scheduler answers.
 */
import { MpiError } from '../../errors.js';
import { endStartSettings, libraryInfo, preferQuickStart, world } from '../../mpi/runtime.js';
import { rankFromEnvironment } from '../../mpi/env.js';
import type { Communicator } from '../../mpi/communicator.js';

export interface Membership {
  rank: number;
  size: number;
  /** Null when the ranks meet through the scheduler file. */
  comm: Communicator | null;
}

export function joinJob(opts: { comm?: Communicator | undefined; schedulerFile?: string | undefined; who: string }): Membership {
  if (opts.comm) return { rank: opts.comm.rank, size: opts.comm.size, comm: opts.comm };
  preferQuickStart();
  try {
    // Loads the library without initialising MPI: only a missing library falls back.
    libraryInfo();
  } catch (err) {
    endStartSettings();
    const env = rankFromEnvironment(process.env);
    if (!env || env.size === null) throw err;
    if (!opts.schedulerFile) {
      throw new MpiError(
        `${(err as Error).message}. Without an MPI library the ranks can still meet through a scheduler file on a file system ` +
          `every node shares: pass schedulerFile (tessera-compute mpi --scheduler-file FILE)`,
      );
    }
    if (env.rank === 0) {
      process.emitWarning(
        `${opts.who}: no MPI library could be loaded, so the ${env.size} ranks (${env.source}) meet through the scheduler file ` +
          `${opts.schedulerFile} instead of MPI. Set TESSERA_MPI_LIB to use MPI (${(err as Error).message.split('. ')[0]})`,
        { code: 'TESSERA_MPI_FILE_RENDEZVOUS' },
      );
    }
    return { rank: env.rank, size: env.size, comm: null };
  }
  const comm = world();
  return { rank: comm.rank, size: comm.size, comm };
}
