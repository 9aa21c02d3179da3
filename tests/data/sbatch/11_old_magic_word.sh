#!/bin/bash
#SLURM --job-name=old-magic
#SBATCH --time=6
true
