/**
 * TESSERA_MPI_TRACE=1 prints when each start-up step of each rank ends: ms
 * since the process started, the wall clock, and the CPU time the process
 * has used (for `bench/mpi` and for slow clusters).
 */
const TRACE = process.env.TESSERA_MPI_TRACE === '1';
export function trace(rank: number, step: string): void {
  if (!TRACE) return;
  const cpu = process.cpuUsage();
  const line = { rank, step, ms: Math.round(performance.now()), at: Date.now(), cpuMs: Math.round((cpu.user + cpu.system) / 1000) };
  process.stderr.write(`TESSERA_MPI_TRACE ${JSON.stringify(line)}\n`);
}
