#!/bin/bash
#SBATCH --job-name space-separated
#SBATCH --time 1:30:00
#SBATCH --ntasks 1 --cpus-per-task 2
echo "values after a space"
