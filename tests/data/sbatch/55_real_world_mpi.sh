#!/bin/bash -l
#
# Typical MPI job, as found in cluster documentation
#
#SBATCH --job-name=mpi_hello          # Job name
#SBATCH --nodes=1                     # Number of nodes
#SBATCH --ntasks-per-node=2           # MPI ranks per node
#SBATCH --cpus-per-task=1             # OpenMP threads per rank
#SBATCH --mem-per-cpu=100M            # Memory per core
#SBATCH --time=00:10:00               # Time limit hrs:min:sec
#SBATCH --output=mpi_%j.log           # Standard output and error log

export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK
srun ./mpi_hello
