#!/bin/bash
# '\ ' escapes a space since Slurm 24.05; 22.05's sbatch splits the word there
# refused-by: 22.05
#SBATCH --job-name=escaped\ space --comment=a\ b\ c
#SBATCH -t 5
true
