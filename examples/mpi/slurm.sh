#!/bin/bash
# A Slurm batch job running a Tessera script on 4 nodes x 8 tasks: srun
# starts 32 copies of the script; initialize() makes rank 0 the scheduler,
# rank 1 the client (the script itself) and ranks 2-31 the workers. When
# the script ends, every rank exits and so does the job.
#
#   sbatch examples/mpi/slurm.sh [script.js [args...]]
#
#SBATCH --job-name=tessera
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=8
#SBATCH --cpus-per-task=1
#SBATCH --mem-per-cpu=4G
#SBATCH --time=01:00:00
#SBATCH --output=%x-%j.out

set -euo pipefail

# Site-specific: the MPI that Slurm's PMIx plugin talks to, and Node.js 20.
# module load openmpi nodejs

# The libmpi of that MPI, if it is not on the linker's path (the job stops
# with a clear message when it cannot find one):
# export TESSERA_MPI_LIB="$(dirname "$(command -v mpirun)")/../lib/libmpi.so.40"

cd "${SLURM_SUBMIT_DIR}"
SCRIPT="${1:-dist/examples/mpi/basic.js}"
shift || true

# Workers spill to node-local disk (Tessera uses the OS temp directory);
# many sites point TMPDIR at local scratch already.
export TMPDIR="${TMPDIR:-/tmp}"

# --mpi=pmix: how the ranks find each other (see `srun --mpi=list`; older
#   MPIs use pmi2). Under `mpirun` inside the batch job, drop srun entirely:
#   mpirun -np "${SLURM_NTASKS}" node "$SCRIPT" "$@"
# --kill-on-bad-exit=1: a failing script ends the step at once. Tessera
#   ends every rank itself anyway, but this saves the grace period.
srun --mpi=pmix --kill-on-bad-exit=1 node "$SCRIPT" "$@"

# The dashboard: the script's output has a line like
#   tessera-compute/mpi: dashboard at http://10.1.2.3:8787/status - from your computer:
#   ssh -L 8787:10.1.2.3:8787 <this login node>, then open http://localhost:8787/status
