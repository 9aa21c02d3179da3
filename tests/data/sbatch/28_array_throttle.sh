#!/bin/bash
#SBATCH --array=0-9%2
#SBATCH --output=array-%A_%a.out
#SBATCH -t 5
echo task $SLURM_ARRAY_TASK_ID
