#!/bin/bash
#SBATCH --job-name=after-command
#SBATCH --time=5
module load python 2>/dev/null || true
#SBATCH --partition=gpu
#SBATCH --time=99
python3 -c 'print(1)'
