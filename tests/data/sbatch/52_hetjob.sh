#!/bin/bash
#SBATCH --job-name=het --time=5
#SBATCH --ntasks=1 --partition=debug
#SBATCH hetjob
#SBATCH --ntasks=1 --partition=gpu --gpus=1
srun --het-group=0 hostname : --het-group=1 hostname
