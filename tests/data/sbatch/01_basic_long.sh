#!/bin/bash
#SBATCH --job-name=basic-long
#SBATCH --partition=debug
#SBATCH --time=00:07:00
#SBATCH --mem=123M
srun hostname
