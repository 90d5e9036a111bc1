/**
 * Turns off Nagle's algorithm on the sockets MPI_Init opened to the
 * launcher.
 *
 * OpenMPI 4 talks to mpirun's PMIx server over a loopback TCP connection
 * without TCP_NODELAY. MPI_Finalize sends several small PMIx messages back
 * to back; Nagle holds each one until the previous is acknowledged, and
 * Linux delays that acknowledgement by up to 40 ms, so every rank's
 * MPI_Finalize took ~50 ms while doing ~4 ms of work (measured on this
 * project's machine with a C program as well as through this binding; with
 * TCP_NODELAY set, 10-30 ms).
 *
 * MPI is initialised before Tessera opens any socket (see runtime.ts), so
 * right after MPI_Init every socket in the process is MPI's own: the PMIx or
 * PMI connection to the launcher and MPI's TCP transport (which sets
 * TCP_NODELAY itself). On a Unix-domain socket, or one that already has it,
 * the option changes nothing. Linux only (/proc/self/fd); elsewhere, and on
 * any error, this quietly does nothing: it only saves time.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { setNoDelay } from '../native/libc.js';

/** Returns how many sockets now have TCP_NODELAY (0 when there were none or the platform has no /proc). */
export function disableNagleOnMpiSockets(): number {
  if (process.platform !== 'linux') return 0;
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fd');
  } catch {
    return 0;
  }
  let n = 0;
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed since the listing
    }
    if (target.startsWith('socket:') && setNoDelay(Number(fd))) n++;
  }
  return n;
}
